import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fixtureText } from '../../test/support/fixtures.js';
import {
  TufFetchError,
  type TrustedRootFetcher,
  type TufFetchMode,
  type TufRepository,
} from '../trust-sources/tuf.js';
import { parseTrustedRoot, type TrustRoot, type TrustStore } from '../trust/index.js';
import { usableRoot } from '../trust/trust-store.js';
import type { LogSink } from './log.js';
import type { ReadyState } from './status.js';
import type { TrustRootObject, TrustRootSpec } from './trust-root-spec.js';
import { KubeTrustRoots } from './trust-roots.js';

const CURRENT = fixtureText('real/trusted-root/public-good/trusted_root.json');
const OLDER = fixtureText('real/trusted-root/public-good/trusted_root.2025-03.cosign-testdata.json');
const ROOT_JSON = Buffer.from(JSON.stringify({ signed: { _type: 'root', version: 1 }, signatures: [] }));

type Answer = string | Error | 'hang';

/** A fetcher answering from a script per mode; every call is recorded. */
class ScriptedFetcher implements TrustedRootFetcher {
  readonly calls: { mirror: string; mode: TufFetchMode }[] = [];
  readonly answers: Record<TufFetchMode, Answer[]> = { mirror: [], cache: [] };
  fallback: Record<TufFetchMode, Answer> = {
    mirror: new TufFetchError('unreachable', 'connect ECONNREFUSED'),
    cache: new TufFetchError('cache-unusable', 'nothing cached'),
  };

  async fetchTrustedRoot(repository: TufRepository, mode: TufFetchMode): Promise<string> {
    this.calls.push({ mirror: repository.mirror, mode });
    const answer = this.answers[mode].shift() ?? this.fallback[mode];
    if (answer === 'hang') return new Promise(() => {});
    if (answer instanceof Error) throw answer;
    return answer;
  }
}

const silent: LogSink = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

let fetcher: ScriptedFetcher;
let changes: { store: TrustStore; version: string }[];
let conditions: Map<string, ReadyState | undefined>;
let roots: KubeTrustRoots;

function trustRoot(name: string, spec: TrustRootSpec, uid = `uid-${name}`): TrustRootObject {
  return { name, uid, resourceVersion: '1', spec };
}

function tuf(mirror = 'https://tuf.example', refreshInterval?: string): TrustRootSpec {
  return {
    tuf: {
      mirror,
      root: ROOT_JSON.toString('base64'),
      ...(refreshInterval === undefined ? {} : { refreshInterval }),
    },
  };
}

const inline = (text: string): TrustRootSpec => ({
  trustedRoot: JSON.parse(text) as Record<string, unknown>,
});

beforeEach(() => {
  vi.useFakeTimers();
  fetcher = new ScriptedFetcher();
  changes = [];
  conditions = new Map();
  roots = new KubeTrustRoots({
    fetcher,
    logger: silent,
    clock: { now: () => Date.now() },
    onChange: (store, version) => changes.push({ store, version }),
    onCondition: (name, state) => conditions.set(name, state),
    firstFetchWaitMs: 30_000,
    retryInitialMs: 10_000,
    retryMaxMs: 300_000,
  });
});

afterEach(() => {
  roots.stop();
  vi.useRealTimers();
});

describe('KubeTrustRoots', () => {
  it('uses inline roots as they are and never goes online for them', async () => {
    await roots.update([trustRoot('corp', inline(CURRENT))]);
    expect(roots.store.names()).toEqual(['public-good', 'github', 'corp']);
    expect(changes).toHaveLength(1);
    expect(changes[0]?.version).toBe(roots.version);
    expect(conditions.get('corp')).toBeUndefined();
    expect(fetcher.calls).toEqual([]);

    // The same objects again change nothing.
    await roots.update([trustRoot('corp', inline(CURRENT))]);
    expect(changes).toHaveLength(1);
  });

  it.each([
    [
      'a trusted root with no authorities',
      'bad',
      { mediaType: 'application/vnd.dev.sigstore.trustedroot.v0.2+json' },
    ],
    ['a built-in name', 'github', JSON.parse(CURRENT) as Record<string, unknown>],
  ])('refuses %s on its own, saying so in the condition', async (_what, name, trustedRoot) => {
    await roots.update([trustRoot(name, { trustedRoot }), trustRoot('corp', inline(CURRENT))]);
    expect(roots.store.names()).toEqual(['public-good', 'github', 'corp']);
    expect(conditions.get(name)).toMatchObject({ status: 'False', reason: 'InvalidTrustRoot' });
  });

  it('drops a TrustRoot that is gone, and clears its condition', async () => {
    await roots.update([trustRoot('corp', inline(CURRENT)), trustRoot('mirror', tuf())]);
    await roots.update([]);
    expect(roots.store.names()).toEqual(['public-good', 'github']);
    expect(changes.at(-1)?.store).toBe(roots.store);
    expect(conditions.get('mirror')).toBeUndefined();
    const calls = fetcher.calls.length;
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(fetcher.calls).toHaveLength(calls);
  });

  it('fetches a TUF root before update() resolves, then refreshes it every refreshInterval', async () => {
    fetcher.answers.mirror.push(OLDER, OLDER, CURRENT);
    await roots.update([trustRoot('mirror', tuf('https://tuf.example', '1h'))]);
    expect(roots.store.get('mirror')).toBeDefined();
    expect(conditions.get('mirror')).toMatchObject({ status: 'True', reason: 'Valid' });
    const first = roots.version;

    // One store while it was being fetched (holding nothing: see below), one with what was fetched.
    expect(changes).toHaveLength(2);
    expect(changes[0]?.store.get('mirror')?.unavailable).toBeDefined();
    expect(roots.store.get('mirror')?.unavailable).toBeUndefined();

    await vi.advanceTimersByTimeAsync(3_600_000); // the same content: nothing to recompile
    expect(fetcher.calls).toHaveLength(2);
    expect(changes).toHaveLength(2);

    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(fetcher.calls).toHaveLength(3);
    expect(changes).toHaveLength(3);
    expect(roots.version).not.toBe(first);
    expect(fetcher.calls.every((c) => c.mode === 'mirror')).toBe(true);
  });

  it('keeps the last good copy when a refresh fails, and says so while it is Ready', async () => {
    fetcher.answers.mirror.push(
      OLDER,
      new TufFetchError('rejected', 'UnsignedMetadataError: timestamp was signed by 0/1 keys'),
      '{"mediaType":"application/vnd.dev.sigstore.trustedroot.v0.2+json"}', // verified by TUF, still unusable
      CURRENT,
    );
    await roots.update([trustRoot('mirror', tuf('https://tuf.example', '1h'))]);
    const good = roots.store.get('mirror');

    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(roots.store.get('mirror')).toBe(good);
    expect(conditions.get('mirror')).toMatchObject({ status: 'True', reason: 'RefreshFailed' });
    expect(conditions.get('mirror')?.message).toContain('timestamp was signed by 0/1 keys');

    await vi.advanceTimersByTimeAsync(10_000); // retried sooner than the interval
    expect(roots.store.get('mirror')).toBe(good);
    expect(conditions.get('mirror')).toMatchObject({ status: 'True', reason: 'RefreshFailed' });

    await vi.advanceTimersByTimeAsync(20_000);
    expect(roots.store.get('mirror')).not.toBe(good);
    expect(conditions.get('mirror')).toMatchObject({ status: 'True', reason: 'Valid' });
    expect(changes).toHaveLength(3);
  });

  it('stops using a copy older than maxStaleness while refreshing fails, and resumes on the next success', async () => {
    fetcher.answers.mirror.push(CURRENT);
    const spec = tuf('https://tuf.example', '1h');
    const withLimit: TrustRootSpec = {
      tuf: { ...(spec as { tuf: object }).tuf, maxStaleness: '2h' },
    } as TrustRootSpec;
    await roots.update([trustRoot('mirror', withLimit)]);
    expect(roots.store.get('mirror')?.stale).toBeUndefined();

    // Refreshing fails from the first scheduled refresh on; within maxStaleness the copy stays in use.
    await vi.advanceTimersByTimeAsync(3_600_000 + 60_000);
    expect(conditions.get('mirror')).toMatchObject({ status: 'True', reason: 'RefreshFailed' });
    expect(roots.store.get('mirror')?.stale).toBeUndefined();

    // Past 2h since it was verified (retries are at most 5 minutes apart): refused.
    await vi.advanceTimersByTimeAsync(3_600_000);
    const stale = roots.store.get('mirror');
    expect(stale?.stale).toMatch(/longer ago than its maxStaleness 2h/);
    expect(() => usableRoot(stale as TrustRoot)).toThrow(
      expect.objectContaining({ code: 'TRUST_ROOT_STALE' }),
    );
    expect(conditions.get('mirror')).toMatchObject({ status: 'False', reason: 'Stale' });
    const staleVersion = roots.version;

    // The mirror is back: the next retry adopts a fresh copy, usable again.
    fetcher.answers.mirror.push(CURRENT);
    await vi.advanceTimersByTimeAsync(300_000);
    expect(roots.store.get('mirror')?.stale).toBeUndefined();
    expect(roots.version).not.toBe(staleVersion);
    expect(conditions.get('mirror')).toMatchObject({ status: 'True', reason: 'Valid' });
  });

  it('does not start from the local TUF cache when maxStaleness is set (the cache cannot prove its age)', async () => {
    fetcher.answers.cache.push(CURRENT);
    const spec = tuf();
    await roots.update([
      trustRoot('mirror', {
        tuf: { ...(spec as { tuf: object }).tuf, maxStaleness: '48h' },
      } as TrustRootSpec),
    ]);
    expect(fetcher.calls.map((c) => c.mode)).toEqual(['mirror']);
    expect(() => usableRoot(roots.store.get('mirror') as TrustRoot)).toThrow(
      expect.objectContaining({ code: 'TRUST_ROOT_UNAVAILABLE' }),
    );
  });

  it('reports a first fetch that failed as not Ready, and retries with backoff until it works', async () => {
    fetcher.answers.mirror.push(
      new TufFetchError('unreachable', 'connect ECONNREFUSED'),
      new TufFetchError('unreachable', 'connect ECONNREFUSED'),
      CURRENT,
    );
    await roots.update([trustRoot('mirror', tuf())]);
    // Not fetched, but in the store: policies naming it compile and stay in force, and every signature
    // checked against it is refused, so the images they govern are denied rather than left to other policies.
    const pending = roots.store.get('mirror') as TrustRoot;
    expect(pending.unavailable).toContain('no copy of trusted_root.json has been verified yet');
    expect(pending.trustMaterial.certificateAuthorities).toEqual([]);
    expect(() => usableRoot(pending)).toThrow(expect.objectContaining({ code: 'TRUST_ROOT_UNAVAILABLE' }));
    expect(conditions.get('mirror')).toMatchObject({ status: 'False', reason: 'TrustRootUnavailable' });
    expect(conditions.get('mirror')?.message).toMatch(/ECONNREFUSED.*refused \(TRUST_ROOT_UNAVAILABLE\)/);
    expect(fetcher.calls.map((c) => c.mode)).toEqual(['mirror', 'cache']);

    await vi.advanceTimersByTimeAsync(10_000);
    expect(fetcher.calls.map((c) => c.mode)).toEqual(['mirror', 'cache', 'mirror']); // the cache is tried once
    await vi.advanceTimersByTimeAsync(19_999);
    expect(roots.store.get('mirror')).toBe(pending);
    await vi.advanceTimersByTimeAsync(1);
    expect(roots.store.get('mirror')?.unavailable).toBeUndefined();
    expect(usableRoot(roots.store.get('mirror') as TrustRoot).fingerprint).not.toBe(pending.fingerprint);
    expect(conditions.get('mirror')).toMatchObject({ status: 'True', reason: 'Valid' });
  });

  it('starts from metadata an earlier run cached when the mirror is down', async () => {
    fetcher.answers.cache.push(CURRENT);
    await roots.update([trustRoot('mirror', tuf())]);
    expect(roots.store.get('mirror')).toBeDefined();
    expect(conditions.get('mirror')).toMatchObject({ status: 'True', reason: 'RefreshFailed' });
    expect(conditions.get('mirror')?.message).toContain('local TUF cache');
  });

  it('does not wait for a mirror that does not answer longer than firstFetchWaitMs', async () => {
    fetcher.answers.mirror.push('hang');
    let done = false;
    void roots
      .update([trustRoot('mirror', tuf()), trustRoot('corp', inline(CURRENT))])
      .then(() => (done = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(roots.store.names()).toContain('corp');
    expect(conditions.get('mirror')).toMatchObject({ status: 'Unknown', reason: 'Fetching' });
    await vi.advanceTimersByTimeAsync(29_999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
  });

  it('keeps the material of the previous spec while a new spec cannot be fetched', async () => {
    await roots.update([trustRoot('corp', inline(CURRENT))]);
    const good = roots.store.get('corp');
    await roots.update([trustRoot('corp', tuf('https://moved.example'))]);
    expect(roots.store.get('corp')).toBe(good);
    expect(conditions.get('corp')).toMatchObject({ status: 'False', reason: 'TrustRootUnavailable' });
    expect(conditions.get('corp')?.message).toContain('previous spec stays in use');

    // A TrustRoot deleted and created again under the same name starts from nothing.
    await roots.update([trustRoot('corp', tuf('https://moved.example'), 'uid-new')]);
    expect(roots.store.get('corp')?.unavailable).toBeDefined();
  });

  it('ignores a fetch that ends after its TrustRoot changed', async () => {
    let finish: (text: string) => void = () => {};
    fetcher.fetchTrustedRoot = async (repository, mode) => {
      fetcher.calls.push({ mirror: repository.mirror, mode });
      return new Promise<string>((resolve) => (finish = resolve));
    };
    void roots.update([trustRoot('mirror', tuf('https://old.example'))]);
    await vi.advanceTimersByTimeAsync(0);
    const stale = finish;
    void roots.update([trustRoot('mirror', inline(OLDER))]);
    stale(CURRENT);
    await vi.advanceTimersByTimeAsync(0);
    expect(roots.store.get('mirror')?.trustedRoot).toEqual(parseTrustedRoot(OLDER, 'mirror'));
  });
});

describe('--trust-root files', () => {
  it('rebuilds the store when the file contents change, and only then', () => {
    roots.setFileRoots({ corp: { trustedRoot: CURRENT } });
    expect(changes).toHaveLength(1);
    const first = changes[0]?.store.get('corp');
    roots.setFileRoots({ corp: { trustedRoot: CURRENT } });
    expect(changes).toHaveLength(1);

    roots.setFileRoots({ corp: { trustedRoot: OLDER } });
    expect(changes).toHaveLength(2);
    expect(changes[1]?.version).not.toBe(changes[0]?.version);
    expect(changes[1]?.store.get('corp')?.fingerprint).not.toBe(first?.fingerprint);
  });
});
