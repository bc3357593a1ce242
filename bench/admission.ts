/**
 * Load bench for the webhook: `buildApp` served over HTTPS on loopback (as the API server calls it), driven by
 * autocannon with a real AdmissionReview. The verifier is injectable: the fake one measures the edge alone
 * (decode, decide, encode, TLS); the real one, passed by `bench/run.ts`, measures the whole path.
 *
 *   npx tsx bench/admission.ts [--duration 10] [--connections 20] [--path /validate] [--fixture file.json]
 */
import { createRequire } from 'node:module';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { startServer } from '../src/admission/server.js';
import { generateServingCertificate } from '../src/admission/tls.js';
import { createLogger, type Logger } from '../src/observability/logger.js';
import { createMetrics } from '../src/observability/metrics.js';
import type { ImageVerifier } from '../src/verdict.js';
import { fakeVerifier } from '../test/integration/admission/fake-verifier.js';

/** The part of autocannon's API used here (it ships no types). */
interface AutocannonResult {
  readonly requests: { readonly average: number; readonly total: number };
  readonly latency: {
    readonly p50: number;
    readonly p99: number;
    readonly average: number;
    readonly max: number;
  };
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
}
type Autocannon = (options: {
  url: string;
  method: 'POST';
  headers: Record<string, string>;
  body: string;
  connections: number;
  duration: number;
  tlsOptions: { ca: string };
  workers: number;
}) => Promise<AutocannonResult>;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export interface AdmissionBenchOptions {
  /** Defaults to a fake verifier that allows every image immediately. */
  readonly verifier?: ImageVerifier;
  /** An AdmissionReview JSON file; defaults to the connaisseur Pod sample. */
  readonly fixture?: string;
  readonly path?: '/validate' | '/mutate';
  readonly durationSeconds?: number;
  readonly connections?: number;
  readonly timeoutMs?: number;
  readonly excludedNamespaces?: readonly string[];
  /** Decision log lines go here; silent when absent. */
  readonly logger?: Logger;
}

export interface AdmissionBenchResult {
  readonly path: string;
  readonly connections: number;
  readonly durationSeconds: number;
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
}

const DEFAULT_FIXTURE = new URL('../test/fixtures/admission-review/connaisseur/02_pod.json', import.meta.url);

export async function runAdmissionBench(options: AdmissionBenchOptions = {}): Promise<AdmissionBenchResult> {
  const path = options.path ?? '/validate';
  const connections = options.connections ?? 20;
  const durationSeconds = options.durationSeconds ?? 10;
  // A string, not a Buffer: it crosses into autocannon's worker thread, where a Buffer arrives as a plain array.
  const body = await readFile(options.fixture ?? DEFAULT_FIXTURE, 'utf8');
  const dir = await mkdtemp(join(tmpdir(), 'provenant-bench-'));
  const server = await startServer({
    deps: {
      verifier: options.verifier ?? fakeVerifier(),
      timeoutMs: options.timeoutMs ?? 9000,
      excludedNamespaces: options.excludedNamespaces ?? [],
      isReady: () => true,
      metrics: createMetrics(),
      logger: options.logger ?? createLogger({ level: 'silent' }),
    },
    port: 0,
    host: '127.0.0.1',
    tls: { kind: 'generate', dir },
  });
  try {
    const ca = await readFile(server.caFile ?? '', 'utf8');
    return await load({ url: `${server.url}${path}`, ca, body, connections, durationSeconds });
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The ceiling: a bare node:https server that reads each body and answers one fixed AdmissionReview JSON,
 * loaded by the same client with the same body, TLS and connections as the webhook.
 */
export async function runCeilingBench(
  options: Pick<AdmissionBenchOptions, 'fixture' | 'durationSeconds' | 'connections'> & { answer: string },
): Promise<AdmissionBenchResult> {
  const body = await readFile(options.fixture ?? DEFAULT_FIXTURE, 'utf8');
  const dir = await mkdtemp(join(tmpdir(), 'provenant-bench-'));
  const certificate = await generateServingCertificate({ dir });
  const answer = Buffer.from(options.answer);
  const server = createServer(
    { cert: await readFile(certificate.certFile), key: await readFile(certificate.keyFile) },
    (req, res) => {
      req.on('data', () => undefined);
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length });
        res.end(answer);
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    return await load({
      url: `https://127.0.0.1:${port}/validate`,
      ca: await readFile(certificate.caFile, 'utf8'),
      body,
      connections: options.connections ?? 20,
      durationSeconds: options.durationSeconds ?? 10,
    });
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  }
}

async function load(options: {
  url: string;
  ca: string;
  body: string;
  connections: number;
  durationSeconds: number;
}): Promise<AdmissionBenchResult> {
  const result = await autocannon({
    url: options.url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: options.body,
    connections: options.connections,
    duration: options.durationSeconds,
    tlsOptions: { ca: options.ca },
    // Load generation in its own thread, so it does not compete with the server for this event loop.
    workers: 1,
  });
  return {
    path: new URL(options.url).pathname,
    connections: options.connections,
    durationSeconds: options.durationSeconds,
    requests: result.requests.total,
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
  };
}

export function formatBenchResult(result: AdmissionBenchResult): string {
  return [
    `admission ${result.path}: ${result.connections} connections, ${result.durationSeconds}s, ${result.requests} requests`,
    `  req/s ${result.requestsPerSecond.toFixed(1)}   p50 ${result.p50Ms} ms   p99 ${result.p99Ms} ms   max ${result.maxMs} ms`,
    `  errors ${result.errors}   timeouts ${result.timeouts}   non-2xx ${result.non2xx}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '20' },
      path: { type: 'string', default: '/validate' },
      fixture: { type: 'string' },
    },
  });
  const path = values.path === '/mutate' ? '/mutate' : '/validate';
  const result = await runAdmissionBench({
    path,
    durationSeconds: Number(values.duration),
    connections: Number(values.connections),
    ...(values.fixture === undefined ? {} : { fixture: values.fixture }),
  });
  console.log(formatBenchResult(result));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
