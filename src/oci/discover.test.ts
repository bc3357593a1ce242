import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { predictedSimpleSigningPayload } from '../verify/simple-signing.js';
import { DISCOVERY_LIMITS, discoverSignatures } from './discover.js';
import type { Repository } from './reference.js';
import type { FetchedManifest, ManifestRequestOptions, Registry } from './registry.js';

// Discovery is I/O through the Registry port; registry behaviour itself is tested against real registries
// (test/integration/oci). Here a map of manifests and blobs stands in, to pin what discovery asks for and keeps.

const REPO: Repository = { registry: 'registry.example', path: 'acme/app' };
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const ATT_TAG = `sha256-${'ab'.repeat(32)}.att`;
const SIG_TAG = `sha256-${'ab'.repeat(32)}.sig`;
const DSSE = 'application/vnd.dsse.envelope.v1+json';
const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';

const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

class MapRegistry implements Registry {
  readonly requested: string[] = [];
  readonly manifests = new Map<string, Uint8Array>();
  readonly blobs = new Map<string, Uint8Array>();
  readonly blobRequests: string[] = [];

  /** The byte limit each manifest request carried, by reference. */
  readonly manifestLimits = new Map<string, number | undefined>();

  getManifest(
    _repo: Repository,
    reference: string,
    options?: ManifestRequestOptions,
  ): Promise<FetchedManifest | null> {
    this.requested.push(reference);
    this.manifestLimits.set(reference, options?.maxBytes);
    const bytes = this.manifests.get(reference);
    // As the client does: a body longer than the caller allows is refused, not returned.
    if (bytes !== undefined && bytes.length > (options?.maxBytes ?? Infinity)) {
      return Promise.reject(new Error(`manifest ${reference} over ${options?.maxBytes} bytes`));
    }
    return Promise.resolve(
      bytes === undefined
        ? null
        : { digest: sha256(bytes), mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes },
    );
  }

  headManifest(): Promise<string | null> {
    return Promise.resolve(null);
  }

  getBlob(_repo: Repository, digest: string, maxBytes: number): Promise<Uint8Array> {
    this.blobRequests.push(digest);
    const blob = this.blobs.get(digest);
    if (blob === undefined || blob.length > maxBytes) throw new Error(`no blob ${digest}`);
    return Promise.resolve(blob);
  }

  getReferrers(): Promise<null> {
    return Promise.resolve(null);
  }

  /** Stores `envelopes` as the layers of a `.att` manifest, with the given (claimed) sizes and media types. */
  attestations(layers: readonly { blob: string; mediaType?: string; size?: number }[]): void {
    this.layers(ATT_TAG, DSSE, layers);
  }

  /** Stores `payloads` as the layers of a `.sig` manifest; a payload without bytes is listed but not stored. */
  signatures(layers: readonly { blob: string | Uint8Array; stored?: boolean }[]): void {
    this.layers(SIG_TAG, SIMPLE_SIGNING, layers);
  }

  private layers(
    tag: string,
    defaultMediaType: string,
    layers: readonly { blob: string | Uint8Array; mediaType?: string; size?: number; stored?: boolean }[],
  ): void {
    const descriptors = layers.map(({ blob, mediaType, size, stored = true }) => {
      const bytes = Buffer.from(blob);
      if (stored) this.blobs.set(sha256(bytes), bytes);
      return {
        mediaType: mediaType ?? defaultMediaType,
        digest: sha256(bytes),
        size: size ?? bytes.length,
        annotations: {
          predicateType: 'https://slsa.dev/provenance/v1',
          'dev.cosignproject.cosign/signature': '',
        },
      };
    });
    this.manifests.set(tag, Buffer.from(JSON.stringify({ schemaVersion: 2, layers: descriptors })));
  }
}

describe('discoverSignatures: legacy .sig tags', () => {
  const predicted = predictedSimpleSigningPayload(REPO, DIGEST);

  it('does not download a payload that is exactly the predicted one, and downloads any other', async () => {
    const registry = new MapRegistry();
    // The predicted payload is listed but absent from the registry: only its digest can vouch for it.
    const annotated = Buffer.from(
      Buffer.from(predicted).toString().replace('"optional":null', '"optional":{"env":"prod"}'),
    );
    registry.signatures([{ blob: predicted, stored: false }, { blob: annotated }]);
    const found = await discoverSignatures(registry, REPO, DIGEST);
    expect(found.unreadable).toEqual([]);
    expect(found.evidence.map((e) => e.kind === 'cosign-simple-signing' && Buffer.from(e.payload))).toEqual([
      Buffer.from(predicted),
      annotated,
    ]);
    expect(registry.blobRequests).toEqual([sha256(annotated)]);
  });

  it('downloads a payload whose size or digest differs from the prediction, however alike it looks', async () => {
    const registry = new MapRegistry();
    // Same length, one byte changed: the digest tells them apart.
    const tampered = Buffer.from(predicted);
    tampered[tampered.length - 2] = 0x4c; // "null" -> "nulL"
    registry.signatures([{ blob: tampered }]);
    const found = await discoverSignatures(registry, REPO, DIGEST);
    expect(registry.blobRequests).toEqual([sha256(tampered)]);
    expect(found.evidence).toHaveLength(1);
  });

  it("predicts with the image's repository when signatures are stored in another", async () => {
    const imageRepository: Repository = { registry: 'registry.example', path: 'acme/image' };
    const registry = new MapRegistry();
    registry.signatures([{ blob: predictedSimpleSigningPayload(imageRepository, DIGEST), stored: false }]);
    const found = await discoverSignatures(registry, REPO, DIGEST, { imageRepository });
    expect(found.evidence).toHaveLength(1);
    expect(registry.blobRequests).toEqual([]);
  });
});

describe('discoverSignatures: legacy .att tags', () => {
  it('reads every DSSE layer of sha256-<hex>.att as attestation evidence, with its annotations', async () => {
    const registry = new MapRegistry();
    registry.attestations([{ blob: '{"envelope":1}' }, { blob: '{"envelope":2}' }]);
    const found = await discoverSignatures(registry, REPO, DIGEST, { attestations: true });
    expect(found.evidence).toEqual([
      {
        kind: 'cosign-attestation',
        source: `registry.example/acme/app:${ATT_TAG} layer 0`,
        envelope: Buffer.from('{"envelope":1}'),
        annotations: expect.objectContaining({ predicateType: 'https://slsa.dev/provenance/v1' }) as unknown,
      },
      expect.objectContaining({
        kind: 'cosign-attestation',
        source: `registry.example/acme/app:${ATT_TAG} layer 1`,
      }),
    ]);
    expect(found.unreadable).toEqual([]);
    expect(found.unreadableAttestations).toEqual([]);
  });

  it('does not ask for the .att tag unless attestations are wanted', async () => {
    const registry = new MapRegistry();
    registry.attestations([{ blob: '{}' }]);
    const found = await discoverSignatures(registry, REPO, DIGEST);
    expect(found.evidence).toEqual([]);
    expect(registry.requested).not.toContain(ATT_TAG);
  });

  it('keeps unreadable layers apart from signatures: another media type, or too large', async () => {
    const registry = new MapRegistry();
    registry.attestations([
      { blob: '{}', mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json' },
      { blob: '{}', size: DISCOVERY_LIMITS.maxEnvelopeBytes + 1 },
      { blob: '{"ok":true}' },
    ]);
    const found = await discoverSignatures(registry, REPO, DIGEST, { attestations: true });
    expect(found.evidence).toHaveLength(1);
    expect(found.unreadable).toEqual([]);
    expect(found.unreadableAttestations.map((u) => u.message)).toEqual([
      'not a DSSE envelope layer',
      `envelope of ${DISCOVERY_LIMITS.maxEnvelopeBytes + 1} bytes exceeds the limit`,
    ]);
  });

  it(`reads at most ${DISCOVERY_LIMITS.maxSignatureLayers} layers`, async () => {
    const registry = new MapRegistry();
    registry.attestations(Array.from({ length: 100 }, (_, i) => ({ blob: `{"n":${i}}` })));
    const found = await discoverSignatures(registry, REPO, DIGEST, { attestations: true });
    expect(found.evidence).toHaveLength(DISCOVERY_LIMITS.maxSignatureLayers);
  });

  it('downloads a blob listed many times once, and within the size its descriptor declares', async () => {
    const registry = new MapRegistry();
    registry.attestations(Array.from({ length: 10 }, () => ({ blob: '{"same":true}' })));
    const found = await discoverSignatures(registry, REPO, DIGEST, { attestations: true });
    // Each listing is evidence (annotations may differ), but the registry was asked for the bytes once.
    expect(found.evidence).toHaveLength(10);
    expect(registry.blobRequests).toHaveLength(1);

    // A blob larger than its declared size is not read past that size (the fake refuses, as getBlob does).
    const liar = new MapRegistry();
    liar.attestations([{ blob: '{"longer":"than declared"}', size: 4 }]);
    await expect(discoverSignatures(liar, REPO, DIGEST, { attestations: true })).rejects.toThrow(/no blob/);
  });

  it(`downloads at most ${DISCOVERY_LIMITS.maxTotalBytes / 2 ** 20} MiB of blobs per image, all attachments together`, async () => {
    const registry = new MapRegistry();
    const mib = 1024 * 1024;
    // Twenty distinct envelopes of 1 MiB each: sixteen fit, the rest are reported and never asked for.
    registry.attestations(Array.from({ length: 20 }, (_, i) => ({ blob: `{"n":${i}}`.padEnd(mib, ' ') })));
    const found = await discoverSignatures(registry, REPO, DIGEST, { attestations: true });
    expect(found.evidence).toHaveLength(DISCOVERY_LIMITS.maxTotalBytes / mib);
    expect(registry.blobRequests).toHaveLength(DISCOVERY_LIMITS.maxTotalBytes / mib);
    expect(found.unreadableAttestations.map((u) => u.message)).toEqual(
      Array(20 - DISCOVERY_LIMITS.maxTotalBytes / mib).fill(
        "not read: the image's attachments exceed 16 MiB together",
      ),
    );
  });

  it('reports a .att manifest without layers', async () => {
    const registry = new MapRegistry();
    registry.manifests.set(ATT_TAG, Buffer.from('{"schemaVersion":2}'));
    const found = await discoverSignatures(registry, REPO, DIGEST, { attestations: true });
    expect(found.unreadableAttestations).toEqual([
      {
        source: `registry.example/acme/app:${ATT_TAG}`,
        message: 'attestation manifest has no layers array',
        origin: 'att',
      },
    ]);
  });
});

describe('discoverSignatures: referrers API or its fallback tag', () => {
  const FALLBACK_TAG = `sha256-${'ab'.repeat(32)}`;

  /** A MapRegistry whose referrers API answers as scripted, recording when each route was asked. */
  class ReferrersRegistry extends MapRegistry {
    readonly order: string[] = [];
    constructor(
      private readonly support: 'supported' | 'unsupported' | 'unknown' | undefined,
      private readonly api: () => Promise<[] | null>,
    ) {
      super();
    }
    override getManifest(repo: Repository, reference: string): Promise<FetchedManifest | null> {
      this.order.push(`manifest ${reference}`);
      return super.getManifest(repo, reference);
    }
    override getReferrers(): Promise<null> {
      this.order.push('api');
      return this.api() as Promise<null>;
    }
    referrersSupport() {
      return this.support ?? 'unknown';
    }
  }

  const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

  /**
   * Bundle referrers listed in the fallback index, each a manifest naming one stored bundle blob; `declared`
   * is the manifest size the listing claims (default: its true length).
   */
  function bundleReferrers(
    registry: MapRegistry,
    referrers: readonly { bundle: string; padding?: number; declared?: number }[],
  ): string[] {
    const listed = referrers.map(({ bundle, padding = 0, declared }) => {
      const blob = Buffer.from(bundle);
      registry.blobs.set(sha256(blob), blob);
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          layers: [{ mediaType: BUNDLE, digest: sha256(blob), size: blob.length }],
          annotations: { padding: ' '.repeat(padding) },
        }),
      );
      registry.manifests.set(sha256(manifest), manifest);
      return {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: sha256(manifest),
        size: declared ?? manifest.length,
      };
    });
    registry.manifests.set(FALLBACK_TAG, Buffer.from(JSON.stringify({ manifests: listed })));
    return listed.map((d) => d.digest);
  }

  it(`reads each referrer manifest within the size listed, at most ${DISCOVERY_LIMITS.maxReferrerManifestBytes / 1024} KiB`, async () => {
    const registry = new MapRegistry();
    const limit = DISCOVERY_LIMITS.maxReferrerManifestBytes;
    const [small, unsized, padded, huge] = bundleReferrers(registry, [
      { bundle: '{"n":1}' },
      { bundle: '{"n":2}', declared: 0 },
      { bundle: '{"n":3}', padding: 2 * limit, declared: 0 },
      { bundle: '{"n":4}', padding: 4 * 1024 * 1024, declared: 4 * 1024 * 1024 + 200 },
    ]);
    // A listing without a size (0) is read up to the bound, and a manifest longer than that is refused.
    await expect(discoverSignatures(registry, REPO, DIGEST)).rejects.toThrow(`manifest ${padded} over`);
    expect(registry.manifestLimits.get(small!)).toBe(registry.manifests.get(small!)!.length);
    expect(registry.manifestLimits.get(unsized!)).toBe(limit);
    expect(registry.manifestLimits.get(padded!)).toBe(limit);
    // One declared larger than the bound is reported without being asked for.
    expect(registry.requested).not.toContain(huge);

    const honest = new MapRegistry();
    const [, big] = bundleReferrers(honest, [
      { bundle: '{"n":1}' },
      { bundle: '{"n":4}', padding: 4 * 1024 * 1024, declared: 4 * 1024 * 1024 + 200 },
    ]);
    const found = await discoverSignatures(honest, REPO, DIGEST);
    expect(found.evidence).toHaveLength(1);
    expect(found.unreadable).toEqual([
      {
        source: `registry.example/acme/app@${big}`,
        message: `referrer manifest of ${4 * 1024 * 1024 + 200} bytes exceeds the limit`,
        origin: 'referrer',
      },
    ]);
    expect(honest.requested).not.toContain(big);
  });

  it('charges referrer manifests to the discovery budget with the bundles they name', async () => {
    const registry = new MapRegistry();
    const mib = 1024 * 1024;
    // Twenty bundles of 1 MiB: sixteen would fit on their own, but their manifests are counted first.
    bundleReferrers(
      registry,
      Array.from({ length: 20 }, (_, i) => ({ bundle: `{"n":${i}}`.padEnd(mib, ' ') })),
    );
    const found = await discoverSignatures(registry, REPO, DIGEST);
    expect(found.evidence).toHaveLength(DISCOVERY_LIMITS.maxTotalBytes / mib - 1);
    expect(registry.blobRequests).toHaveLength(DISCOVERY_LIMITS.maxTotalBytes / mib - 1);
    expect(found.unreadable.map((u) => u.message)).toEqual(
      Array(20 - DISCOVERY_LIMITS.maxTotalBytes / mib + 1).fill(
        "not read: the image's attachments exceed 16 MiB together",
      ),
    );
  });

  it('asks the API and the fallback tag at once while support is unknown', async () => {
    let answer: (value: null) => void = () => undefined;
    const registry = new ReferrersRegistry('unknown', () => new Promise((resolve) => (answer = resolve)));
    const found = discoverSignatures(registry, REPO, DIGEST);
    await new Promise((resolve) => setImmediate(resolve));
    // Both asked before the API has answered.
    expect(registry.order).toContain('api');
    expect(registry.order).toContain(`manifest ${FALLBACK_TAG}`);
    answer(null);
    expect((await found).evidence).toEqual([]);
  });

  it('does not fail when the API answers and the unneeded fallback tag fails', async () => {
    const registry = new ReferrersRegistry('unknown', () => Promise.resolve([]));
    registry.getManifest = (_repo, reference) =>
      reference === FALLBACK_TAG ? Promise.reject(new Error('boom')) : Promise.resolve(null);
    await expect(discoverSignatures(registry, REPO, DIGEST)).resolves.toMatchObject({ unreadable: [] });
  });

  it('asks only the fallback tag where the API is known to be missing', async () => {
    const registry = new ReferrersRegistry('unsupported', () => Promise.resolve(null));
    await discoverSignatures(registry, REPO, DIGEST);
    expect(registry.order).not.toContain('api');
    expect(registry.order).toContain(`manifest ${FALLBACK_TAG}`);
  });

  it('asks only the API where it is known to work, and the fallback if it stopped', async () => {
    const supported = new ReferrersRegistry('supported', () => Promise.resolve([]));
    await discoverSignatures(supported, REPO, DIGEST);
    expect(supported.order).toEqual(expect.arrayContaining(['api']));
    expect(supported.order).not.toContain(`manifest ${FALLBACK_TAG}`);

    const stopped = new ReferrersRegistry('supported', () => Promise.resolve(null));
    await discoverSignatures(stopped, REPO, DIGEST);
    expect(stopped.order.indexOf(`manifest ${FALLBACK_TAG}`)).toBeGreaterThan(stopped.order.indexOf('api'));
  });
});
