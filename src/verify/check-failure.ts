import { ProvenantError } from '../errors.js';
import type { SignatureCheckCode } from './types.js';

/** A failed check as data: the stable code, what was found versus expected, and the underlying error. */
export interface CheckFailure {
  readonly ok: false;
  readonly code: SignatureCheckCode;
  readonly message: string;
  readonly cause?: unknown;
}

const CHECK_CODES: ReadonlySet<string> = new Set<SignatureCheckCode>([
  'SIGNATURE_INVALID',
  'DIGEST_MISMATCH',
  'UNTRUSTED_SIGNER',
  'UNSUPPORTED_FORMAT',
  'CERTIFICATE_INVALID',
  'TLOG_INVALID',
  'TIMESTAMP_INVALID',
  'NOT_AN_IMAGE_SIGNATURE',
  'TRUST_ROOT_STALE',
  'TRUST_ROOT_UNAVAILABLE',
]);

/**
 * Turns a verification failure into data. Errors that are the caller's (INVALID_POLICY, INVALID_REFERENCE,
 * TRUST_ROOT_INVALID) are rethrown: they are not a property of the evidence and must not be reported as one.
 * Anything else that is not a ProvenantError came from reading attacker-controlled evidence the parsers let
 * through (a TypeError on a missing field): it is a malformed bundle, reported without the JavaScript text.
 */
export function toCheckFailure(err: unknown): CheckFailure {
  if (err instanceof ProvenantError && CHECK_CODES.has(err.code)) {
    return { ok: false, code: err.code as SignatureCheckCode, message: err.message, cause: err.cause };
  }
  if (err instanceof ProvenantError) throw err;
  return { ok: false, code: 'SIGNATURE_INVALID', message: MALFORMED, cause: err };
}

const MALFORMED = 'bundle is malformed: a field verification needs is missing or has the wrong type';
