import { ProvenantError } from '../errors.js';
import type { PreparedEvidence } from './evidence.js';
import { DsseContent, MessageContent, digestName, type SignatureContent } from './signature-content.js';

/** What a message signature is checked against: the signed bytes, or only their digest. */
export type Artifact = { readonly bytes: Uint8Array } | { readonly digest: Uint8Array };

/**
 * The signature content to verify for prepared evidence. A message-signature bundle found in a registry comes
 * without the signed bytes: unless the caller has the artifact, it is checked over its own messageDigest
 * (prehashed), and binding that digest to the image happens afterwards.
 */
export function signatureContentFor(prepared: PreparedEvidence, artifact?: Artifact): SignatureContent {
  switch (prepared.kind) {
    case 'simple-signing': {
      const content = prepared.bundle.content;
      if (content.$case !== 'messageSignature')
        throw new Error('legacy bundle must hold a message signature');
      return new MessageContent(content.messageSignature, { bytes: prepared.payload, anyKeyDigest: true });
    }
    case 'statement':
      return new DsseContent(prepared.envelope);
    case 'message': {
      const { messageDigest } = prepared.messageSignature;
      if (digestName(messageDigest?.algorithm) === undefined) {
        throw new ProvenantError(
          'UNSUPPORTED_FORMAT',
          'message signature uses an unsupported digest algorithm',
        );
      }
      return new MessageContent(
        prepared.messageSignature,
        artifact ?? { digest: messageDigest?.digest ?? Buffer.alloc(0) },
      );
    }
  }
}

// What @sigstore/verify can match against the signature (tlog/index.ts). Old cosign logged `rekord` and
// `intoto` 0.0.1 entries, which it cannot check; say so instead of reporting a broken log entry.
const SUPPORTED_TLOG_KINDS = new Set([
  'hashedrekord/0.0.1',
  'hashedrekord/0.0.2',
  'dsse/0.0.1',
  'dsse/0.0.2',
  'intoto/0.0.2',
]);

/** Throws UNSUPPORTED_FORMAT for a transparency-log entry kind that cannot be checked against the signature. */
export function assertSupportedTlogEntries(prepared: PreparedEvidence): void {
  for (const entry of prepared.bundle.verificationMaterial.tlogEntries) {
    const kind = `${entry.kindVersion?.kind ?? '?'}/${entry.kindVersion?.version ?? '?'}`;
    if (!SUPPORTED_TLOG_KINDS.has(kind)) {
      throw new ProvenantError('UNSUPPORTED_FORMAT', `transparency-log entry kind ${kind} is not supported`);
    }
  }
}
