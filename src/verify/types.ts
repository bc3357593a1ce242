import type { VerifiedAttestation } from '../attestation/types.js';
import type { ReasonCode } from '../errors.js';
import type { TrustStore } from '../trust/trust-store.js';
import type { CountedTimestamp, IgnoredTimestamp } from './timestamps.js';

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
  | { readonly kind: 'sigstore-bundle'; readonly source: string; readonly bundle: Uint8Array }
  /**
   * A layer of a legacy cosign `sha256-<hex>.att` manifest: the DSSE envelope blob and its annotations
   * (`predicateType`, certificate, chain, Rekor bundle, RFC 3161 timestamp). Always an attestation, never an
   * image signature.
   */
  | {
      readonly kind: 'cosign-attestation';
      readonly source: string;
      readonly envelope: Uint8Array;
      readonly annotations: Readonly<Record<string, string>>;
    };

/** A trust anchor that a policy names: a public key, or Fulcio-issued identities under a trust root. */
export type Authority = KeyAuthority | KeylessAuthority;

export interface KeyAuthority {
  readonly kind: 'key';
  readonly name: string;
  /** PEM SubjectPublicKeyInfo: ECDSA P-256/P-384/P-521, RSA or Ed25519. */
  readonly publicKeyPem: string;
  /**
   * The trust root whose timestamp authorities may vouch, with RFC 3161 timestamps, for when this key signed.
   * Without it the key alone is the trust and signatures carry no trusted time.
   */
  readonly timestampTrustRoot?: string;
}

/** A key authority whose PEM was parsed once by `compileKeyAuthority`; `verifySignature` reuses the key. */
export interface CompiledKeyAuthority extends KeyAuthority {
  /** Sigstore's key id: base64 of sha256 over the DER SubjectPublicKeyInfo (what cosign writes as `publicKey.hint`). */
  readonly keyId: string;
  /** `sha256:<hex>` over the DER SubjectPublicKeyInfo, for messages. */
  readonly fingerprint: string;
  /** e.g. `ecdsa-p256`, `rsa-2048`, `ed25519`. */
  readonly keyType: string;
}

/**
 * Keyless (Fulcio) signers: a certificate chaining to `trustRoot`'s CA at the signature's trusted time, whose
 * identity matches one of `identities` and whose extensions match `certificate`. Every RegExp is RE2 syntax
 * (as the CRD validates it) and must match the whole value; `(?i)` makes it case-insensitive, as in Go.
 */
export interface KeylessAuthority {
  readonly kind: 'keyless';
  readonly name: string;
  /** `public-good`, `github`, or the name of a custom trusted root in the trust store. */
  readonly trustRoot: string;
  /** At least one; an identity matches when every field it sets matches. */
  readonly identities: readonly KeylessIdentity[];
  readonly certificate?: CertificateExtensionPolicy;
}

export interface KeylessIdentity {
  /** OIDC issuer (Fulcio extension 1.3.6.1.4.1.57264.1.8, falling back to .1). */
  readonly issuer?: string;
  readonly issuerRegExp?: string;
  /** The certificate's SAN: URI, e-mail, or Fulcio username (otherName). */
  readonly subject?: string;
  readonly subjectRegExp?: string;
}

/** Fulcio certificate extensions by name (sigstore/fulcio docs/oid-info.md); the OIDs are in `fulcio-extensions.ts`. */
export type CertificateExtensionName =
  | 'buildSignerURI'
  | 'buildSignerDigest'
  | 'runnerEnvironment'
  | 'sourceRepositoryURI'
  | 'sourceRepositoryDigest'
  | 'sourceRepositoryRef'
  | 'sourceRepositoryIdentifier'
  | 'sourceRepositoryOwnerURI'
  | 'sourceRepositoryOwnerIdentifier'
  | 'buildConfigURI'
  | 'buildConfigDigest'
  | 'buildTrigger'
  | 'runInvocationURI'
  | 'sourceRepositoryVisibilityAtSigning'
  | 'deploymentEnvironment'
  | 'githubWorkflowTrigger'
  | 'githubWorkflowSHA'
  | 'githubWorkflowName'
  | 'githubWorkflowRepository'
  | 'githubWorkflowRef';

/** Each extension is matched exactly (`name`) or by anchored RegExp (`nameRegExp`), never both. */
export type CertificateExtensionPolicy = {
  readonly [K in CertificateExtensionName]?: string;
} & {
  readonly [K in `${CertificateExtensionName}RegExp`]?: string;
};

/** What the caller passes besides evidence and authority. Keyless authorities need the trust store. */
export interface VerifyContext {
  readonly trustStore?: TrustStore;
}

/** Who signed, as far as it was verified. */
export interface VerifiedSigner {
  readonly authority: string;
  /** Human-readable: the key's fingerprint, or the certificate identity for keyless. */
  readonly identity: string;
  /** Key authorities: Sigstore key id (base64 sha256 of the SPKI). */
  readonly keyId?: string;
  /** Keyless: the OIDC issuer and the SAN that matched the policy. */
  readonly issuer?: string;
  readonly subject?: string;
  /** Keyless: the decoded Fulcio extensions of the signing certificate, by name. */
  readonly extensions?: Readonly<Partial<Record<CertificateExtensionName, string>>>;
  /**
   * Keyless: the earliest time a verified timestamp vouches for (Rekor integrated time under a verified SET, or
   * an RFC 3161 timestamp). Key signatures: the earliest RFC 3161 timestamp verified against the authority's
   * timestampTrustRoot; none without one.
   */
  readonly signedAt?: Date;
  /**
   * The verified timestamps that counted toward the trust root's threshold (RFC 3161 tokens and Rekor
   * integrated times); keyless, and key signatures checked against a trust root.
   */
  readonly timestamps?: readonly CountedTimestamp[];
  /** RFC 3161 timestamps in the bundle that did not verify against the trust root, and were left out. */
  readonly ignoredTimestamps?: readonly IgnoredTimestamp[];
}

/** The codes a failed check can carry. */
export type SignatureCheckCode = Extract<
  ReasonCode,
  | 'SIGNATURE_INVALID'
  | 'DIGEST_MISMATCH'
  | 'UNTRUSTED_SIGNER'
  | 'UNSUPPORTED_FORMAT'
  | 'CERTIFICATE_INVALID'
  | 'TLOG_INVALID'
  | 'TIMESTAMP_INVALID'
  | 'NOT_AN_IMAGE_SIGNATURE'
  | 'TRUST_ROOT_STALE'
  | 'TRUST_ROOT_UNAVAILABLE'
>;

/** The codes a failed attestation check can carry: a signature check's, less NOT_AN_IMAGE_SIGNATURE. */
export type AttestationCheckCode = Exclude<SignatureCheckCode, 'NOT_AN_IMAGE_SIGNATURE'>;

/**
 * The outcome of checking one attestation (an in-toto statement in DSSE) against one authority for one image
 * digest. `ok` only when the envelope signature verified for the authority, its payload is an in-toto
 * statement and one of its subjects is the image digest: nothing else may reach attestation evaluation.
 */
export type AttestationCheck =
  | {
      readonly ok: true;
      readonly source: string;
      readonly attestation: VerifiedAttestation;
    }
  | {
      readonly ok: false;
      readonly source: string;
      readonly authority: string;
      readonly code: AttestationCheckCode;
      /** What was found versus what was expected, for a person; never includes secrets. */
      readonly message: string;
      /** The predicate type the statement claims (unverified), when it could be read: to tell which requirement it concerns. */
      readonly predicateType?: string;
      /** The underlying error, for logs; never shown to users. */
      readonly cause?: unknown;
    };

/**
 * The outcome of checking one piece of evidence against one authority for one image digest.
 * `NOT_AN_IMAGE_SIGNATURE` marks an attestation (an in-toto statement with another predicateType): callers
 * should leave it out of signature requirements rather than report it.
 */
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
      readonly code: SignatureCheckCode;
      /** What was found versus what was expected, for a person; never includes secrets. */
      readonly message: string;
      /** Set with NOT_AN_IMAGE_SIGNATURE: the statement's predicateType. */
      readonly predicateType?: string;
      /** The underlying error (e.g. @sigstore/verify's), for logs; never shown to users. */
      readonly cause?: unknown;
    };
