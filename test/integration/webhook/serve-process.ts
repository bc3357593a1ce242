/**
 * `provenant serve` as a real subprocess, the way an operator runs it: `node --import tsx src/cli/main.ts serve`,
 * on a free loopback port with a generated CA (or given certificate files). The helper reads the JSON log
 * lines from stdout (the `listening` line carries the port and the CA file), waits for /readyz, and talks to
 * the server over HTTPS trusting only that CA, like the API server does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { httpsRequest, type HttpsResponse } from '../admission/https-client.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface ReviewResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; reason: string; message: string; details: { causes: { reason: string }[] } };
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
  patchType?: string;
  patch?: string;
}

export interface ServeExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ServeProcess {
  readonly url: string;
  readonly port: number;
  /** PEM the server's certificate chains to. */
  readonly caPem: string;
  /** The `listening` log line. */
  readonly listening: Record<string, unknown>;
  /** Every JSON log line so far, in order. */
  readonly logs: Record<string, unknown>[];
  stderr(): string;
  post(path: string, body: string | Buffer, headers?: Record<string, string>): Promise<HttpsResponse>;
  /** POSTs an AdmissionReview and returns its `response`, failing on anything but HTTP 200. */
  review(path: '/validate' | '/mutate', review: unknown): Promise<ReviewResponse>;
  get(path: string): Promise<HttpsResponse>;
  /** Sum of every `provenant_registry_requests_total` sample: registry HTTP exchanges since start. */
  registryRequests(): Promise<number>;
  /** Waits for a log line matching `predicate` among the lines from index `since` on (default: all). */
  waitForLog(
    predicate: (line: Record<string, unknown>) => boolean,
    options?: { timeoutMs?: number; since?: number },
  ): Promise<Record<string, unknown>>;
  /** Sends `signal` and waits for the process to exit (SIGKILL after `timeoutMs`). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ServeExit>;
}

export interface ServeOptions {
  /** A PEM to trust instead of the generated CA (when `--tls-cert` is given). */
  readonly caPem?: string;
  readonly startTimeoutMs?: number;
  /** The name the server's certificate is checked for, when not 127.0.0.1 (a self-managed Service certificate). */
  readonly servername?: string;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Starts `provenant serve --port 0 --host 127.0.0.1 ARGS` and resolves once /readyz answers 200. */
export async function startServe(args: readonly string[], options: ServeOptions = {}): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', '0', '--host', '127.0.0.1', ...args],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  track(child);
  const logs: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let pending = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ unparsed: line });
      }
    }
    for (const wake of waiters) wake();
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<ServeExit>((resolve) => {
    child.once('exit', (code, signal) => {
      for (const wake of waiters) wake();
      resolve({ code, signal });
    });
  });

  const waitForLog = async (
    predicate: (line: Record<string, unknown>) => boolean,
    { timeoutMs = 10_000, since = 0 }: { timeoutMs?: number; since?: number } = {},
  ): Promise<Record<string, unknown>> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = logs.slice(since).find(predicate);
      if (found !== undefined) return found;
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`provenant serve exited (${child.exitCode ?? child.signalCode}):\n${stderr}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `no matching log line within ${timeoutMs}ms; logs:\n${logs.map((l) => JSON.stringify(l)).join('\n')}\n${stderr}`,
        );
      }
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(left, 250));
        waiters.add(wake);
      });
    }
  };

  let listening: Record<string, unknown>;
  try {
    listening = await waitForLog((l) => l['msg'] === 'listening', {
      timeoutMs: options.startTimeoutMs ?? 30_000,
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  const port = Number(listening['port']);
  const url = `https://127.0.0.1:${port}`;
  const caFile = listening['caFile'];
  const caPem = options.caPem ?? (typeof caFile === 'string' ? await readFile(caFile, 'utf8') : '');

  const servername = options.servername === undefined ? {} : { servername: options.servername };
  const get = (path: string): Promise<HttpsResponse> =>
    httpsRequest({ url: `${url}${path}`, ca: caPem, ...servername });
  const post = (path: string, body: string | Buffer, headers: Record<string, string> = {}) =>
    httpsRequest({ url: `${url}${path}`, ca: caPem, body, headers, ...servername });

  const readyBy = Date.now() + 10_000;
  while ((await get('/readyz').catch(() => undefined))?.status !== 200) {
    if (Date.now() > readyBy) throw new Error(`/readyz never answered 200:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url,
    port,
    caPem,
    listening,
    logs,
    stderr: () => stderr,
    get,
    post,
    async review(path, review) {
      const response = await post(path, JSON.stringify(review));
      if (response.status !== 200) throw new Error(`POST ${path}: HTTP ${response.status}: ${response.text}`);
      return response.json<{ response: ReviewResponse }>().response;
    },
    async registryRequests() {
      const text = (await get('/metrics')).text;
      let total = 0;
      for (const match of text.matchAll(/^provenant_registry_requests_total\{[^}]*\} (\d+(?:\.\d+)?)$/gm)) {
        total += Number(match[1]);
      }
      return total;
    },
    waitForLog,
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

// A failed test must not leave servers behind.
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
}
