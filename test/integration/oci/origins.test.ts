/**
 * Whoever creates a Pod picks its image's registry host and port, so under a registry-wide policy glob they
 * pick which origins the client's undici Agent keeps a connection pool for. One real registry listening on
 * every loopback address stands in for many: 127.0.0.2:PORT, 127.0.0.3:PORT… are distinct origins.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  HttpRegistry,
  MAX_KEEP_ALIVE_MS,
  MAX_REGISTRY_ORIGINS,
  type RegistryRequestEvent,
} from '../../../src/oci/http-registry.js';
import { parseRepository } from '../../../src/oci/reference.js';
import { freePort, startRegistry, type TestRegistry } from '../../support/registry.js';
import { codeOf } from '../../support/error-code.js';
import { startFaultProxy } from '../../support/fault-proxy.js';
import { pushImage, type Pushed } from './helpers.js';

/** `count` distinct loopback origins on `port`, from 127.0.0.2 on (127.0.0.1 is left to the other suites). */
function loopbackOrigins(count: number, port: number): string[] {
  return Array.from({ length: count }, (_, i) => `127.0.${Math.floor(i / 250)}.${2 + (i % 250)}:${port}`);
}

/** Well above undici's 4 s keep-alive default, so only a pool that is never dropped fails the wait. */
const IDLE_EXPIRY_WAIT_MS = 15_000;

describe('connection pools per registry origin', () => {
  let registry: TestRegistry;
  let port: number;
  let image: Pushed;

  beforeAll(async () => {
    registry = await startRegistry({ address: '0.0.0.0' });
    port = Number(registry.host.split(':')[1]);
    image = await pushImage({ host: `127.0.0.1:${port}`, registry }, 'demo/origins', 'v1');
  });
  afterAll(async () => {
    await registry?.stop();
  });

  function fetchFrom(client: HttpRegistry, host: string): Promise<string | undefined> {
    return client.getManifest(parseRepository(`${host}/demo/origins`), 'v1').then((m) => m?.digest);
  }

  it("drops each origin's pool once its connection has idled out", async () => {
    const hosts = loopbackOrigins(40, port);
    const client = new HttpRegistry({ insecureRegistries: hosts });
    try {
      const digests = await Promise.all(hosts.map((host) => fetchFrom(client, host)));
      expect(new Set(digests)).toEqual(new Set([image.digest]));
      expect(client.openOrigins()).toBe(hosts.length);
      // distribution sends no Keep-Alive hint, so each idle connection closes after undici's 4 s default,
      // and with its last connection the Agent drops the origin.
      await vi.waitFor(() => expect(client.openOrigins()).toBe(0), {
        timeout: IDLE_EXPIRY_WAIT_MS,
        interval: 100,
      });
    } finally {
      await client.close();
    }
  });

  it('keeps no pool for origins that refused the connection or that the address guard refused', async () => {
    const closed = loopbackOrigins(20, await freePort());
    const metadata = Array.from({ length: 20 }, (_, i) => `169.254.0.${2 + i}:80`);
    const client = new HttpRegistry({
      insecureRegistries: [...closed, ...metadata],
      limits: { retries: 1, retryBaseDelayMs: 10 },
    });
    try {
      const codes = await Promise.all(
        [...closed, ...metadata].map((host) => codeOf(fetchFrom(client, host))),
      );
      expect(new Set(codes.slice(0, closed.length))).toEqual(new Set(['REGISTRY_UNAVAILABLE']));
      expect(new Set(codes.slice(closed.length))).toEqual(new Set(['REGISTRY_ADDRESS_REFUSED']));
      // Both fail in the connector, whose 'connectionError' drops the pool before the request settles.
      expect(client.openOrigins()).toBe(0);
    } finally {
      await client.close();
    }
  });

  it(`holds at most ${MAX_REGISTRY_ORIGINS} origins at once and refuses more, failing closed, until idle ones close`, async () => {
    const hosts = loopbackOrigins(MAX_REGISTRY_ORIGINS + 44, port);
    const events: RegistryRequestEvent[] = [];
    const client = new HttpRegistry({ insecureRegistries: hosts, onRequest: (e) => events.push(e) });
    try {
      const codes = await Promise.all(hosts.map((host) => codeOf(fetchFrom(client, host))));
      expect(codes.filter((code) => code === 'resolved')).toHaveLength(MAX_REGISTRY_ORIGINS);
      expect(codes.filter((code) => code === 'REGISTRY_UNAVAILABLE')).toHaveLength(44);
      // One attempt each: retrying within the backoff could not free a slot.
      expect(events.filter((e) => e.status === 'error')).toHaveLength(44);
      expect(client.openOrigins()).toBe(MAX_REGISTRY_ORIGINS);
      await vi.waitFor(() => expect(client.openOrigins()).toBe(0), {
        timeout: IDLE_EXPIRY_WAIT_MS,
        interval: 100,
      });
      const refused = hosts[codes.indexOf('REGISTRY_UNAVAILABLE')] ?? '';
      expect(await fetchFrom(client, refused)).toBe(image.digest);
    } finally {
      await client.close();
    }
  });

  it(`keeps an idle origin open no longer than ${MAX_KEEP_ALIVE_MS} ms, whatever the registry's Keep-Alive hint`, async () => {
    // A registry announcing (and keeping) 600 s idle connections; undici alone would keep them ~598 s.
    const proxy = await startFaultProxy(
      { ...registry, host: `127.0.0.1:${port}` },
      { keepAliveSeconds: 600 },
    );
    const client = new HttpRegistry({ insecureRegistries: [proxy.host] });
    try {
      expect(await fetchFrom(client, proxy.host)).toBe(image.digest);
      expect(client.openOrigins()).toBe(1);
      await vi.waitFor(() => expect(client.openOrigins()).toBe(0), {
        timeout: MAX_KEEP_ALIVE_MS + IDLE_EXPIRY_WAIT_MS,
        interval: 100,
      });
    } finally {
      await client.close();
      await proxy.stop();
    }
  });

  describe('an origin that accepts TCP but never completes the TLS handshake', () => {
    let silent: Server;
    const accepted = new Set<Socket>();
    beforeAll(async () => {
      silent = createServer((socket) => {
        accepted.add(socket);
        socket.on('error', () => undefined);
      });
      await new Promise<void>((resolve) => silent.listen(0, '0.0.0.0', resolve));
    });
    afterAll(async () => {
      for (const socket of accepted) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });

    it('keeps its pool no longer than the connect timeout after the request gave up', async () => {
      const hosts = loopbackOrigins(10, (silent.address() as AddressInfo).port);
      const client = new HttpRegistry({ limits: { retries: 0, requestTimeoutMs: 300 } });
      try {
        const codes = await Promise.all(hosts.map((host) => codeOf(fetchFrom(client, host))));
        expect(new Set(codes)).toEqual(new Set(['TIMEOUT']));
        // The abandoned handshake runs on to undici's 10 s connect timeout, whose 'connectionError' drops
        // the pool. Were it cancelled instead (see guardedConnector), the Agent would keep the pool forever.
        await vi.waitFor(() => expect(client.openOrigins()).toBe(0), {
          timeout: 10_000 + IDLE_EXPIRY_WAIT_MS,
          interval: 100,
        });
      } finally {
        await client.close();
      }
    });
  });
});
