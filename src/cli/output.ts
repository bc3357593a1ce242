import type { AttestationEvidence } from '../attestation/types.js';
import { sanitizeText } from '../admission/text.js';
import type { AttestationOutcome, ImageVerdict, Reason } from '../verdict.js';

export type OutputFormat = 'text' | 'json';

/** The JSON shape shared by `verify` and `check`; fields are added, never renamed. */
export function toJson(verdicts: readonly ImageVerdict[]): string {
  return JSON.stringify(verdictsJson(verdicts), null, 2);
}

/** The value behind `toJson`, for commands that add fields of their own (`check` adds `objects`). */
export function verdictsJson(verdicts: readonly ImageVerdict[]) {
  return {
    allowed: verdicts.every((v) => v.allowed),
    results: verdicts.map((v) => ({
      image: v.image,
      digest: v.digest ?? null,
      allowed: v.allowed,
      warnings: v.warnings.map(formatReason),
      reasons: v.reasons.map(reasonJson),
      audit: v.audit.map(reasonJson),
      policies: v.outcomes.map((o) => ({
        policy: o.policy,
        mode: o.mode,
        satisfied: o.satisfied,
        static: o.static ?? null,
        verifiedAuthorities: o.verifiedAuthorities,
        reasons: o.reasons.map(reasonJson),
        attestations: (o.attestations ?? []).map((a) => attestationJson(o.policy, a)),
      })),
      // Every attestation requirement of every matching policy, flattened: what each needed and what met it.
      attestations: v.outcomes.flatMap((o) =>
        (o.attestations ?? []).map((a) => attestationJson(o.policy, a)),
      ),
    })),
  };
}

function attestationJson(policy: string, outcome: AttestationOutcome) {
  const e: AttestationEvidence | undefined = outcome.evidence;
  return {
    policy,
    name: outcome.requirement,
    satisfied: outcome.satisfied,
    predicateType: e?.predicateType ?? null,
    source: e?.source ?? null,
    authority: e?.authority ?? null,
    signer: e?.signer ?? null,
    signedAt: e?.signedAt ?? null,
    timestamps: e?.timestamps ?? [],
    slsa:
      e?.slsa === undefined
        ? null
        : {
            via: e.slsa.via,
            level: e.slsa.level,
            levelBasis: e.slsa.levelBasis,
            builder: e.slsa.builder ?? null,
            buildType: e.slsa.buildType ?? null,
            repository: e.slsa.repository ?? null,
            ref: e.slsa.ref ?? null,
            commit: e.slsa.commit ?? null,
          },
  };
}

/**
 * One line per image for a person: denials carry every reason, with policy, authority and code. Every field is
 * one line of printable text (`sanitizeText`, as in the webhook's messages): reasons quote what registries,
 * signatures and certificates say, and a line break there would start a line of the attacker's own in a CI
 * log (where a line beginning with `::` is a workflow command).
 */
export function toText(verdicts: readonly ImageVerdict[]): string {
  const lines: string[] = [];
  for (const v of verdicts) {
    const name = sanitizeText(v.digest && !v.image.includes('@') ? `${v.image}@${v.digest}` : v.image);
    if (!v.allowed) {
      lines.push(`denied  ${name}: ${v.reasons.map((r) => sanitizeText(formatReason(r))).join('; ')}`);
    } else {
      const verified = v.outcomes.flatMap((o) =>
        o.verifiedAuthorities.map((a) => sanitizeText(`${o.policy}/${a}`)),
      );
      const attested = v.outcomes.flatMap((o) =>
        (o.attestations ?? [])
          .filter((a) => a.satisfied)
          .map((a) => {
            const level = a.evidence?.slsa === undefined ? '' : ` SLSA L${a.evidence.slsa.level}`;
            return sanitizeText(`${o.policy}/${a.requirement}${level}`);
          }),
      );
      const allowedBy = v.outcomes.filter((o) => o.static === 'Allow').map((o) => sanitizeText(o.policy));
      const details = [
        ...(allowedBy.length ? [`allowed by: ${allowedBy.join(', ')}`] : []),
        ...(verified.length ? [`verified: ${verified.join(', ')}`] : []),
        ...(attested.length ? [`attested: ${attested.join(', ')}`] : []),
      ];
      lines.push(`allowed ${name}${details.length ? ` (${details.join('; ')})` : ''}`);
    }
    for (const w of v.warnings) lines.push(`warning ${name}: ${sanitizeText(formatReason(w))}`);
    for (const a of v.audit) lines.push(`audit   ${name}: ${sanitizeText(formatReason(a))}`);
  }
  return lines.join('\n');
}

export function formatReason(reason: Reason): string {
  const where = [
    reason.policy && `policy ${reason.policy}`,
    reason.authority && `authority ${reason.authority}`,
  ]
    .filter(Boolean)
    .join(', ');
  return `${where ? `${where}: ` : ''}${reason.code}: ${reason.message}`;
}

function reasonJson(reason: Reason) {
  return {
    policy: reason.policy ?? null,
    authority: reason.authority ?? null,
    code: reason.code,
    message: reason.message,
  };
}
