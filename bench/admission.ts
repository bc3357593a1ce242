/**
 * Load bench for the webhook, process against process: the built `provenant serve` (dist/cli/main.js, as
 * users run it, decision log to a file and metrics on) and, as the ceiling, a bare node:https server that
 * reads each body and answers one fixed AdmissionReview JSON. Each runs in its own child process and is
 * loaded over HTTPS on loopback by autocannon from this process, with the same body, TLS and connections.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { open, readFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { generateServingCertificate } from '../src/admission/tls.js';
import { httpsRequest } from '../test/integration/admission/https-client.js';
import { cpuTimeOf, imageNodeFlags, rssOf } from './processes.js';

/** The part of autocannon's API used here (it ships no types). */
interface AutocannonResult {
  readonly requests: { readonly average: number; readonly total: number };
  readonly latency: { readonly p50: number; readonly p99: number; readonly max: number };
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
const MAIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

export interface AdmissionBenchResult {
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  /** The server process's CPU time (every thread) per request answered, in µs. */
  readonly serverCpuMicroseconds: number;
}

/** A server under load in its own process. */
export interface LoadTarget {
  readonly url: string;
  readonly ca: string;
  readonly pid: number;
  close(): Promise<void>;
}

// The ceiling: nothing but reading the body and writing a fixed answer, as little as an HTTPS server can do;
// optionally after spinning the CPU for a fixed time per request, to show what a given cost per admission
// allows next to it.
const CEILING_SERVER = `
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
const [cert, key, port, answerText, busyMicroseconds] = process.argv.slice(1);
const answer = Buffer.from(answerText);
const busyMs = Number(busyMicroseconds) / 1000;
createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
  req.on('data', () => undefined);
  req.on('end', () => {
    for (const until = performance.now() + busyMs; performance.now() < until; );
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length });
    res.end(answer);
  });
}).listen(Number(port), '127.0.0.1');
`;

/** Certificate files for the servers, as cert-manager would provide them. */
export async function benchCertificate(
  dir: string,
): Promise<{ certFile: string; keyFile: string; ca: string }> {
  const certificate = await generateServingCertificate({ dir });
  return {
    certFile: certificate.certFile,
    keyFile: certificate.keyFile,
    ca: await readFile(certificate.caFile, 'utf8'),
  };
}

/** The ceiling server; with `busyMicroseconds`, it first spins the CPU that long for each request. */
export async function startCeiling(
  tls: { certFile: string; keyFile: string; ca: string },
  answer: string,
  busyMicroseconds = 0,
): Promise<LoadTarget> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      ...['--input-type=module', '-e', CEILING_SERVER],
      ...[tls.certFile, tls.keyFile, String(port), answer, String(busyMicroseconds)],
    ],
    { stdio: 'ignore' },
  );
  return ready(child, `https://127.0.0.1:${port}`, tls.ca);
}

/**
 * `provenant serve` with `args` (policy and registry flags) and the certificate files, under the image's
 * Node flags, its decision log (stdout) written to `logFile`.
 */
export async function startServe(
  args: readonly string[],
  tls: { certFile: string; keyFile: string; ca: string },
  logFile: string,
): Promise<LoadTarget> {
  const port = await freePort();
  const log = await open(logFile, 'w');
  try {
    const child = spawn(
      process.execPath,
      [
        ...(await imageNodeFlags()),
        MAIN,
        'serve',
        ...args,
        ...[
          '--port',
          String(port),
          '--host',
          '127.0.0.1',
          '--tls-cert',
          tls.certFile,
          '--tls-key',
          tls.keyFile,
        ],
      ],
      { stdio: ['ignore', log.fd, 'ignore'] },
    );
    return await ready(child, `https://127.0.0.1:${port}`, tls.ca);
  } finally {
    await log.close();
  }
}

/** autocannon against `target` with `body` POSTed to `path`. */
export async function load(
  target: LoadTarget,
  options: { path: string; body: string; connections: number; durationSeconds: number },
): Promise<AdmissionBenchResult> {
  const cpuBefore = await cpuTimeOf(target.pid);
  const result = await autocannon({
    url: `${target.url}${options.path}`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: options.body,
    connections: options.connections,
    duration: options.durationSeconds,
    tlsOptions: { ca: target.ca },
    // Load generation in its own thread, off this process's event loop.
    workers: 1,
  });
  const cpuMs = (await cpuTimeOf(target.pid)) - cpuBefore;
  return {
    requests: result.requests.total,
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    serverCpuMicroseconds: (cpuMs * 1000) / Math.max(1, result.requests.total),
  };
}

/** The sum of every sample of `metric` in the target's /metrics. */
export async function metricTotal(target: LoadTarget, metric: string): Promise<number> {
  const response = await httpsRequest({ url: `${target.url}/metrics`, ca: target.ca });
  let total = 0;
  for (const line of response.text.split('\n')) {
    if (line.startsWith(`${metric}{`) || line.startsWith(`${metric} `))
      total += Number(line.split(' ').pop());
  }
  return total;
}

export function targetRss(target: LoadTarget): Promise<number> {
  return rssOf(target.pid);
}

async function ready(child: ChildProcess, url: string, ca: string): Promise<LoadTarget> {
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const deadline = performance.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${url}: the server exited ${child.exitCode}`);
    const answered = await httpsRequest({ url: `${url}/readyz`, ca }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (answered) return { url, ca, pid: child.pid ?? -1, close };
    if (performance.now() > deadline) {
      await close();
      throw new Error(`${url}: not ready within 30 s`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
