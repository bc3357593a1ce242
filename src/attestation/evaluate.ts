import { quoted, type ReasonCode } from '../errors.js';
import type { Reason } from '../verdict.js';
import { rateBuilder } from './builders.js';
import { formatDuration } from './duration.js';
import { asObject } from './json.js';
import { isProvenanceType, SLSA_VSA_V1 } from './predicate-type.js';
import { certificateSources, readProvenance, type ProvenanceFacts } from './provenance.js';
import { settleSource, sourceMismatch, type BuildSource } from './source.js';
import { statementTime } from './statement-time.js';
import type {
  AttestationEvaluation,
  AttestationEvidence,
  CompiledAttestationRequirement,
  CompiledSlsaRequirement,
  EvaluationContext,
  SlsaEvidence,
  VerifiedAttestation,
} from './types.js';
import { checkVsa } from './vsa.js';

/**
 * Judges one requirement against every attestation verified for the image. Only attestations of the
 * requirement's predicate type (or VSAs, when `slsa.verifiers` is set) signed by one of its authorities
 * count; the requirement is met when any single one passes every check (formats.md §5.6), and otherwise the
 * reasons say, per attestation, what was found versus what was required.
 */
export function evaluateAttestationRequirement(
  req: CompiledAttestationRequirement,
  attestations: readonly VerifiedAttestation[],
  context: EvaluationContext,
): AttestationEvaluation {
  const acceptsVsa = (req.slsa?.verifiers.length ?? 0) > 0;
  const typed = attestations.filter(
    (a) => req.predicateType.matches(a.predicateType) || (acceptsVsa && a.predicateType === SLSA_VSA_V1),
  );
  if (typed.length === 0) {
    const found = [...new Set(attestations.map((a) => a.predicateType))];
    const wanted = acceptsVsa ? `${req.predicateType.describe} (or a VSA)` : req.predicateType.describe;
    return unsatisfied(req, [
      {
        code: 'ATTESTATION_MISSING',
        message: `attestation ${req.name}: no ${wanted} attestation is attached to ${context.imageDigest}${
          found.length > 0 ? ` (found: ${found.join(', ')})` : ''
        }`,
      },
    ]);
  }

  const trusted = typed.filter((a) => req.authorities.includes(a.signer.authority));
  if (trusted.length === 0) {
    const signers = [...new Set(typed.map((a) => a.signer.authority))];
    return unsatisfied(req, [
      {
        code: 'UNTRUSTED_SIGNER',
        message: `attestation ${req.name}: ${typed.length} matching attestation(s) signed by authority ${signers.join(
          ', ',
        )}; the requirement accepts ${req.authorities.join(', ')}`,
      },
    ]);
  }

  const outcomes = trusted.map((a) => checkAttestation(req, a, context));
  const passed = outcomes.find((o) => o.failures.length === 0);
  if (passed !== undefined) {
    return { requirement: req.name, satisfied: true, reasons: [], evidence: passed.evidence };
  }
  const closest = outcomes.reduce((best, o) =>
    (o.evidence.slsa?.level ?? -1) > (best.evidence.slsa?.level ?? -1) ? o : best,
  );
  return unsatisfied(
    req,
    outcomes.flatMap((o) => o.failures),
    closest.evidence,
  );
}

interface Failure {
  readonly code: ReasonCode;
  readonly message: string;
  readonly authority?: string;
}

interface Outcome {
  readonly failures: readonly Failure[];
  readonly evidence: AttestationEvidence;
}

function checkAttestation(
  req: CompiledAttestationRequirement,
  attestation: VerifiedAttestation,
  context: EvaluationContext,
): Outcome {
  const failures: Failure[] = [];
  const fail = (code: ReasonCode, detail: string) =>
    failures.push({
      code,
      authority: attestation.signer.authority,
      message: `attestation ${req.name} (${attestation.source}): ${detail}`,
    });
  const base: AttestationEvidence = {
    source: attestation.source,
    predicateType: attestation.predicateType,
    authority: attestation.signer.authority,
    signer: attestation.signer.identity,
    ...(attestation.signedAt !== undefined ? { signedAt: attestation.signedAt.toISOString() } : {}),
    ...(attestation.timestamps === undefined
      ? {}
      : {
          timestamps: attestation.timestamps.map((t) => ({
            kind: t.kind,
            time: t.time.toISOString(),
            by: t.authority ?? t.log ?? '',
          })),
        }),
  };

  const { statement } = attestation;
  // The type it was published under (layer annotation, bundle annotation) must be the type it states.
  if (statement.predicateType !== attestation.predicateType) {
    fail(
      'ATTESTATION_INVALID',
      `published as ${quoted(attestation.predicateType)} but states ${quoted(statement.predicateType)}`,
    );
    return { failures, evidence: base };
  }
  if (asObject(statement.predicate) === undefined) {
    fail('ATTESTATION_INVALID', 'the statement has no predicate object');
    return { failures, evidence: base };
  }

  if (req.maxAgeMs !== undefined) {
    const tooOld = ageProblem(attestation, req.maxAgeMs, req.maxAge ?? '', context.now);
    if (tooOld !== undefined) fail('ATTESTATION_TOO_OLD', tooOld);
  }

  let slsa: SlsaEvidence | undefined;
  if (req.slsa !== undefined) {
    const result =
      attestation.predicateType === SLSA_VSA_V1
        ? checkVsaAttestation(req.slsa, attestation)
        : isProvenanceType(attestation.predicateType)
          ? checkProvenance(req.slsa, attestation)
          : undefined;
    if (result !== undefined) {
      for (const f of result.failures) fail(f.code, f.message);
      slsa = result.evidence;
    }
  } else if (attestation.predicateType === SLSA_VSA_V1) {
    // Policies cannot compile so (compile.ts); should one ever, a VSA still counts for nothing.
    fail('VSA_VERIFIER_UNTRUSTED', 'the requirement lists no slsa.verifiers, so no VSA is trusted');
  }

  for (const condition of req.conditions) {
    const result = condition.evaluate({
      statement,
      image: { digest: context.imageDigest, reference: context.imageReference },
    });
    if (!result.ok) {
      const what = condition.message === undefined ? '' : `${condition.message}: `;
      fail('CONDITION_FAILED', `${what}condition \`${condition.expression}\` ${result.problem}`);
    }
  }

  return { failures, evidence: slsa === undefined ? base : { ...base, slsa } };
}

/** How far in the future a statement's own time may be (clocks differ) before it is not believed. */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/**
 * Age is measured from when the attestation was made, as far as its signature vouches for it. Keyless: the
 * verified signing time, which the certificate's short validity pins. Key: the time the signed predicate
 * states (statement-time.ts), or an earlier verified timestamp; a timestamp alone shows only that the
 * signature existed then, and an old signature can be stamped again.
 */
function ageProblem(
  attestation: VerifiedAttestation,
  maxAgeMs: number,
  maxAge: string,
  now: Date,
): string | undefined {
  const { signedAt, statement } = attestation;
  let madeAt = signedAt;
  let what = 'signed';
  if (attestation.signer.issuer === undefined) {
    const stated = statementTime(statement.predicateType, statement.predicate);
    if (stated === undefined) {
      return `it is signed with a key and its predicate states no time it was made (a key signature's timestamps show only that it existed then, and can be renewed), so it cannot be shown to be younger than maxAge ${maxAge}`;
    }
    if (stated.getTime() > now.getTime() + MAX_CLOCK_SKEW_MS) {
      return `its predicate states it was made ${stated.toISOString()}, in the future`;
    }
    if (signedAt === undefined || stated.getTime() <= signedAt.getTime()) {
      madeAt = stated;
      what = 'made (as its predicate states)';
    } else {
      what = 'timestamped';
    }
  }
  if (madeAt === undefined) {
    return `its signing time is unknown, so it cannot be shown to be younger than maxAge ${maxAge}`;
  }
  const age = now.getTime() - madeAt.getTime();
  if (age <= maxAgeMs) return undefined;
  return `${what} ${madeAt.toISOString()}, ${formatDuration(age)} ago; maxAge is ${maxAge}`;
}

interface SlsaResult {
  readonly failures: readonly Failure[];
  readonly evidence?: SlsaEvidence;
}

/** What a verified attestation's provenance and signing certificate say, apart from any requirement. */
interface ProvenanceReading {
  readonly facts: ProvenanceFacts;
  readonly settled: BuildSource | { readonly problem: string };
}

/**
 * Read once per verified attestation: the cached verification record hands the same attestation objects to
 * every admission of the image, and what they say cannot change (parsing the provenance and its repository
 * URLs was half of judging an SLSA requirement).
 */
const readings = new WeakMap<VerifiedAttestation, ProvenanceReading | string>();

function readingOf(attestation: VerifiedAttestation): ProvenanceReading | string {
  let reading = readings.get(attestation);
  if (reading === undefined) {
    const facts = readProvenance(attestation.statement);
    reading =
      typeof facts === 'string'
        ? facts
        : { facts, settled: settleSource([...facts.sources, ...certificateSources(attestation.signer)]) };
    readings.set(attestation, reading);
  }
  return reading;
}

function checkProvenance(slsa: CompiledSlsaRequirement, attestation: VerifiedAttestation): SlsaResult {
  const reading = readingOf(attestation);
  if (typeof reading === 'string') return { failures: [{ code: 'ATTESTATION_INVALID', message: reading }] };
  const { facts, settled } = reading;

  const rating = rateBuilder(facts, attestation.signer, slsa.builders, slsa.githubEnterprise);
  // An untrusted or forged builder makes every other claim in the provenance worthless: report only that.
  if (!rating.ok) return { failures: [{ code: 'SLSA_BUILDER_UNTRUSTED', message: rating.message }] };

  const failures: Failure[] = [];
  const source = 'problem' in settled ? {} : settled;
  const evidence: SlsaEvidence = {
    via: 'provenance',
    level: rating.level,
    levelBasis: rating.basis,
    builder: facts.builderId,
    ...(facts.buildType !== undefined ? { buildType: facts.buildType } : {}),
    ...source,
  };

  if (rating.level < slsa.minBuildLevel) {
    failures.push({
      code: 'SLSA_LEVEL_TOO_LOW',
      message: `SLSA Build L${rating.level} found, L${slsa.minBuildLevel} required; builder ${facts.builderId}: ${rating.basis}`,
    });
  }
  if ('problem' in settled) {
    failures.push({ code: 'SLSA_SOURCE_MISMATCH', message: settled.problem });
  } else if (slsa.source !== undefined) {
    const mismatch = sourceMismatch(settled, slsa.source);
    if (mismatch !== undefined) failures.push({ code: 'SLSA_SOURCE_MISMATCH', message: mismatch });
  }
  return { failures, evidence };
}

function checkVsaAttestation(slsa: CompiledSlsaRequirement, attestation: VerifiedAttestation): SlsaResult {
  const outcome = checkVsa(attestation.statement, slsa.verifiers, attestation.signer.authority);
  if (!outcome.ok) return { failures: [{ code: outcome.code, message: outcome.message }] };
  const evidence: SlsaEvidence = {
    via: 'vsa',
    level: outcome.level,
    levelBasis: outcome.basis,
    builder: outcome.verifierId,
  };
  if (outcome.level >= slsa.minBuildLevel) return { failures: [], evidence };
  return {
    failures: [
      {
        code: 'SLSA_LEVEL_TOO_LOW',
        message: `SLSA Build L${outcome.level} found, L${slsa.minBuildLevel} required; ${outcome.basis} for ${outcome.resourceUri}`,
      },
    ],
    evidence,
  };
}

function unsatisfied(
  req: CompiledAttestationRequirement,
  failures: readonly Failure[],
  evidence?: AttestationEvidence,
): AttestationEvaluation {
  // The same failure from two copies of one attestation (tag and referrer) is one reason, not two.
  const seen = new Set<string>();
  const reasons: Reason[] = [];
  for (const f of failures) {
    const key = `${f.code}\u0000${f.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    reasons.push({
      code: f.code,
      message: f.message,
      ...(f.authority !== undefined ? { authority: f.authority } : {}),
    });
  }
  return {
    requirement: req.name,
    satisfied: false,
    reasons,
    ...(evidence !== undefined ? { evidence } : {}),
  };
}
