import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpRegistry, type HttpRegistryLimits } from '../../../src/oci/http-registry.js';
import { OCI_MANIFEST } from '../../../src/oci/media-types.js';
import { parseRepository } from '../../../src/oci/reference.js';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy.js';
import type { TestRegistry } from '../../support/registry.js';
import { pushImage, sha256, startReferrersRegistry, type Pushed, type ReferrersRegistry } from './helpers.js';
import { codeOf } from '../../support/error-code.js';

const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const SBOM = 'application/spdx+json';

describe('referrers API (go-containerregistry registry)', () => {
  let registry: ReferrersRegistry;
  let proxy: FaultProxy;
  let image: Pushed;
  let referrers: Pushed[];
  const clients: HttpRegistry[] = [];

  beforeAll(async () => {
    registry = await startReferrersRegistry();
    const target = { host: registry.host, registry: { tls: false } };
    image = await pushImage(target, 'demo/app', 'v1');
    referrers = [
      await pushImage(target, 'demo/app', 'r1', {
        artifactType: BUNDLE,
        subject: image,
        annotations: { n: '1' },
      }),
      await pushImage(target, 'demo/app', 'r2', { artifactType: BUNDLE, subject: image }),
      await pushImage(target, 'demo/app', 'r3', { artifactType: SBOM, subject: image }),
    ];
    // The proxy only needs the upstream's address and scheme.
    const upstream: TestRegistry = { host: registry.host, tls: false, stop: async () => undefined };
    proxy = await startFaultProxy(upstream);
  });
  afterEach(() => proxy.reset());
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await proxy?.stop();
    await registry?.stop();
  });

  function client(host: string, limits: Partial<HttpRegistryLimits> = {}): HttpRegistry {
    const created = new HttpRegistry({ insecureRegistries: [host], limits });
    clients.push(created);
    return created;
  }

  it('lists every referrer of a digest', async () => {
    const listed = await client(registry.host).getReferrers(
      parseRepository(`${registry.host}/demo/app`),
      image.digest,
    );
    expect(listed).not.toBeNull();
    expect(listed?.map((d) => d.digest).sort()).toEqual(referrers.map((r) => r.digest).sort());
    for (const descriptor of listed ?? []) {
      const pushed = referrers.find((r) => r.digest === descriptor.digest);
      expect(descriptor.mediaType).toBe(OCI_MANIFEST);
      expect(descriptor.size).toBe(pushed?.size);
    }
    expect(listed?.filter((d) => d.artifactType === BUNDLE)).toHaveLength(2);
    expect(listed?.filter((d) => d.artifactType === SBOM)).toHaveLength(1);
  });

  it('answers an empty list for a digest without referrers', async () => {
    const listed = await client(registry.host).getReferrers(
      parseRepository(`${registry.host}/demo/app`),
      sha256(randomBytes(16)),
    );
    expect(listed).toEqual([]);
  });

  it('follows Link rel="next" pages and merges them', async () => {
    proxy.inject({ path: '/referrers/', fault: { kind: 'paginate', pageSize: 1 } });
    const listed = await client(proxy.host).getReferrers(
      parseRepository(`${proxy.host}/demo/app`),
      image.digest,
    );
    expect(listed?.map((d) => d.digest).sort()).toEqual(referrers.map((r) => r.digest).sort());
    expect(proxy.requests.filter((r) => r.path.includes('/referrers/'))).toHaveLength(3);
  });

  it('refuses more pages than the limit with REGISTRY_RESPONSE_INVALID', async () => {
    proxy.inject({ path: '/referrers/', fault: { kind: 'paginate', pageSize: 1 } });
    const code = await codeOf(
      client(proxy.host, { maxReferrersPages: 2 }).getReferrers(
        parseRepository(`${proxy.host}/demo/app`),
        image.digest,
      ),
    );
    expect(code).toBe('REGISTRY_RESPONSE_INVALID');
  });

  it('holds all pages together to the referrers byte budget', async () => {
    proxy.inject({ path: '/referrers/', fault: { kind: 'paginate', pageSize: 1 } });
    const onePage = JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: OCI_MANIFEST, size: 1000, digest: image.digest, artifactType: BUNDLE }],
    });
    const code = await codeOf(
      client(proxy.host, { maxReferrersBytes: onePage.length * 2 + 100 }).getReferrers(
        parseRepository(`${proxy.host}/demo/app`),
        image.digest,
      ),
    );
    expect(code).toBe('REGISTRY_RESPONSE_INVALID');
  });

  it('refuses an oversized referrers index with REGISTRY_RESPONSE_INVALID', async () => {
    proxy.inject({
      path: '/referrers/',
      fault: { kind: 'oversize', bytes: 8 * 1024 * 1024, announce: false },
    });
    const code = await codeOf(
      client(proxy.host, { maxReferrersBytes: 64 * 1024 }).getReferrers(
        parseRepository(`${proxy.host}/demo/app`),
        image.digest,
      ),
    );
    expect(code).toBe('REGISTRY_RESPONSE_INVALID');
  });
});
