/**
 * `--trust-root NAME=FILE` files are watched like policy files: a rotated private root is used without a
 * restart, and no verdict cached under the old root survives it. The real public-good signature, a keyless
 * policy naming trust root "corp", and a file that switches between the public-good and GitHub roots.
 */
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeKeylessPolicy } from '../../support/cli.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import {
  PUBLIC_GOOD_TRUSTED_ROOT,
  pushRealKeylessSignature,
  REAL_SIGNER,
  type ServedSignature,
} from '../keyless/real-keyless-signature.js';
import { podReview } from './reviews.js';
import { startServe, type ServeProcess } from './serve-process.js';

const GITHUB_TRUSTED_ROOT = new URL(
  '../../fixtures/real/trusted-root/github/trusted_root.json',
  import.meta.url,
).pathname;

let registry: TestRegistry;
let served: ServedSignature;
let dir: string;
let rootFile: string;
let server: ServeProcess;

beforeAll(async () => {
  registry = await startRegistry();
  served = await pushRealKeylessSignature(registry);
  dir = await mkdtemp(join(tmpdir(), 'provenant-trust-root-file-'));
  rootFile = join(dir, 'trusted_root.json');
  await copyFile(PUBLIC_GOOD_TRUSTED_ROOT, rootFile);
  const policy = await writeKeylessPolicy({
    name: 'corp-signed',
    glob: `${registry.host}/**`,
    authorities: { signer: { trustRoot: 'corp', identities: [{ ...REAL_SIGNER }] } },
  });
  server = await startServe([
    '--policy',
    policy,
    '--trust-root',
    `corp=${rootFile}`,
    '--insecure-registry',
    registry.host,
  ]);
});

afterAll(async () => {
  await server?.stop('SIGKILL');
  await registry?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const admit = () => server.review('/validate', podReview([{ name: 'app', image: served.digestRef }]));

/** Replaces the file's content and waits for the server to log what it made of it. */
async function rewrite(from: string | Buffer, message: string): Promise<void> {
  const since = server.logs.length;
  await writeFile(rootFile, from);
  await server.waitForLog((l) => l['msg'] === message, { since, timeoutMs: 15_000 });
}

describe('--trust-root file reload', () => {
  it('denies the next admission once the file holds another root', async () => {
    expect((await admit()).allowed).toBe(true);
    const before = await server.registryRequests();
    expect((await admit()).allowed).toBe(true);
    expect(await server.registryRequests()).toBe(before);

    await rewrite(await readFile(GITHUB_TRUSTED_ROOT), '--trust-root files reloaded');
    const rotated = await admit();
    expect(rotated.allowed).toBe(false);
    expect(rotated.status?.details.causes.map((c) => c.reason)).toEqual(['UNTRUSTED_SIGNER']);
  });

  it('keeps the last good root when the file is rewritten with something that is not a trusted root', async () => {
    await rewrite(await readFile(PUBLIC_GOOD_TRUSTED_ROOT), '--trust-root files reloaded');
    expect((await admit()).allowed).toBe(true);
    await rewrite(
      '{"mediaType": "half-written',
      'a --trust-root file is not usable; the last good copies stay in use',
    );
    expect((await admit()).allowed).toBe(true);
  });
});
