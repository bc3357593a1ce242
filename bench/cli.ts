/**
 * The command line as users run it: the built bundle (`npm run build`, dist/cli/main.js) under plain node,
 * whole process, side by side with `cosign verify` from the test tools on the same image in the same run;
 * and `provenant serve`'s start-up to listening and its idle RSS.
 */
import { execFile, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { toolEnv } from '../test/support/images.js';
import { cosign3OfflineFiles } from '../test/support/cosign.js';
import { toolPath, type TestRegistry } from '../test/support/registry.js';
import { imageNodeFlags, measureProcess, rssOf, type ProcessSample } from './processes.js';
import type { SignedRegistry } from './signed-registry.js';
import { goal, median, mib, ms, ratio, type Row } from './table.js';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
const MAIN = join(REPO_ROOT, 'dist/cli/main.js');
const run = promisify(execFile);

export const RUNS = 7;
const SERVE_RUNS = 3;

/**
 * The floor under any Node CLI: a bare script that makes exactly the registry requests `provenant verify` makes
 * for a legacy-signed image by tag (the tag's digest, then at once the `.sig` tag, the referrers API and its
 * fallback tag) and checks the signature over the payload written from the digest, as verify does. No policy,
 * no trust store, no output; Node's compile cache on and llhttp kept on V8's baseline tier, as in the CLI.
 * Run with undici (the registry client Provenant uses, its modules loaded as src/oci/undici-parts.ts loads
 * them) and with node:http, so the table shows what the runtime and the HTTP client alone cost.
 */
const FLOOR_SCRIPT = `
import { createHash, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire, enableCompileCache } from 'node:module';
import { setFlagsFromString } from 'node:v8';
enableCompileCache(); // as dist/cli/main.js does
const [client, root, host, repository, tag, keyFile] = process.argv.slice(1);
const ACCEPT = 'application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json,' +
  'application/vnd.docker.distribution.manifest.v2+json,application/vnd.docker.distribution.manifest.list.v2+json';
let get, close;
if (client === 'undici') {
  const require = createRequire(root + 'package.json');
  const Agent = require('undici/lib/dispatcher/agent.js');
  const request = require('undici/lib/api/api-request.js');
  const agent = new Agent();
  setFlagsFromString('--wasm-tiering-budget=1000000000'); // before the first request, as undici-parts.ts does
  get = async (method, path) => {
    const r = await request.call(agent, { origin: 'http://' + host, method, path, headers: { accept: ACCEPT } });
    return { status: r.statusCode, headers: r.headers, body: Buffer.from(await r.body.arrayBuffer()) };
  };
  close = () => agent.close();
} else {
  // Required, not imported: an ES import of node:http builds its namespace by reading every export, and its
  // lazy WebSocket getters then load Node's own bundled undici (~15 ms) that no request here uses.
  const http = createRequire(root + 'package.json')('node:http');
  const agent = new http.Agent({ keepAlive: true });
  get = (method, path) => new Promise((resolve, reject) => {
    const [hostname, port] = host.split(':');
    http.request({ hostname, port, method, path, agent, headers: { accept: ACCEPT } }, (r) => {
      const chunks = [];
      r.on('data', (c) => chunks.push(c)).on('end', () =>
        resolve({ status: r.statusCode, headers: r.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject).end();
  });
  close = () => agent.destroy();
}
const base = '/v2/' + repository;
const resolved = await get('HEAD', base + '/manifests/' + tag);
if (resolved.status !== 200) throw new Error('HEAD ' + tag + ': ' + resolved.status);
const digest = resolved.headers['docker-content-digest'];
const [signatures] = await Promise.all([
  get('GET', base + '/manifests/' + digest.replace(':', '-') + '.sig'),
  get('GET', base + '/manifests/' + digest.replace(':', '-')),
  get('GET', base + '/referrers/' + digest),
]);
if (signatures.status !== 200) throw new Error('no .sig manifest: ' + signatures.status);
const layer = JSON.parse(signatures.body).layers[0];
const payload = Buffer.from(JSON.stringify({
  critical: { identity: { 'docker-reference': host + '/' + repository }, image: { 'docker-manifest-digest': digest },
    type: 'cosign container image signature' }, optional: null }));
if ('sha256:' + createHash('sha256').update(payload).digest('hex') !== layer.digest) throw new Error('payload differs');
const signature = Buffer.from(layer.annotations['dev.cosignproject.cosign/signature'], 'base64');
if (!verify('sha256', payload, readFileSync(keyFile, 'utf8'), signature)) throw new Error('bad signature');
await close();
`;

/** Bundles the CLI exactly as `npm run build` does (its type check aside). */
export async function buildCli(): Promise<void> {
  await run(process.execPath, ['--import', 'tsx', 'scripts/bundle.ts'], { cwd: REPO_ROOT, timeout: 120_000 });
}

export interface Command {
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

export interface Summary {
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly peakRssBytes: number;
}

function summarise(samples: readonly ProcessSample[]): Summary {
  return {
    wallMs: median(samples.map((s) => s.wallMs)),
    cpuMs: median(samples.map((s) => s.cpuMs)),
    peakRssBytes: median(samples.map((s) => s.peakRssBytes)),
  };
}

/** Alternating runs (one warm-up each, which also fills Node's compile cache), so noise hits both alike. */
export async function sideBySide(commands: readonly Command[], runs = RUNS): Promise<Summary[]> {
  const samples: ProcessSample[][] = commands.map(() => []);
  for (let i = 0; i <= runs; i++) {
    for (const [j, c] of commands.entries()) {
      const sample = await measureProcess(c.command, c.args, {
        cwd: REPO_ROOT,
        ...(c.env ? { env: c.env } : {}),
      });
      if (sample.exitCode !== 0)
        throw new Error(`${c.command} ${c.args.join(' ')} exited ${sample.exitCode}`);
      if (i > 0) samples[j]?.push(sample);
    }
  }
  return samples.map(summarise);
}

/** The built CLI's `provenant verify` of `ref`. */
export function provenantVerify(ref: string, flags: readonly string[]): Command {
  return { command: process.execPath, args: [MAIN, 'verify', ref, ...flags] };
}

/**
 * cosign 3's `cosign verify` of `ref` with the public key in `keyFile`: offline trust root, no transparency
 * log; told that a plain-HTTP registry is one, and trusting a TLS registry's CA through the environment.
 */
export function cosignVerify(keyFile: string, ref: string, registry: TestRegistry): Command {
  const args = ['verify', '--key', keyFile, '--insecure-ignore-tlog'];
  if (!registry.tls) args.push('--allow-insecure-registry');
  args.push('--trusted-root', cosign3OfflineFiles().trustedRoot, ref);
  return { command: toolPath('cosign3'), args, env: toolEnv(registry) };
}

export async function benchCli(world: SignedRegistry, scratch: string): Promise<Row[]> {
  const [image] = world.images;
  if (image === undefined) throw new Error('no image');
  const keyFile = join(scratch, 'cosign.pub');
  await writeFile(keyFile, world.publicKeyPem);
  // The floor script speaks plain HTTP, as the bench registry does (cosign is told so with a flag).
  if (world.registry.tls) throw new Error('the floor script expects a plain-HTTP registry');
  const repository = image.ref.slice(world.registry.host.length + 1, image.ref.lastIndexOf(':'));
  const tag = image.ref.slice(image.ref.lastIndexOf(':') + 1);
  const floor = (client: 'undici' | 'http') => ({
    command: process.execPath,
    args: [
      '--input-type=module',
      '-e',
      FLOOR_SCRIPT,
      client,
      REPO_ROOT,
      world.registry.host,
      repository,
      tag,
      keyFile,
    ],
  });
  const [provenant, cosign, help, undiciFloor, httpFloor] = await sideBySide([
    provenantVerify(image.ref, world.cliFlags),
    cosignVerify(keyFile, image.ref, world.registry),
    { command: process.execPath, args: [MAIN, 'help'] },
    floor('undici'),
    floor('http'),
  ]);
  if (!provenant || !cosign || !help || !undiciFloor || !httpFloor) throw new Error('no samples');
  const wallRatio = provenant.wallMs / cosign.wallMs;
  const cells = (s: Summary) => [ms(s.wallMs), ms(s.cpuMs), mib(s.peakRssBytes)];
  return [
    {
      what: `provenant verify, built CLI (median of ${RUNS})`,
      cells: [...cells(provenant), ratio(wallRatio)],
      goal: goal(
        'wall <= 1.5x cosign 3, CPU <= 150 ms, peak <= 80 MiB',
        wallRatio <= 1.5 && provenant.cpuMs <= 150 && provenant.peakRssBytes <= 80 * 1024 * 1024,
      ),
    },
    { what: `cosign 3 verify, same image (median of ${RUNS})`, cells: [...cells(cosign), ratio(1)] },
    { what: 'provenant help (start-up alone)', cells: [...cells(help), ratio(help.wallMs / cosign.wallMs)] },
    {
      what: 'floor: bare node script, same requests and signature check, undici',
      cells: [...cells(undiciFloor), ratio(undiciFloor.wallMs / cosign.wallMs)],
    },
    {
      what: 'floor: the same script with node:http',
      cells: [...cells(httpFloor), ratio(httpFloor.wallMs / cosign.wallMs)],
    },
  ];
}

/**
 * `provenant serve` with the bench policy and certificate files (as cert-manager provides them), under the
 * image's Node flags: spawn to the "listening" log line, then its RSS once idle. A first run generates the
 * certificate files.
 */
export async function benchServeStartup(world: SignedRegistry, scratch: string): Promise<Row[]> {
  const common = [...world.cliFlags, '--port', '0', '--host', '127.0.0.1'];
  const first = await startServeOnce([...common, '--tls-dir', join(scratch, 'serve-tls')]);
  const files = ['--tls-cert', first.certFile, '--tls-key', first.keyFile];
  const startups: number[] = [];
  const idle: number[] = [];
  for (let i = 0; i < SERVE_RUNS; i++) {
    const { readyMs, rss } = await startServeOnce([...common, ...files]);
    startups.push(readyMs);
    idle.push(rss);
  }
  const idleRss = median(idle);
  return [
    {
      what: `provenant serve: start to listening (median of ${SERVE_RUNS})`,
      cells: [ms(median(startups)), ''],
    },
    {
      what: 'provenant serve: idle RSS, one policy',
      cells: ['', mib(idleRss)],
      goal: goal('<= 80 MiB', idleRss <= 80 * 1024 * 1024),
    },
  ];
}

async function startServeOnce(
  args: readonly string[],
): Promise<{ readyMs: number; rss: number; certFile: string; keyFile: string }> {
  const started = performance.now();
  const child = spawn(process.execPath, [...(await imageNodeFlags()), MAIN, 'serve', ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  try {
    const [readyMs, listening] = await new Promise<[number, Record<string, unknown>]>((resolve, reject) => {
      let pending = '';
      const timer = setTimeout(() => reject(new Error('provenant serve did not start within 30 s')), 30_000);
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        pending += chunk;
        const line = pending.split('\n').find((l) => l.includes('"msg":"listening"'));
        if (line !== undefined) {
          clearTimeout(timer);
          resolve([performance.now() - started, JSON.parse(line) as Record<string, unknown>]);
        }
      });
      child.once('exit', (code) => reject(new Error(`provenant serve exited ${code}`)));
    });
    // Idle: after start-up garbage has had a chance to be collected.
    await new Promise((r) => setTimeout(r, 1500));
    return {
      readyMs,
      rss: await rssOf(child.pid ?? -1),
      certFile: String(listening['certFile']),
      keyFile: String(listening['keyFile']),
    };
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}
