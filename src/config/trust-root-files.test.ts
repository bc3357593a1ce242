import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fixtureText } from '../../test/support/fixtures.js';
import type { TrustStore } from '../trust/index.js';
import { readTrustRootFiles, watchTrustRootFiles, type TrustRootFileWatcher } from './trust-root-files.js';

const PUBLIC_GOOD = fixtureText('real/trusted-root/public-good/trusted_root.json');
const GITHUB = fixtureText('real/trusted-root/github/trusted_root.json');

let dir: string;
let file: string;
let watcher: TrustRootFileWatcher | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'provenant-trust-root-files-'));
  file = join(dir, 'trusted_root.json');
  await writeFile(file, PUBLIC_GOOD);
});

afterEach(async () => {
  watcher?.close();
  await rm(dir, { recursive: true, force: true });
});

async function watching() {
  const files = [{ name: 'corp', path: file }];
  const stores: TrustStore[] = [];
  const errors: unknown[] = [];
  watcher = watchTrustRootFiles(files, await readTrustRootFiles(files), {
    onChange: (_roots, store) => stores.push(store),
    onError: (err) => errors.push(err),
  });
  return { stores, errors };
}

describe('watchTrustRootFiles', () => {
  it('hands on a store with the new content when a file changes', async () => {
    const { stores, errors } = await watching();
    await writeFile(file, GITHUB);
    await vi.waitFor(() => expect(stores).toHaveLength(1), { timeout: 10_000 });
    expect(stores[0]?.get('corp')?.trustedRoot.certificateAuthorities[0]?.uri).toContain('github');
    expect(errors).toEqual([]);
  });

  it('refuses content that is not a trusted root, once, and takes the next good content', async () => {
    const { stores, errors } = await watching();
    await writeFile(file, '{"mediaType": "half-written');
    await vi.waitFor(() => expect(errors).toHaveLength(1), { timeout: 10_000 });
    // The same bad content again (another write event) is not reported again.
    await writeFile(file, '{"mediaType": "half-written');
    await writeFile(file, GITHUB);
    await vi.waitFor(() => expect(stores).toHaveLength(1), { timeout: 10_000 });
    expect(errors).toHaveLength(1);
  });
});
