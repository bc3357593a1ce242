import { createHash } from 'node:crypto';
import { ProvenantError } from '../errors.js';
import type { TrustRoot } from '../trust/trust-store.js';
import { parseImageDigest } from './encoding.js';
import { prepareBundle } from './evidence.js';
import { hasSubjectDigest, subjectDigests } from './in-toto.js';
import { verifyWithKey } from './key-authority.js';
import { verifyKeyless } from './keyless-authority.js';
import { toCheckFailure, type CheckFailure } from './check-failure.js';
import type { Artifact } from './signed-entity.js';
import type { Authority, VerifiedSigner } from './types.js';

/** The artifact a bundle is checked against: its bytes, or only `sha256:<hex>` of them. */
export type ArtifactInput = { readonly bytes: Uint8Array } | { readonly digest: string };

export type ArtifactBundleCheck =
  { readonly ok: true; readonly signer: VerifiedSigner; readonly predicateType?: string } | CheckFailure;

/**
 * Verifies a Sigstore bundle for an arbitrary artifact (the `verify-bundle` command, conformance suite): a
 * message signature must sign the artifact; a DSSE statement must name the artifact's sha256 as a subject,
 * whatever its predicate. Key authorities check the key alone unless `trustRoot` is given, in which case
 * the transparency-log entries must verify too; keyless authorities need `trustRoot`.
 */
export function verifyArtifactBundle(
  bundle: Uint8Array,
  artifact: ArtifactInput,
  authority: Authority,
  trustRoot: TrustRoot | undefined,
): ArtifactBundleCheck {
  const digestHex = artifactDigest(artifact);
  try {
    const prepared = prepareBundle(bundle);
    const content: Artifact =
      'bytes' in artifact ? { bytes: artifact.bytes } : { digest: Buffer.from(digestHex, 'hex') };
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
    if (!hasSubjectDigest(prepared.statement, 'sha256', digestHex)) {
      const signed = subjectDigests(prepared.statement, 'sha256').join(', ') || 'none';
      throw new ProvenantError(
        'DIGEST_MISMATCH',
        `statement subjects ${signed}, artifact sha256:${digestHex}`,
      );
    }
    return { ok: true, signer, predicateType: prepared.statement.predicateType };
  } catch (err) {
    return toCheckFailure(err);
  }
}

function artifactDigest(artifact: ArtifactInput): string {
  if ('bytes' in artifact) return createHash('sha256').update(artifact.bytes).digest('hex');
  const digest = parseImageDigest(artifact.digest);
  if (digest?.algorithm !== 'sha256') {
    throw new ProvenantError(
      'INVALID_REFERENCE',
      `artifact digest ${JSON.stringify(artifact.digest)} is not sha256:<hex>`,
    );
  }
  return digest.hex;
}
