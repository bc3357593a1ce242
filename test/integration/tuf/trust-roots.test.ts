/**
 * KubeTrustRoots with the real TufClient against a real TUF repository on loopback: a TrustRoot with
 * `spec.tuf` becomes trust material, follows new versions, keeps its last good copy through refused
 * updates, and an unreachable mirror is reported, not hidden.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ReadyState } from '../../../src/kube/status.js';
import type { TrustRootObject } from '../../../src/kube/trust-root-spec.js';
import { KubeTrustRoots } from '../../../src/kube/trust-roots.js';
import { parseTrustedRoot } from '../../../src/trust/index.js';
import { TufClient } from '../../../src/trust-sources/tuf.js';
import { fixtureBytes } from '../../support/fixtures.js';
import { RecordingLogger } from '../kube/helpers.js';
import { startTufRepository, type TufRepository } from './tuf-repository.js';

const CURRENT = fixtureBytes('real/trusted-root/public-good/trusted_root.json');
const OLDER = fixtureBytes('real/trusted-root/public-good/trusted_root.2025-03.cosign-testdata.json');

let dir: string;
let repo: TufRepository;
let roots: KubeTrustRoots;
let conditions: Map<string, ReadyState | undefined>;
let versions: string[];
let logger: RecordingLogger;

function tufRoot(name: string, mirror: string, refreshInterval = '1s'): TrustRootObject {
  return {
    name,
    uid: `uid-${name}`,
    resourceVersion: '1',
    spec: { tuf: { mirror, root: repo.initialRoot.toString('base64'), refreshInterval } },
  };
}

const inUse = (name: string) => roots.store.get(name)?.trustedRoot;
const condition = (name: string) => conditions.get(name);

async function eventually<T>(read: () => T, check: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = read();
    if (check(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'provenant-tuf-roots-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  repo = await startTufRepository(OLDER);
  conditions = new Map();
  versions = [];
  logger = new RecordingLogger();
  roots = new KubeTrustRoots({
    fetcher: new TufClient({ cacheDir: await mkdtemp(join(dir, 'cache-')), retries: 0, timeoutMs: 2_000 }),
    logger,
    onChange: (_store, version) => versions.push(version),
    onCondition: (name, state) => conditions.set(name, state),
    retryInitialMs: 200,
    retryMaxMs: 1_000,
  });
});

afterEach(async () => {
  roots.stop();
  await repo.stop();
});

describe('TrustRoot with spec.tuf', () => {
  it('is in use once update() resolves, and picks up a new version at the next refresh', async () => {
    await roots.update([tufRoot('corp', repo.url)]);
    expect(inUse('corp')).toEqual(parseTrustedRoot(OLDER, 'corp'));
    expect(condition('corp')).toMatchObject({ status: 'True', reason: 'Valid' });
    // The first while it was being fetched (a root that refuses every signature), then the fetched one.
    expect(versions).toHaveLength(2);

    repo.publish(CURRENT);
    await eventually(
      () => inUse('corp'),
      (r) => JSON.stringify(r) === JSON.stringify(parseTrustedRoot(CURRENT, 'corp')),
      'the new version',
    );
    expect(versions).toHaveLength(3);
    expect(condition('corp')).toMatchObject({ status: 'True', reason: 'Valid' });
  });

  it.each([
    ['an expired timestamp', (r: TufRepository) => r.publishExpiredTimestamp(), 'expired'],
    [
      'a wrongly signed timestamp',
      (r: TufRepository) => r.publishWronglySignedTimestamp(),
      'signed by 0/1 keys',
    ],
    [
      'a corrupted target',
      (r: TufRepository) => {
        r.publish(CURRENT);
        r.replace(r.targetPath, Buffer.from(CURRENT.toString('utf8').replace('"tlogs"', '"tlogz"')));
      },
      'target',
    ],
    [
      'a correctly signed trusted_root.json that is not a usable trust root',
      (r: TufRepository) =>
        r.publish(Buffer.from('{"mediaType":"application/vnd.dev.sigstore.trustedroot.v0.2+json"}')),
      'no certificate authorities',
    ],
  ])(
    'refuses %s and keeps the last good copy in use, then takes the next good one',
    async (_what, attack, why) => {
      await roots.update([tufRoot('corp', repo.url)]);
      const good = roots.store.get('corp');
      expect(good).toBeDefined();

      attack(repo);
      const refused = await eventually(
        () => condition('corp'),
        (c) => c?.reason === 'RefreshFailed',
        'a failed refresh',
      );
      expect(refused).toMatchObject({ status: 'True', reason: 'RefreshFailed' });
      expect(refused?.message).toContain(why);
      expect(roots.store.get('corp')).toBe(good);
      expect(versions).toHaveLength(2);
      expect(
        logger.lines.some((l) => l.level === 'warn' && l.message.includes('last good copy stays in use')),
      ).toBe(true);

      repo.replace(repo.targetPath, CURRENT);
      repo.publish(CURRENT);
      await eventually(
        () => condition('corp'),
        (c) => c?.reason === 'Valid',
        'recovery',
      );
      expect(inUse('corp')).toEqual(parseTrustedRoot(CURRENT, 'corp'));
    },
  );

  it('reports an unreachable mirror at start as not Ready, with the reason, and trusts nothing', async () => {
    await repo.stop();
    const started = Date.now();
    await roots.update([tufRoot('corp', repo.url, '24h')]);
    expect(Date.now() - started).toBeLessThan(10_000);
    // In the store, so policies naming it stay in force, but holding nothing: every check is refused.
    expect(roots.store.get('corp')?.unavailable).toContain(repo.url);
    expect(roots.store.get('corp')?.trustMaterial.certificateAuthorities).toEqual([]);
    expect(versions).toHaveLength(1);
    expect(condition('corp')).toMatchObject({ status: 'False', reason: 'TrustRootUnavailable' });
    expect(condition('corp')?.message).toMatch(/ECONNREFUSED.*refused \(TRUST_ROOT_UNAVAILABLE\)/);
  });

  it('serves from the cache a previous process left when the mirror is down at start', async () => {
    const cacheDir = await mkdtemp(join(dir, 'shared-'));
    const make = () =>
      new KubeTrustRoots({
        fetcher: new TufClient({ cacheDir, retries: 0 }),
        logger,
        onChange: () => {},
        onCondition: (name, state) => conditions.set(name, state),
      });
    const first = make();
    await first.update([tufRoot('corp', repo.url, '24h')]);
    first.stop();

    repo.setUnavailable(true);
    roots = make();
    await roots.update([tufRoot('corp', repo.url, '24h')]);
    expect(inUse('corp')).toEqual(parseTrustedRoot(OLDER, 'corp'));
    expect(condition('corp')).toMatchObject({ status: 'True', reason: 'RefreshFailed' });
    expect(condition('corp')?.message).toContain('local TUF cache');
  });
});
