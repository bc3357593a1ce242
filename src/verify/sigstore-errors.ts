import { PolicyError, VerificationError } from '@sigstore/verify';
import { ProvenantError, type ReasonCode } from '../errors.js';

// sigstore-js codes are coarse (style.md); each maps to the Provenant code a person can act on.
const CODES: Readonly<Record<string, ReasonCode>> = {
  TLOG_ERROR: 'TLOG_INVALID',
  TLOG_BODY_ERROR: 'TLOG_INVALID',
  TLOG_INCLUSION_PROOF_ERROR: 'TLOG_INVALID',
  TLOG_INCLUSION_PROMISE_ERROR: 'TLOG_INVALID',
  TLOG_MISSING_INCLUSION_ERROR: 'TLOG_INVALID',
  TIMESTAMP_ERROR: 'TIMESTAMP_INVALID',
  CERTIFICATE_ERROR: 'CERTIFICATE_INVALID',
  SIGNATURE_ERROR: 'SIGNATURE_INVALID',
  PUBLIC_KEY_ERROR: 'SIGNATURE_INVALID',
  UNTRUSTED_SIGNER_ERROR: 'UNTRUSTED_SIGNER',
};

/**
 * Maps anything @sigstore/verify (or the parsers under it) throws to a ProvenantError, keeping the original
 * in `cause`. Unknown failures, including TypeErrors from malformed input reaching the library, are
 * SIGNATURE_INVALID "bundle is malformed": the material did not verify, and Provenant never guesses in its
 * favour.
 */
export function fromSigstoreError(err: unknown): ProvenantError {
  if (err instanceof ProvenantError) return err;
  if (err instanceof VerificationError || err instanceof PolicyError) {
    const cause = err.cause instanceof Error ? ` (${err.cause.message})` : '';
    return new ProvenantError(CODES[err.code] ?? 'SIGNATURE_INVALID', `${err.code}: ${err.message}${cause}`, {
      cause: err,
    });
  }
  // A TypeError from a field the bundle lacks: its text names JavaScript internals, not the bundle.
  return new ProvenantError(
    'SIGNATURE_INVALID',
    'bundle is malformed: a field verification needs is missing or has the wrong type',
    { cause: err },
  );
}
