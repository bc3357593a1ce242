/**
 * Load bench for the webhook: `buildApp` served over HTTPS on loopback (as the API server calls it), driven by
 * autocannon with a real AdmissionReview. The verifier is injectable: the fake one measures the edge alone
 * (decode, decide, encode, TLS); the real one, passed by `bench/run.ts`, measures the whole path.
 *
 *   npx tsx bench/admission.ts [--duration 10] [--connections 20] [--path /validate] [--fixture file.json]
 */
import { createRequire } from 'node:module';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { startServer } from '../src/admission/server.js';
import { createLogger } from '../src/observability/logger.js';
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
      logger: createLogger({ level: 'silent' }),
    },
    port: 0,
    host: '127.0.0.1',
    tls: { kind: 'generate', dir },
  });
  try {
    const ca = await readFile(server.caFile ?? '', 'utf8');
    const result = await autocannon({
      url: `${server.url}${path}`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      connections,
      duration: durationSeconds,
      tlsOptions: { ca },
      // Load generation in its own thread, so it does not compete with the server for this event loop.
      workers: 1,
    });
    return {
      path,
      connections,
      durationSeconds,
      requests: result.requests.total,
      requestsPerSecond: result.requests.average,
      p50Ms: result.latency.p50,
      p99Ms: result.latency.p99,
      maxMs: result.latency.max,
      errors: result.errors,
      timeouts: result.timeouts,
      non2xx: result.non2xx,
    };
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
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
