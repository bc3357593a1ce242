/**
 * Every way a policy file gets replaced in practice is picked up, and keeps being picked up afterwards
 * (issue #15, items 3 and 4). One image signed by key A with real cosign; each case starts `provenant serve`
 * trusting A (admitted), replaces the policy so that only key B is trusted (A revoked: denied), then
 * replaces it again to trust A (admitted), proving the watch survived the first replacement.
 */
import { mkdir, mkdtemp, open, readFile, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeKeyPolicy } from '../../support/cli.js';
import { cosignSign, generateKeyPair, type CosignKeyPair } from '../../support/cosign.js';
import { pushRandomImage, type PushedImage } from '../../support/images.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { podReview } from './reviews.js';
import { startServe, type ServeProcess } from './serve-process.js';

const REJECTED = 'policy change rejected; keeping the last good set';

let registry: TestRegistry;
let image: PushedImage;
let keyA: CosignKeyPair;
let keyB: CosignKeyPair;
const servers: ServeProcess[] = [];

async function policyText(key: CosignKeyPair): Promise<string> {
  return readFile(
    await writeKeyPolicy({
      name: 'release',
      glob: `${registry.host}/replace/**`,
      keys: { 'key-in-force': key.publicKeyPem },
    }),
    'utf8',
  );
}

async function serve(policyPath: string): Promise<ServeProcess> {
  const server = await startServe(['--policy', policyPath, '--insecure-registry', registry.host]);
  servers.push(server);
  return server;
}

async function decide(server: ServeProcess): Promise<string> {
  const response = await server.review('/validate', podReview([{ name: 'app', image: image.digestRef }]));
  return response.allowed ? 'allowed' : (response.status?.details.causes[0]?.reason ?? 'denied');
}

function pollDecision(server: ServeProcess) {
  return expect.poll(() => decide(server), { timeout: 15_000, interval: 200 });
}

/** Admitted under A; replaced to trust only B: denied; replaced back to A: admitted again. */
async function proveReplacement(
  server: ServeProcess,
  replace: (text: string) => Promise<void>,
): Promise<void> {
  expect(await decide(server)).toBe('allowed');
  await replace(await policyText(keyB));
  await pollDecision(server).toBe('UNTRUSTED_SIGNER');
  await replace(await policyText(keyA));
  await pollDecision(server).toBe('allowed');
}

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'provenant-replace-'));
}

/** Writes over the same inode without ever truncating it to zero: `r+`, write, then cut to length. */
async function writeInPlace(file: string, text: string): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const bytes = Buffer.from(text);
    await handle.write(bytes, 0, bytes.length, 0);
    await handle.truncate(bytes.length);
  } finally {
    await handle.close();
  }
}

/**
 * A Kubernetes ConfigMap volume: `policy.yaml -> ..data/policy.yaml`, `..data -> ..<timestamp>`; an update
 * writes a new timestamped folder, points `..data_tmp` at it, renames that over `..data` (atomic) and
 * removes the old folder, as the kubelet's AtomicWriter does.
 */
class ConfigMapVolume {
  #generation = 0;
  #current: string | undefined;

  constructor(readonly dir: string) {}

  async write(text: string): Promise<void> {
    const folder = `..2026_12_04_05_00_00.${String(++this.#generation).padStart(9, '0')}`;
    await mkdir(join(this.dir, folder));
    await writeFile(join(this.dir, folder, 'policy.yaml'), text);
    await symlink(folder, join(this.dir, '..data_tmp'));
    await rename(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    if (this.#current === undefined) {
      await symlink(join('..data', 'policy.yaml'), join(this.dir, 'policy.yaml'));
    } else {
      await rm(join(this.dir, this.#current), { recursive: true });
    }
    this.#current = folder;
  }
}

beforeAll(async () => {
  registry = await startRegistry();
  [keyA, keyB] = await Promise.all([generateKeyPair('ecdsa-p256'), generateKeyPair('ecdsa-p256')]);
  image = await pushRandomImage(registry, 'replace/app', 'v1');
  await cosignSign(2, keyA, image.digestRef, registry);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop('SIGKILL')));
  await registry?.stop();
});

describe('policy replacement styles', () => {
  it('in-place write (same inode, never empty)', async () => {
    const file = join(await tempDir(), 'policy.yaml');
    await writeFile(file, await policyText(keyA));
    const server = await serve(file);
    await proveReplacement(server, (text) => writeInPlace(file, text));
  });

  it('truncate, then write (`cat new > policy.yaml`): the empty moment keeps the last good set', async () => {
    const file = join(await tempDir(), 'policy.yaml');
    await writeFile(file, await policyText(keyA));
    const server = await serve(file);
    await proveReplacement(server, async (text) => {
      const since = server.logs.length;
      await writeFile(file, '');
      const rejected = await server.waitForLog((l) => l['msg'] === REJECTED, { since });
      expect(String(rejected['reason'])).toContain('the file is empty');
      // While empty, the last good set still decides: never "no policy" (which --no-match would answer).
      expect(['allowed', 'UNTRUSTED_SIGNER']).toContain(await decide(server));
      expect((await server.get('/readyz')).status).toBe(200);
      await writeFile(file, text);
    });
  });

  it('rename over the file (editors, `kubectl cp`, config management)', async () => {
    const dir = await tempDir();
    const file = join(dir, 'policy.yaml');
    await writeFile(file, await policyText(keyA));
    const server = await serve(file);
    let n = 0;
    await proveReplacement(server, async (text) => {
      const temporary = join(dir, `.policy.yaml.${++n}.tmp`);
      await writeFile(temporary, text);
      await rename(temporary, file);
    });
  });

  it('delete and recreate the watched directory, then edit inside the new one', async () => {
    const dir = join(await tempDir(), 'policies');
    await mkdir(dir);
    await writeFile(join(dir, 'policy.yaml'), await policyText(keyA));
    const server = await serve(dir);
    await proveReplacement(server, async (text) => {
      await rm(dir, { recursive: true });
      await mkdir(dir);
      await writeFile(join(dir, 'policy.yaml'), text);
    });
    // The bug this guards against: after a recreation, later edits were never seen.
    await writeInPlace(join(dir, 'policy.yaml'), await policyText(keyB));
    await pollDecision(server).toBe('UNTRUSTED_SIGNER');
  });

  it('delete and recreate the directory and its parent', async () => {
    const parent = join(await tempDir(), 'config');
    const dir = join(parent, 'policies');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'policy.yaml'), await policyText(keyA));
    const server = await serve(dir);
    await proveReplacement(server, async (text) => {
      await rm(parent, { recursive: true });
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'policy.yaml'), text);
    });
  });

  it.each(['directory', 'file through the ..data link'] as const)(
    'ConfigMap volume atomic symlink swap, --policy naming the %s',
    async (named) => {
      const volume = new ConfigMapVolume(await tempDir());
      await volume.write(await policyText(keyA));
      const server = await serve(named === 'directory' ? volume.dir : join(volume.dir, 'policy.yaml'));
      await proveReplacement(server, (text) => volume.write(text));
    },
  );
});

describe('emptying a policy set', () => {
  it('on purpose: a file holding `[]`, then removing the file; a missing directory keeps the last set', async () => {
    const dir = await tempDir();
    const file = join(dir, 'policy.yaml');
    await writeFile(file, await policyText(keyA));
    const server = await serve(file);
    expect(await decide(server)).toBe('allowed');

    await writeFile(file, '# no policies, on purpose\n[]\n');
    await pollDecision(server).toBe('NO_MATCHING_POLICY');

    await writeFile(file, await policyText(keyA));
    await pollDecision(server).toBe('allowed');
    await unlink(file);
    await pollDecision(server).toBe('NO_MATCHING_POLICY');

    await writeFile(file, await policyText(keyA));
    await pollDecision(server).toBe('allowed');
  });

  it('an unreadable file or a removed directory is a failed reload, not an empty set', async () => {
    const dir = join(await tempDir(), 'policies');
    await mkdir(dir);
    const file = join(dir, 'policy.yaml');
    await writeFile(file, await policyText(keyA));
    const server = await serve(dir);

    const since = server.logs.length;
    await rm(dir, { recursive: true });
    const rejected = await server.waitForLog((l) => l['msg'] === REJECTED, { since });
    expect(String(rejected['reason'])).toContain(dir);
    expect(await decide(server)).toBe('allowed');

    await mkdir(dir);
    // A policy file that cannot be read (here: a directory named like one) fails the reload too.
    await mkdir(join(dir, 'broken.yaml'));
    await writeFile(file, await policyText(keyB));
    const since2 = server.logs.length;
    await server.waitForLog((l) => l['msg'] === REJECTED, { since: since2 });
    expect(await decide(server)).toBe('allowed');

    await rm(join(dir, 'broken.yaml'), { recursive: true });
    await pollDecision(server).toBe('UNTRUSTED_SIGNER');
  });
});
