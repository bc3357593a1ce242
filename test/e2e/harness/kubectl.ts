// Runs the cached kubectl against a harness cluster.
import { spawn } from 'node:child_process';
import { toolPath } from './process.js';

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface KubectlOptions {
  /** Written to kubectl's standard input (for `apply -f -`). */
  input?: string;
  /** Kills kubectl after this long (default 60 s); the result then has code 124. */
  timeoutMs?: number;
}

export interface KubectlTarget {
  kubeconfigPath: string;
  /** kubectl's discovery cache, kept per cluster so that a port reused by another cluster never mixes. */
  cacheDir: string;
}

/** Runs kubectl with the target's kubeconfig; never throws for a non-zero exit status. */
export async function runKubectl(
  target: KubectlTarget,
  args: string[],
  { input, timeoutMs = 60_000 }: KubectlOptions = {},
): Promise<KubectlResult> {
  const bin = toolPath('kubectl');
  const env = { ...process.env, KUBECONFIG: target.kubeconfigPath };
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [`--cache-dir=${target.cacheDir}`, ...args], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      if (timedOut) stderr += `\n[harness] kubectl ${args.join(' ')} killed after ${timeoutMs} ms`;
      resolve({ code: timedOut ? 124 : (code ?? -1), stdout, stderr });
    });
    child.stdin.on('error', () => {}); // kubectl may exit before reading its input
    child.stdin.end(input ?? '');
  });
}
