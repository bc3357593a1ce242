/**
 * Reason codes are Provenant's API: they appear in deny messages, metrics labels, CLI and JSON output.
 * They are added or deprecated, never renamed. `docs/reasons.md` documents each one; a test keeps the two in step.
 *
 * Every code belongs to one category, which keeps four situations apart:
 *   missing     nothing was found to check                       (NO_SIGNATURE, NOT_AN_IMAGE_SIGNATURE)
 *   invalid     something was found but it does not verify        (SIGNATURE_INVALID, DIGEST_MISMATCH,
 *                                                                  CERTIFICATE_INVALID, TLOG_INVALID, ...)
 *   untrusted   it verifies, but not against the policy's trust   (UNTRUSTED_SIGNER)
 *   unavailable it could not be checked                           (REGISTRY_UNAVAILABLE, TIMEOUT)
 *   input       the request, reference or policy itself is wrong  (INVALID_REFERENCE, INVALID_POLICY)
 *   policy      the policy's own requirement is not met           (NO_MATCHING_POLICY, THRESHOLD_NOT_MET)
 */
export const REASONS = {
  NO_MATCHING_POLICY: {
    category: 'policy',
    summary: 'No policy matches the image and --no-match denies it.',
  },
  IMAGE_NOT_ALLOWED: {
    category: 'policy',
    summary: "A static Deny policy matches the image; the message is the policy's own.",
  },
  PLATFORM_NOT_FOUND: {
    category: 'missing',
    summary: 'A platform the policy requires is not in the image index (or the image is single-platform).',
  },
  NO_SIGNATURE: { category: 'missing', summary: 'No signature is attached to the image digest.' },
  UNTRUSTED_SIGNER: {
    category: 'untrusted',
    summary: "Signatures exist, but none is from any of the policy's authorities.",
  },
  SIGNATURE_INVALID: {
    category: 'invalid',
    summary: 'A signature or its payload is malformed or does not verify (tampered).',
  },
  DIGEST_MISMATCH: {
    category: 'invalid',
    summary: 'A valid signature was made for another digest than the image being checked.',
  },
  UNSUPPORTED_FORMAT: {
    category: 'invalid',
    summary:
      'A signature uses a format or version Provenant does not verify (e.g. an unknown bundle version).',
  },
  CERTIFICATE_INVALID: {
    category: 'invalid',
    summary:
      'A signing certificate does not chain to the trust root at the signature time, or its SCTs fail.',
  },
  TLOG_INVALID: {
    category: 'invalid',
    summary: 'A transparency-log entry is missing, does not verify, or does not match the signature.',
  },
  TIMESTAMP_INVALID: {
    category: 'invalid',
    summary: 'A signed timestamp is missing or does not verify, so the signature time cannot be trusted.',
  },
  NOT_AN_IMAGE_SIGNATURE: {
    category: 'missing',
    summary:
      'The item is an attestation, not an image signature; it does not count toward signature requirements.',
  },
  THRESHOLD_NOT_MET: {
    category: 'policy',
    summary: 'Fewer distinct authorities signed the image than the policy requires.',
  },
  ATTESTATION_MISSING: {
    category: 'missing',
    summary: 'No attestation of the required predicate type is attached to the image digest.',
  },
  ATTESTATION_INVALID: {
    category: 'invalid',
    summary: 'An attestation verifies, but its statement is malformed or contradicts itself.',
  },
  ATTESTATION_TOO_OLD: {
    category: 'policy',
    summary: 'An attestation was signed longer ago than maxAge allows, or its signing time is unknown.',
  },
  SLSA_LEVEL_TOO_LOW: {
    category: 'policy',
    summary: 'The provenance or VSA shows a lower SLSA Build level than the requirement asks for.',
  },
  SLSA_BUILDER_UNTRUSTED: {
    category: 'untrusted',
    summary: 'The provenance builder is not accepted, or its builder.id disagrees with the signing identity.',
  },
  SLSA_SOURCE_MISMATCH: {
    category: 'policy',
    summary: 'The image was built from another repository or ref than the requirement allows.',
  },
  VSA_VERIFIER_UNTRUSTED: {
    category: 'untrusted',
    summary: 'A verification summary comes from a verifier the requirement does not list.',
  },
  VSA_FAILED: {
    category: 'policy',
    summary: 'A verification summary reports a result other than PASSED.',
  },
  VSA_RESOURCE_MISMATCH: {
    category: 'policy',
    summary: 'A verification summary was issued for another resource than the requirement allows.',
  },
  CONDITION_FAILED: {
    category: 'policy',
    summary: "An attestation does not meet one of the requirement's CEL conditions.",
  },
  REGISTRY_UNAVAILABLE: {
    category: 'unavailable',
    summary: 'The registry could not be reached or kept failing (network error, 5xx, 429).',
  },
  REGISTRY_AUTH_FAILED: {
    category: 'unavailable',
    summary: 'The registry refused the credentials (401/403).',
  },
  REGISTRY_RESPONSE_INVALID: {
    category: 'unavailable',
    summary:
      'The registry answered with something unusable: wrong digest, oversized, or unparseable content.',
  },
  REGISTRY_ADDRESS_REFUSED: {
    category: 'unavailable',
    summary:
      'The registry host resolves to a link-local or cloud metadata address, which Provenant never contacts unless --allow-registry-address allows it.',
  },
  IMAGE_NOT_FOUND: {
    category: 'missing',
    summary: 'The image tag or digest does not exist in the registry.',
  },
  TIMEOUT: { category: 'unavailable', summary: 'The check did not finish within its deadline.' },
  INVALID_REFERENCE: { category: 'input', summary: 'The image reference cannot be parsed.' },
  INVALID_POLICY: { category: 'input', summary: 'A policy document is invalid.' },
  TRUST_ROOT_INVALID: {
    category: 'input',
    summary: 'A trusted_root.json is malformed or incomplete (e.g. a key without its validity start).',
  },
  TRUST_ROOT_UNAVAILABLE: {
    category: 'unavailable',
    summary:
      "A TrustRoot's TUF repository could not be reached, or what it served did not verify (signature, expiry, hash).",
  },
  TRUST_ROOT_STALE: {
    category: 'unavailable',
    summary:
      'A TUF-backed TrustRoot has not been refreshed within its maxStaleness, so signatures that depend on it are refused.',
  },
  INVALID_REQUEST: { category: 'input', summary: 'The admission request or manifest cannot be understood.' },
  POLICIES_NOT_LOADED: {
    category: 'unavailable',
    summary: 'The webhook was asked before its policies were loaded; the request was not decided.',
  },
  OVERLOADED: {
    category: 'unavailable',
    summary: 'Too many large admission requests were being decided at once; the request was turned away.',
  },
  INTERNAL_ERROR: {
    category: 'unavailable',
    summary: 'An unexpected error; Provenant denies rather than guess.',
  },
} as const satisfies Record<string, { category: ReasonCategory; summary: string }>;

export type ReasonCategory = 'missing' | 'invalid' | 'untrusted' | 'unavailable' | 'input' | 'policy';
export type ReasonCode = keyof typeof REASONS;

export function isReasonCode(value: string): value is ReasonCode {
  return Object.hasOwn(REASONS, value);
}

/**
 * The longest message a ProvenantError keeps. Messages quote what registries and signers send, and they are
 * kept in cached verdicts: whatever a message quotes, it cannot make a verdict large.
 */
export const MAX_MESSAGE_CHARS = 2048;

/** An error that carries a stable reason code; lower-level failures are kept in `cause`. */
export class ProvenantError extends Error {
  override readonly name = 'ProvenantError';
  constructor(
    readonly code: ReasonCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(
      message.length <= MAX_MESSAGE_CHARS ? message : `${message.slice(0, MAX_MESSAGE_CHARS)}… (truncated)`,
      options,
    );
  }
}

/**
 * An outside value (a field of a bundle, statement or payload) quoted for a message: as JSON, cut to `max`
 * characters with its full length noted.
 */
export function quoted(value: unknown, max = 128): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/** Maps anything thrown to a ProvenantError, so that no failure escapes without a code (fail closed). */
export function toProvenantError(err: unknown, fallback: ReasonCode = 'INTERNAL_ERROR'): ProvenantError {
  if (err instanceof ProvenantError) return err;
  // AbortSignal.abort() and AbortSignal.timeout() reasons: a deadline, not a bug.
  if (err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError')) {
    return new ProvenantError('TIMEOUT', err.message || 'operation aborted', { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ProvenantError(fallback, message, { cause: err });
}
