import { JsonBoundsError, parseBoundedJsonBytes, REMOTE_JSON_BOUNDS } from '../json/bounded-json.js';
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
  const ambiguous =
    foldVariant(doc, 'critical') ??
    foldVariant(critical, 'type', 'image', 'identity') ??
    foldVariant(image, 'docker-manifest-digest') ??
    foldVariant(identity, 'docker-reference');
  if (ambiguous !== undefined) {
    return `payload is ambiguous: key ${JSON.stringify(ambiguous.key)} is read as "${ambiguous.name}" by cosign (Go's encoding/json)`;
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

/**
 * A key that Go's encoding/json matches to one of `names` without being spelled exactly so. cosign decodes the
 * payload into structs, matching keys whatever their case (Unicode simple folding: `\u212a` is `k`, `\u017f`
 * is `s`) and letting the last match win, so `{"image":{…A},"Image":{…B}}` is a signature for B to cosign and
 * would be one for A here. The signer wrote both, but which image it signed is then a matter of reading: refuse.
 */
function foldVariant(value: unknown, ...names: string[]): { key: string; name: string } | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  for (const key of Object.keys(value)) {
    const name = names.find((n) => n !== key && foldKey(key) === n);
    if (name !== undefined) return { key, name };
  }
  return undefined;
}

// The names are lowercase ASCII; these are the only other characters that fold onto ASCII letters.
function foldKey(key: string): string {
  return key
    .replace(/\u212a/g, 'k')
    .replace(/\u017f/g, 's')
    .replace(/[A-Z]/g, (c) => c.toLowerCase());
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
