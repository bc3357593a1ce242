import type { ReasonCode } from '../errors.js';
import type { SignatureCheck } from '../verify/types.js';
import type { PolicyOutcome, Reason } from '../verdict.js';
import type { CompiledPolicy } from './types.js';

/**
 * Judges one image against one policy from the verification results. Runs on every admission, cached
 * verification results included, so a tightened policy takes effect at once.
 *
 * `checks` holds, per authority name, the result of checking every signature found against that authority.
 */
export function evaluatePolicy(
  policy: CompiledPolicy,
  checks: ReadonlyMap<string, readonly SignatureCheck[]>,
  signaturesFound: number,
): PolicyOutcome {
  const verified = policy.authorities
    .map((a) => a.name)
    .filter((name) => checks.get(name)?.some((c) => c.ok));
  const base = { policy: policy.name, mode: policy.mode, verifiedAuthorities: verified };
  if (!policy.signatures) return { ...base, satisfied: true, reasons: [] };

  const { threshold } = policy.signatures;
  if (verified.length >= threshold) return { ...base, satisfied: true, reasons: [] };

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
    .map((a) => strongestFailure(policy.name, a.name, checks.get(a.name) ?? []));

  if (threshold > 1) {
    const summary: Reason = {
      policy: policy.name,
      code: 'THRESHOLD_NOT_MET',
      message:
        `${verified.length} of ${threshold} required authorities signed` +
        (verified.length ? ` (${verified.join(', ')})` : '') +
        `; not verified: ${failures.map((f) => `${f.authority} (${f.code})`).join(', ')}`,
    };
    return { ...base, satisfied: false, reasons: [summary, ...failures] };
  }
  return { ...base, satisfied: false, reasons: failures };
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
