/**
 * Whole-process measurements: wall time, CPU time and peak RSS of a child process from wait4()'s rusage, so a
 * Node CLI and a Go binary are measured the same way and to the microsecond (GNU time rounds to 10 ms).
 * Python's os.wait4 is the portable way to read it; python3 is on every machine the tools install on.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ProcessSample {
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly peakRssBytes: number;
  readonly exitCode: number;
}

const WAIT4 = `
import json, os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
wall = time.perf_counter() - started
print(json.dumps({"wallMs": wall * 1000, "cpuMs": (usage.ru_utime + usage.ru_stime) * 1000,
                  "peakRssBytes": usage.ru_maxrss * 1024, "exitCode": os.waitstatus_to_exitcode(status)}))
`;

/** Runs `command args` once; its output is discarded. */
export async function measureProcess(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<ProcessSample> {
  const { stdout } = await run('python3', ['-c', WAIT4, command, ...args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    timeout: 60_000,
  });
  return JSON.parse(stdout) as ProcessSample;
}

/**
 * CPU time (user + system, every thread) a running process has used so far, from /proc (Linux), in ms. The
 * kernel counts it in clock ticks of USER_HZ, which is 100 on every Linux architecture Node runs on.
 */
export async function cpuTimeOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ticks)) throw new Error(`no CPU times for ${pid}`);
  return ticks * 10;
}

/** RSS of a running process from /proc (Linux), in bytes. */
export async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for ${pid}`);
  return Number(kb) * 1024;
}

/**
 * The Node flags the image's entrypoint runs `provenant` with (the Dockerfile's ENTRYPOINT, between `node` and
 * the script), so that services the bench starts are measured as they run in a cluster.
 */
export async function imageNodeFlags(): Promise<string[]> {
  const dockerfile = await readFile(new URL('../Dockerfile', import.meta.url), 'utf8');
  const entrypoint = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile)?.[1];
  if (entrypoint === undefined) throw new Error('the Dockerfile has no ENTRYPOINT in exec form');
  const argv = JSON.parse(entrypoint) as string[];
  const script = argv.indexOf('dist/cli/main.js');
  if (argv[0] !== 'node' || script < 0) throw new Error(`unexpected ENTRYPOINT ${entrypoint}`);
  return argv.slice(1, script);
}
