import type { ReasonCode } from '../errors.js';

/**
 * What discovery found attached to an image digest, still unverified. Every field here is attacker
 * controlled until a verifier in this folder has checked it against the policy's trust material.
 */
export type SignatureEvidence =
  /** A layer of a legacy cosign `sha256-<hex>.sig` manifest: the simple-signing payload blob and its annotations. */
  | {
      readonly kind: 'cosign-simple-signing';
      readonly source: string;
      readonly payload: Uint8Array;
      readonly annotations: Readonly<Record<string, string>>;
    }
  /** A sigstore bundle (v0.1–v0.3) found as an OCI referrer: the exact JSON bytes of the bundle blob. */
  | { readonly kind: 'sigstore-bundle'; readonly source: string; readonly bundle: Uint8Array };

/** A trust anchor that a policy names. Keyless authorities (Fulcio identities) join this union later. */
export type Authority = KeyAuthority;

export interface KeyAuthority {
  readonly kind: 'key';
  readonly name: string;
  /** PEM SubjectPublicKeyInfo: ECDSA P-256/P-384/P-521, RSA or Ed25519. */
  readonly publicKeyPem: string;
}

/** Who signed, as far as it was verified. */
export interface VerifiedSigner {
  readonly authority: string;
  /** Human-readable: the key's fingerprint, or the certificate identity for keyless. */
  readonly identity: string;
}

/** The outcome of checking one piece of evidence against one authority for one image digest. */
export type SignatureCheck =
  | {
      readonly ok: true;
      readonly source: string;
      readonly signer: VerifiedSigner;
    }
  | {
      readonly ok: false;
      readonly source: string;
      readonly authority: string;
      readonly code: Extract<ReasonCode, 'SIGNATURE_INVALID' | 'DIGEST_MISMATCH' | 'UNTRUSTED_SIGNER'>;
      /** What was found versus what was expected, for a person; never includes secrets. */
      readonly message: string;
    };
