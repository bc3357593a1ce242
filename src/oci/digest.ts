import { createHash } from 'node:crypto';

/** The algorithms go-digest registers; anything else is refused, as Docker refuses it. */
export type DigestAlgorithm = 'sha256' | 'sha384' | 'sha512';

const HEX_LENGTH: Readonly<Record<DigestAlgorithm, number>> = { sha256: 64, sha384: 96, sha512: 128 };

// The OCI grammar for `algorithm:encoded`, before the per-algorithm rules narrow it down.
const DIGEST_SHAPE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;

export interface ParsedDigest {
  readonly algorithm: DigestAlgorithm;
  readonly hex: string;
}

function isAlgorithm(value: string): value is DigestAlgorithm {
  return Object.hasOwn(HEX_LENGTH, value);
}

/**
 * Explains why `text` is not a usable digest, or returns undefined when it is one. Callers turn the
 * explanation into an error with the reason code that fits where the digest came from.
 */
export function digestProblem(text: string): string | undefined {
  if (!DIGEST_SHAPE.test(text)) return 'is not of the form algorithm:hex';
  const [algorithm = '', hex = ''] = text.split(':');
  if (!isAlgorithm(algorithm)) return `uses unsupported algorithm "${algorithm}" (sha256, sha384, sha512)`;
  if (hex.length !== HEX_LENGTH[algorithm] || /[A-F]/.test(hex)) {
    return `must have ${HEX_LENGTH[algorithm]} lowercase hex characters after "${algorithm}:"`;
  }
  return undefined;
}

export function isDigest(text: string): boolean {
  return digestProblem(text) === undefined;
}

/** Splits a digest that `isDigest` accepted; returns undefined for anything else. */
export function parseDigest(text: string): ParsedDigest | undefined {
  if (!isDigest(text)) return undefined;
  const [algorithm, hex] = text.split(':') as [DigestAlgorithm, string];
  return { algorithm, hex };
}

/** `algorithm:hex` of the exact bytes; never of re-serialised content. */
export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}
