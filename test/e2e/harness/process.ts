// Child processes for the harness: tool lookup, free ports, polling, and cleanup that survives a failing
// test (an exit hook kills whatever is still running; on Linux the children also get SIGKILL when the
// test process dies, through setpriv --pdeathsig).
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, createWriteStream, existsSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Folder of the cached tool binaries: $PROVENANT_TOOLS/bin or ~/.cache/provenant-tools/bin. */
export function toolsBinDir(): string {
  return join(process.env.PROVENANT_TOOLS ?? join(homedir(), '.cache', 'provenant-tools'), 'bin');
}

/** Absolute path of a tool from the tools cache; throws with the install hint when it is missing. */
export function toolPath(name: string): string {
  const p = join(toolsBinDir(), name);
  try {
    accessSync(p, constants.X_OK);
  } catch {
    const how =
      name === 'kube-apiserver' || name === 'helm'
        ? 'test/tools/install-go-tools.sh'
        : 'test/tools/install.sh';
    throw new Error(`${name} not found at ${p}: run ${how} (or set PROVENANT_TOOLS)`);
  }
  return p;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Named in the timeout error. */
  description?: string;
}

/**
 * Calls fn until it returns a truthy value (which is returned) or the time runs out. A throwing fn
 * counts as "not yet"; its last error is in the timeout error.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  { timeoutMs = 30_000, intervalMs = 200, description = 'condition' }: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      last = undefined;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      const why = last instanceof Error ? `: ${last.message}` : last ? `: ${String(last)}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// Everything started and not yet stopped, for the exit hook.
const live = new Set<ManagedProcess>();
const liveDirs = new Set<string>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const p of live) p.killNow();
    for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
  });
}

/** Removes dir when the test process exits, unless forgetDir() was called first. */
export function removeOnExit(dir: string): void {
  hookExit();
  liveDirs.add(dir);
}
export function forgetDir(dir: string): void {
  liveDirs.delete(dir);
}

const SETPRIV = '/usr/bin/setpriv';
const canPdeathsig = process.platform === 'linux' && existsSync(SETPRIV);

export class ManagedProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  exitCode: number | null | undefined = undefined;

  constructor(
    readonly name: string,
    command: string,
    args: string[],
    readonly logPath: string,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    hookExit();
    const log = createWriteStream(logPath, { flags: 'a' });
    const [cmd, argv] = canPdeathsig
      ? [SETPRIV, ['--pdeathsig', 'KILL', '--', command, ...args]]
      : [command, args];
    this.child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env });
    this.child.stdout?.pipe(log);
    this.child.stderr?.pipe(log);
    live.add(this);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        live.delete(this);
        resolve(code);
      });
      this.child.once('error', (err) => {
        log.write(`spawn error: ${err.message}\n`);
        this.exitCode = -1;
        live.delete(this);
        resolve(-1);
      });
    });
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** The last lines of the process's log. */
  logTail(lines = 40): string {
    try {
      return readFileSync(this.logPath, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  killNow(): void {
    if (this.running) this.child.kill('SIGKILL');
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.killNow(), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
