import { createHash } from 'node:crypto';
import { ProvenantError } from '../errors.js';
import type { TrustRoot } from '../trust/trust-store.js';
import { parseImageDigest, type ImageDigest } from './encoding.js';
import { prepareBundle, type PreparedEvidence } from './evidence.js';
import { matchSubject, type SubjectDigestAlgorithm } from './in-toto.js';
import { verifyWithKey } from './key-authority.js';
import { verifyKeyless } from './keyless-authority.js';
import { toCheckFailure, type CheckFailure } from './check-failure.js';
import { digestName } from './signature-content.js';
import type { Artifact } from './signed-entity.js';
import type { Authority, VerifiedSigner } from './types.js';

/** The artifact a bundle is checked against: its bytes, or only `<sha256|sha384|sha512>:<hex>` of them. */
export type ArtifactInput = { readonly bytes: Uint8Array } | { readonly digest: string };

export type ArtifactBundleCheck =
  { readonly ok: true; readonly signer: VerifiedSigner; readonly predicateType?: string } | CheckFailure;

/**
 * Verifies a Sigstore bundle for an arbitrary artifact (the `verify-bundle` command, conformance suite): a
 * message signature must sign the artifact; a DSSE statement must name the artifact as a subject, in any
 * digest algorithm it lists that the artifact can be hashed with (sha256, sha384, sha512: npm provenance
 * lists only sha512), whatever its predicate. Key authorities check the key alone unless `trustRoot` is
 * given, in which case the transparency-log entries must verify too; keyless authorities need `trustRoot`.
 */
export function verifyArtifactBundle(
  bundle: Uint8Array,
  artifact: ArtifactInput,
  authority: Authority,
  trustRoot: TrustRoot | undefined,
): ArtifactBundleCheck {
  const given = 'digest' in artifact ? givenDigest(artifact.digest) : undefined;
  try {
    const prepared = prepareBundle(bundle);
    const content: Artifact =
      'bytes' in artifact ? { bytes: artifact.bytes } : messageDigestInput(prepared, given);
    let signer: VerifiedSigner;
    if (authority.kind === 'key') {
      signer = verifyWithKey(
        prepared,
        authority,
        trustRoot === undefined ? { artifact: content } : { artifact: content, transparency: trustRoot },
      );
    } else {
      if (trustRoot === undefined) {
        throw new ProvenantError(
          'INVALID_POLICY',
          `keyless authority "${authority.name}" needs a trust root`,
        );
      }
      signer = verifyKeyless(prepared, authority, trustRoot, content);
    }
    if (prepared.kind !== 'statement') return { ok: true, signer };
    const digests = new Map<SubjectDigestAlgorithm, string>();
    const match = matchSubject(prepared.statement, (algorithm) => {
      if (given !== undefined) return given.algorithm === algorithm ? given.hex : undefined;
      if (!('bytes' in artifact)) return undefined;
      let hex = digests.get(algorithm);
      if (hex === undefined) {
        hex = createHash(algorithm).update(artifact.bytes).digest('hex');
        digests.set(algorithm, hex);
      }
      return hex;
    });
    if (!match.matched) throw new ProvenantError('DIGEST_MISMATCH', match.message);
    return { ok: true, signer, predicateType: prepared.statement.predicateType };
  } catch (err) {
    return toCheckFailure(err);
  }
}

function givenDigest(text: string): ImageDigest {
  const digest = parseImageDigest(text);
  if (digest === undefined) {
    throw new ProvenantError(
      'INVALID_REFERENCE',
      `artifact digest ${JSON.stringify(text)} is not sha256:<hex>, sha384:<hex> or sha512:<hex>`,
    );
  }
  return digest;
}

/**
 * A message signature checked from a digest alone signs exactly that digest: it must be in the algorithm
 * the bundle's messageDigest uses. (A statement's signature covers the envelope; the digest is only
 * compared with its subjects afterwards.)
 */
function messageDigestInput(prepared: PreparedEvidence, given: ImageDigest | undefined): Artifact {
  const hex = given?.hex ?? '';
  if (prepared.kind === 'message' && given !== undefined) {
    const signed = digestName(prepared.messageSignature.messageDigest?.algorithm);
    if (signed !== undefined && signed !== given.algorithm) {
      throw new ProvenantError(
        'DIGEST_MISMATCH',
        `bundle signs a ${signed} digest; artifact given as ${given.text}`,
      );
    }
  }
  return { digest: Buffer.from(hex, 'hex') };
}
