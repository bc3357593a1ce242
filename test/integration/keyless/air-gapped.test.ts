import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVerifyJson, writeKeylessPolicy } from '../../support/cli.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import type { NetworkAttempt } from './network-guard.js';
import { pushRealKeylessSignature, REAL_SIGNER, type ServedSignature } from './real-keyless-signature.js';

// Keyless verification with the embedded roots needs no network: no TUF, no Rekor or Fulcio lookups, no
// OCSP. `provenant verify` runs as a real process under network-guard.ts, which records every connection
// and name lookup and refuses all but loopback; the only peer it may talk to is the local registry.

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GUARD = fileURLToPath(new URL('./network-guard.ts', import.meta.url));

let registry: TestRegistry;
let served: ServedSignature;
let scratch: string;

beforeAll(async () => {
  [registry, scratch] = await Promise.all([startRegistry(), mkdtemp(join(tmpdir(), 'provenant-airgap-'))]);
  served = await pushRealKeylessSignature(registry);
});

afterAll(async () => {
  await registry?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

interface GuardedRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly attempts: NetworkAttempt[];
}

let runs = 0;

/** `node --import tsx --import network-guard.ts src/cli/main.ts ARGS`, with nothing inherited but PATH. */
async function guardedProvenant(args: string[]): Promise<GuardedRun> {
  const log = join(scratch, `attempts-${++runs}.json`);
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', GUARD, 'src/cli/main.ts', ...args], {
    cwd: REPO_ROOT,
    // No proxy variables, no developer HOME: nothing but the guard decides where connections go.
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: scratch,
      TMPDIR: scratch,
      NETWORK_GUARD_LOG: log,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  const attempts = JSON.parse(await readFile(log, 'utf8')) as NetworkAttempt[];
  return { code, stdout, stderr, attempts };
}

async function philippPolicy(glob: string): Promise<string> {
  return writeKeylessPolicy({
    name: 'air-gapped',
    glob,
    authorities: { philipp: { identities: [{ issuer: REAL_SIGNER.issuer, subject: REAL_SIGNER.subject }] } },
  });
}

describe('provenant verify, keyless, air-gapped', () => {
  it('verifies the real public-good signature talking to nothing but the local registry', async () => {
    const run = await guardedProvenant([
      'verify',
      served.digestRef,
      '--policy',
      await philippPolicy(`${registry.host}/**`),
      '--insecure-registry',
      registry.host,
      '--output',
      'json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(parseVerifyJson({ ...run, code: run.code ?? -1 }).results[0]).toMatchObject({
      allowed: true,
      digest: served.imageDigest,
    });
    expect(run.attempts.filter((a) => !a.allowed)).toEqual([]);
    // The guard did watch: the registry connections are on the record, and they are all there is.
    const peers = new Set(run.attempts.filter((a) => !a.target.startsWith('ipc:')).map((a) => a.target));
    expect([...peers]).toEqual([registry.host]);
  });

  it('would have caught an attempt: a docker.io image is refused by the guard and denied', async () => {
    const image = `docker.io/phbelitz/rekor-test@${served.imageDigest}`;
    const run = await guardedProvenant([
      'verify',
      image,
      '--policy',
      await philippPolicy('docker.io/phbelitz/**'),
      '--output',
      'json',
      '--timeout',
      '20s',
    ]);
    expect(run.code, run.stderr).toBe(1);
    expect(parseVerifyJson({ ...run, code: run.code ?? -1 }).results[0]?.reasons.map((r) => r.code)).toEqual([
      'REGISTRY_UNAVAILABLE',
    ]);
    const refused = run.attempts.filter((a) => !a.allowed).map((a) => a.target);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((target) => /docker\.io/.test(target))).toBe(true);
  });
});
