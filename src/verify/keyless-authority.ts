import { X509Certificate } from '@sigstore/core';
import { Verifier, VerificationError, toSignedEntity, type SignedEntity } from '@sigstore/verify';
import { ProvenantError } from '../errors.js';
import { memoizeLeaf } from '../trust/certificate-authority-memo.js';
import { usableRoot, type TrustRoot, type TrustStore } from '../trust/trust-store.js';
import { trustMaterialForCheckpoints } from './checkpoint.js';
import type { PreparedEvidence } from './evidence.js';
import { readFulcioIdentity } from './fulcio-extensions.js';
import { compileIdentityPolicy, identityMismatch } from './identity-matcher.js';
import { assertLogRecordsSigner } from './log-verifier.js';
import { fromSigstoreError } from './sigstore-errors.js';
import { assertSupportedTlogEntries, signatureContentFor, type Artifact } from './signed-entity.js';
import { earliest, selectTimestamps, withIgnoredTimestamps } from './timestamps.js';
import type { KeylessAuthority, VerifiedSigner } from './types.js';

/**
 * Validates a keyless authority at policy time: identities and RegExps compile, and (when a trust store is
 * given) the trust root exists. Returns the same authority; its compiled matchers are cached for verification.
 * Throws ProvenantError('INVALID_POLICY').
 */
export function compileKeylessAuthority(
  authority: KeylessAuthority,
  trustStore?: TrustStore,
): KeylessAuthority {
  compileIdentityPolicy(authority);
  if (trustStore !== undefined) trustRootFor(authority, trustStore);
  return authority;
}

/**
 * Verifies a Fulcio-certified signature under the authority's trust root: the certificate chains to the root's
 * CA and is valid at the signature's trusted time (SET-verified integratedTime, or an RFC 3161 timestamp),
 * never at wall-clock time; SCTs, tlog entries and timestamps meet the root's thresholds; and the certified
 * identity matches the policy (anchored). Throws ProvenantError with a SignatureCheck code.
 */
export function verifyKeyless(
  prepared: PreparedEvidence,
  authority: KeylessAuthority,
  root: TrustRoot,
  artifact?: Artifact,
): VerifiedSigner {
  usableRoot(root);
  const policy = compileIdentityPolicy(authority);
  if (leafRawBytes(prepared) === undefined) {
    throw new ProvenantError(
      'UNTRUSTED_SIGNER',
      `signed with a key, not a certificate; authority "${authority.name}" is keyless`,
    );
  }
  assertSupportedTlogEntries(prepared);
  const { leaf, ...signed } = signedEntity(prepared, artifact);
  const { entity, counted, ignored } = selectTimestamps(signed, root);
  try {
    new Verifier(trustMaterialForCheckpoints(root.trustMaterial, entity.tlogEntries), root.thresholds).verify(
      entity,
    );
  } catch (err) {
    if (err instanceof VerificationError && !issuedByRoot(leaf, root)) {
      // Valid or not, a certificate from another CA (e.g. Sigstore staging) is simply not this authority's.
      // Whichever check fails first says nothing more: another instance's TSA timestamp (cosign 3 gets one)
      // fails before the chain is looked at, and would otherwise read as a forged timestamp.
      throw new ProvenantError(
        'UNTRUSTED_SIGNER',
        `certificate for ${leaf.subjectAltName ?? '(no SAN)'} was not issued by a CA of trust root "${root.name}"`,
        { cause: err },
      );
    }
    throw withIgnoredTimestamps(fromSigstoreError(err), ignored);
  }
  assertLogRecordsSigner(entity.tlogEntries, { certificate: leafDer(prepared) });
  const found = readFulcioIdentity(leaf);
  const mismatch = identityMismatch(policy, found);
  if (mismatch !== undefined) throw new ProvenantError('UNTRUSTED_SIGNER', mismatch);
  const signedAt = earliest(counted);
  return {
    authority: authority.name,
    identity: `${found.subject ?? '(no SAN)'} (issuer ${found.issuer ?? 'unknown'})`,
    ...(found.issuer === undefined ? {} : { issuer: found.issuer }),
    ...(found.subject === undefined ? {} : { subject: found.subject }),
    extensions: found.extensions,
    ...(signedAt === undefined ? {} : { signedAt }),
    timestamps: counted,
    ...(ignored.length === 0 ? {} : { ignoredTimestamps: ignored }),
  };
}

/** The authority's trust root from the store; a missing one is a policy error (INVALID_POLICY). */
export function trustRootFor(authority: KeylessAuthority, store: TrustStore | undefined): TrustRoot {
  if (store === undefined) {
    throw new ProvenantError('INVALID_POLICY', `keyless authority "${authority.name}" needs a trust store`);
  }
  const root = store.get(authority.trustRoot);
  if (root === undefined) {
    throw new ProvenantError(
      'INVALID_POLICY',
      `keyless authority "${authority.name}" names trust root "${authority.trustRoot}"; known: ${store.names().join(', ')}`,
    );
  }
  return root;
}

/** The bundle as @sigstore/verify checks it, with the signing certificate it parsed (the leaf, parsed once). */
function signedEntity(
  prepared: PreparedEvidence,
  artifact: Artifact | undefined,
): SignedEntity & { leaf: X509Certificate } {
  let entity: SignedEntity;
  try {
    entity = toSignedEntity(prepared.bundle);
  } catch (err) {
    const message = leafParses(prepared)
      ? 'bundle certificate or timestamp cannot be decoded'
      : 'signing certificate is not DER';
    throw new ProvenantError('SIGNATURE_INVALID', message, { cause: err });
  }
  if (entity.key.$case !== 'certificate') {
    throw new ProvenantError('SIGNATURE_INVALID', 'bundle carries no signing certificate');
  }
  // The leaf is encoded to DER over and over while its path is built; once is enough (its bytes are fixed).
  memoizeLeaf(entity.key.certificate);
  return { ...entity, signature: signatureContentFor(prepared, artifact), leaf: entity.key.certificate };
}

/** The signing certificate's DER bytes as the bundle carries them (a chain's first certificate). */
function leafRawBytes(prepared: PreparedEvidence): Uint8Array | undefined {
  const material = prepared.bundle.verificationMaterial.content;
  return material.$case === 'certificate'
    ? material.certificate.rawBytes
    : material.$case === 'x509CertificateChain'
      ? material.x509CertificateChain.certificates[0]?.rawBytes
      : undefined;
}

function leafDer(prepared: PreparedEvidence): Buffer {
  return Buffer.from(leafRawBytes(prepared) ?? Buffer.alloc(0));
}

function leafParses(prepared: PreparedEvidence): boolean {
  try {
    X509Certificate.parse(Buffer.from(leafRawBytes(prepared) ?? []));
    return true;
  } catch {
    return false;
  }
}

// Whether any CA certificate of the root signed the leaf, regardless of time: separates "another instance"
// (untrusted) from "this CA, but expired or otherwise invalid at the signature time" (invalid).
function issuedByRoot(leaf: X509Certificate, root: TrustRoot): boolean {
  return root.trustMaterial.certificateAuthorities.some((ca) =>
    ca.certChain.some((issuer) => {
      try {
        return leaf.issuer.equals(issuer.subject) && leaf.verify(issuer);
      } catch {
        return false;
      }
    }),
  );
}
