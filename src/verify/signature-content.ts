import { createHash, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { Envelope, MessageSignature } from '@sigstore/bundle';
import { dsse } from '@sigstore/core';
import { HashAlgorithm } from '@sigstore/protobuf-specs';
import type { SignedEntity } from '@sigstore/verify';
import { verifyDigest, verifyMessage, type DigestName } from './signature-algorithms.js';

/** The interface @sigstore/verify's Verifier checks a signature through (not exported by name). */
export type SignatureContent = SignedEntity['signature'];

/**
 * Replacements for @sigstore/verify's own content classes, which verify with node:crypto defaults: they
 * pass a digest name for Ed25519 (always false), hash DSSE with SHA-256 whatever the key (cosign 3 signs
 * P-384 with SHA-384 and Ed25519 keys with Ed25519ph), and need the artifact bytes for message signatures.
 * The compare* methods keep the library's semantics, which the transparency-log body checks rely on.
 */

/** A DSSE envelope with exactly one signature (bundles never carry more). */
export class DsseContent implements SignatureContent {
  readonly signature: Buffer;
  private readonly pae: Buffer;
  private readonly payload: Buffer;

  constructor(envelope: Envelope) {
    this.payload = envelope.payload;
    this.signature = envelope.signatures[0]?.sig ?? Buffer.alloc(0);
    this.pae = dsse.preAuthEncoding(envelope.payloadType, envelope.payload);
  }

  compareSignature(signature: Buffer): boolean {
    return bytesEqual(signature, this.signature);
  }

  /** Rekor `dsse` entries record sha256 of the payload. */
  compareDigest(digest: Buffer): boolean {
    return bytesEqual(digest, sha('sha256', this.payload));
  }

  /** Rekor v2 `hashedrekord` over DSSE records sha256 of the PAE, i.e. of the signed bytes. */
  compareSignedDigest(digest: Buffer): boolean {
    return bytesEqual(digest, sha('sha256', this.pae));
  }

  verifySignature(key: KeyObject): boolean {
    return verifyMessage(key, this.pae, this.signature, { ed25519ph: true });
  }
}

/**
 * A message signature. With `bytes`, the signature is checked over them (and their digest must equal the
 * bundle's messageDigest) with the bundle's digest algorithm, or with any digest cosign uses for the key when
 * `anyKeyDigest` is set (legacy `.sig` layers); with only `digest`, it is checked over that digest
 * (prehashed), which works for ECDSA and RSA but not pure Ed25519.
 */
export class MessageContent implements SignatureContent {
  readonly signature: Buffer;
  private readonly messageDigest: Buffer;
  private readonly algorithm: DigestName | undefined;

  constructor(
    messageSignature: MessageSignature,
    private readonly artifact:
      { readonly bytes: Uint8Array; readonly anyKeyDigest?: boolean } | { readonly digest: Uint8Array },
  ) {
    this.signature = messageSignature.signature;
    this.messageDigest = messageSignature.messageDigest?.digest ?? Buffer.alloc(0);
    this.algorithm = digestName(messageSignature.messageDigest?.algorithm);
  }

  compareSignature(signature: Buffer): boolean {
    return bytesEqual(signature, this.signature);
  }

  compareDigest(digest: Buffer): boolean {
    return bytesEqual(digest, this.messageDigest);
  }

  compareSignedDigest(digest: Buffer): boolean {
    return this.compareDigest(digest);
  }

  // The bundle's messageDigest is only a hint; it must agree with what we actually hold.
  verifySignature(key: KeyObject): boolean {
    if (this.algorithm === undefined) return false;
    if ('bytes' in this.artifact) {
      if (!bytesEqual(sha(this.algorithm, this.artifact.bytes), this.messageDigest)) return false;
      // A legacy `.sig` signature's hash is not recorded anywhere: allow the ones cosign signs with for the key.
      const options = this.artifact.anyKeyDigest === true ? {} : { digests: [this.algorithm] };
      return verifyMessage(key, this.artifact.bytes, this.signature, options);
    }
    if (!bytesEqual(this.artifact.digest, this.messageDigest)) return false;
    return verifyDigest(key, this.algorithm, this.artifact.digest, this.signature);
  }
}

/** Maps the bundle's HashAlgorithm; unset means SHA-256, as in @sigstore/verify. SHA-3 is not used by Sigstore signers. */
export function digestName(algorithm: HashAlgorithm | undefined): DigestName | undefined {
  switch (algorithm) {
    case undefined:
    case HashAlgorithm.HASH_ALGORITHM_UNSPECIFIED:
    case HashAlgorithm.SHA2_256:
      return 'sha256';
    case HashAlgorithm.SHA2_384:
      return 'sha384';
    case HashAlgorithm.SHA2_512:
      return 'sha512';
    default:
      return undefined;
  }
}

export function sha(algorithm: DigestName, data: Uint8Array): Buffer {
  return createHash(algorithm).update(data).digest();
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
