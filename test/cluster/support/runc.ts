// Runs a container from an unpacked image with runc (Debian's), as a hardened Pod would run it: a given
// UID/GID, read-only root file system, no capabilities, no new privileges, and read-only bind mounts for
// configuration. It shares the host's network namespace so that it listens on, and reaches, loopback only
// (the test registry, the test's HTTPS client); every other namespace is its own. State lives in a private
// runc root, and containers still running when the test process exits are killed and deleted.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RuncOptions {
  /** Unpacked root file system (mounted read-only). */
  rootfs: string;
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  /** Host paths bind-mounted read-only. */
  binds?: { source: string; destination: string }[];
}

export interface RuncContainer {
  readonly id: string;
  /** Everything the container wrote to stdout and stderr so far. */
  logs(): string;
  /** `runc exec` a process in the container (same user, same restrictions); resolves with its output. */
  exec(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** runc's view: `running`, `stopped`, … */
  status(): string;
  /** Kills and deletes the container. Safe to call twice. */
  remove(): void;
}

const RUNC = 'runc';
const live = new Set<RuncContainer>();
let hooked = false;

function runcArgs(stateDir: string, args: string[]): string[] {
  return ['--root', stateDir, ...args];
}

/** The OCI runtime configuration: hardened as a Pod with a restricted securityContext. */
function runtimeConfig(o: RuncOptions): object {
  const binds = (o.binds ?? []).map((b) => ({
    destination: b.destination,
    type: 'bind',
    source: b.source,
    options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'],
  }));
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: o.uid, gid: o.gid },
      args: o.args,
      env: o.env,
      cwd: o.cwd,
      // Every set empty: the process holds no capability at all.
      capabilities: { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: o.rootfs, readonly: true },
    hostname: 'provenant',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
      },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
      },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      ...binds,
    ],
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      // No network namespace: the host's (loopback) network.
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: [
        '/proc/acpi',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/sched_debug',
        '/sys/firmware',
        '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

/** Creates and starts a detached container; its output goes to a log file in its bundle. */
export async function runContainer(options: RuncOptions): Promise<RuncContainer> {
  const bundle = mkdtempSync(join(tmpdir(), 'provenant-runc-'));
  const stateDir = join(bundle, 'state');
  mkdirSync(stateDir);
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(runtimeConfig(options), null, 2));
  const logPath = join(bundle, 'container.log');
  const id = `provenant-${process.pid}-${live.size}-${Date.now().toString(36)}`;
  const out = openSync(logPath, 'a');
  // Detached with pass-through stdio: runc hands the log file to the container and exits once it runs.
  const runc = spawn(RUNC, runcArgs(stateDir, ['run', '--detach', '--bundle', bundle, id]), {
    stdio: ['ignore', out, out],
  });
  const code = await new Promise<number | null>((res, rej) => {
    runc.once('error', rej);
    runc.once('close', res);
  });
  closeSync(out);
  const logs = () => readFileSync(logPath, 'utf8');
  if (code !== 0) {
    rmSync(bundle, { recursive: true, force: true });
    throw new Error(`runc run exited with ${code}:\n${logs()}`);
  }

  let removed = false;
  const container: RuncContainer = {
    id,
    logs,
    status() {
      try {
        const state = execFileSync(RUNC, runcArgs(stateDir, ['state', id]), { encoding: 'utf8' });
        return (JSON.parse(state) as { status: string }).status;
      } catch {
        return 'gone';
      }
    },
    exec(args) {
      return new Promise((res, rej) => {
        const p = spawn(RUNC, runcArgs(stateDir, ['exec', id, ...args]), {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
        p.once('error', rej);
        p.once('close', (c) => {
          clearTimeout(timer);
          res({ code: c ?? -1, stdout, stderr });
        });
      });
    },
    remove() {
      if (removed) return;
      removed = true;
      live.delete(container);
      try {
        execFileSync(RUNC, runcArgs(stateDir, ['delete', '--force', id]), { stdio: 'ignore' });
      } finally {
        rmSync(bundle, { recursive: true, force: true });
      }
    },
  };
  live.add(container);
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const c of [...live]) c.remove();
    });
  }
  return container;
}
