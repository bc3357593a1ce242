/**
 * The platform manifests of a multi-arch image, for policies whose `spec.platforms` asks for more than the
 * digest the reference resolves to. Parsing is pure; `readPlatforms` does the registry reads.
 */
import { ProvenantError } from '../errors.js';
import { ambiguousKeyProblem, misspelledKey } from '../json/ambiguous-keys.js';
import { JsonBoundsError, parseBoundedJsonBytes, REMOTE_JSON_BOUNDS } from '../json/bounded-json.js';
import { decodeStrictUtf8 } from '../json/strict-utf8.js';
import { DOCKER_MANIFEST_LIST, OCI_INDEX } from './media-types.js';
import type { Repository } from './reference.js';
import type { Registry, RequestOptions } from './registry.js';

/** One manifest an index lists for a platform, `os/architecture[/variant]` in normalised form. */
export interface PlatformManifest {
  readonly platform: string;
  readonly digest: string;
}

export type ImagePlatforms =
  /** An index (or Docker manifest list): its platform manifests, attestation manifests left out. */
  | { readonly kind: 'index'; readonly manifests: readonly PlatformManifest[] }
  /** A single manifest; `platform()` reads its configuration to say which platform it is for. */
  | { readonly kind: 'image'; readonly platform: () => Promise<string | undefined> };

/** An image configuration is small; anything larger than this is not one worth reading for its platform. */
const MAX_CONFIG_BYTES = 1024 * 1024;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
/** The platform BuildKit gives its attestation manifests; no node's platform matches it. */
const ATTESTATION_PLATFORM = 'unknown/unknown';
/**
 * Platform manifests an index may list. Each is verified on its own (signature discovery included) when a
 * policy asks for `all` platforms, and an index need not be signed for that to start: without a bound, one
 * index of 4 MiB would start some 150,000 registry requests. The largest public multi-arch images list a few
 * dozen (Windows images, one per OS build).
 */
export const MAX_INDEX_PLATFORMS = 128;

/**
 * `os/architecture[/variant]`, normalised as containerd's platforms package does when a node picks a manifest
 * to pull, every alias included: a policy naming `linux/amd64` must also match an entry spelled `x86-64`,
 * or the node could pull an entry the policy never saw. arm64's default variant v8 is dropped, 32-bit arm
 * without a variant is v7, `armhf`/`armel` are arm v7/v6, `i386` is 386, and `macos` is darwin.
 */
export function normalisePlatform(platform: string): string {
  const [writtenOs = '', architecture = '', variant = ''] = platform.toLowerCase().split('/');
  const os = writtenOs === 'macos' ? 'darwin' : writtenOs;
  const [arch, v] = normaliseArchitecture(architecture, variant);
  return v ? `${os}/${arch}/${v}` : `${os}/${arch}`;
}

function normaliseArchitecture(architecture: string, variant: string): [string, string] {
  switch (architecture) {
    case 'i386':
      return ['386', ''];
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      return ['amd64', variant === 'v1' ? '' : variant];
    case 'aarch64':
    case 'arm64':
      if (['8', 'v8', 'v8.0'].includes(variant)) return ['arm64', ''];
      return ['arm64', ['9', '9.0', 'v9.0'].includes(variant) ? 'v9' : variant];
    case 'armhf':
      return ['arm', 'v7'];
    case 'armel':
      return ['arm', 'v6'];
    case 'arm':
      if (variant === '' || variant === '7') return ['arm', 'v7'];
      return ['arm', ['5', '6', '8'].includes(variant) ? `v${variant}` : variant];
    default:
      return [architecture, variant];
  }
}

/** `os/architecture` of a normalised platform, its variant left out. */
export function platformFamily(normalised: string): string {
  return normalised.split('/').slice(0, 2).join('/');
}

function platformOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { os, architecture, variant } = value as Record<string, unknown>;
  if (typeof os !== 'string' || typeof architecture !== 'string') return undefined;
  return normalisePlatform(
    typeof variant === 'string' && variant ? `${os}/${architecture}/${variant}` : `${os}/${architecture}`,
  );
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return parseBoundedJsonBytes(bytes, REMOTE_JSON_BOUNDS);
  } catch (err) {
    const problem = err instanceof JsonBoundsError ? `refused JSON: ${err.message}` : 'not valid JSON';
    throw new ProvenantError('REGISTRY_RESPONSE_INVALID', `${what} is ${problem}`);
  }
}

// What an index, its descriptors and their platforms hold (OCI image-spec), as a node's Go decoder names them.
const INDEX_FIELDS = ['schemaVersion', 'mediaType', 'artifactType', 'manifests', 'subject', 'annotations'];
const DESCRIPTOR_FIELDS = [
  'mediaType',
  'digest',
  'size',
  'urls',
  'annotations',
  'data',
  'platform',
  'artifactType',
];
const PLATFORM_FIELDS = ['architecture', 'os', 'os.version', 'os.features', 'variant', 'features'];

/** Refuses a key a node's decoder would read as one of `fields` although it is spelled otherwise (`Platform`). */
function misspelled(value: unknown, fields: readonly string[], where: string): void {
  const misspelt = misspelledKey(value, fields);
  if (misspelt !== undefined) {
    throw new ProvenantError(
      'REGISTRY_RESPONSE_INVALID',
      `the image index is ambiguous: ${where} has the key ${JSON.stringify(misspelt.key.slice(0, 64))}, which other JSON readers take for ${JSON.stringify(misspelt.field)}`,
    );
  }
}

/** What every runtime reads alike in a platform's `os` and `architecture`: printable ASCII, never empty. */
const PLATFORM_NAME = /^[\x21-\x7e]+$/;

/**
 * Refuses an entry's platform that containerd reads as another than Provenant would: it takes a missing or
 * empty `os` for the node's own (normalizeOS), and lowercases with Go's simple mapping (`lİnux` is `linux` to
 * it, not to toLowerCase). OCI requires both fields; no real index lacks them or spells them otherwise.
 */
function checkPlatformNames(value: unknown, where: string): void {
  if (value === undefined || value === null) return;
  const fields = typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  for (const field of ['os', 'architecture']) {
    const name = fields[field];
    if (typeof name !== 'string' || !PLATFORM_NAME.test(name)) {
      throw new ProvenantError(
        'REGISTRY_RESPONSE_INVALID',
        `the image index is ambiguous: ${where} has no ${field} in printable ASCII, so runtimes may read it as another platform`,
      );
    }
  }
}

/**
 * The platform manifests an index lists. BuildKit's attestation manifests (`unknown/unknown`, annotated
 * `vnd.docker.reference.type: attestation-manifest`) are not images a node can run, so they are left out.
 * Only the platform keeps a node from an entry: containerd and containers/image pick by platform alone and
 * take the first of equal matches, so an entry so annotated for a real platform is listed like any other.
 */
export function parseIndexPlatforms(bytes: Uint8Array): PlatformManifest[] {
  const document = parseJson(bytes, 'the image index') as { manifests?: unknown } | null;
  // A node reads the index with Go's encoding/json: keys repeated, or spelled in another letter case
  // (`Platform`, `Digest`, `Manifests`), choose for it what JSON.parse does not show here.
  const ambiguous = ambiguousKeyProblem(decodeStrictUtf8(bytes));
  if (ambiguous !== undefined) {
    throw new ProvenantError('REGISTRY_RESPONSE_INVALID', `the image index is ambiguous: ${ambiguous}`);
  }
  misspelled(document, INDEX_FIELDS, 'the image index');
  const manifests = document?.manifests;
  if (!Array.isArray(manifests)) {
    throw new ProvenantError('REGISTRY_RESPONSE_INVALID', 'the image index has no manifests list');
  }
  const out: PlatformManifest[] = [];
  for (const [i, entry] of (manifests as unknown[]).entries()) {
    const descriptor = (entry ?? {}) as { digest?: unknown; platform?: unknown; annotations?: unknown };
    misspelled(descriptor, DESCRIPTOR_FIELDS, `manifest ${i + 1} of the image index`);
    misspelled(descriptor.platform, PLATFORM_FIELDS, `the platform of manifest ${i + 1} of the image index`);
    checkPlatformNames(descriptor.platform, `the platform of manifest ${i + 1} of the image index`);
    const annotations = (descriptor.annotations ?? {}) as Record<string, unknown>;
    const platform = platformOf(descriptor.platform) ?? 'unknown';
    if (
      annotations['vnd.docker.reference.type'] === 'attestation-manifest' &&
      platform === ATTESTATION_PLATFORM
    ) {
      continue;
    }
    if (typeof descriptor.digest !== 'string' || !DIGEST.test(descriptor.digest)) {
      throw new ProvenantError(
        'REGISTRY_RESPONSE_INVALID',
        'the image index lists a manifest without a sha256 digest',
      );
    }
    out.push({ platform, digest: descriptor.digest });
    if (out.length > MAX_INDEX_PLATFORMS) {
      throw new ProvenantError(
        'REGISTRY_RESPONSE_INVALID',
        `the image index lists more than ${MAX_INDEX_PLATFORMS} platform manifests`,
      );
    }
  }
  return out;
}

/** Reads the manifest `digest` and says whether it is an index (with its platforms) or a single image. */
export async function readPlatforms(
  registry: Registry,
  repo: Repository,
  digest: string,
  request: RequestOptions,
): Promise<ImagePlatforms> {
  const manifest = await registry.getManifest(repo, digest, request);
  if (!manifest) {
    throw new ProvenantError('IMAGE_NOT_FOUND', `${repo.registry}/${repo.path}@${digest} does not exist`);
  }
  if (manifest.mediaType === OCI_INDEX || manifest.mediaType === DOCKER_MANIFEST_LIST) {
    return { kind: 'index', manifests: parseIndexPlatforms(manifest.bytes) };
  }
  return {
    kind: 'image',
    platform: async () => {
      const config = (
        parseJson(manifest.bytes, 'the image manifest') as { config?: { digest?: unknown } } | null
      )?.config?.digest;
      if (typeof config !== 'string' || !DIGEST.test(config)) return undefined;
      return platformOf(
        parseJson(await registry.getBlob(repo, config, MAX_CONFIG_BYTES, request), 'the image configuration'),
      );
    },
  };
}
