import type { AttestationSigner, InTotoStatement, VerifiedAttestation } from '../attestation/types.js';
import { ProvenantError } from '../errors.js';
import { toCheckFailure } from './check-failure.js';
import { LEGACY_ANNOTATIONS } from './cosign-legacy.js';
import { requireImageDigest } from './encoding.js';
import { prepareEvidence, type PreparedEvidence } from './evidence.js';
import { COSIGN_SIGN_PREDICATE_TYPE } from './in-toto.js';
import { keyVerifyOptions, verifyWithKey } from './key-authority.js';
import { trustRootFor, verifyKeyless } from './keyless-authority.js';
import { bindToDigest } from './signature.js';
import type {
  AttestationCheck,
  AttestationCheckCode,
  Authority,
  SignatureEvidence,
  VerifiedSigner,
  VerifyContext,
} from './types.js';

/**
 * Checks one attestation against one authority for one image digest, the way `verifySignature` checks a
 * signature: pure and synchronous, trust from `authority` and `context`, time from verified timestamps.
 *
 * Order: decode (a malformed envelope, a payloadType other than in-toto, or a statement that is neither v0.1
 * nor v1 → SIGNATURE_INVALID), verify the DSSE signature for the authority (key, or keyless with its trust
 * root's thresholds), and only then require a subject to be `imageDigest` (DIGEST_MISMATCH), so a mismatch
 * always means a valid attestation about something else. Only then is the statement handed on, whole, with
 * the signer's identity, Fulcio extensions and verified signing time.
 *
 * Throws ProvenantError only for caller errors, as `verifySignature` does.
 */
export function verifyAttestation(
  evidence: SignatureEvidence,
  imageDigest: string,
  authority: Authority,
  context: VerifyContext = {},
): AttestationCheck {
  const digest = requireImageDigest(imageDigest);
  const source = evidence.source;
  let predicateType: string | undefined;
  try {
    const prepared = prepareEvidence(evidence);
    if (prepared.kind !== 'statement') {
      throw new ProvenantError(
        'UNSUPPORTED_FORMAT',
        `${prepared.kind === 'message' ? 'a message signature' : 'a simple-signing image signature'}, not an in-toto attestation`,
      );
    }
    predicateType = prepared.statement.predicateType;
    const signer: VerifiedSigner =
      authority.kind === 'key'
        ? verifyWithKey(prepared, authority, keyVerifyOptions(authority, context.trustStore))
        : verifyKeyless(prepared, authority, trustRootFor(authority, context.trustStore));
    bindToDigest(prepared, digest);
    return { ok: true, source, attestation: toVerifiedAttestation(evidence, prepared, signer) };
  } catch (err) {
    const failure = toCheckFailure(err);
    return {
      ...failure,
      // Only verifySignature produces NOT_AN_IMAGE_SIGNATURE; nothing on this path throws it.
      code: failure.code as AttestationCheckCode,
      source,
      authority: authority.name,
      ...(predicateType !== undefined ? { predicateType } : {}),
    };
  }
}

/**
 * Whether evidence is an attestation rather than an image signature: every legacy `.att` layer, and every
 * bundle whose in-toto statement is not cosign 3's image signature. Decodes (cached) but verifies nothing;
 * evidence that cannot be decoded is left to whichever check reports it.
 */
export function isAttestation(evidence: SignatureEvidence): boolean {
  switch (evidence.kind) {
    case 'cosign-attestation':
      return true;
    case 'cosign-simple-signing':
      return false;
    case 'sigstore-bundle':
      try {
        const prepared = prepareEvidence(evidence);
        return (
          prepared.kind === 'statement' && prepared.statement.predicateType !== COSIGN_SIGN_PREDICATE_TYPE
        );
      } catch {
        return false;
      }
  }
}

/** The predicate type an attestation claims before verification, for choosing which failures to report. */
export function claimedPredicateType(evidence: SignatureEvidence): string | undefined {
  try {
    const prepared = prepareEvidence(evidence);
    if (prepared.kind === 'statement') return prepared.statement.predicateType;
  } catch {
    // unreadable: fall back to what the layer was published as
  }
  return evidence.kind === 'cosign-attestation'
    ? evidence.annotations[LEGACY_ANNOTATIONS.predicateType]
    : undefined;
}

function toVerifiedAttestation(
  evidence: SignatureEvidence,
  prepared: Extract<PreparedEvidence, { kind: 'statement' }>,
  signer: VerifiedSigner,
): VerifiedAttestation {
  const { statement } = prepared;
  const full: InTotoStatement = {
    _type: statement.type,
    subject: statement.subjects,
    predicateType: statement.predicateType,
    ...(statement.predicate !== undefined ? { predicate: statement.predicate } : {}),
  };
  // A legacy layer was published under its (unsigned) predicateType annotation; attestation/ requires it to
  // be the type the statement states. Bundles carry no such claim of their own.
  const published =
    evidence.kind === 'cosign-attestation'
      ? evidence.annotations[LEGACY_ANNOTATIONS.predicateType]
      : undefined;
  return {
    source: evidence.source,
    predicateType: published ?? statement.predicateType,
    statement: full,
    signer: attestationSigner(signer),
    ...(signer.signedAt !== undefined ? { signedAt: signer.signedAt } : {}),
    ...(signer.timestamps !== undefined ? { timestamps: signer.timestamps } : {}),
  };
}

/**
 * Keyless signers are named by their certificate SAN, which SLSA evaluation compares with `builder.id`; key
 * signers by the key's description.
 */
function attestationSigner(signer: VerifiedSigner): AttestationSigner {
  if (signer.subject === undefined) return { authority: signer.authority, identity: signer.identity };
  return {
    authority: signer.authority,
    identity: signer.subject,
    ...(signer.issuer !== undefined ? { issuer: signer.issuer } : {}),
    ...(signer.extensions !== undefined ? { certificate: signer.extensions } : {}),
  };
}
