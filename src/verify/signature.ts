import { ProvenantError, quoted } from '../errors.js';
import { requireImageDigest, type ImageDigest } from './encoding.js';
import { prepareEvidence, type PreparedEvidence } from './evidence.js';
import { COSIGN_SIGN_PREDICATE_TYPE, matchSubject } from './in-toto.js';
import { toCheckFailure } from './check-failure.js';
import { LEGACY_ANNOTATIONS } from './cosign-legacy.js';
import { keyVerifyOptions, verifyWithKey } from './key-authority.js';
import { trustRootFor, verifyKeyless } from './keyless-authority.js';
import { digestName } from './signature-content.js';
import { COSIGN_SIGNATURE_TYPE } from './simple-signing.js';
import type { Authority, SignatureCheck, SignatureEvidence, VerifiedSigner, VerifyContext } from './types.js';

/**
 * Checks one piece of evidence against one authority for one image digest. Pure and synchronous: trust
 * material comes from `authority` and `context`, time from the evidence's verified timestamps.
 *
 * Order: decode (malformed → SIGNATURE_INVALID, unknown bundle version → UNSUPPORTED_FORMAT), set aside
 * attestations (NOT_AN_IMAGE_SIGNATURE), verify the signature for the authority, and only then bind the
 * signed payload to `imageDigest` (DIGEST_MISMATCH), so a mismatch always means a valid signature for
 * something else.
 *
 * Throws ProvenantError only for caller errors: a malformed `imageDigest` (INVALID_REFERENCE), an
 * unparseable authority key or RegExp, or a trust root missing from `context` (INVALID_POLICY).
 */
export function verifySignature(
  evidence: SignatureEvidence,
  imageDigest: string,
  authority: Authority,
  context: VerifyContext = {},
): SignatureCheck {
  const digest = requireImageDigest(imageDigest);
  const source = evidence.source;
  if (evidence.kind === 'cosign-attestation') {
    // cosign never reads `.att` layers as signatures, whatever they state; neither do we.
    const predicateType = evidence.annotations[LEGACY_ANNOTATIONS.predicateType];
    return {
      ok: false,
      source,
      authority: authority.name,
      code: 'NOT_AN_IMAGE_SIGNATURE',
      message: 'a legacy .att attestation layer, not an image signature',
      ...(predicateType !== undefined ? { predicateType } : {}),
    };
  }
  try {
    const prepared = prepareEvidence(evidence);
    if (prepared.kind === 'statement' && prepared.statement.predicateType !== COSIGN_SIGN_PREDICATE_TYPE) {
      const { predicateType } = prepared.statement;
      return {
        ok: false,
        source,
        authority: authority.name,
        code: 'NOT_AN_IMAGE_SIGNATURE',
        message: `attestation with predicateType ${predicateType}, not an image signature`,
        predicateType,
      };
    }
    const signer: VerifiedSigner =
      authority.kind === 'key'
        ? verifyWithKey(prepared, authority, keyVerifyOptions(authority, context.trustStore))
        : verifyKeyless(prepared, authority, trustRootFor(authority, context.trustStore));
    bindToDigest(prepared, digest);
    return { ok: true, source, signer };
  } catch (err) {
    return { ...toCheckFailure(err), source, authority: authority.name };
  }
}

/** Requires the verified payload to name `digest`; throws DIGEST_MISMATCH (or SIGNATURE_INVALID for a wrong type). */
export function bindToDigest(prepared: PreparedEvidence, digest: ImageDigest): void {
  switch (prepared.kind) {
    case 'simple-signing': {
      const { type, dockerManifestDigest } = prepared.claim;
      if (type !== COSIGN_SIGNATURE_TYPE) {
        throw new ProvenantError(
          'SIGNATURE_INVALID',
          `payload type is ${quoted(type)}, not "${COSIGN_SIGNATURE_TYPE}"`,
        );
      }
      if (dockerManifestDigest !== digest.text) throw mismatch(dockerManifestDigest, digest);
      return;
    }
    case 'statement': {
      // An image is named by its manifest digest alone, so only a subject in that digest's algorithm
      // (sha256 for every OCI image) can bind the statement to it: a sha512-only statement is about
      // something else, however it was signed.
      const match = matchSubject(
        prepared.statement,
        (a) => (a === digest.algorithm ? digest.hex : undefined),
        'image',
      );
      if (!match.matched) {
        throw new ProvenantError(
          'DIGEST_MISMATCH',
          `${match.message}; a statement binds to image ${digest.text} only through a ${digest.algorithm} subject equal to it`,
        );
      }
      return;
    }
    case 'message': {
      // Nothing but the digest itself ties a message signature to an image: it must be the manifest's digest.
      const { messageDigest } = prepared.messageSignature;
      const algorithm = digestName(messageDigest?.algorithm) ?? 'unsupported';
      const signed = `${algorithm}:${messageDigest?.digest.toString('hex') ?? ''}`;
      if (signed !== digest.text) throw mismatch(signed, digest);
      return;
    }
  }
}

function mismatch(signed: string, digest: ImageDigest): ProvenantError {
  return new ProvenantError(
    'DIGEST_MISMATCH',
    `signed digest ${quoted(signed)}, image digest ${digest.text}`,
  );
}
