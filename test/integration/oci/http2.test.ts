/**
 * A hostile registry that speaks HTTP/2. Over TLS the client offers h2 beside HTTP/1.1 and the server picks
 * (distribution, ghcr.io and Docker Hub pick h2), so whoever runs a registry a Pod names chooses the protocol
 * our requests travel on. The fault proxy speaks HTTP/1.1 only; here Node's own HTTP/2 server, refusing
 * HTTP/1.1, misbehaves the same ways, and every bound must hold on this path too: the deadline, the body
 * limit, a refused header block, a server that allows no streams.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import {
  createSecureServer,
  type Http2SecureServer,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateServingCertificate } from '../../../src/admission/tls.js';
import { HttpRegistry, type HttpRegistryLimits } from '../../../src/oci/http-registry.js';
import { parseRepository } from '../../../src/oci/reference.js';
import { codeOf } from '../../support/error-code.js';

type Behaviour = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;

const MANIFEST = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: `sha256:${'1'.repeat(64)}`,
      size: 2,
    },
    layers: [],
  }),
);
const MANIFEST_DIGEST = `sha256:${createHash('sha256').update(MANIFEST).digest('hex')}`;
const MANIFEST_HEADERS = { 'content-type': 'application/vnd.oci.image.manifest.v1+json' };
const LIMITS: Partial<HttpRegistryLimits> = {
  maxManifestBytes: 64 * 1024,
  requestTimeoutMs: 300,
  retries: 1,
  retryBaseDelayMs: 10,
};

describe('a registry speaking HTTP/2 only', () => {
  let dir: string;
  let server: Http2SecureServer;
  let ca: string;
  let host: string;
  let behaviour: Behaviour;
  /** Manifest requests the server received, and the body bytes it managed to write to them. */
  let manifestStreams = 0;
  let bytesWritten = 0;
  const timers = new Set<NodeJS.Timeout>();
  const clients: HttpRegistry[] = [];

  async function listen(settings: { maxConcurrentStreams?: number } = {}): Promise<void> {
    const material = await generateServingCertificate({ dir });
    ca = await readFile(material.caFile, 'utf8');
    server = createSecureServer({
      cert: await readFile(material.certFile),
      key: await readFile(material.keyFile),
      allowHTTP1: false,
      settings,
    });
    server.on('stream', (stream, headers) => {
      stream.on('error', () => undefined);
      if (headers[':path'] === '/v2/') {
        stream.respond({ ':status': 200 });
        stream.end('{}');
        return;
      }
      manifestStreams++;
      behaviour(stream, headers);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provenant-h2-'));
    await listen();
  });
  afterEach(async () => {
    for (const timer of timers) clearInterval(timer);
    timers.clear();
    manifestStreams = 0;
    bytesWritten = 0;
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  function client(): HttpRegistry {
    const created = new HttpRegistry({
      caCertificates: [ca],
      allowedRegistryAddresses: [],
      limits: LIMITS,
    });
    clients.push(created);
    return created;
  }
  const fetchManifest = (signal?: AbortSignal) =>
    client().getManifest(parseRepository(`${host}/team/app`), MANIFEST_DIGEST, signal ? { signal } : {});

  it('is read over HTTP/2 at all: an honest answer is the manifest (the server refuses HTTP/1.1)', async () => {
    behaviour = (stream) => {
      stream.respond({ ':status': 200, ...MANIFEST_HEADERS, 'docker-content-digest': MANIFEST_DIGEST });
      stream.end(MANIFEST);
    };
    expect((await fetchManifest())?.digest).toBe(MANIFEST_DIGEST);
  });

  it('gives up on a body that trickles in forever, at the request timeout, a bounded number of times', async () => {
    behaviour = (stream) => {
      stream.respond({ ':status': 200, ...MANIFEST_HEADERS });
      const timer = setInterval(() => {
        if (stream.destroyed) clearInterval(timer);
        else stream.write(' ');
      }, 20);
      timers.add(timer);
    };
    expect(await codeOf(fetchManifest())).toBe('TIMEOUT');
    expect(manifestStreams).toBe(1 + (LIMITS.retries ?? 0));
  });

  it('stops reading a body past the manifest limit, without the server getting far beyond it', async () => {
    behaviour = (stream) => {
      stream.respond({ ':status': 200, ...MANIFEST_HEADERS });
      const chunk = Buffer.alloc(16 * 1024, 0x20);
      const pump = (): void => {
        while (!stream.destroyed && stream.write(chunk)) bytesWritten += chunk.length;
        if (!stream.destroyed) stream.once('drain', pump);
      };
      pump();
    };
    expect(await codeOf(fetchManifest())).toBe('REGISTRY_RESPONSE_INVALID');
    // Flow control lets the server run ahead of what is read by the stream's window only: a client that kept
    // reading to the end would have taken megabytes by now (the server writes as fast as it is allowed).
    expect(bytesWritten).toBeLessThan(2 * 1024 * 1024);
  });

  it('turns away a header block larger than HTTP/2 allows it, as an unavailable registry', async () => {
    behaviour = (stream) => {
      const headers: Record<string, string> = { ':status': '200' };
      for (let i = 0; i < 100; i++) headers[`x-padding-${i}`] = 'v'.repeat(8000);
      try {
        stream.respond(headers);
        stream.end(MANIFEST);
      } catch {
        stream.close();
      }
    };
    expect(await codeOf(fetchManifest())).toBe('REGISTRY_UNAVAILABLE');
  });

  it("ends at the caller's deadline when the registry never answers a stream", async () => {
    behaviour = () => undefined;
    expect(await codeOf(fetchManifest(AbortSignal.timeout(2_000)))).toBe('TIMEOUT');
  });
});

describe('a registry speaking HTTP/2 that allows no streams at all', () => {
  it("ends at the caller's deadline, and lets go of what the aborted requests held soon after", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'provenant-h2-'));
    const material = await generateServingCertificate({ dir });
    const server = createSecureServer({
      cert: await readFile(material.certFile),
      key: await readFile(material.keyFile),
      allowHTTP1: false,
      settings: { maxConcurrentStreams: 0 },
    });
    let streams = 0;
    const sessions = new Set<ServerHttp2Session>();
    server.on('session', (session) => {
      sessions.add(session);
      session.on('close', () => sessions.delete(session));
    });
    server.on('stream', (stream) => {
      streams++;
      stream.close();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const registry = new HttpRegistry({
      caCertificates: [await readFile(material.caFile, 'utf8')],
      limits: LIMITS,
    });
    try {
      const repo = parseRepository(`127.0.0.1:${(server.address() as AddressInfo).port}/team/app`);
      const codes = await Promise.all(
        Array.from({ length: 8 }, () =>
          codeOf(registry.getManifest(repo, MANIFEST_DIGEST, { signal: AbortSignal.timeout(1_000) })),
        ),
      );
      expect(codes).toEqual(Array(8).fill('TIMEOUT'));
      expect(streams).toBe(0);
      // Every request found the sessions it had "busy" and opened another: that is what they hold.
      expect(sessions.size).toBeGreaterThan(0);
      // Aborted, they stayed queued on their sessions, each holding a TLS connection, until undici's own
      // headers timeout (300 s by default); closing the client waited for them as long. Now they are
      // failed shortly after the per-request timeout, and the connections with them.
      const closed = await Promise.race([
        registry.close().then(() => 'closed'),
        sleep(10_000).then(() => 'still waiting for aborted requests'),
      ]);
      expect(closed).toBe('closed');
      await until(() => sessions.size === 0);
    } finally {
      // Closed above when the test passes; a second close then refuses, which is not this test's concern.
      await registry.close().catch(() => undefined);
      for (const session of sessions) session.destroy();
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    }
  });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) await sleep(50);
  expect(condition()).toBe(true);
}
