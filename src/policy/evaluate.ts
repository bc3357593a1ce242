import { evaluateAttestationRequirement } from '../attestation/evaluate.js';
import { SLSA_VSA_V1 } from '../attestation/predicate-type.js';
import type {
  CompiledAttestationRequirement,
  EvaluationContext,
  VerifiedAttestation,
} from '../attestation/types.js';
import type { ReasonCode } from '../errors.js';
import type { SignatureCheck } from '../verify/types.js';
import type { AttestationOutcome, PolicyOutcome, Reason } from '../verdict.js';
import type { CompiledPolicy } from './types.js';

/** An attestation that did not verify (or could not be read), kept to explain a requirement left unmet. */
export interface FailedAttestation {
  readonly source: string;
  /** The authority it was checked against; absent when it could not even be read. */
  readonly authority?: string;
  /** The predicate type it claims, unverified: only used to tell which requirement it concerns. */
  readonly predicateType?: string;
  readonly code: ReasonCode;
  readonly message: string;
}

/** What was found for a policy's attestation requirements, and when and for which image they are judged. */
export interface AttestationFindings {
  /** Attestations verified against the policy's authorities and bound to the image digest. */
  readonly verified: readonly VerifiedAttestation[];
  readonly failed: readonly FailedAttestation[];
  readonly context: EvaluationContext;
}

/**
 * Per authority name, the result of checking every signature found against that authority. A plain record,
 * not a Map: one is kept with every cached verdict, and a Map costs several times the memory. Only own
 * properties count, so an authority named like an Object.prototype member reads as unchecked.
 */
export type ChecksByAuthority = Readonly<Record<string, readonly SignatureCheck[]>>;

function checksFor(checks: ChecksByAuthority, authority: string): readonly SignatureCheck[] {
  return (Object.hasOwn(checks, authority) ? checks[authority] : undefined) ?? [];
}

/**
 * Judges one image against one policy from the verification results. Runs on every admission, cached
 * verification results included, so a tightened policy (or a clock past an attestation's maxAge) takes
 * effect at once.
 *
 * `checks` holds, per authority name, the result of checking every signature found against that authority.
 * `attestations` is what was verified for the policy's attestation requirements; without it every requirement
 * is unmet (fail closed). The policy is satisfied only when its signatures (if required) and every
 * attestation requirement are.
 */
export function evaluatePolicy(
  policy: CompiledPolicy,
  checks: ChecksByAuthority,
  signaturesFound: number,
  attestations?: AttestationFindings,
): PolicyOutcome {
  const signatures = evaluateSignatures(policy, checks, signaturesFound);
  const requirements = policy.attestations ?? [];
  if (requirements.length === 0) return signatures;
  const results = requirements.map((req) => evaluateRequirement(policy.name, req, attestations));
  return {
    ...signatures,
    satisfied: signatures.satisfied && results.every((r) => r.outcome.satisfied),
    reasons: [...signatures.reasons, ...results.flatMap((r) => r.reasons)],
    attestations: results.map((r) => r.outcome),
  };
}

function evaluateRequirement(
  policy: string,
  req: CompiledAttestationRequirement,
  findings: AttestationFindings | undefined,
): { outcome: AttestationOutcome; reasons: Reason[] } {
  if (findings === undefined) {
    return {
      outcome: { requirement: req.name, satisfied: false },
      reasons: [
        {
          policy,
          code: 'ATTESTATION_MISSING',
          message: `attestation ${req.name}: attestations were not looked up`,
        },
      ],
    };
  }
  const evaluation = evaluateAttestationRequirement(req, findings.verified, findings.context);
  const outcome: AttestationOutcome = {
    requirement: req.name,
    satisfied: evaluation.satisfied,
    ...(evaluation.evidence !== undefined ? { evidence: evaluation.evidence } : {}),
  };
  const reasons = evaluation.satisfied ? [] : explainUnmet(req, evaluation.reasons, findings.failed);
  return { outcome, reasons: reasons.map((r) => ({ policy, ...r })) };
}

/**
 * When nothing trusted of the required type verified, the evaluator can only say "missing" or "signed by
 * another authority"; attestations that failed verification say more (one copied from another image is
 * DIGEST_MISMATCH, a tampered one SIGNATURE_INVALID). As for signatures, each named authority reports its
 * most telling failure.
 */
function explainUnmet(
  req: CompiledAttestationRequirement,
  reasons: readonly Reason[],
  failed: readonly FailedAttestation[],
): Reason[] {
  const missing = reasons.every((r) => r.code === 'ATTESTATION_MISSING');
  const untrusted = reasons.every((r) => r.code === 'UNTRUSTED_SIGNER');
  if (!missing && !untrusted) return [...reasons];
  const acceptsVsa = (req.slsa?.verifiers.length ?? 0) > 0;
  const relevant = failed.filter(
    (f) =>
      f.predicateType === undefined ||
      req.predicateType.matches(f.predicateType) ||
      (acceptsVsa && f.predicateType === SLSA_VSA_V1),
  );
  const unread = relevant
    .filter((f) => f.authority === undefined)
    .map((f) => ({ code: f.code, message: `attestation ${req.name}: ${f.source}: ${f.message}` }));
  const perAuthority = req.authorities.flatMap((authority) => {
    const failures = relevant.filter((f) => f.authority === authority);
    failures.sort((a, b) => priority(a.code) - priority(b.code));
    const first = failures[0];
    // "Signed by another authority" adds nothing to the evaluator's own UNTRUSTED_SIGNER reason.
    if (first === undefined || (untrusted && first.code === 'UNTRUSTED_SIGNER')) return [];
    const others = failures.length > 1 ? ` (${failures.length} attestations checked)` : '';
    return [
      {
        authority,
        code: first.code,
        message: `attestation ${req.name}: ${first.source}: ${first.message}${others}`,
      },
    ];
  });
  const explained = [...perAuthority, ...unread];
  if (explained.length === 0) return [...reasons];
  return missing ? explained : [...reasons, ...explained];
}

function evaluateSignatures(
  policy: CompiledPolicy,
  checks: ChecksByAuthority,
  signaturesFound: number,
): PolicyOutcome {
  const verified = policy.authorities
    .map((a) => a.name)
    .filter((name) => checksFor(checks, name).some((c) => c.ok));
  const base = { policy: policy.name, mode: policy.mode, verifiedAuthorities: verified };
  if (!policy.signatures) return { ...base, satisfied: true, reasons: [] };

  const { threshold } = policy.signatures;
  // Any verified authority is one signer; the matching only matters for thresholds above one, and it runs
  // on every cached admission.
  const credited = threshold > 1 ? distinctSigners(verified, checks) : Math.min(verified.length, 1);
  if (credited >= threshold) return { ...base, satisfied: true, reasons: [] };

  if (signaturesFound === 0) {
    return {
      ...base,
      satisfied: false,
      reasons: [
        {
          policy: policy.name,
          code: 'NO_SIGNATURE',
          message: 'no signature is attached to the image digest',
        },
      ],
    };
  }

  const failures = policy.authorities
    .filter((a) => !verified.includes(a.name))
    .map((a) => strongestFailure(policy.name, a.name, checksFor(checks, a.name)));

  if (threshold > 1) {
    const shared =
      credited < verified.length
        ? `, ${credited} distinct signer${credited === 1 ? '' : 's'} among them (a key or identity counts once)`
        : '';
    const summary: Reason = {
      policy: policy.name,
      code: 'THRESHOLD_NOT_MET',
      message:
        `${verified.length} of ${threshold} required authorities signed` +
        (verified.length ? ` (${verified.join(', ')})` : '') +
        shared +
        (failures.length
          ? `; not verified: ${failures.map((f) => `${f.authority} (${f.code})`).join(', ')}`
          : ''),
    };
    return { ...base, satisfied: false, reasons: [summary, ...failures] };
  }
  return { ...base, satisfied: false, reasons: failures };
}

/** Who made a verified signature: the key, or the certificate identity (issuer and subject) for keyless. */
function signerOf(check: SignatureCheck & { ok: true }): string {
  const { keyId, issuer, subject, identity } = check.signer;
  return keyId !== undefined ? `key ${keyId}` : `${issuer ?? ''}\n${subject ?? identity}`;
}

/**
 * How many of the `verified` authorities can each be credited to a different signer: a threshold of two
 * means two signers, so one key (or one person's certificate identity) that several authorities accept, or
 * one signature listed twice, counts once. The largest such assignment (a bipartite matching, found with
 * augmenting paths; policies have a handful of authorities).
 */
function distinctSigners(verified: readonly string[], checks: ChecksByAuthority): number {
  const signersOf = verified.map(
    (name) => new Set(checksFor(checks, name).flatMap((c) => (c.ok ? [signerOf(c)] : []))),
  );
  const creditedTo = new Map<string, number>();
  const assign = (authority: number, tried: Set<string>): boolean => {
    for (const signer of signersOf[authority] ?? []) {
      if (tried.has(signer)) continue;
      tried.add(signer);
      const holder = creditedTo.get(signer);
      if (holder === undefined || assign(holder, tried)) {
        creditedTo.set(signer, authority);
        return true;
      }
    }
    return false;
  };
  let credited = 0;
  for (let authority = 0; authority < verified.length; authority++) {
    if (assign(authority, new Set())) credited++;
  }
  return credited;
}

// When several signatures fail for one authority, report the most telling: evidence of an attack
// (a signature replayed from another digest, a tampered payload) before "signed by someone else".
const PRIORITY: readonly ReasonCode[] = [
  'DIGEST_MISMATCH',
  'SIGNATURE_INVALID',
  'CERTIFICATE_INVALID',
  'TLOG_INVALID',
  'TIMESTAMP_INVALID',
  'UNSUPPORTED_FORMAT',
  'UNTRUSTED_SIGNER',
];

function priority(code: ReasonCode): number {
  const index = PRIORITY.indexOf(code);
  return index === -1 ? PRIORITY.length : index;
}

function strongestFailure(
  policy: string,
  authority: string,
  checks: readonly SignatureCheck[],
): Reason & { authority: string } {
  const failures = checks.filter((c): c is Extract<SignatureCheck, { ok: false }> => !c.ok);
  failures.sort((a, b) => PRIORITY.indexOf(a.code) - PRIORITY.indexOf(b.code));
  const first = failures[0];
  if (!first) {
    return {
      policy,
      authority,
      code: 'UNTRUSTED_SIGNER',
      message: 'no signature was checked against this authority',
    };
  }
  const others = failures.length > 1 ? ` (${failures.length} signatures checked)` : '';
  return { policy, authority, code: first.code, message: `${first.message}${others}` };
}
