import { createPublicKey } from 'node:crypto';
import { X509Certificate } from '@sigstore/core';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import {
  Verifier,
  VerificationError,
  toSignedEntity,
  toTrustMaterial,
  type SignedEntity,
  type TrustMaterial,
} from '@sigstore/verify';
import { ProvenantError } from '../errors.js';
import type { PreparedEvidence } from './evidence.js';
import { describePublicKey, keyIdOf, parsePublicKeyPem, type ParsedPublicKey } from './public-key.js';
import { usableRoot, type TrustRoot, type TrustStore } from '../trust/trust-store.js';
import { trustMaterialForCheckpoints } from './checkpoint.js';
import { assertLogRecordsSigner } from './log-verifier.js';
import { fromSigstoreError } from './sigstore-errors.js';
import { assertSupportedTlogEntries, signatureContentFor, type Artifact } from './signed-entity.js';
import {
  earliest,
  selectTimestamps,
  withIgnoredTimestamps,
  type CountedTimestamp,
  type IgnoredTimestamp,
} from './timestamps.js';
import type { CompiledKeyAuthority, KeyAuthority, VerifiedSigner } from './types.js';

interface KeyMaterial {
  readonly parsed: ParsedPublicKey;
  readonly trustMaterial: TrustMaterial;
}

// The key is the whole trust: no tlog entry, SCT or timestamp is required, so a `--tlog-upload=false`
// signature verifies. Transparency material in the evidence is only checked when the caller asks for it
// (KeyVerifyOptions.transparency, used by `verify-bundle --key --trusted-root`).
const KEY_THRESHOLDS = { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 };
const EMPTY_ROOT = TrustedRoot.fromJSON({ mediaType: 'application/vnd.dev.sigstore.trustedroot.v0.2+json' });

const compiled = new WeakMap<KeyAuthority, KeyMaterial>();

/** Parses the PEM once; a bad key throws ProvenantError('INVALID_POLICY') saying what is wrong. */
export function compileKeyAuthority(
  name: string,
  publicKeyPem: string,
  timestampTrustRoot?: string,
): CompiledKeyAuthority {
  const parsed = parsePublicKeyPem(publicKeyPem);
  const authority: CompiledKeyAuthority = {
    kind: 'key',
    name,
    publicKeyPem,
    ...(timestampTrustRoot !== undefined ? { timestampTrustRoot } : {}),
    keyId: parsed.keyId,
    fingerprint: parsed.fingerprint,
    keyType: parsed.keyType,
  };
  compiled.set(authority, toKeyMaterial(parsed));
  return authority;
}

/**
 * Verifies prepared evidence with the authority's key and returns the signer, or throws ProvenantError.
 *
 * Classification rule: SIGNATURE_INVALID when the signature names this key (a bundle `publicKey.hint` equal
 * to its key id, or a certificate carrying this key) and still fails; UNTRUSTED_SIGNER when it names another
 * key or none. Legacy key-signed `.sig` layers carry no key identity at all, so a layer that does not verify
 * may simply be another signer's (Connaisseur's alice/bob/charlie image): that is UNTRUSTED_SIGNER, and only
 * structural defects, caught while decoding, make it SIGNATURE_INVALID.
 */
export function verifyWithKey(
  prepared: PreparedEvidence,
  authority: KeyAuthority,
  options: KeyVerifyOptions = {},
): VerifiedSigner {
  const { parsed, trustMaterial } = keyMaterialFor(authority);
  const key = describePublicKey(parsed);
  const hasBytes = options.artifact !== undefined && 'bytes' in options.artifact;
  if (prepared.kind === 'message' && !hasBytes && parsed.key.asymmetricKeyType === 'ed25519') {
    // Pure Ed25519 signs the message itself; without the signed bytes it cannot be checked.
    throw new ProvenantError(
      'UNSUPPORTED_FORMAT',
      `Ed25519 message signatures cannot be verified from a digest (key ${key})`,
    );
  }
  const { entity, material, thresholds, counted, ignored } = keyVerification(
    prepared,
    parsed,
    trustMaterial,
    options,
  );
  try {
    new Verifier(material, thresholds).verify(entity);
  } catch (err) {
    if (!(err instanceof VerificationError && err.code === 'SIGNATURE_ERROR')) {
      throw withIgnoredTimestamps(fromSigstoreError(err), ignored);
    }
    const named = namedSigner(prepared);
    if (named.keyId === parsed.keyId) {
      throw new ProvenantError(
        'SIGNATURE_INVALID',
        `signature does not verify with key ${key}, which it names`,
        {
          cause: err,
        },
      );
    }
    throw new ProvenantError(
      'UNTRUSTED_SIGNER',
      `not signed by key ${key}; the signature ${named.description}`,
      {
        cause: err,
      },
    );
  }
  if (options.transparency === undefined) {
    // Without a transparency root the key is the whole trust; a timestamp trust root, when the authority
    // names one, still lets RFC 3161 timestamps say when it signed.
    const stampedAt =
      options.timestamps === undefined
        ? undefined
        : verifiedTimestamp(prepared, entity.signature.signature, parsed, trustMaterial, options.timestamps);
    return {
      authority: authority.name,
      identity: key,
      keyId: parsed.keyId,
      ...(stampedAt !== undefined ? { signedAt: stampedAt } : {}),
    };
  }
  assertLogRecordsSigner(entity.tlogEntries, {
    publicKey: parsed.key.export({ format: 'der', type: 'spki' }),
    description: key,
  });
  const signedAt = earliest(counted);
  return {
    authority: authority.name,
    identity: key,
    keyId: parsed.keyId,
    ...(signedAt === undefined ? {} : { signedAt }),
    timestamps: counted,
    ...(ignored.length === 0 ? {} : { ignoredTimestamps: ignored }),
  };
}

/**
 * Options for verifying with `authority` in an admission: its timestamp trust root, when it names one. A
 * missing root is a policy error (INVALID_POLICY): policies are compiled against the same store.
 */
export function keyVerifyOptions(authority: KeyAuthority, store: TrustStore | undefined): KeyVerifyOptions {
  const name = authority.timestampTrustRoot;
  if (name === undefined) return {};
  const root = store?.get(name);
  if (root === undefined) {
    throw new ProvenantError(
      'INVALID_POLICY',
      `key authority "${authority.name}" names timestamp trust root "${name}", which is not loaded`,
    );
  }
  return { timestamps: usableRoot(root) };
}

/**
 * Verifies the evidence's RFC 3161 timestamps against `root`'s timestamp authorities and returns the earliest
 * time they vouch for (undefined when there are none); a timestamp that does not verify throws
 * TIMESTAMP_INVALID. Call only after the signature verified with the key: this pass checks the timestamps
 * alone, over the bytes they cover, which for a cosign 2 `.att` layer is the whole DSSE envelope rather than
 * the signature (cosign timestamps an attestation's payload).
 */
function verifiedTimestamp(
  prepared: PreparedEvidence,
  signatureBytes: Buffer,
  parsed: ParsedPublicKey,
  keyMaterial: TrustMaterial,
  root: TrustRoot,
): Date | undefined {
  let timestamps: SignedEntity['timestamps'];
  try {
    timestamps = toSignedEntity(prepared.bundle).timestamps.filter((t) => t.$case === 'timestamp-authority');
  } catch (err) {
    throw new ProvenantError('SIGNATURE_INVALID', 'timestamp cannot be decoded', { cause: err });
  }
  if (timestamps.length === 0) return undefined;
  const covered =
    prepared.kind === 'statement' && prepared.timestamped ? prepared.timestamped : signatureBytes;
  const alreadyVerified = {
    signature: Buffer.from(covered),
    verifySignature: () => true,
    // Only transparency-log bodies are compared with these, and this pass has no tlog entries.
    compareSignature: () => false,
    compareDigest: () => false,
    compareSignedDigest: () => false,
  };
  try {
    new Verifier({ ...root.trustMaterial, publicKey: keyMaterial.publicKey }, KEY_THRESHOLDS).verify({
      signature: alreadyVerified,
      key: { $case: 'public-key', hint: parsed.keyId },
      tlogEntries: [],
      timestamps,
    });
  } catch (err) {
    throw fromSigstoreError(err);
  }
  const times = timestamps.flatMap((t) =>
    t.$case === 'timestamp-authority' ? [t.timestamp.signingTime.getTime()] : [],
  );
  const valid = times.filter((ms) => Number.isFinite(ms));
  return valid.length === 0 ? undefined : new Date(Math.min(...valid));
}

export interface KeyVerifyOptions {
  /** The signed artifact, for message signatures checked outside an image (the conformance CLI). */
  readonly artifact?: Artifact;
  /**
   * Also require and verify the bundle's transparency-log entries (and any timestamps) against this trust
   * root, as `cosign verify --key` does by default. Without it the key alone is the trust.
   */
  readonly transparency?: TrustRoot;
  /**
   * Verify the evidence's RFC 3161 timestamps (none required) against this trust root's timestamp authorities,
   * and report the earliest as the signing time. Transparency-log entries are not required or used for time.
   */
  readonly timestamps?: TrustRoot;
}

interface KeyVerification {
  readonly entity: SignedEntity;
  readonly material: TrustMaterial;
  readonly thresholds: typeof KEY_THRESHOLDS;
  readonly counted: readonly CountedTimestamp[];
  readonly ignored: readonly IgnoredTimestamp[];
}

function keyVerification(
  prepared: PreparedEvidence,
  parsed: ParsedPublicKey,
  trustMaterial: TrustMaterial,
  options: KeyVerifyOptions,
): KeyVerification {
  const signature = signatureContentFor(prepared, options.artifact);
  const key = { $case: 'public-key' as const, hint: parsed.keyId };
  if (options.transparency === undefined) {
    return {
      entity: { signature, key, tlogEntries: [], timestamps: [] },
      material: trustMaterial,
      thresholds: KEY_THRESHOLDS,
      counted: [],
      ignored: [],
    };
  }
  assertSupportedTlogEntries(prepared);
  let decoded: SignedEntity;
  try {
    decoded = { ...toSignedEntity(prepared.bundle), signature, key };
  } catch (err) {
    throw new ProvenantError('SIGNATURE_INVALID', 'bundle timestamp cannot be decoded', { cause: err });
  }
  const root = options.transparency;
  const { entity, counted, ignored } = selectTimestamps(decoded, root);
  return {
    entity,
    material: {
      ...trustMaterialForCheckpoints(root.trustMaterial, entity.tlogEntries),
      publicKey: trustMaterial.publicKey,
    },
    thresholds: { ...KEY_THRESHOLDS, tlogThreshold: Math.max(1, root.thresholds.tlogThreshold) },
    counted,
    ignored,
  };
}

function keyMaterialFor(authority: KeyAuthority): KeyMaterial {
  let material = compiled.get(authority);
  if (material === undefined) {
    material = toKeyMaterial(parsePublicKeyPem(authority.publicKeyPem));
    compiled.set(authority, material);
  }
  return material;
}

function toKeyMaterial(parsed: ParsedPublicKey): KeyMaterial {
  const trustMaterial = toTrustMaterial(EMPTY_ROOT, (hint) => {
    if (hint !== parsed.keyId) {
      throw new VerificationError({ code: 'PUBLIC_KEY_ERROR', message: `key not found: ${hint}` });
    }
    return { publicKey: parsed.key, validFor: () => true };
  });
  return { parsed, trustMaterial };
}

/** Which key or certificate the evidence itself claims, for messages and the classification rule. */
function namedSigner(prepared: PreparedEvidence): {
  keyId?: string;
  description: string;
} {
  const material = prepared.bundle.verificationMaterial.content;
  switch (material.$case) {
    case 'publicKey':
      return material.publicKey.hint === ''
        ? { description: 'carries no key identity (legacy key signatures never do)' }
        : { keyId: material.publicKey.hint, description: `names key id ${material.publicKey.hint}` };
    case 'certificate':
    case 'x509CertificateChain': {
      const raw =
        material.$case === 'certificate'
          ? material.certificate.rawBytes
          : material.x509CertificateChain.certificates[0]?.rawBytes;
      try {
        const cert = X509Certificate.parse(Buffer.from(raw ?? Buffer.alloc(0)));
        const keyId = keyIdOf(createPublicKey({ key: cert.publicKey, format: 'der', type: 'spki' }));
        return {
          keyId,
          description: `carries a certificate for ${cert.subjectAltName ?? 'an unnamed subject'}`,
        };
      } catch {
        return { description: 'carries an unreadable certificate' };
      }
    }
  }
}
