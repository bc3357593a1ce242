/**
 * Hostile-registry behaviours from the #15 probe, in front of real registries (distribution with its token
 * service, and without auth): manifests of deep or value-heavy JSON, a token service that hangs or fails
 * (no request may outlive the caller's deadline), and a registry that changes or drops its auth challenge
 * (the client must re-learn it without a restart).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { credentialStoreFrom, type Credentials } from '../../../src/oci/auth.js';
import { HttpRegistry, type HttpRegistryOptions } from '../../../src/oci/http-registry.js';
import { parseRepository } from '../../../src/oci/reference.js';
import { ProvenantError } from '../../../src/errors.js';
import { startFaultProxy, TOKEN_PATH, type FaultProxy } from '../../support/fault-proxy.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { pushImage, targetOf, type Pushed } from './helpers.js';
import { codeOf } from '../../support/error-code.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Nothing listens here: a token service that refuses every connection. */
const DEAD_REALM = 'Bearer realm="http://127.0.0.1:9/token",service="gone"';

async function failure(promise: Promise<unknown>): Promise<ProvenantError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ProvenantError) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

describe('a registry with a token service, behind a fault proxy that fronts both', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let image: Pushed;
  const clients: HttpRegistry[] = [];

  beforeAll(async () => {
    registry = await startRegistry({ auth: 'token' });
    proxy = await startFaultProxy(registry, { frontTokenService: true });
    image = await pushImage(targetOf(registry), 'team/app', 'v1');
  });
  afterEach(() => proxy.reset());
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await proxy?.stop();
    await registry?.stop();
  });

  function client(options: Omit<HttpRegistryOptions, 'insecureRegistries' | 'credentials'> = {}) {
    const credentials: Credentials = {
      kind: 'basic',
      username: registry.username ?? '',
      password: registry.password ?? '',
    };
    const created = new HttpRegistry({
      insecureRegistries: [proxy.host],
      credentials: credentialStoreFrom([[proxy.host, credentials]]),
      ...options,
    });
    clients.push(created);
    return created;
  }
  const repo = () => parseRepository(`${proxy.host}/team/app`);
  const tokenRequests = () => proxy.requests.filter((r) => r.path.startsWith(TOKEN_PATH));

  it('gets its token through the proxy (the fronting works)', async () => {
    expect((await client().getManifest(repo(), 'v1'))?.digest).toBe(image.digest);
    expect(tokenRequests()).toHaveLength(1);
  });

  it('stops a hanging token request at the deadline and sends nothing after the answer', async () => {
    proxy.inject({ path: TOKEN_PATH, fault: { kind: 'hang' } });
    // Short per-request timeouts and many retries: without the deadline, retries would go on for seconds.
    const registryClient = client({ limits: { requestTimeoutMs: 150, retries: 8, retryBaseDelayMs: 20 } });
    const code = await codeOf(registryClient.getManifest(repo(), 'v1', { signal: AbortSignal.timeout(400) }));
    expect(code).toBe('TIMEOUT');
    const atAnswer = tokenRequests().length;
    expect(atAnswer).toBeGreaterThanOrEqual(1);
    await sleep(1_500);
    expect(tokenRequests()).toHaveLength(atAnswer);
    // Every hung token request was given up by the client: none is left open.
    expect(proxy.abandoned.filter((r) => r.path.startsWith(TOKEN_PATH))).toHaveLength(atAnswer);
  });

  it('stops retrying a failing token service at the deadline', async () => {
    proxy.inject({ path: TOKEN_PATH, fault: { kind: 'status', status: 503 } });
    const registryClient = client({ limits: { retries: 50, retryBaseDelayMs: 40 } });
    const code = await codeOf(registryClient.getManifest(repo(), 'v1', { signal: AbortSignal.timeout(400) }));
    expect(code).toBe('TIMEOUT');
    const atAnswer = tokenRequests().length;
    await sleep(1_500);
    expect(tokenRequests()).toHaveLength(atAnswer);
  });

  it('re-learns a changed challenge: after a token service failed, the next request works', async () => {
    // The registry first names a token service that is gone (as after a migration)...
    proxy.inject({ path: /^\/v2\/$/, fault: { kind: 'challenge', header: DEAD_REALM } });
    proxy.inject({ path: '/manifests/', fault: { kind: 'challenge', header: DEAD_REALM } });
    const registryClient = client({ limits: { retries: 0 } });
    const first = await failure(registryClient.getManifest(repo(), 'v1'));
    expect(first.code).toBe('REGISTRY_UNAVAILABLE');
    expect(first.message).toContain('127.0.0.1:9');
    // ...then its real one again: the same client, without a restart, follows.
    proxy.reset();
    expect((await registryClient.getManifest(repo(), 'v1'))?.digest).toBe(image.digest);
    expect(tokenRequests()).toHaveLength(1);
  });

  it('refuses a manifest of deeply nested JSON with REGISTRY_RESPONSE_INVALID naming the bound', async () => {
    proxy.inject({ path: '/manifests/v1', fault: { kind: 'hostile-json', shape: 'deep', bytes: 4_000_000 } });
    const error = await failure(client().getManifest(repo(), 'v1'));
    expect(error.code).toBe('REGISTRY_RESPONSE_INVALID');
    expect(error.message).toContain('JSON nests deeper than 64 levels');
  });

  it('refuses a manifest of a million empty objects', async () => {
    proxy.inject({ path: '/manifests/v1', fault: { kind: 'hostile-json', shape: 'wide', bytes: 3_000_000 } });
    const error = await failure(client().getManifest(repo(), 'v1'));
    expect(error.code).toBe('REGISTRY_RESPONSE_INVALID');
    expect(error.message).toContain('JSON has more than 250000 values');
  });
});

describe('a registry without auth that once asked for a token', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let image: Pushed;

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry);
    image = await pushImage(targetOf(registry), 'open/app', 'v1');
  });
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
  });

  it('works again once it drops auth, with the same client', async () => {
    const client = new HttpRegistry({ insecureRegistries: [proxy.host], limits: { retries: 0 } });
    try {
      const repo = parseRepository(`${proxy.host}/open/app`);
      proxy.inject({ path: '/manifests/', times: 1, fault: { kind: 'challenge', header: DEAD_REALM } });
      expect(await codeOf(client.getManifest(repo, 'v1'))).toBe('REGISTRY_UNAVAILABLE');
      expect((await client.getManifest(repo, 'v1'))?.digest).toBe(image.digest);
      // And stays working: the scheme learned now is "none", no token service is asked again.
      expect((await client.getManifest(repo, 'v1'))?.digest).toBe(image.digest);
    } finally {
      await client.close();
    }
  });
});
