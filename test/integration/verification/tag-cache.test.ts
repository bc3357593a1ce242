/**
 * The tag cache of the verification service against a real registry, with requests counted where the
 * registry receives them (the fault proxy forwards everything unchanged) and time moved by an injected clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, type CacheSettings } from '../../../src/cli/runtime.js';
import type { Clock } from '../../../src/clock.js';
import { HttpRegistry } from '../../../src/oci/http-registry.js';
import { authorityCompiler } from '../../../src/policy/authorities.js';
import { compilePolicies } from '../../../src/policy/compile.js';
import { createTrustStore } from '../../../src/trust/index.js';
import { cosignSign, generateKeyPair, type CosignKeyPair } from '../../support/cosign.js';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy.js';
import { pushRandomImage } from '../../support/images.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';

const TTL_MS = 30_000;

describe('tag resolution cache (real registry)', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let key: CosignKeyPair;
  const clients: HttpRegistry[] = [];

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry);
    key = await generateKeyPair('ecdsa-p256');
  }, 120_000);
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await proxy?.stop();
    await registry?.stop();
  });

  function service(clock: Clock, tagCacheTtlMs = TTL_MS) {
    const trustStore = createTrustStore();
    const policies = compilePolicies(
      [
        {
          source: 'test',
          index: 0,
          value: {
            apiVersion: 'provenant.dev/v1alpha1',
            kind: 'ClusterImagePolicy',
            metadata: { name: 'release' },
            spec: {
              images: [{ glob: `${proxy.host}/**` }],
              authorities: [{ name: 'release-key', key: { publicKey: key.publicKeyPem } }],
              signatures: { threshold: 1 },
            },
          },
        },
      ],
      authorityCompiler(trustStore),
    );
    const client = new HttpRegistry({ insecureRegistries: [proxy.host] });
    clients.push(client);
    const cache: CacheSettings = {
      cacheTtlMs: 600_000,
      negativeCacheTtlMs: 30_000,
      tagCacheTtlMs,
      cacheMaxEntries: 100,
    };
    return createVerifier(
      client,
      () => policies,
      'deny',
      cache,
      () => trustStore,
      clock,
    );
  }

  const tagHeads = (repo: string, tag: string) =>
    proxy.requests.filter((r) => r.method === 'HEAD' && r.path === `/v2/${repo}/manifests/${tag}`).length;

  it('reuses a resolved tag within the TTL and sees a moved tag after it', async () => {
    const first = await pushRandomImage(registry, 'tags/moved', 'v1');
    await cosignSign(2, key, first.digestRef, registry);
    let now = 1_000_000;
    const verifier = service({ now: () => now });
    const ref = `${proxy.host}/tags/moved:v1`;

    const [before] = await verifier.verifyImages([ref]);
    expect(before).toMatchObject({ allowed: true, digest: first.digest });

    const moved = await pushRandomImage(registry, 'tags/moved', 'v1');
    await cosignSign(2, key, moved.digestRef, registry);
    expect(moved.digest).not.toBe(first.digest);

    now += TTL_MS - 1;
    const [within] = await verifier.verifyImages([ref]);
    expect(within).toMatchObject({ allowed: true, digest: first.digest });
    expect(tagHeads('tags/moved', 'v1')).toBe(1);

    now += 1;
    const [after] = await verifier.verifyImages([ref]);
    expect(after).toMatchObject({ allowed: true, digest: moved.digest });
    expect(tagHeads('tags/moved', 'v1')).toBe(2);
  }, 120_000);

  it('makes one registry request for two concurrent admissions of one tag', async () => {
    const image = await pushRandomImage(registry, 'tags/concurrent', 'v1');
    await cosignSign(2, key, image.digestRef, registry);
    const verifier = service({ now: () => 1_000_000 });
    const ref = `${proxy.host}/tags/concurrent:v1`;

    const [a, b] = await Promise.all([verifier.verifyImages([ref]), verifier.verifyImages([ref])]);
    expect(a?.[0]).toMatchObject({ allowed: true, digest: image.digest });
    expect(b?.[0]).toMatchObject({ allowed: true, digest: image.digest });
    expect(tagHeads('tags/concurrent', 'v1')).toBe(1);
  }, 120_000);

  it("never answers a caller with a tag resolved under another caller's credentials", async () => {
    const image = await pushRandomImage(registry, 'tags/credentials', 'v1');
    await cosignSign(2, key, image.digestRef, registry);
    const verifier = service({ now: () => 1_000_000 });
    const ref = `${proxy.host}/tags/credentials:v1`;
    const pullSecret = (password: string) => ({
      lookup: (host: string) =>
        host === proxy.host ? { kind: 'basic' as const, username: 'workload', password } : undefined,
    });

    await verifier.verifyImages([ref]); // the verifier's own (anonymous) credentials
    await verifier.verifyImages([ref], { credentials: pullSecret('a') });
    await verifier.verifyImages([ref], { credentials: pullSecret('a') });
    await verifier.verifyImages([ref], { credentials: pullSecret('b') });
    await verifier.verifyImages([ref]);
    // One resolution each for: the verifier's own credentials, pull secret a, pull secret b.
    expect(tagHeads('tags/credentials', 'v1')).toBe(3);
  }, 120_000);

  it('asks the registry on every admission with --tag-cache-ttl 0', async () => {
    const image = await pushRandomImage(registry, 'tags/off', 'v1');
    await cosignSign(2, key, image.digestRef, registry);
    const verifier = service({ now: () => 1_000_000 }, 0);
    const ref = `${proxy.host}/tags/off:v1`;
    await verifier.verifyImages([ref]);
    await verifier.verifyImages([ref]);
    expect(tagHeads('tags/off', 'v1')).toBe(2);
  }, 120_000);
});
