import type { ImageVerdict, Reason } from '../verdict.js';

export type OutputFormat = 'text' | 'json';

/** The JSON shape shared by `verify` and `check`; fields are added, never renamed. */
export function toJson(verdicts: readonly ImageVerdict[]): string {
  return JSON.stringify(
    {
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
          verifiedAuthorities: o.verifiedAuthorities,
          reasons: o.reasons.map(reasonJson),
        })),
      })),
    },
    null,
    2,
  );
}

/** One line per image for a person: denials carry every reason, with policy, authority and code. */
export function toText(verdicts: readonly ImageVerdict[]): string {
  const lines: string[] = [];
  for (const v of verdicts) {
    const name = v.digest && !v.image.includes('@') ? `${v.image}@${v.digest}` : v.image;
    if (!v.allowed) {
      lines.push(`denied  ${name}: ${v.reasons.map(formatReason).join('; ')}`);
    } else {
      const verified = v.outcomes.flatMap((o) => o.verifiedAuthorities.map((a) => `${o.policy}/${a}`));
      lines.push(`allowed ${name}${verified.length ? ` (verified: ${verified.join(', ')})` : ''}`);
    }
    for (const w of v.warnings) lines.push(`warning ${name}: ${formatReason(w)}`);
    for (const a of v.audit) lines.push(`audit   ${name}: ${formatReason(a)}`);
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
