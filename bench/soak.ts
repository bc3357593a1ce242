/**
 * `npm run soak [-- --minutes N --rate R --memory-limit 512Mi --heap-percent 50]`: the webhook under a
 * steady load for a bounded time, reporting its RSS over time; memory must level off.
 *
 * What runs: the built `provenant serve` (node dist/cli/main.js with the image's Node flags, as the container image runs it) as its own
 * process, against a real local registry with three cosign-signed images. The load is `--rate` admissions
 * per second (default 300) over HTTPS keep-alive connections, a mix of cached images (the signed ones, 70%),
 * unsigned images that are cold each time their negative cache entry runs out (15%), and never-seen digests
 * that are always cold (15%). Every 30 s the policy file is rewritten, so the server reloads its policies
 * and every cached verdict goes cold at once.
 *
 * With `--memory-limit` (Linux, as root) the server runs in a fresh memory cgroup with that limit, as in a
 * pod, and Node sizes its heap from it the way the chart configures it (`--heap-percent`, passed as
 * NODE_OPTIONS=--max-old-space-size-percentage); the report says whether the limit was ever hit.
 * The run stops by itself after `--minutes` (default 10).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { writeKeyPolicy } from '../test/support/cli.js';
import { cosignSign, generateKeyPair } from '../test/support/cosign.js';
import { pushRandomImage, type PushedImage } from '../test/support/images.js';
import { startRegistry, type TestRegistry } from '../test/support/registry.js';
import { podReview } from '../test/integration/webhook/reviews.js';
import { imageNodeFlags } from './processes.js';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
const SAMPLE_EVERY_MS = 10_000;
const RELOAD_EVERY_MS = 30_000;
const MAX_IN_FLIGHT = 64;
const UNSIGNED_IMAGES = 20;

interface Options {
  readonly minutes: number;
  readonly rate: number;
  readonly memoryLimitBytes: number | undefined;
  readonly heapPercent: number;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string', default: '10' },
      rate: { type: 'string', default: '300' },
      'memory-limit': { type: 'string' },
      'heap-percent': { type: 'string', default: '50' },
    },
  });
  const minutes = Number(values.minutes);
  const rate = Number(values.rate);
  const heapPercent = Number(values['heap-percent']);
  if (!(minutes > 0 && minutes <= 24 * 60)) throw new Error('--minutes must be between 0 and 1440');
  if (!(rate > 0 && rate <= 5_000)) throw new Error('--rate must be between 0 and 5000');
  const limit = values['memory-limit'];
  let memoryLimitBytes: number | undefined;
  if (limit !== undefined) {
    const match = /^(\d+)(Mi|Gi)$/.exec(limit);
    if (match === null) throw new Error('--memory-limit takes a Kubernetes quantity such as 512Mi or 1Gi');
    memoryLimitBytes = Number(match[1]) * (match[2] === 'Gi' ? 2 ** 30 : 2 ** 20);
  }
  return { minutes, rate, memoryLimitBytes, heapPercent };
}

/** A memory cgroup with `limit` under our own (v2 or v1), or undefined where none can be made. */
async function createCgroup(limit: number): Promise<{ dir: string; version: 1 | 2 } | undefined> {
  const lines = (await readFile('/proc/self/cgroup', 'utf8')).split('\n');
  const v1 = lines.find((l) => /^\d+:memory:/.test(l))?.split(':')[2];
  const v2 = lines.find((l) => l.startsWith('0::'))?.slice(3);
  const candidates: { dir: string; version: 1 | 2; limitFile: string }[] = [];
  if (v1 !== undefined && existsSync('/sys/fs/cgroup/memory')) {
    candidates.push({
      dir: join('/sys/fs/cgroup/memory', v1),
      version: 1,
      limitFile: 'memory.limit_in_bytes',
    });
  }
  if (v2 !== undefined && existsSync('/sys/fs/cgroup/cgroup.controllers')) {
    candidates.push({ dir: join('/sys/fs/cgroup', v2), version: 2, limitFile: 'memory.max' });
  }
  for (const candidate of candidates) {
    const dir = join(candidate.dir, `provenant-soak-${process.pid}`);
    try {
      await mkdir(dir);
      await writeFile(join(dir, candidate.limitFile), String(limit));
      if (candidate.version === 1)
        await writeFile(join(dir, 'memory.memsw.limit_in_bytes'), String(limit)).catch(() => undefined);
      return { dir, version: candidate.version };
    } catch {
      await rmdir(dir).catch(() => undefined);
    }
  }
  return undefined;
}

/** How often the cgroup's limit was hit (v1 failcnt, v2 max events) and whether the OOM killer ran. */
async function cgroupPressure(cgroup: { dir: string; version: 1 | 2 }): Promise<string> {
  if (cgroup.version === 1) {
    const failcnt = (await readFile(join(cgroup.dir, 'memory.failcnt'), 'utf8')).trim();
    const oom = (await readFile(join(cgroup.dir, 'memory.oom_control'), 'utf8')).replace(/\n/g, ', ');
    return `memory.failcnt ${failcnt}; ${oom}`;
  }
  return (await readFile(join(cgroup.dir, 'memory.events'), 'utf8')).replace(/\n/g, ', ');
}

async function rssOf(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

function build(): Promise<void> {
  return new Promise((resolve, reject) => {
    const tsc = spawn(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
      cwd: REPO_ROOT,
      stdio: 'inherit',
    });
    tsc.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`tsc exited with ${code}`))));
  });
}

async function startServer(
  policyDir: string,
  tlsDir: string,
  registry: TestRegistry,
  opts: Options,
  cgroup: { dir: string } | undefined,
): Promise<{ child: ChildProcess; url: string; ca: string }> {
  const args = [
    ...(await imageNodeFlags()),
    join(REPO_ROOT, 'dist/cli/main.js'),
    'serve',
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    '--policy',
    policyDir,
    '--insecure-registry',
    registry.host,
    '--tls-dir',
    tlsDir,
    '--log-level',
    'warn',
  ];
  const env = { ...process.env, NODE_OPTIONS: `--max-old-space-size-percentage=${opts.heapPercent}` };
  // In a cgroup: a shell moves itself in, then becomes node, so the server is in it from its first byte.
  const child =
    cgroup === undefined
      ? spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] })
      : spawn(
          '/bin/sh',
          [
            '-c',
            `echo $$ > "${join(cgroup.dir, 'cgroup.procs')}" && exec "$0" "$@"`,
            process.execPath,
            ...args,
          ],
          { env, stdio: ['ignore', 'ignore', 'pipe'] },
        );
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      const found = /listening on (https:\/\/\S+)/.exec(stderr);
      if (found?.[1] !== undefined) resolve(found[1]);
    });
    child.once('exit', (code) => reject(new Error(`provenant serve exited (${code}):\n${stderr}`)));
    setTimeout(() => reject(new Error(`provenant serve did not start:\n${stderr}`)), 60_000).unref();
  });
  return { child, url, ca: await readFile(join(tlsDir, 'ca.crt'), 'utf8') };
}

function policyYaml(base: string, registryHost: string, generation: number): string {
  // Every reload changes the set's fingerprint (a second policy for another registry comes and goes), so
  // every cached verdict is cold afterwards, as after a real policy change.
  if (generation % 2 === 0) return base;
  const extra = base
    .replace('name: release', `name: soak-extra-${generation}`)
    .replace(`${registryHost}/soak/**`, 'soak.invalid/**');
  return `${base}---\n${extra}`;
}

async function main(): Promise<void> {
  const opts = options();
  console.log(
    `soak: ${opts.minutes} min at ${opts.rate} admissions/s${opts.memoryLimitBytes ? `, memory limit ${opts.memoryLimitBytes / 2 ** 20} MiB` : ''}, heap ${opts.heapPercent}% of it`,
  );
  await build();
  const scratch = await mkdtemp(join(tmpdir(), 'provenant-soak-'));
  const registry = await startRegistry();
  let cgroup: { dir: string; version: 1 | 2 } | undefined;
  let server: ChildProcess | undefined;
  const agentHolder: { agent?: Agent } = {};
  try {
    const key = await generateKeyPair('ecdsa-p256');
    const signed = await Promise.all(
      ['web', 'api', 'worker'].map((n) => pushRandomImage(registry, `soak/${n}`, 'v1')),
    );
    await Promise.all(signed.map((image, i) => cosignSign(i === 1 ? 3 : 2, key, image.digestRef, registry)));
    const unsigned: PushedImage[] = [];
    for (let i = 0; i < UNSIGNED_IMAGES; i++)
      unsigned.push(await pushRandomImage(registry, `soak/unsigned${i}`, 'v1'));

    const policyFile = await writeKeyPolicy({
      name: 'release',
      glob: `${registry.host}/soak/**`,
      keys: { 'release-key': key.publicKeyPem },
    });
    const base = await readFile(policyFile, 'utf8');
    const policyDir = join(scratch, 'policies');
    await mkdir(policyDir);
    await writeFile(join(policyDir, 'policy.yaml'), base);
    const tlsDir = join(scratch, 'tls');
    await mkdir(tlsDir);

    if (opts.memoryLimitBytes !== undefined) {
      cgroup = await createCgroup(opts.memoryLimitBytes);
      if (cgroup === undefined)
        console.log('soak: no memory cgroup could be created (needs root on Linux); running without a limit');
      else console.log(`soak: server in cgroup v${cgroup.version} ${cgroup.dir}`);
    }
    const started = await startServer(policyDir, tlsDir, registry, opts, cgroup);
    server = started.child;
    const pid = server.pid as number;
    const agent = new Agent({ connect: { ca: started.ca }, connections: 16, pipelining: 1 });
    agentHolder.agent = agent;

    const counts = { sent: 0, allowed: 0, denied: 0, failed: 0, reloads: 0 };
    const latencies: number[] = [];
    let inFlight = 0;
    const pick = (): string => {
      const roll = Math.random();
      if (roll < 0.7) return (signed[Math.floor(Math.random() * signed.length)] as PushedImage).ref;
      if (roll < 0.85) return (unsigned[Math.floor(Math.random() * unsigned.length)] as PushedImage).ref;
      return `${registry.host}/soak/web@sha256:${randomBytes(32).toString('hex')}`;
    };
    const admit = async (): Promise<void> => {
      inFlight++;
      counts.sent++;
      const body = JSON.stringify(
        podReview([
          { name: 'app', image: pick() },
          { name: 'side', image: pick() },
        ]),
      );
      const began = performance.now();
      try {
        const response = await request(`${started.url}/validate`, {
          method: 'POST',
          dispatcher: agent,
          headers: { 'content-type': 'application/json' },
          body,
        });
        const answer = (await response.body.json()) as { response?: { allowed?: boolean } };
        if (response.statusCode !== 200) counts.failed++;
        else if (answer.response?.allowed === true) counts.allowed++;
        else counts.denied++;
        latencies.push(performance.now() - began);
      } catch {
        counts.failed++;
      } finally {
        inFlight--;
      }
    };

    const durationMs = opts.minutes * 60_000;
    const begin = performance.now();
    const samples: { t: number; rss: number; hwm: number; rate: number; p99: number }[] = [];
    let lastSent = 0;
    let lastSample = begin;
    let nextReload = begin + RELOAD_EVERY_MS;
    let generation = 0;
    console.log('   t(s)  RSS MiB  peak MiB  adm/s  p99 ms  allowed  denied  failed');
    // Steady rate: each 10 ms tick sends what is due, never more than MAX_IN_FLIGHT outstanding.
    let due = 0;
    while (performance.now() - begin < durationMs) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      due += opts.rate / 100;
      while (due >= 1 && inFlight < MAX_IN_FLIGHT) {
        due--;
        void admit();
      }
      if (due > opts.rate) due = opts.rate; // do not build an unbounded backlog when the server is slower
      const now = performance.now();
      if (now >= nextReload) {
        generation++;
        counts.reloads++;
        await writeFile(join(policyDir, 'policy.yaml'), policyYaml(base, registry.host, generation));
        nextReload += RELOAD_EVERY_MS;
      }
      if (now - lastSample >= SAMPLE_EVERY_MS) {
        const { rss, hwm } = await rssOf(pid);
        const sorted = latencies.splice(0).sort((a, b) => a - b);
        const p99 = sorted[Math.floor(sorted.length * 0.99)] ?? NaN;
        const rate = (counts.sent - lastSent) / ((now - lastSample) / 1000);
        lastSent = counts.sent;
        lastSample = now;
        samples.push({ t: (now - begin) / 1000, rss, hwm, rate, p99 });
        console.log(
          `${((now - begin) / 1000).toFixed(0).padStart(7)}  ${(rss / 2 ** 20).toFixed(0).padStart(7)}  ${(hwm / 2 ** 20).toFixed(0).padStart(8)}  ${rate.toFixed(0).padStart(5)}  ${p99.toFixed(0).padStart(6)}  ${String(counts.allowed).padStart(7)}  ${String(counts.denied).padStart(6)}  ${String(counts.failed).padStart(6)}`,
        );
      }
    }
    while (inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 50));

    const third = Math.max(1, Math.floor(samples.length / 3));
    const peak = (list: typeof samples) => Math.max(...list.map((s) => s.rss));
    const middle = peak(samples.slice(third, 2 * third));
    const last = peak(samples.slice(2 * third));
    const growth = middle > 0 ? (last - middle) / middle : 0;
    console.log(
      `soak: ${counts.sent} admissions (${counts.allowed} allowed, ${counts.denied} denied, ${counts.failed} failed), ${counts.reloads} policy reloads`,
    );
    console.log(
      `soak: RSS peak ${(Math.max(...samples.map((s) => s.hwm)) / 2 ** 20).toFixed(0)} MiB; last third's peak vs middle third's: ${(growth * 100).toFixed(1)}% -> ${growth < 0.1 ? 'levelled off' : 'STILL GROWING'}`,
    );
    if (cgroup !== undefined) console.log(`soak: cgroup ${await cgroupPressure(cgroup)}`);
    if (server.exitCode !== null || server.signalCode !== null) {
      console.log(`soak: the server died during the run (${server.exitCode ?? server.signalCode})`);
      process.exitCode = 1;
    }
    if (growth >= 0.1 || counts.failed > counts.sent / 100) process.exitCode = 1;
  } finally {
    await agentHolder.agent?.close().catch(() => undefined);
    if (server !== undefined && server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((resolve) => server?.once('exit', resolve));
    }
    if (cgroup !== undefined) await rmdir(cgroup.dir).catch(() => undefined);
    await registry.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
