import { JsonBoundsError, parseBoundedJsonBytes, REMOTE_JSON_BOUNDS } from '../json/bounded-json.js';
import { misspelledKey } from '../json/ambiguous-keys.js';
import { DOCKER_HUB, type Repository } from '../oci/reference.js';

/** The `critical` claims of a cosign simple-signing payload (sigstore/sigstore pkg/signature/payload). */
export interface SimpleSigningClaim {
  readonly type: string;
  readonly dockerManifestDigest: string;
  readonly dockerReference?: string;
}

export const COSIGN_SIGNATURE_TYPE = 'cosign container image signature';

/**
 * Parses the exact payload bytes (never a re-serialisation). Returns a reason string when the payload is not a
 * simple-signing document; the payload is attacker-controlled until its signature verified, so parse defensively.
 */
export function parseSimpleSigning(payload: Uint8Array): SimpleSigningClaim | string {
  let doc: unknown;
  try {
    doc = parseBoundedJsonBytes(payload, REMOTE_JSON_BOUNDS);
  } catch (err) {
    if (err instanceof JsonBoundsError) return `payload refused: ${err.message}`;
    return 'payload is not UTF-8 JSON';
  }
  const critical = field(doc, 'critical');
  const image = field(critical, 'image');
  const identity = field(critical, 'identity');
  // cosign decodes the payload into structs with Go's encoding/json, which matches keys whatever their case
  // and lets the last match win: `{"image":{…A},"Image":{…B}}` is a signature for B to cosign and would be
  // one for A here. The signer wrote both, but which image it signed is then a matter of reading: refuse.
  const ambiguous =
    misspelledKey(doc, ['critical']) ??
    misspelledKey(critical, ['type', 'image', 'identity']) ??
    misspelledKey(image, ['docker-manifest-digest']) ??
    misspelledKey(identity, ['docker-reference']);
  if (ambiguous !== undefined) {
    return `payload is ambiguous: key ${JSON.stringify(ambiguous.key)} is read as "${ambiguous.field}" by cosign (Go's encoding/json)`;
  }
  const type = field(critical, 'type');
  const digest = field(image, 'docker-manifest-digest');
  const reference = field(identity, 'docker-reference');
  if (typeof type !== 'string') return 'payload has no critical.type';
  if (typeof digest !== 'string') return 'payload has no critical.image.docker-manifest-digest';
  return typeof reference === 'string'
    ? { type, dockerManifestDigest: digest, dockerReference: reference }
    : { type, dockerManifestDigest: digest };
}

function field(value: unknown, name: string): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  return Object.hasOwn(value, name) ? (value as Record<string, unknown>)[name] : undefined;
}

/**
 * The payload cosign writes when it signs `repository@digest` without annotations (`optional` is then
 * `null`), byte for byte as Go's encoder writes it (formats.md §1.4). `docker-reference` is the repository
 * as go-containerregistry renders it, so Docker Hub is spelled `index.docker.io`. Discovery compares its
 * digest with a signature layer's and, on a match, has the layer's bytes without downloading them.
 */
export function predictedSimpleSigningPayload(repository: Repository, digest: string): Uint8Array {
  const registry = repository.registry === DOCKER_HUB ? 'index.docker.io' : repository.registry;
  const payload =
    `{"critical":{"identity":{"docker-reference":${JSON.stringify(`${registry}/${repository.path}`)}},` +
    `"image":{"docker-manifest-digest":${JSON.stringify(digest)}},` +
    `"type":${JSON.stringify(COSIGN_SIGNATURE_TYPE)}},"optional":null}`;
  return new TextEncoder().encode(payload);
}
