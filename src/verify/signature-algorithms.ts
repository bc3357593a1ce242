import { constants, publicDecrypt, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { verifyEcdsaDigest } from './ecdsa-digest.js';
import { verifyEd25519ph, verifyEd25519phDigest } from './ed25519ph.js';

export type DigestName = 'sha256' | 'sha384' | 'sha512';

/**
 * The digests an ECDSA or RSA signature by `key` may use. cosign 2 signs legacy `.sig` payloads with SHA-256
 * whatever the curve; cosign 3 (sigstore-go) signs with the curve's own hash (P-384 → SHA-384,
 * P-521 → SHA-512). Accepting both is safe: a forgery would need a cross-hash second preimage.
 */
export function digestsFor(key: KeyObject): readonly DigestName[] {
  switch (key.asymmetricKeyDetails?.namedCurve) {
    case 'secp384r1':
      return ['sha384', 'sha256'];
    case 'secp521r1':
      return ['sha512', 'sha256'];
    default:
      return ['sha256'];
  }
}

export interface MessageVerifyOptions {
  /** Digests an ECDSA/RSA signature may use; defaults to `digestsFor(key)`. */
  readonly digests?: readonly DigestName[];
  /** Also accept Ed25519ph for Ed25519 keys (cosign 3 DSSE signatures); pure Ed25519 is always tried first. */
  readonly ed25519ph?: boolean;
}

/** Verifies a signature over a whole message. Never throws: malformed input is simply not a valid signature. */
export function verifyMessage(
  key: KeyObject,
  message: Uint8Array,
  signature: Uint8Array,
  options: MessageVerifyOptions = {},
): boolean {
  switch (key.asymmetricKeyType) {
    case 'ed25519':
      // Node requires a null digest for Ed25519; @sigstore/core passes a digest name and always fails.
      return (
        safeVerify(null, message, key, signature) ||
        (options.ed25519ph === true && verifyEd25519ph(key, message, signature))
      );
    case 'ec':
    case 'rsa':
      return (options.digests ?? digestsFor(key)).some((digest) =>
        safeVerify(digest, message, key, signature),
      );
    default:
      return false;
  }
}

/**
 * Verifies a signature given only the message's digest (prehashed). ECDSA and RSA PKCS#1 v1.5 sign the
 * digest, so that works. Pure Ed25519 signs the message itself and cannot be checked from any digest, so
 * it fails closed; Ed25519ph can be checked from a SHA-512 digest only.
 */
export function verifyDigest(
  key: KeyObject,
  algorithm: DigestName,
  digest: Uint8Array,
  signature: Uint8Array,
): boolean {
  switch (key.asymmetricKeyType) {
    case 'ec':
      return verifyEcdsaDigest(key, digest, signature);
    case 'rsa':
      return verifyRsaPkcs1Digest(key, algorithm, digest, signature);
    case 'ed25519':
      return algorithm === 'sha512' && verifyEd25519phDigest(key, digest, signature);
    default:
      return false;
  }
}

// DER DigestInfo prefixes (RFC 8017 §9.2 note 1).
const DIGEST_INFO_PREFIX: Readonly<Record<DigestName, string>> = {
  sha256: '3031300d060960864801650304020105000420',
  sha384: '3041300d060960864801650304020205000430',
  sha512: '3051300d060960864801650304020305000440',
};

function verifyRsaPkcs1Digest(
  key: KeyObject,
  algorithm: DigestName,
  digest: Uint8Array,
  signature: Uint8Array,
) {
  const modulusBytes = Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
  if (signature.length !== modulusBytes) return false;
  try {
    // Type-1 unpadding checks 00 01 FF… 00; comparing the whole remainder leaves no room for garbage.
    const recovered = publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, signature);
    const expected = Buffer.concat([Buffer.from(DIGEST_INFO_PREFIX[algorithm], 'hex'), digest]);
    return recovered.equals(expected);
  } catch {
    return false;
  }
}

function safeVerify(digest: DigestName | null, message: Uint8Array, key: KeyObject, signature: Uint8Array) {
  try {
    return cryptoVerify(digest, message, key, signature);
  } catch {
    return false;
  }
}
