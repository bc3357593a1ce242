/**
 * TufClient (@sigstore/tuf over tuf-js) against a real TUF repository on loopback, signed in the test: the
 * trusted_root.json it returns, new versions, root rotation, and the updates TUF must refuse.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseTrustedRoot } from '../../../src/trust/index.js';
import {
  TufClient,
  TufFetchError,
  type TufRepository as Repository,
} from '../../../src/trust-sources/tuf.js';
import { fixtureBytes } from '../../support/fixtures.js';
import { startTufRepository, type TufRepository } from './tuf-repository.js';

const CURRENT = fixtureBytes('real/trusted-root/public-good/trusted_root.json');
const OLDER = fixtureBytes('real/trusted-root/public-good/trusted_root.2025-03.cosign-testdata.json');

let dir: string;
let repo: TufRepository;
let client: TufClient;
let repository: Repository;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'provenant-tuf-client-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  repo = await startTufRepository(OLDER);
  repository = { mirror: repo.url, root: repo.initialRoot };
  // A cache of its own for every test: each repository has fresh keys.
  client = new TufClient({ cacheDir: await mkdtemp(join(dir, 'cache-')), retries: 0, timeoutMs: 2_000 });
});

afterEach(async () => {
  await repo.stop();
});

/** The failure of a fetch that must fail, with its code. */
async function failure(mode: 'mirror' | 'cache' = 'mirror') {
  const err = await client.fetchTrustedRoot(repository, mode).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TufFetchError);
  const { code, failure: kind, message } = err as TufFetchError;
  return { code, failure: kind, message };
}

describe('TufClient', () => {
  it('fetches trusted_root.json, verified from the initial root, byte for byte', async () => {
    const text = await client.fetchTrustedRoot(repository, 'mirror');
    expect(Buffer.from(text)).toEqual(OLDER);
    expect(parseTrustedRoot(text, 'tuf').certificateAuthorities.length).toBeGreaterThan(0);
    // Consistent snapshots: versioned metadata and a hash-prefixed target.
    expect(repo.requests).toEqual(
      expect.arrayContaining(['GET /2.root.json 404', 'GET /timestamp.json 200', 'GET /1.snapshot.json 200']),
    );
    expect(repo.requests).toContain(`GET ${repo.targetPath} 200`);
  });

  it('picks up a new version, and follows a root rotation', async () => {
    await client.fetchTrustedRoot(repository, 'mirror');
    repo.publish(CURRENT);
    expect(Buffer.from(await client.fetchTrustedRoot(repository, 'mirror'))).toEqual(CURRENT);

    repo.rotateRoot();
    repo.publish(OLDER);
    expect(Buffer.from(await client.fetchTrustedRoot(repository, 'mirror'))).toEqual(OLDER);
    expect(repo.requests).toContain('GET /2.root.json 200');
  });

  it('answers from what it cached without asking the mirror, and only from that', async () => {
    expect(await failure('cache')).toMatchObject({
      code: 'TRUST_ROOT_UNAVAILABLE',
      failure: 'cache-unusable',
    });
    await client.fetchTrustedRoot(repository, 'mirror');
    const asked = repo.requests.length;
    repo.setUnavailable(true);
    expect(Buffer.from(await client.fetchTrustedRoot(repository, 'cache'))).toEqual(OLDER);
    expect(repo.requests).toHaveLength(asked);
  });

  it.each([
    ['an expired timestamp', (r: TufRepository) => r.publishExpiredTimestamp(), /expired/],
    [
      'a timestamp signed by an unknown key',
      (r: TufRepository) => r.publishWronglySignedTimestamp(),
      /signed/,
    ],
    ['a timestamp changed after signing', (r: TufRepository) => r.publishTamperedTimestamp(), /signed/],
    [
      'a timestamp older than one already seen',
      async (r: TufRepository) => {
        r.publish(CURRENT);
        await client.fetchTrustedRoot(repository, 'mirror');
        r.publishRolledBackTimestamp();
      },
      /version/,
    ],
    [
      'a target that does not match its signed hash',
      (r: TufRepository) => {
        r.publish(CURRENT);
        r.replace(r.targetPath, OLDER);
      },
      /./,
    ],
  ])('refuses %s (rejected), and the mirror is asked again next time', async (_what, attack, why) => {
    await client.fetchTrustedRoot(repository, 'mirror');
    await attack(repo);
    const refused = await failure();
    expect(refused).toMatchObject({ code: 'TRUST_ROOT_UNAVAILABLE', failure: 'rejected' });
    expect(refused.message).toMatch(why);
    // A good publication afterwards is taken: nothing bad was persisted.
    repo.replace(repo.targetPath, CURRENT);
    repo.publish(CURRENT);
    expect(Buffer.from(await client.fetchTrustedRoot(repository, 'mirror'))).toEqual(CURRENT);
  });

  it.each([
    [
      // Within tuf-js's 16 KB timestamp cap, but nested past the remote-JSON bounds: refused unparsed.
      'a deeply nested timestamp',
      (r: TufRepository) => r.replace('/timestamp.json', Buffer.from('['.repeat(8000) + ']'.repeat(8000))),
      /timestamp\.json: refused: JSON nests deeper than 64 levels/,
    ],
    [
      'a next root.json of half a megabyte of empty objects',
      (r: TufRepository) => r.replace('/2.root.json', Buffer.from(`[${'{},'.repeat(160_000)}{}]`)),
      /2\.root\.json: refused: JSON has more than 250000 values/,
    ],
  ])('refuses %s before parsing it (rejected)', async (_what, attack, why) => {
    await client.fetchTrustedRoot(repository, 'mirror');
    attack(repo);
    const refused = await failure();
    expect(refused).toMatchObject({ code: 'TRUST_ROOT_UNAVAILABLE', failure: 'rejected' });
    expect(refused.message).toMatch(why);
  });

  it('refuses metadata that does not chain to the initial root', async () => {
    const other = await startTufRepository(OLDER);
    try {
      repository = { mirror: repo.url, root: other.initialRoot };
      expect(await failure()).toMatchObject({ code: 'TRUST_ROOT_UNAVAILABLE', failure: 'rejected' });
    } finally {
      await other.stop();
    }
  });

  it('reports a mirror that is down or failing as unreachable', async () => {
    repo.setUnavailable(true);
    expect(await failure()).toMatchObject({ code: 'TRUST_ROOT_UNAVAILABLE', failure: 'unreachable' });
    await repo.stop();
    const refused = await failure();
    expect(refused).toMatchObject({ failure: 'unreachable' });
    expect(refused.message).toContain('ECONNREFUSED');
  });

  it('refuses a cache directory other users can write to', async () => {
    const shared = await mkdtemp(join(dir, 'shared-'));
    await chmod(shared, 0o777);
    client = new TufClient({ cacheDir: shared });
    expect(await failure()).toMatchObject({ code: 'TRUST_ROOT_UNAVAILABLE', failure: 'cache-unusable' });
    expect(repo.requests).toEqual([]);
  });
});
