import { predictedSimpleSigningPayload } from '../verify/simple-signing.js';
import type { SignatureEvidence } from '../verify/types.js';
import { parseBoundedJsonBytes, REMOTE_JSON_BOUNDS } from '../json/bounded-json.js';
import { digestOf } from './digest.js';
import type { Repository } from './reference.js';
import type { ReferrerDescriptor, Registry, RequestOptions } from './registry.js';

// Media types of what cosign and sigstore clients attach to images (formats.md §1.2, §1.6, §2.2).
const SIMPLE_SIGNING_LAYER = 'application/vnd.dev.cosign.simplesigning.v1+json';
const DSSE_ENVELOPE_LAYER = 'application/vnd.dsse.envelope.v1+json';
const SIGSTORE_BUNDLE_PREFIX = 'application/vnd.dev.sigstore.bundle';

/** Bounds on attacker-controlled attachments: a registry can list thousands; we check at most these. */
export const DISCOVERY_LIMITS = {
  maxSignatureLayers: 64,
  maxReferrers: 64,
  /** A referrer's manifest: a bundle's names one config and one layer, well under 2 KiB. */
  maxReferrerManifestBytes: 64 * 1024,
  maxPayloadBytes: 1024 * 1024,
  maxBundleBytes: 4 * 1024 * 1024,
  /** A DSSE envelope of a `.att` layer; SBOM attestations are the large ones. */
  maxEnvelopeBytes: 4 * 1024 * 1024,
  /**
   * Everything one discovery downloads, together (referrer manifests and blobs): each bound above times 64
   * attachments would let one image hold over 500 MiB until it is verified.
   */
  maxTotalBytes: 16 * 1024 * 1024,
} as const;

const OVER_BUDGET = `not read: the image's attachments exceed ${DISCOVERY_LIMITS.maxTotalBytes / (1024 * 1024)} MiB together`;

/**
 * The bytes one discovery may still download, DISCOVERY_LIMITS.maxTotalBytes at first: `take` reserves
 * `bytes` before a request is made, or answers false (and nothing is asked) when they no longer fit.
 */
interface ByteBudget {
  take(bytes: number): boolean;
}

function byteBudget(): ByteBudget {
  let left: number = DISCOVERY_LIMITS.maxTotalBytes;
  return {
    take(bytes) {
      if (bytes > left) return false;
      left -= bytes;
      return true;
    },
  };
}

/** What a descriptor's download may be: its declared size (exactly its length, or its digest cannot match). */
function boundOf(descriptor: ReferrerDescriptor, maxBytes: number): number {
  return descriptor.size > 0 ? Math.min(descriptor.size, maxBytes) : maxBytes;
}

/**
 * Downloads one discovery's blobs: each digest once however often it is listed, and each within the size its
 * descriptor declares. Answers undefined, without asking the registry, once the blob no longer fits the
 * discovery's budget.
 */
type BlobReader = (descriptor: ReferrerDescriptor, maxBytes: number) => Promise<Uint8Array> | undefined;

function blobReader(
  registry: Registry,
  repo: Repository,
  options: RequestOptions,
  budget: ByteBudget,
): BlobReader {
  const fetched = new Map<string, Promise<Uint8Array>>();
  return (descriptor, maxBytes) => {
    const known = fetched.get(descriptor.digest);
    if (known !== undefined) return known;
    const bound = boundOf(descriptor, maxBytes);
    if (!budget.take(bound)) return undefined;
    const blob = registry.getBlob(repo, descriptor.digest, bound, options);
    fetched.set(descriptor.digest, blob);
    return blob;
  };
}

/** Something attached to the image that could not even be read as a signature; reported, never trusted. */
export interface UnreadableEvidence {
  readonly source: string;
  readonly message: string;
  /** Where it was found: a bundle referrer may have held a signature or an attestation. */
  readonly origin?: 'sig' | 'att' | 'referrer';
}

export interface DiscoveredSignatures {
  /** Signatures and attestations; `verify/` tells them apart by content. */
  readonly evidence: readonly SignatureEvidence[];
  /**
   * Unreadable `.sig` layers and bundle referrers: they count as signatures that failed, and unreadable
   * referrers also as attestations that failed.
   */
  readonly unreadable: readonly UnreadableEvidence[];
  /** Unreadable `.att` layers: never signatures; reported only when an attestation requirement finds nothing. */
  readonly unreadableAttestations: readonly UnreadableEvidence[];
}

export interface DiscoveryOptions extends RequestOptions {
  /** Also read the legacy `.att` tag (only policies with attestation requirements need it). Default false. */
  readonly attestations?: boolean;
  /**
   * The image's own repository when its signatures are stored in another (a policy's signatureRepository):
   * a signature payload names the image's. Default: `repo`.
   */
  readonly imageRepository?: Repository;
}

/**
 * Everything attached to `digest` that may be an image signature or attestation, from both storage schemes:
 * the legacy cosign tags `sha256-<hex>.sig` (and `.att`, when asked) and sigstore bundles as OCI 1.1 referrers
 * (API, or the fallback tag `sha256-<hex>` on registries without it). Nothing here is verified; `verify/`
 * decides what counts.
 */
export async function discoverSignatures(
  registry: Registry,
  repo: Repository,
  digest: string,
  options: DiscoveryOptions = {},
): Promise<DiscoveredSignatures> {
  const { attestations = false, imageRepository = repo, ...request } = options;
  // Most `.sig` layers hold exactly this payload; see KnownBlob.
  let predicted: { bytes: Uint8Array; digest: string } | undefined;
  const known: KnownBlob = (descriptor) => {
    if (predicted === undefined) {
      const bytes = predictedSimpleSigningPayload(imageRepository, digest);
      predicted = { bytes, digest: digestOf(bytes) };
    }
    return descriptor.size === predicted.bytes.length && descriptor.digest === predicted.digest
      ? predicted.bytes
      : undefined;
  };
  const budget = byteBudget();
  const read = blobReader(registry, repo, request, budget);
  const [legacy, bundles, legacyAttestations] = await Promise.all([
    discoverLegacyLayers(registry, repo, digest, LEGACY_SIGNATURES, request, read, known),
    discoverBundles(registry, repo, digest, request, read, budget),
    attestations
      ? discoverLegacyLayers(registry, repo, digest, LEGACY_ATTESTATIONS, request, read)
      : { evidence: [], unreadable: [] },
  ]);
  const from = (origin: NonNullable<UnreadableEvidence['origin']>, found: Found): UnreadableEvidence[] =>
    found.unreadable.map((u) => ({ ...u, origin }));
  return {
    evidence: [...legacy.evidence, ...bundles.evidence, ...legacyAttestations.evidence],
    unreadable: [...from('sig', legacy), ...from('referrer', bundles)],
    unreadableAttestations: from('att', legacyAttestations),
  };
}

/** `sha256:abc…` → `sha256-abc…`, the tag schema shared by cosign and the OCI referrers fallback. */
export function digestTag(digest: string): string {
  return digest.replace(':', '-');
}

/**
 * A blob whose bytes discovery already knows, without downloading it: returned only when they hash to the
 * descriptor's digest, so they are exactly the bytes the registry would have served (and which getBlob would
 * have checked against that same digest). The signature is verified over them all the same.
 */
type KnownBlob = (descriptor: ReferrerDescriptor) => Uint8Array | undefined;

interface Found {
  readonly evidence: readonly SignatureEvidence[];
  readonly unreadable: readonly UnreadableEvidence[];
}

/** How one legacy cosign tag scheme is read: its suffix, its layers' media type and size bound. */
interface LegacyScheme {
  readonly suffix: 'sig' | 'att';
  readonly manifestWhat: string;
  readonly layerMediaType: string;
  readonly what: string;
  readonly maxBytes: number;
  readonly toEvidence: (
    source: string,
    blob: Uint8Array,
    annotations: Readonly<Record<string, string>>,
  ) => SignatureEvidence;
}

const LEGACY_SIGNATURES: LegacyScheme = {
  suffix: 'sig',
  manifestWhat: 'signature manifest',
  layerMediaType: SIMPLE_SIGNING_LAYER,
  what: 'cosign simple-signing layer',
  maxBytes: DISCOVERY_LIMITS.maxPayloadBytes,
  toEvidence: (source, payload, annotations) => ({
    kind: 'cosign-simple-signing',
    source,
    payload,
    annotations,
  }),
};

const LEGACY_ATTESTATIONS: LegacyScheme = {
  suffix: 'att',
  manifestWhat: 'attestation manifest',
  layerMediaType: DSSE_ENVELOPE_LAYER,
  what: 'DSSE envelope layer',
  maxBytes: DISCOVERY_LIMITS.maxEnvelopeBytes,
  toEvidence: (source, envelope, annotations) => ({
    kind: 'cosign-attestation',
    source,
    envelope,
    annotations,
  }),
};

async function discoverLegacyLayers(
  registry: Registry,
  repo: Repository,
  digest: string,
  scheme: LegacyScheme,
  options: RequestOptions,
  readBlob: BlobReader,
  knownBlob: KnownBlob = () => undefined,
): Promise<Found> {
  const tag = `${digestTag(digest)}.${scheme.suffix}`;
  const manifest = await registry.getManifest(repo, tag, options);
  if (!manifest) return { evidence: [], unreadable: [] };
  const where = `${repo.registry}/${repo.path}:${tag}`;

  const layers = parseJson(manifest.bytes)?.layers;
  if (!Array.isArray(layers)) {
    return {
      evidence: [],
      unreadable: [{ source: where, message: `${scheme.manifestWhat} has no layers array` }],
    };
  }
  const evidence: SignatureEvidence[] = [];
  const unreadable: UnreadableEvidence[] = [];
  const candidates = layers.slice(0, DISCOVERY_LIMITS.maxSignatureLayers);
  await Promise.all(
    candidates.map(async (layer: unknown, i) => {
      // Joined, so the string each cached verdict keeps is flat rather than a tree of its pieces.
      const source = [where, 'layer', i].join(' ');
      const descriptor = asDescriptor(layer);
      if (!descriptor || descriptor.mediaType !== scheme.layerMediaType) {
        unreadable.push({ source, message: `not a ${scheme.what}` });
        return;
      }
      if (descriptor.size > scheme.maxBytes) {
        unreadable.push({
          source,
          message: `${scheme.suffix === 'sig' ? 'payload' : 'envelope'} of ${descriptor.size} bytes exceeds the limit`,
        });
        return;
      }
      let blob = knownBlob(descriptor);
      if (blob === undefined) {
        const reading = readBlob(descriptor, scheme.maxBytes);
        if (reading === undefined) {
          unreadable.push({ source, message: OVER_BUDGET });
          return;
        }
        blob = await reading;
      }
      evidence.push(scheme.toEvidence(source, blob, descriptor.annotations ?? {}));
    }),
  );
  return { evidence: sortBySource(evidence), unreadable };
}

async function discoverBundles(
  registry: Registry,
  repo: Repository,
  digest: string,
  options: RequestOptions,
  readBlob: BlobReader,
  budget: ByteBudget,
): Promise<Found> {
  const referrers = await listReferrers(registry, repo, digest, options);
  const evidence: SignatureEvidence[] = [];
  const unreadable: UnreadableEvidence[] = [];
  // Index entries are unreliable: cosign 3's fallback index lists bundles with the empty config's
  // artifactType and no annotations. Read each referrer manifest and judge it by its own content.
  const candidates = referrers.slice(0, DISCOVERY_LIMITS.maxReferrers);
  await Promise.all(
    candidates.map(async (referrer) => {
      const source = [`${repo.registry}/${repo.path}`, referrer.digest].join('@');
      // Up to 64 referrers are read at once: each manifest within the size its listing declares and a
      // referrer manifest's bound, charged with the blobs, so a registry cannot make one image's listing
      // cost 64 times the client's 4 MiB manifest limit.
      if (referrer.size > DISCOVERY_LIMITS.maxReferrerManifestBytes) {
        unreadable.push({ source, message: `referrer manifest of ${referrer.size} bytes exceeds the limit` });
        return;
      }
      const maxBytes = boundOf(referrer, DISCOVERY_LIMITS.maxReferrerManifestBytes);
      if (!budget.take(maxBytes)) {
        unreadable.push({ source, message: OVER_BUDGET });
        return;
      }
      const manifest = await registry.getManifest(repo, referrer.digest, { ...options, maxBytes });
      if (!manifest) {
        unreadable.push({ source, message: 'listed referrer manifest does not exist' });
        return;
      }
      // The manifest's `subject` is unsigned; a replayed referrer is caught by the bundle's own signed subject.
      const body = parseJson(manifest.bytes);
      const layers: (ReferrerDescriptor | undefined)[] = Array.isArray(body?.layers)
        ? body.layers.map(asDescriptor)
        : [];
      const bundleLayers = layers.filter((l) => l?.mediaType.startsWith(SIGSTORE_BUNDLE_PREFIX));
      const layer = bundleLayers[0];
      if (!layer) return; // another kind of referrer (an SBOM, a notation signature): not ours to judge
      if (bundleLayers.length !== 1) {
        unreadable.push({
          source,
          message: `bundle referrer has ${bundleLayers.length} bundle layers, expected 1`,
        });
        return;
      }
      if (layer.size > DISCOVERY_LIMITS.maxBundleBytes) {
        unreadable.push({ source, message: `bundle of ${layer.size} bytes exceeds the limit` });
        return;
      }
      const reading = readBlob(layer, DISCOVERY_LIMITS.maxBundleBytes);
      if (reading === undefined) {
        unreadable.push({ source, message: OVER_BUDGET });
        return;
      }
      evidence.push({ kind: 'sigstore-bundle', source, bundle: await reading });
    }),
  );
  return { evidence: sortBySource(evidence), unreadable };
}

/**
 * Referrers from the OCI 1.1 API or, on registries without it, the fallback tag `sha256-<hex>`. When the
 * registry's answer for this repository is not known yet both are asked at once, saving a round trip; once
 * known, only the route that can answer is asked.
 */
async function listReferrers(
  registry: Registry,
  repo: Repository,
  digest: string,
  options: RequestOptions,
): Promise<ReferrerDescriptor[]> {
  const support = registry.referrersSupport?.(repo) ?? 'unknown';
  if (support === 'unsupported') return fallbackReferrers(registry, repo, digest, options);
  if (support === 'supported') {
    return (
      (await registry.getReferrers(repo, digest, options)) ??
      (await fallbackReferrers(registry, repo, digest, options))
    );
  }
  const fallback = fallbackReferrers(registry, repo, digest, options);
  // Not needed when the API answers: its failure must then not fail discovery.
  fallback.catch(() => undefined);
  return (await registry.getReferrers(repo, digest, options)) ?? (await fallback);
}

async function fallbackReferrers(
  registry: Registry,
  repo: Repository,
  digest: string,
  options: RequestOptions,
): Promise<ReferrerDescriptor[]> {
  const index = await registry.getManifest(repo, digestTag(digest), options);
  if (!index) return [];
  const manifests = parseJson(index.bytes)?.manifests;
  if (!Array.isArray(manifests)) return [];
  return manifests.map(asDescriptor).filter((d): d is ReferrerDescriptor => d !== undefined);
}

// Registry content is attacker controlled: parse defensively and keep only well-typed fields.
function asDescriptor(value: unknown): ReferrerDescriptor | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (
    typeof v.mediaType !== 'string' ||
    typeof v.digest !== 'string' ||
    !/^sha256:[a-f0-9]{64}$/.test(v.digest)
  ) {
    return undefined;
  }
  const size = typeof v.size === 'number' && Number.isSafeInteger(v.size) && v.size >= 0 ? v.size : 0;
  const annotations = isStringRecord(v.annotations) ? v.annotations : undefined;
  return {
    mediaType: v.mediaType,
    digest: v.digest,
    size,
    ...(typeof v.artifactType === 'string' ? { artifactType: v.artifactType } : {}),
    ...(annotations ? { annotations } : {}),
  };
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return (
    typeof value === 'object' && value !== null && Object.values(value).every((x) => typeof x === 'string')
  );
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- narrowed field by field by the callers
function parseJson(bytes: Uint8Array): any {
  try {
    // Within bounds: a hostile .sig manifest of deep JSON must not cost hundreds of MiB.
    return parseBoundedJsonBytes(bytes, REMOTE_JSON_BOUNDS);
  } catch {
    return undefined;
  }
}

function sortBySource<T extends { source: string }>(items: T[]): T[] {
  return items.sort((a, b) => a.source.localeCompare(b.source, 'en', { numeric: true }));
}
