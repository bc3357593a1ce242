/**
 * How the webhook reads bodies over real HTTPS on loopback: room in the body budget is reserved by the
 * declared length before a byte is read, so bodies still arriving are bounded like bodies being decided; a
 * large body must declare its length; a body must arrive within the admission's deadline; and connections
 * beyond --max-connections are closed at once and counted.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BodyBudget } from '../../../src/admission/body-budget.js';
import { UNBUDGETED_BODY_BYTES } from '../../../src/admission/handle.js';
import { createRequestHandler, startServer, type RunningServer } from '../../../src/admission/server.js';
import { createLogger } from '../../../src/observability/logger.js';
import { createMetrics, type ProvenantMetrics } from '../../../src/observability/metrics.js';
import { fakeVerifier } from './fake-verifier.js';
import { fixtureBytes } from './fixtures.js';

const MiB = 1024 * 1024;
// Room for one 2 MiB body at a time.
const budget = new BodyBudget(3 * MiB);
const MAX_CONNECTIONS = 6;
const TIMEOUT_MS = 800;

let dir: string;
let server: RunningServer;
let ca: string;
let metrics: ProvenantMetrics;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'provenant-bodies-'));
  metrics = createMetrics();
  server = await startServer({
    deps: {
      verifier: fakeVerifier(),
      timeoutMs: TIMEOUT_MS,
      excludedNamespaces: [],
      isReady: () => true,
      metrics,
      logger: createLogger({ level: 'silent' }),
      bodyBudget: budget,
    },
    port: 0,
    host: '127.0.0.1',
    tls: { kind: 'generate', dir: join(dir, 'tls') },
    maxConnections: MAX_CONNECTIONS,
  });
  ca = await readFile(server.caFile ?? '', 'utf8');
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A raw TLS connection, so a test decides when each byte of a request is sent. */
interface Connection {
  readonly socket: TLSSocket;
  /** Everything the server sent until it closed the connection or `response` was complete. */
  readonly response: Promise<{ status: number; headers: string; body: string }>;
  /** Resolves when the server closed the connection. */
  readonly closed: Promise<void>;
}

function open(): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: server.port, ca, servername: 'localhost' });
    let text = '';
    let settle: (value: { status: number; headers: string; body: string }) => void = () => undefined;
    const response = new Promise<{ status: number; headers: string; body: string }>((r) => (settle = r));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) return;
      const headers = text.slice(0, end);
      const length = Number(/content-length: (\d+)/i.exec(headers)?.[1] ?? NaN);
      const body = text.slice(end + 4);
      if (Buffer.byteLength(body) >= length) {
        settle({ status: Number(headers.split(' ')[1]), headers, body });
      }
    });
    socket.on('error', () => undefined);
    socket.once('secureConnect', () => resolve({ socket, response, closed }));
    socket.once('error', reject);
  });
}

function head(headers: Record<string, string>): string {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  return `POST /validate HTTP/1.1\r\nHost: localhost\r\n${lines.join('')}\r\n`;
}

async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200 && !(await condition()); i++) await new Promise((r) => setTimeout(r, 10));
  expect(await condition()).toBe(true);
}

function openConnections(): Promise<number> {
  return new Promise((resolve, reject) =>
    server.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
  );
}

describe('reading request bodies', () => {
  it('reserves a large body by its declared length before reading it, and turns the next away unread', async () => {
    const size = 2 * MiB;
    const slow = await open();
    slow.socket.write(head({ 'Content-Length': String(size), 'Content-Type': 'application/json' }));
    slow.socket.write('{"kind":');
    // The room is held from the headers on, though only 8 bytes have arrived.
    await until(() => budget.inUse === size);

    const second = await open();
    second.socket.write(head({ 'Content-Length': String(size) }));
    second.socket.write(Buffer.alloc(size, 0x20));
    const refused = await second.response;
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body)).toMatchObject({
      response: { allowed: false, status: { code: 429, details: { causes: [{ reason: 'OVERLOADED' }] } } },
    });

    // An ordinary Pod is decided at once meanwhile.
    const ordinary = await open();
    const pod = fixtureBytes('rendered/pod-create.json');
    ordinary.socket.write(head({ 'Content-Length': String(pod.byteLength) }));
    ordinary.socket.write(pod);
    const decided = await ordinary.response;
    expect(decided.status).toBe(200);
    expect(JSON.parse(decided.body)).toMatchObject({ response: { allowed: true } });

    // The slow body, once complete, is decided and gives its room back.
    slow.socket.write(Buffer.alloc(size - 8, 0x20));
    const answered = await slow.response;
    expect(answered.status).toBe(400);
    expect(answered.body).toContain('not valid JSON');
    expect(budget.inUse).toBe(0);
    for (const c of [slow, second, ordinary]) c.socket.destroy();
  });

  it('refuses a chunked body larger than the unbudgeted size with 411, and decides a small chunked one', async () => {
    const chunked = await open();
    chunked.socket.write(head({ 'Transfer-Encoding': 'chunked' }));
    const piece = Buffer.alloc(16 * 1024, 0x20);
    for (let sent = 0; sent <= UNBUDGETED_BODY_BYTES; sent += piece.byteLength) {
      chunked.socket.write(`${piece.byteLength.toString(16)}\r\n`);
      chunked.socket.write(piece);
      chunked.socket.write('\r\n');
    }
    chunked.socket.write('0\r\n\r\n');
    const refused = await chunked.response;
    expect(refused.status).toBe(411);
    expect(refused.body).toContain(
      `a request body over ${UNBUDGETED_BODY_BYTES} bytes must declare its Content-Length`,
    );

    const small = await open();
    const pod = fixtureBytes('rendered/pod-create.json');
    small.socket.write(head({ 'Transfer-Encoding': 'chunked' }));
    small.socket.write(`${pod.byteLength.toString(16)}\r\n`);
    small.socket.write(pod);
    small.socket.write('\r\n0\r\n\r\n');
    expect((await small.response).status).toBe(200);
    expect(budget.inUse).toBe(0);
    for (const c of [chunked, small]) c.socket.destroy();
  });

  it('answers 408 and closes the connection when a body does not arrive within the admission deadline', async () => {
    const stalled = await open();
    stalled.socket.write(head({ 'Content-Length': String(MiB) }));
    stalled.socket.write('{"kind":');
    await until(() => budget.inUse === MiB);
    const answer = await stalled.response;
    expect(answer.status).toBe(408);
    expect(answer.headers).toMatch(/connection: close/i);
    expect(answer.body).toContain(`request body not received within ${TIMEOUT_MS}ms`);
    await stalled.closed;
    expect(budget.inUse).toBe(0);
  });

  it(`closes connections beyond ${MAX_CONNECTIONS} at once and counts them`, async () => {
    const held = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, () => open()));
    // Node counts a connection once the server has accepted it; give it the turn to do so.
    await until(async () => (await openConnections()) === MAX_CONNECTIONS);
    const refused = await open().then(
      () => 'connected',
      (err: Error) => err.message,
    );
    expect(refused).not.toBe('connected');
    for (const c of held) c.socket.destroy();
    await until(async () => (await openConnections()) === 0);
    expect(await metrics.render()).toMatch(/^provenant_dropped_connections_total 1$/m);
    const again = await open();
    const pod = fixtureBytes('rendered/pod-create.json');
    again.socket.write(head({ 'Content-Length': String(pod.byteLength) }));
    again.socket.write(pod);
    expect((await again.response).status).toBe(200);
    again.socket.destroy();
  });

  it('holds a chunked body to a size limit below the unbudgeted size (413)', async () => {
    const small = createServer(
      createRequestHandler({
        verifier: fakeVerifier(),
        timeoutMs: TIMEOUT_MS,
        excludedNamespaces: [],
        isReady: () => true,
        metrics: createMetrics(),
        logger: createLogger({ level: 'silent' }),
        maxBodyBytes: 1024,
      }),
    );
    await new Promise<void>((resolve) => small.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = small.address() as AddressInfo;
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/validate' }, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        // Two writes without a Content-Length: Node sends them chunked.
        req.write(Buffer.alloc(1000, 0x20));
        req.end(Buffer.alloc(1000, 0x20));
      });
      expect(answer.status).toBe(413);
      expect(answer.body).toContain('request body exceeds the 1024-byte limit');
    } finally {
      await new Promise((resolve) => small.close(resolve));
    }
  });
});
