import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseDockerConfig } from '../../../src/oci/auth.js';
import {
  HttpRegistry,
  type HttpRegistryOptions,
  type RegistryRequestEvent,
} from '../../../src/oci/http-registry.js';
import { parseRepository } from '../../../src/oci/reference.js';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { pushImage, targetOf, type Pushed } from './helpers.js';
import { codeOf } from '../../support/error-code.js';

describe('faults injected in front of a real registry', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let image: Pushed & { layer: Pushed };
  let other: Pushed & { layer: Pushed };
  const clients: HttpRegistry[] = [];

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry);
    image = await pushImage(targetOf(registry), 'demo/app', 'v1');
    other = await pushImage(targetOf(registry), 'demo/app', 'v2');
  });
  afterEach(() => proxy.reset());
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await proxy?.stop();
    await registry?.stop();
  });

  function client(options: Omit<HttpRegistryOptions, 'insecureRegistries'> = {}): HttpRegistry {
    const created = new HttpRegistry({ insecureRegistries: [proxy.host], ...options });
    clients.push(created);
    return created;
  }
  const repo = () => parseRepository(`${proxy.host}/demo/app`);

  it('keeps its connection after a HEAD: tag resolutions and the requests after them share one', async () => {
    const registryClient = client();
    for (let i = 0; i < 5; i++) expect(await registryClient.headManifest(repo(), 'v1')).toBe(image.digest);
    expect((await registryClient.getManifest(repo(), 'v2'))?.digest).toBe(other.digest);
    // Not one: undici's pool opens a second connection when a request goes out in the same turn as the
    // previous answer ended, before that connection is marked free. Closing after each HEAD would make six.
    expect(proxy.connections()).toBeLessThanOrEqual(2);
  });

  it("gets the registry's own answers after one wrote a body behind a HEAD answer", async () => {
    proxy.inject({ method: 'HEAD', fault: { kind: 'body-on-head' } });
    const registryClient = client();
    expect(await registryClient.headManifest(repo(), 'v1')).toBe(image.digest);
    // The stray bytes break the connection they arrive on, never an answer: each request still gets its own.
    expect((await registryClient.getManifest(repo(), 'v2'))?.digest).toBe(other.digest);
    expect(await registryClient.headManifest(repo(), 'v2')).toBe(other.digest);
    expect((await registryClient.getManifest(repo(), 'v1'))?.digest).toBe(image.digest);
  });
  const manifestGets = () =>
    proxy.requests.filter((r) => r.method === 'GET' && r.path === '/v2/demo/app/manifests/v1');

  it('honours Retry-After seconds on 429 and then succeeds', async () => {
    proxy.inject({
      path: '/manifests/v1',
      times: 2,
      fault: { kind: 'status', status: 429, retryAfter: '1' },
    });
    const events: RegistryRequestEvent[] = [];
    const started = performance.now();
    const manifest = await client({
      limits: { retryBaseDelayMs: 1 },
      onRequest: (e) => events.push(e),
    }).getManifest(repo(), 'v1');
    expect(manifest?.digest).toBe(image.digest);
    expect(manifestGets()).toHaveLength(3);
    expect(performance.now() - started).toBeGreaterThanOrEqual(1_900);
    expect(events.map((e) => e.status)).toEqual([429, 429, 200]);
  });

  it('honours Retry-After as an HTTP date', async () => {
    const at = new Date(Date.now() + 2_000).toUTCString();
    proxy.inject({ path: '/manifests/v1', times: 1, fault: { kind: 'status', status: 503, retryAfter: at } });
    const started = performance.now();
    expect((await client({ limits: { retryBaseDelayMs: 1 } }).getManifest(repo(), 'v1'))?.digest).toBe(
      image.digest,
    );
    // HTTP dates have whole seconds, so the wait is between one and two seconds.
    expect(performance.now() - started).toBeGreaterThanOrEqual(900);
    expect(manifestGets()).toHaveLength(2);
  });

  it('gives up with REGISTRY_UNAVAILABLE after the configured retries of 503', async () => {
    proxy.inject({ path: '/manifests/v1', fault: { kind: 'status', status: 503 } });
    const code = await codeOf(
      client({ limits: { retries: 2, retryBaseDelayMs: 5 } }).getManifest(repo(), 'v1'),
    );
    expect(code).toBe('REGISTRY_UNAVAILABLE');
    expect(manifestGets()).toHaveLength(3);
  });

  it('does not wait out a Retry-After beyond the caller deadline: TIMEOUT', async () => {
    proxy.inject({ path: '/manifests/v1', fault: { kind: 'status', status: 429, retryAfter: '20' } });
    const started = performance.now();
    const code = await codeOf(client().getManifest(repo(), 'v1', { signal: AbortSignal.timeout(500) }));
    expect(code).toBe('TIMEOUT');
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(manifestGets()).toHaveLength(1);
  });

  it('treats a Retry-After of many minutes as unavailable now', async () => {
    proxy.inject({ path: '/manifests/v1', fault: { kind: 'status', status: 429, retryAfter: '3600' } });
    expect(await codeOf(client().getManifest(repo(), 'v1'))).toBe('REGISTRY_UNAVAILABLE');
    expect(manifestGets()).toHaveLength(1);
  });

  it('ends a hanging request with TIMEOUT when the caller signal aborts', async () => {
    proxy.inject({ path: '/manifests/v1', fault: { kind: 'hang' } });
    const started = performance.now();
    const code = await codeOf(client().getManifest(repo(), 'v1', { signal: AbortSignal.timeout(500) }));
    expect(code).toBe('TIMEOUT');
    expect(performance.now() - started).toBeLessThan(3_000);
  });

  it('ends a hanging blob download with TIMEOUT', async () => {
    proxy.inject({ path: '/blobs/', fault: { kind: 'hang' } });
    const code = await codeOf(
      client().getBlob(repo(), image.layer.digest, 4096, { signal: AbortSignal.timeout(300) }),
    );
    expect(code).toBe('TIMEOUT');
  });

  it('retries a request that exceeds the per-request timeout, then reports TIMEOUT', async () => {
    proxy.inject({ path: '/manifests/v1', fault: { kind: 'hang' } });
    const code = await codeOf(
      client({ limits: { requestTimeoutMs: 200, retries: 1, retryBaseDelayMs: 1 } }).getManifest(
        repo(),
        'v1',
      ),
    );
    expect(code).toBe('TIMEOUT');
    expect(manifestGets()).toHaveLength(2);
  });

  it('recovers when only the first attempt hangs', async () => {
    proxy.inject({ path: '/manifests/v1', times: 1, fault: { kind: 'hang' } });
    const manifest = await client({ limits: { requestTimeoutMs: 200, retryBaseDelayMs: 1 } }).getManifest(
      repo(),
      'v1',
    );
    expect(manifest?.digest).toBe(image.digest);
  });

  it.each([true, false])(
    'refuses an oversized manifest (Content-Length announced: %s) with REGISTRY_RESPONSE_INVALID',
    async (announce) => {
      proxy.inject({ path: '/manifests/v1', fault: { kind: 'oversize', bytes: 64 * 1024 * 1024, announce } });
      const started = performance.now();
      const code = await codeOf(
        client({ limits: { maxManifestBytes: 1024 * 1024 } }).getManifest(repo(), 'v1'),
      );
      expect(code).toBe('REGISTRY_RESPONSE_INVALID');
      // Reading stops at the cap instead of downloading all 64 MiB.
      expect(performance.now() - started).toBeLessThan(5_000);
    },
  );

  it('rejects a wrong Docker-Content-Digest on a tag GET', async () => {
    proxy.inject({ path: '/manifests/v1', fault: { kind: 'wrong-digest' } });
    expect(await codeOf(client().getManifest(repo(), 'v1'))).toBe('REGISTRY_RESPONSE_INVALID');
  });

  it('rejects a wrong Docker-Content-Digest on a HEAD by digest', async () => {
    proxy.inject({ method: 'HEAD', fault: { kind: 'wrong-digest' } });
    expect(await codeOf(client().headManifest(repo(), image.digest))).toBe('REGISTRY_RESPONSE_INVALID');
  });

  it('rejects a manifest that does not hash to the requested digest', async () => {
    // The registry's own answer for another manifest, Docker-Content-Digest included, is self-consistent.
    proxy.inject({
      path: `/manifests/${image.digest}`,
      fault: { kind: 'substitute', path: `/v2/demo/app/manifests/${other.digest}` },
    });
    expect(await codeOf(client().getManifest(repo(), image.digest))).toBe('REGISTRY_RESPONSE_INVALID');
  });

  it('rejects a blob that does not hash to the requested digest', async () => {
    proxy.inject({
      path: `/blobs/${image.layer.digest}`,
      fault: { kind: 'substitute', path: `/v2/demo/app/blobs/${other.layer.digest}` },
    });
    expect(await codeOf(client().getBlob(repo(), image.layer.digest, 4096))).toBe(
      'REGISTRY_RESPONSE_INVALID',
    );
  });

  it('rejects a manifest whose body is not JSON', async () => {
    proxy.inject({ path: '/manifests/v1', fault: { kind: 'oversize', bytes: 10, announce: true } });
    expect(await codeOf(client().getManifest(repo(), 'v1'))).toBe('REGISTRY_RESPONSE_INVALID');
  });

  it('keeps metrics hooks from breaking requests', async () => {
    const manifest = await client({
      onRequest: () => {
        throw new Error('metrics backend down');
      },
    }).getManifest(repo(), 'v1');
    expect(manifest?.digest).toBe(image.digest);
  });
});

describe('redirects', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let image: Pushed & { layer: Pushed };
  let client: HttpRegistry;

  beforeAll(async () => {
    registry = await startRegistry({ auth: 'htpasswd' });
    proxy = await startFaultProxy(registry);
    image = await pushImage(targetOf(registry), 'team/app', 'v1');
    const config = parseDockerConfig(
      JSON.stringify({
        auths: { [proxy.host]: { username: registry.username, password: registry.password } },
      }),
    );
    client = new HttpRegistry({
      insecureRegistries: [proxy.host],
      credentials: config,
      limits: { retryBaseDelayMs: 1 },
    });
  });
  afterEach(() => proxy.reset());
  afterAll(async () => {
    await client?.close();
    await proxy?.stop();
    await registry?.stop();
  });

  const repo = () => parseRepository(`${proxy.host}/team/app`);

  it('follows a blob redirect to another origin without sending Authorization there', async () => {
    proxy.inject({ method: 'GET', path: '/blobs/', fault: { kind: 'redirect' } });
    const blob = await client.getBlob(repo(), image.layer.digest, 4096);
    expect(Buffer.from(blob).equals(image.layer.bytes)).toBe(true);
    const blobRequests = proxy.requests.filter((r) => r.path.includes('/blobs/'));
    expect(blobRequests.length).toBe(1);
    expect(blobRequests[0]?.authorization).toMatch(/^Basic /);
    expect(proxy.redirectTarget.requests).toHaveLength(1);
    expect(proxy.redirectTarget.requests[0]?.authorization).toBeUndefined();
  });

  it('gives up on a redirect loop with REGISTRY_RESPONSE_INVALID', async () => {
    // Every answer from the proxy, the redirect origin's upstream fetches included, is a redirect.
    proxy.inject({ path: '/blobs/', fault: { kind: 'redirect' } });
    const looping = new HttpRegistry({
      insecureRegistries: [proxy.host],
      credentials: parseDockerConfig(
        JSON.stringify({
          auths: { [proxy.host]: { username: registry.username, password: registry.password } },
        }),
      ),
      limits: { maxRedirects: 0 },
    });
    try {
      expect(await codeOf(looping.getBlob(repo(), image.layer.digest, 4096))).toBe(
        'REGISTRY_RESPONSE_INVALID',
      );
    } finally {
      await looping.close();
    }
  });
});
