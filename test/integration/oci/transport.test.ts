import { MockAgent } from 'undici';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HttpRegistry, type RegistryRequestEvent } from '../../../src/oci/http-registry.js';
import { MANIFEST_MEDIA_TYPES } from '../../../src/oci/media-types.js';
import { parseRepository } from '../../../src/oci/reference.js';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { pushImage, targetOf, type Pushed } from './helpers.js';
import { codeOf } from '../../support/error-code.js';

const fast = { retries: 1, retryBaseDelayMs: 10 };

describe('TLS with a private CA', () => {
  let registry: TestRegistry;
  let image: Pushed;

  beforeAll(async () => {
    registry = await startRegistry({ tls: true });
    image = await pushImage(targetOf(registry), 'demo/tls', 'v1');
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('verifies the registry certificate against the configured CA', async () => {
    const client = new HttpRegistry({ caCertificates: [registry.caPem ?? ''] });
    try {
      const manifest = await client.getManifest(parseRepository(`${registry.host}/demo/tls`), 'v1');
      expect(manifest?.digest).toBe(image.digest);
    } finally {
      await client.close();
    }
  });

  it('builds the TLS context with the private CA once, not for each connection', async () => {
    // A second TLS registry (its own CA): a second origin, hence a second connection.
    const other = await startRegistry({ tls: true });
    const otherImage = await pushImage(targetOf(other), 'demo/tls', 'v1');
    const tls = createRequire(import.meta.url)('node:tls') as typeof import('node:tls');
    const contexts = vi.spyOn(tls, 'createSecureContext');
    try {
      const client = new HttpRegistry({ caCertificates: [registry.caPem ?? '', other.caPem ?? ''] });
      const before = contexts.mock.calls.length;
      try {
        const [mine, theirs] = await Promise.all([
          client.getManifest(parseRepository(`${registry.host}/demo/tls`), 'v1'),
          client.getManifest(parseRepository(`${other.host}/demo/tls`), 'v1'),
        ]);
        expect([mine?.digest, theirs?.digest]).toEqual([image.digest, otherImage.digest]);
        // tls.connect builds a context for each connection unless it is handed one (the spy sees those).
        expect(contexts.mock.calls.length).toBe(before);
      } finally {
        await client.close();
      }
    } finally {
      contexts.mockRestore();
      await other.stop();
    }
  });

  it('fails with REGISTRY_UNAVAILABLE, without retrying, when the CA is not trusted', async () => {
    const events: RegistryRequestEvent[] = [];
    const client = new HttpRegistry({ limits: fast, onRequest: (e) => events.push(e) });
    try {
      expect(await codeOf(client.getManifest(parseRepository(`${registry.host}/demo/tls`), 'v1'))).toBe(
        'REGISTRY_UNAVAILABLE',
      );
      expect(events.map((e) => e.status)).toEqual(['error']);
    } finally {
      await client.close();
    }
  });
});

describe('plain HTTP', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let image: Pushed;

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry);
    image = await pushImage(targetOf(registry), 'demo/plain', 'v1');
  });
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
  });

  it('is used for registries listed as insecure', async () => {
    const client = new HttpRegistry({ insecureRegistries: [proxy.host] });
    try {
      const manifest = await client.getManifest(parseRepository(`${proxy.host}/demo/plain`), 'v1');
      expect(manifest?.digest).toBe(image.digest);
      expect(proxy.requests.length).toBeGreaterThan(0);
    } finally {
      await client.close();
    }
  });

  it('is never used for other registries: HTTPS is attempted and fails', async () => {
    proxy.reset();
    const client = new HttpRegistry({ insecureRegistries: ['127.0.0.1:1'], limits: fast });
    try {
      expect(await codeOf(client.getManifest(parseRepository(`${proxy.host}/demo/plain`), 'v1'))).toBe(
        'REGISTRY_UNAVAILABLE',
      );
      // The proxy only understands plain HTTP: a TLS handshake never becomes a request there.
      expect(proxy.requests).toEqual([]);
    } finally {
      await client.close();
    }
  });
});

describe('a registry that is down', () => {
  let host: string;

  beforeAll(async () => {
    const registry = await startRegistry();
    host = registry.host;
    await registry.stop();
  });

  it('fails with REGISTRY_UNAVAILABLE after retrying', async () => {
    const events: RegistryRequestEvent[] = [];
    const client = new HttpRegistry({
      insecureRegistries: [host],
      limits: { retries: 2, retryBaseDelayMs: 10 },
      onRequest: (e) => events.push(e),
    });
    try {
      expect(await codeOf(client.getManifest(parseRepository(`${host}/demo/app`), 'v1'))).toBe(
        'REGISTRY_UNAVAILABLE',
      );
      expect(events.map((e) => e.status)).toEqual(['error', 'error', 'error']);
    } finally {
      await client.close();
    }
  });

  it('stops waiting between retries when the caller gives up, with TIMEOUT', async () => {
    const client = new HttpRegistry({
      insecureRegistries: [host],
      limits: { retries: 3, retryBaseDelayMs: 5_000 },
    });
    const started = performance.now();
    try {
      const result = codeOf(
        client.getManifest(parseRepository(`${host}/demo/app`), 'v1', { signal: AbortSignal.timeout(300) }),
      );
      expect(await result).toBe('TIMEOUT');
      expect(performance.now() - started).toBeLessThan(2_000);
    } finally {
      await client.close();
    }
  });
});

describe('an injected dispatcher', () => {
  // No answers are scripted: the agent only records where requests go, and refuses them.
  it('carries the requests; Docker Hub names go to registry-1.docker.io over HTTPS', async () => {
    const agent = new MockAgent({ enableCallHistory: true });
    agent.disableNetConnect();
    const client = new HttpRegistry({ dispatcher: agent, limits: { retries: 0 } });
    try {
      expect(await codeOf(client.getManifest(parseRepository('nginx'), 'latest'))).toBe(
        'REGISTRY_UNAVAILABLE',
      );
      const call = agent.getCallHistory()?.firstCall();
      expect(call?.origin).toBe('https://registry-1.docker.io');
      expect(call?.path).toBe('/v2/library/nginx/manifests/latest');
      expect(String((call?.headers as Record<string, string> | undefined)?.['accept'])).toBe(
        MANIFEST_MEDIA_TYPES.join(', '),
      );
    } finally {
      await client.close();
      await agent.close();
    }
  });
});
