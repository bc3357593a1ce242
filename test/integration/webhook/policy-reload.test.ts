/**
 * Policy files are watched: an edit changes the very next decisions without a restart, an invalid edit
 * keeps the last good set (and the log says why), and an editor's write-then-rename is picked up too.
 * One image signed by key A with real cosign; the policy file switches between keys A and B.
 */
import { readFile, rename, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeKeyPolicy } from '../../support/cli.js';
import { cosignSign, generateKeyPair, type CosignKeyPair } from '../../support/cosign.js';
import { pushRandomImage, type PushedImage } from '../../support/images.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { podReview } from './reviews.js';
import { startServe, type ServeProcess } from './serve-process.js';

let registry: TestRegistry;
let image: PushedImage;
let keyA: CosignKeyPair;
let keyB: CosignKeyPair;
let policyFile: string;
let server: ServeProcess;

async function policyText(key: CosignKeyPair): Promise<string> {
  return readFile(
    await writeKeyPolicy({
      name: 'release',
      glob: `${registry.host}/reload/**`,
      keys: { 'key-in-force': key.publicKeyPem },
    }),
    'utf8',
  );
}

async function decide(): Promise<string> {
  const response = await server.review('/validate', podReview([{ name: 'app', image: image.digestRef }]));
  return response.allowed ? 'allowed' : (response.status?.details.causes[0]?.reason ?? 'denied');
}

function pollDecision() {
  return expect.poll(decide, { timeout: 15_000, interval: 200 });
}

beforeAll(async () => {
  registry = await startRegistry();
  [keyA, keyB] = await Promise.all([generateKeyPair('ecdsa-p256'), generateKeyPair('ecdsa-p256')]);
  image = await pushRandomImage(registry, 'reload/app', 'v1');
  await cosignSign(2, keyA, image.digestRef, registry);
  policyFile = join(await mkdtemp(join(tmpdir(), 'provenant-reload-')), 'policy.yaml');
  await writeFile(policyFile, await policyText(keyB));
  server = await startServe(['--policy', policyFile, '--insecure-registry', registry.host]);
});

afterAll(async () => {
  await server?.stop('SIGKILL');
  await registry?.stop();
});

describe('policy file reload', () => {
  it('an edit changes the next decision without a restart', async () => {
    expect(await decide()).toBe('UNTRUSTED_SIGNER');
    await writeFile(policyFile, await policyText(keyA));
    // The denial was cached (negative TTL 30 s), but the cache key carries the policy fingerprint.
    await pollDecision().toBe('allowed');
    await server.waitForLog((l) => l['msg'] === 'policies reloaded');
  });

  it('an invalid edit keeps the last good set and logs why', async () => {
    const since = server.logs.length;
    const valid = await readFile(policyFile, 'utf8');
    await writeFile(policyFile, valid.replace('threshold: 1', 'threshold: 1\n  surprise: true'));
    const rejected = await server.waitForLog(
      (l) => l['msg'] === 'policy change rejected; keeping the last good set',
      { since },
    );
    expect(rejected['level']).toBe(50);
    expect(String(rejected['reason'])).toContain(policyFile);
    expect(String(rejected['reason'])).toContain('surprise');
    expect(await decide()).toBe('allowed');
    expect((await server.get('/readyz')).status).toBe(200);

    const sinceYaml = server.logs.length;
    await writeFile(policyFile, 'kind: [unclosed');
    await server.waitForLog((l) => String(l['reason'] ?? '').includes('not valid YAML'), {
      since: sinceYaml,
    });
    expect(await decide()).toBe('allowed');
  });

  it("picks up an editor's write-then-rename, after a rejected edit", async () => {
    const temporary = join(policyFile, '..', '.policy.yaml.swp');
    await writeFile(temporary, await policyText(keyB));
    await rename(temporary, policyFile);
    await pollDecision().toBe('UNTRUSTED_SIGNER');
  });
});
