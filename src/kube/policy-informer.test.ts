import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ProvenantError } from '../errors.js';
import { parseReference } from '../oci/reference.js';
import type { PolicySet } from '../policy/compile.js';
import type { AuthoritySpec } from '../policy/types.js';
import type { Authority } from '../verify/types.js';
import type { LogSink } from './log.js';
import { KubePolicyStore, type ResourceWatch, type WatchEvents } from './policy-informer.js';
import type { KubeObject, ObjectRef, PolicyResource, PolicyResourceKind } from './policy-resources.js';
import type { PolicyStatusWriter, StatusBody, StatusWriteOutcome } from './status.js';
import type { TrustRootObject } from './trust-root-spec.js';

/** A watch driven by the test: it decides when start() succeeds and which events arrive. */
class FakeWatch implements ResourceWatch {
  starts = 0;
  failNextStarts = 0;
  listing: KubeObject[] = [];
  constructor(
    readonly resource: PolicyResource,
    readonly events: WatchEvents,
  ) {}

  async start(): Promise<void> {
    this.starts++;
    if (this.failNextStarts > 0) {
      this.failNextStarts--;
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });
    }
    for (const object of this.listing) this.events.upsert(object);
  }

  async stop(): Promise<void> {}
}

class Writer implements PolicyStatusWriter {
  readonly writes: { key: string; resourceVersion: string; status: StatusBody }[] = [];
  async patchStatus(
    ref: ObjectRef,
    resourceVersion: string,
    status: StatusBody,
  ): Promise<StatusWriteOutcome> {
    this.writes.push({ key: `${ref.namespace ?? ''}/${ref.name}`, resourceVersion, status });
    return 'patched';
  }
  last(name: string): StatusBody | undefined {
    return this.writes.filter((w) => w.key.endsWith(`/${name}`)).at(-1)?.status;
  }
}

// Authority compilation belongs to verify/; here "bad" stands for any key it refuses.
const compileAuthority = (spec: AuthoritySpec): Authority => {
  if (spec.key?.publicKey === 'bad') throw new ProvenantError('INVALID_POLICY', 'not a PEM public key');
  return { kind: 'key', name: spec.name, publicKeyPem: spec.key?.publicKey ?? '' };
};

let rv = 100;
function policy(
  name: string,
  opts: {
    glob?: string;
    key?: string;
    generation?: number;
    uid?: string;
    namespace?: string;
    status?: unknown;
  } = {},
): KubeObject {
  return {
    apiVersion: 'provenant.dev/v1alpha1',
    kind: opts.namespace === undefined ? 'ClusterImagePolicy' : 'ImagePolicy',
    metadata: {
      name,
      ...(opts.namespace === undefined ? {} : { namespace: opts.namespace }),
      uid: opts.uid ?? `uid-${name}`,
      resourceVersion: String(rv++),
      generation: opts.generation ?? 1,
    },
    spec: {
      images: [{ glob: opts.glob ?? 'ghcr.io/acme/**' }],
      authorities: [{ name: 'release', key: { publicKey: opts.key ?? 'good-key' } }],
      signatures: { threshold: 1 },
    },
    ...(opts.status === undefined ? {} : { status: opts.status }),
  };
}

function trustRoot(name: string, spec: unknown, generation = 1): KubeObject {
  return {
    metadata: { name, uid: `uid-${name}`, resourceVersion: String(rv++), generation },
    spec,
  };
}

const logs: { level: string; message: string; fields: object }[] = [];
const logger: LogSink = {
  debug: (fields, message) => logs.push({ level: 'debug', message, fields }),
  info: (fields, message) => logs.push({ level: 'info', message, fields }),
  warn: (fields, message) => logs.push({ level: 'warn', message, fields }),
  error: (fields, message) => logs.push({ level: 'error', message, fields }),
};

/** A compiler that knows some trust roots: a key "needs-<root>" compiles only when <root> is known. */
const compilerKnowing =
  (...roots: string[]) =>
  (spec: AuthoritySpec): Authority => {
    const wanted = /^needs-(.+)$/.exec(spec.key?.publicKey ?? '')?.[1];
    if (wanted !== undefined && !roots.includes(wanted)) {
      throw new ProvenantError('INVALID_POLICY', `unknown trust root "${wanted}"`);
    }
    return compileAuthority(spec);
  };

function setup(
  options: {
    onTrustRootsChanged?: (roots: readonly TrustRootObject[]) => void | Promise<void>;
    onPolicySetReplaced?: (set: PolicySet) => void;
  } = {},
) {
  const watches = new Map<PolicyResourceKind, FakeWatch>();
  const writer = new Writer();
  const store = new KubePolicyStore({
    watches: (resource, events) => {
      const w = new FakeWatch(resource, events);
      watches.set(resource.kind, w);
      return w;
    },
    status: writer,
    compileAuthority,
    logger,
    clock: { now: () => Date.parse('2026-03-01T10:00:00Z') },
    debounceMs: 100,
    reconnectInitialMs: 1_000,
    reconnectMaxMs: 30_000,
    ...options,
  });
  const watch = (kind: PolicyResourceKind) => {
    const w = watches.get(kind);
    if (w === undefined) throw new Error(`no watch for ${kind}`);
    return w;
  };
  return { store, writer, watch };
}

const image = (ref: string) => parseReference(ref);

beforeEach(() => {
  vi.useFakeTimers();
  logs.length = 0;
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe('KubePolicyStore', () => {
  it('becomes ready after all three kinds are listed, with the listed policies in force', async () => {
    const { store, watch } = setup();
    watch('ClusterImagePolicy').listing = [policy('release')];
    watch('ImagePolicy').listing = [policy('team', { namespace: 'apps', glob: 'docker.io/**' })];
    watch('TrustRoot').failNextStarts = 1;

    let done = false;
    void store.start().then(() => (done = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(store.ready).toBe(false);
    expect(done).toBe(false);

    await vi.advanceTimersByTimeAsync(1_300); // the TrustRoot watch retries after ~1 s
    expect(done).toBe(true);
    expect(store.ready).toBe(true);
    expect(store.current.policies.map((p) => p.name)).toEqual(['release', 'apps/team']);
    expect(store.current.matching(image('ghcr.io/acme/api:1')).map((p) => p.name)).toEqual(['release']);
    expect(store.current.matching(image('nginx'), 'apps').map((p) => p.name)).toEqual(['apps/team']);
    expect(store.current.matching(image('nginx'), 'other')).toEqual([]);
    await store.stop();
  });

  it('rebuilds once per burst of changes and swaps the set atomically', async () => {
    const { store, watch } = setup();
    const started = store.start();
    await vi.advanceTimersByTimeAsync(0);
    await started;
    const before = store.current;
    expect(before.policies).toEqual([]);

    const cip = watch('ClusterImagePolicy').events;
    cip.upsert(policy('a'));
    cip.upsert(policy('b'));
    cip.upsert(policy('c'));
    expect(store.current).toBe(before); // nothing swaps before the debounce
    await vi.advanceTimersByTimeAsync(100);
    expect(store.current.policies.map((p) => p.name)).toEqual(['a', 'b', 'c']);
    expect(before.policies).toEqual([]); // the old snapshot is untouched
    expect(logs.filter((l) => l.message === 'policy set replaced')).toHaveLength(1);
    await store.stop();
  });

  it('tells the background re-verification when a policy or the trust material changes, not at the first sync', async () => {
    const replaced: string[] = [];
    const { store, watch } = setup({ onPolicySetReplaced: (set) => replaced.push(set.fingerprint) });
    watch('ClusterImagePolicy').listing = [policy('release')];
    const started = store.start();
    await vi.advanceTimersByTimeAsync(0);
    await started;
    expect(replaced).toEqual([]);
    watch('ClusterImagePolicy').events.upsert(policy('other'));
    await vi.advanceTimersByTimeAsync(100);
    expect(replaced).toEqual([store.current.fingerprint]);
    store.setAuthorityCompiler(compileAuthority, 'new-trust-root');
    await vi.advanceTimersByTimeAsync(100);
    expect(replaced).toHaveLength(2);
    expect(replaced[1]).toBe(store.current.fingerprint);
    await store.stop();
  });

  it('keeps the last valid version of a policy whose edit is invalid, and reports it', async () => {
    const { store, watch, writer } = setup();
    watch('ClusterImagePolicy').listing = [policy('release', { glob: 'ghcr.io/acme/**', generation: 1 })];
    const started = store.start();
    await vi.advanceTimersByTimeAsync(0);
    await started;
    await store.settled();
    const good = store.current;
    expect(writer.last('release')).toMatchObject({
      observedGeneration: 1,
      conditions: [{ type: 'Ready', status: 'True', reason: 'Valid' }],
    });

    watch('ClusterImagePolicy').events.upsert(policy('release', { key: 'bad', generation: 2 }));
    await vi.advanceTimersByTimeAsync(100);
    await store.settled();
    expect(store.current.fingerprint).toBe(good.fingerprint);
    expect(store.current.matching(image('ghcr.io/acme/api:1'))).toHaveLength(1);
    const status = writer.last('release');
    expect(status).toMatchObject({
      observedGeneration: 2,
      conditions: [{ status: 'False', reason: 'InvalidPolicy' }],
    });
    const message = (status?.conditions[0] as { message: string }).message;
    expect(message).toContain('spec.authorities[0].key.publicKey: not a PEM public key');
    expect(message).toContain('last valid version (generation 1) stays in force');

    // Fixed again: the new version replaces the old one.
    watch('ClusterImagePolicy').events.upsert(policy('release', { glob: 'ghcr.io/other/**', generation: 3 }));
    await vi.advanceTimersByTimeAsync(100);
    await store.settled();
    expect(store.current.matching(image('ghcr.io/acme/api:1'))).toHaveLength(0);
    expect(store.current.matching(image('ghcr.io/other/api:1'))).toHaveLength(1);
    expect(writer.last('release')).toMatchObject({ observedGeneration: 3, conditions: [{ status: 'True' }] });
    await store.stop();
  });

  it('does not enforce a policy that was never valid', async () => {
    const { store, watch, writer } = setup();
    watch('ClusterImagePolicy').listing = [
      policy('broken', { key: 'bad' }),
      policy('fine', { glob: 'quay.io/**' }),
    ];
    const started = store.start();
    await vi.advanceTimersByTimeAsync(0);
    await started;
    await store.settled();
    expect(store.current.policies.map((p) => p.name)).toEqual(['fine']);
    const status = writer.last('broken');
    expect(status?.conditions[0]).toMatchObject({ status: 'False', reason: 'InvalidPolicy' });
    expect((status?.conditions[0] as { message: string }).message).toContain('not enforced');
    await store.stop();
  });

  it('forgets the last valid version when the object is deleted, or replaced under the same name', async () => {
    const { store, watch } = setup();
    watch('ClusterImagePolicy').listing = [policy('release', { uid: 'first' })];
    const started = store.start();
    await vi.advanceTimersByTimeAsync(0);
    await started;
    const events = watch('ClusterImagePolicy').events;

    // Deleted and created again with a new uid, invalid: nothing of the old one stays in force.
    events.upsert(policy('release', { uid: 'second', key: 'bad' }));
    await vi.advanceTimersByTimeAsync(100);
    expect(store.current.policies).toEqual([]);

    events.upsert(policy('release', { uid: 'second' }));
    await vi.advanceTimersByTimeAsync(100);
    expect(store.current.policies).toHaveLength(1);
    events.remove(policy('release', { uid: 'second' }));
    await vi.advanceTimersByTimeAsync(100);
    expect(store.current.policies).toEqual([]);
    await store.stop();
  });

  it('writes status once: the echo of its own write and status-only updates change nothing', async () => {
    const { store, watch, writer } = setup();
    watch('ClusterImagePolicy').listing = [policy('release')];
    const started = store.start();
    await vi.advanceTimersByTimeAsync(0);
    await started;
    await store.settled();
    expect(writer.writes).toHaveLength(1);
    const fingerprint = store.current.fingerprint;

    watch('ClusterImagePolicy').events.upsert(policy('release', { status: writer.writes[0]?.status }));
    await vi.advanceTimersByTimeAsync(100);
    await store.settled();
    expect(writer.writes).toHaveLength(1);
    expect(store.current.fingerprint).toBe(fingerprint);
    expect(logs.filter((l) => l.message === 'policy object compiled')).toHaveLength(1);
    await store.stop();
  });

  it('reconnects a lost watch with growing delays and keeps serving the last good set', async () => {
    const { store, watch } = setup();
    watch('ClusterImagePolicy').listing = [policy('release')];
    const started = store.start();
    await vi.advanceTimersByTimeAsync(0);
    await started;
    const set = store.current;
    const cip = watch('ClusterImagePolicy');
    expect(cip.starts).toBe(1);

    cip.failNextStarts = 3;
    vi.spyOn(Math, 'random').mockReturnValue(0.5); // no jitter: delays of exactly 1, 2, 4, 8 s
    cip.events.broken(new Error('terminated'));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(cip.starts).toBe(2);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(cip.starts).toBe(3);
    await vi.advanceTimersByTimeAsync(3_900);
    expect(cip.starts).toBe(3);
    await vi.advanceTimersByTimeAsync(100);
    expect(cip.starts).toBe(4);
    expect(store.ready).toBe(true);
    expect(store.current).toBe(set);
    await vi.advanceTimersByTimeAsync(8_000);
    expect(cip.starts).toBe(5);
    expect(logs.some((l) => l.message === 'watch reconnected')).toBe(true);
    expect(
      logs.filter((l) => l.level === 'warn').map((l) => (l.fields as { retryInMs?: number }).retryInMs),
    ).toEqual([1_000, 2_000, 4_000, 8_000]);

    // Healthy again: the next loss starts from the short delay.
    cip.events.broken(new Error('terminated'));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(cip.starts).toBe(6);
    await store.stop();
  });

  it('caps the reconnection delay', async () => {
    const { store, watch } = setup();
    const started = store.start();
    await vi.advanceTimersByTimeAsync(0);
    await started;
    const tr = watch('TrustRoot');
    tr.failNextStarts = 100;
    tr.events.broken(new Error('terminated'));
    await vi.advanceTimersByTimeAsync(120_000);
    const delays = logs
      .filter((l) => l.level === 'warn' && 'retryInMs' in l.fields)
      .map((l) => (l.fields as { retryInMs: number }).retryInMs);
    expect(Math.max(...delays)).toBeLessThanOrEqual(30_000);
    expect(delays.at(-1)).toBeGreaterThanOrEqual(24_000);
    await store.stop();
  });

  it('hands valid trust roots onward and calls back only when one changes', async () => {
    const seen: (readonly TrustRootObject[])[] = [];
    const { store, watch, writer } = setup({
      onTrustRootsChanged: (roots) => {
        seen.push(roots);
      },
    });
    const inline = trustRoot('corp', {
      trustedRoot: { mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1' },
    });
    watch('TrustRoot').listing = [
      inline,
      trustRoot('both', { trustedRoot: {}, tuf: { mirror: 'https://tuf.example', root: 'e30=' } }),
    ];
    const started = store.start();
    await vi.advanceTimersByTimeAsync(0);
    await started;
    await store.settled();
    expect(seen).toHaveLength(1);
    expect(seen[0]?.map((r) => [r.name, r.resourceVersion])).toEqual([
      ['corp', inline.metadata?.resourceVersion],
    ]);
    expect(store.trustRoots).toBe(seen[0]);
    expect(writer.last('both')?.conditions[0]).toMatchObject({ status: 'False', reason: 'InvalidTrustRoot' });

    // A status-only update (our own write coming back) is not a change.
    watch('TrustRoot').events.upsert({ ...inline, metadata: { ...inline.metadata, resourceVersion: '999' } });
    await vi.advanceTimersByTimeAsync(100);
    expect(seen).toHaveLength(1);

    const root = Buffer.from(JSON.stringify({ signed: { _type: 'root' }, signatures: [] })).toString(
      'base64',
    );
    watch('TrustRoot').events.upsert(
      trustRoot('mirror', { tuf: { mirror: 'https://tuf.example/repo', root, refreshInterval: '24h' } }),
    );
    await vi.advanceTimersByTimeAsync(100);
    expect(seen).toHaveLength(2);
    expect(seen[1]?.map((r) => r.name)).toEqual(['corp', 'mirror']);
    expect(seen[1]?.[1]?.spec).toEqual({
      tuf: { mirror: 'https://tuf.example/repo', root, refreshInterval: '24h' },
    });
    await store.stop();
  });

  it('writes the condition the trust material reports for a valid TrustRoot, but not over spec problems', async () => {
    const { store, watch, writer } = setup({
      onTrustRootsChanged: () => {
        late.store?.setTrustRootCondition('mirror', {
          status: 'False',
          reason: 'TrustRootUnavailable',
          message: 'Fetching trusted_root.json failed: connect ECONNREFUSED.',
        });
        late.store?.setTrustRootCondition('broken', { status: 'True', reason: 'Valid', message: 'fine' });
      },
    });
    const late: { store?: KubePolicyStore } = { store };
    const root = Buffer.from(JSON.stringify({ signed: { _type: 'root' }, signatures: [] })).toString(
      'base64',
    );
    watch('TrustRoot').listing = [
      trustRoot('mirror', { tuf: { mirror: 'https://tuf.example', root } }),
      trustRoot('broken', { tuf: { mirror: 'not a url', root } }),
    ];
    const started = store.start();
    await vi.advanceTimersByTimeAsync(0);
    await started;
    await store.settled();
    expect(writer.last('mirror')?.conditions[0]).toMatchObject({
      status: 'False',
      reason: 'TrustRootUnavailable',
    });
    expect(writer.last('broken')?.conditions[0]).toMatchObject({
      status: 'False',
      reason: 'InvalidTrustRoot',
    });

    // Later news from a refresh is written without any change to the object.
    store.setTrustRootCondition('mirror', { status: 'True', reason: 'Valid', message: 'in use' });
    await vi.advanceTimersByTimeAsync(100);
    await store.settled();
    expect(writer.last('mirror')?.conditions[0]).toMatchObject({ status: 'True', reason: 'Valid' });
    store.setTrustRootCondition('mirror', undefined);
    await vi.advanceTimersByTimeAsync(100);
    await store.settled();
    expect(writer.last('mirror')?.conditions[0]).toMatchObject({
      status: 'True',
      message: 'The trust root is valid and in use.',
    });
    await store.stop();
  });

  it('waits for trust material at the first sync, so policies naming a custom root are never reported invalid', async () => {
    const late: { store?: KubePolicyStore } = {};
    const { store, watch, writer } = setup({
      onTrustRootsChanged: async (roots) => {
        await new Promise((r) => setTimeout(r, 500)); // building trust material (TUF) takes a while
        late.store?.setAuthorityCompiler(compilerKnowing(...roots.map((r) => r.name)), 'roots-v1');
      },
    });
    late.store = store;
    watch('ClusterImagePolicy').listing = [policy('keyless', { key: 'needs-corp' })];
    watch('TrustRoot').listing = [trustRoot('corp', { trustedRoot: { mediaType: 'x' } })];
    let ready = false;
    void store.start().then(() => (ready = true));
    await vi.advanceTimersByTimeAsync(100);
    expect(ready).toBe(false);
    await vi.advanceTimersByTimeAsync(500);
    expect(ready).toBe(true);
    await store.settled();
    expect(store.current.policies.map((p) => p.name)).toEqual(['keyless']);
    expect(writer.writes.map((w) => (w.status.conditions[0] as { status: string }).status)).toEqual([
      'True',
      'True',
    ]);
    await store.stop();
  });

  it('recompiles with new trust material, changes the fingerprint, and keeps what no longer compiles', async () => {
    const { store, watch, writer } = setup();
    watch('ClusterImagePolicy').listing = [policy('keyless', { key: 'needs-corp' }), policy('plain')];
    store.setAuthorityCompiler(compilerKnowing('corp'), 'v1');
    const started = store.start();
    await vi.advanceTimersByTimeAsync(0);
    await started;
    const v1 = store.current;
    expect(v1.policies.map((p) => p.name)).toEqual(['keyless', 'plain']);

    store.setAuthorityCompiler(compilerKnowing('corp'), 'v2');
    await vi.advanceTimersByTimeAsync(100);
    expect(store.current.fingerprint).not.toBe(v1.fingerprint);
    expect(store.current.policies.map((p) => p.fingerprint)).toEqual(v1.policies.map((p) => p.fingerprint));

    store.setAuthorityCompiler(compilerKnowing(), 'v3'); // the root "corp" went away
    await vi.advanceTimersByTimeAsync(100);
    await store.settled();
    expect(store.current.policies.map((p) => p.name)).toEqual(['keyless', 'plain']);
    expect(writer.last('keyless')?.conditions[0]).toMatchObject({ status: 'False', reason: 'InvalidPolicy' });
    expect((writer.last('keyless')?.conditions[0] as { message: string }).message).toContain(
      'unknown trust root "corp"',
    );
    await store.stop();
  });

  it('does not hold policy changes back while trust material is rebuilt after the first sync', async () => {
    const { store, watch } = setup({ onTrustRootsChanged: () => new Promise(() => {}) });
    const first = store.start();
    await vi.advanceTimersByTimeAsync(0);
    // The first call never settles here, so readiness waits: that is the point of awaiting it.
    expect(store.ready).toBe(false);
    await store.stop();
    await expect(first).rejects.toThrow();

    const { store: second, watch: watch2 } = setup({
      onTrustRootsChanged: (roots) => (roots.length > 0 ? new Promise(() => {}) : undefined),
    });
    void watch;
    const started = second.start();
    await vi.advanceTimersByTimeAsync(0);
    await started;
    watch2('TrustRoot').events.upsert(trustRoot('corp', { trustedRoot: {} }));
    watch2('ClusterImagePolicy').events.upsert(policy('late'));
    await vi.advanceTimersByTimeAsync(100);
    expect(second.current.policies.map((p) => p.name)).toEqual(['late']);
    await second.stop();
  });

  it('rejects start() when stopped before the first sync', async () => {
    const { store, watch } = setup();
    watch('ImagePolicy').failNextStarts = 100;
    const started = store.start();
    await vi.advanceTimersByTimeAsync(0);
    await store.stop();
    await expect(started).rejects.toThrow(/before its first sync/);
  });
});
