/**
 * Policies from the API server: ClusterImagePolicy, ImagePolicy and TrustRoot objects, each listed and
 * watched, each compiled on its own. Admissions read one immutable PolicySet, rebuilt from every valid
 * object shortly after any change and swapped whole. An object whose new version is invalid keeps its last
 * valid version in force (a typo must not switch enforcement off) and says so in its Ready condition.
 * A lost watch is re-established with backoff while the last good set keeps serving.
 *
 * RBAC: list and watch on clusterimagepolicies, imagepolicies, trustroots (group provenant.dev), and patch
 * on their /status subresources.
 */
import { createHash } from 'node:crypto';
import { systemClock, type Clock } from '../clock.js';
import { compileDocument, toPolicySet, type PolicyDocument, type PolicySet } from '../policy/compile.js';
import type { CompiledPolicy } from '../policy/types.js';
import type { AuthorityCompiler, PolicyProblem } from '../policy/validate.js';
import { describeError, statusOf, type LogSink } from './log.js';
import {
  describeRef,
  POLICY_RESOURCES,
  type KubeObject,
  type ObjectRef,
  type PolicyResource,
  type PolicyResourceKind,
} from './policy-resources.js';
import { readyStateFor, StatusReconciler, type PolicyStatusWriter, type ReadyState } from './status.js';
import { validateTrustRootSpec, type TrustRootObject } from './trust-root-spec.js';

/** What a watch reports. `broken` means it stopped after having connected; start() brings it back. */
export interface WatchEvents {
  readonly upsert: (object: KubeObject) => void;
  readonly remove: (object: KubeObject) => void;
  readonly broken: (error: unknown) => void;
}

/**
 * A list-then-watch of one resource. start() lists when it has no usable resourceVersion (the first time,
 * or after 410 Gone) and reports every object through `upsert` (and objects gone since the last list through
 * `remove`) before it resolves; it rejects when it could not connect.
 */
export interface ResourceWatch {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export type ResourceWatchFactory = (resource: PolicyResource, events: WatchEvents) => ResourceWatch;

export interface KubePolicyStoreOptions {
  readonly watches: ResourceWatchFactory;
  readonly status: PolicyStatusWriter;
  /** Compiles authorities until setAuthorityCompiler() replaces it (e.g. over the built-in trust roots only). */
  readonly compileAuthority: AuthorityCompiler;
  readonly logger: LogSink;
  readonly clock?: Clock;
  /** Changes are collected for this long before the set is rebuilt (default 100 ms). */
  readonly debounceMs?: number;
  /** Delay before the first reconnection attempt (default 1 s); doubles up to reconnectMaxMs (default 30 s). */
  readonly reconnectInitialMs?: number;
  readonly reconnectMaxMs?: number;
  /**
   * Called with every valid TrustRoot at the first sync and whenever a TrustRoot's spec changes. The usual
   * answer builds trust material and calls setAuthorityCompiler(). At the first sync the store waits for
   * the returned promise before it compiles policies and becomes ready, so that policies naming a custom
   * trust root are not reported invalid while its material is still being built.
   */
  readonly onTrustRootsChanged?: (roots: readonly TrustRootObject[]) => void | Promise<void>;
  /** Called after the first sync whenever a new policy set is in force (a policy or trust material changed). */
  readonly onPolicySetReplaced?: (set: PolicySet) => void;
}

type LastGood =
  | { readonly kind: 'policy'; readonly policy: CompiledPolicy; readonly generation?: number }
  | { readonly kind: 'trust-root'; readonly root: TrustRootObject; readonly generation?: number };

interface Entry {
  readonly ref: ObjectRef;
  readonly uid: string | undefined;
  object: KubeObject;
  /** The spec of `object`; status-only updates do not change it. */
  specJson: string;
  /** The spec last compiled, undefined before the first compilation. */
  compiledSpec?: string | undefined;
  good?: LastGood | undefined;
  /** Problems of the current spec; undefined when it is valid. */
  problems?: readonly PolicyProblem[] | undefined;
}

const KINDS = Object.keys(POLICY_RESOURCES) as PolicyResourceKind[];

export class KubePolicyStore {
  #current: PolicySet = toPolicySet([]);
  #publishedKey = '';
  #trustRoots: readonly TrustRootObject[] = [];
  #trustRootsKey: string | undefined;
  #compileAuthority: AuthorityCompiler;
  #compilerVersion = 'initial';
  #compilerChanges = 0;
  #recompileAll = false;
  #synced = false;
  #ready = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #flushAgain = false;
  #started: Promise<void> | undefined;
  #settleStart: { resolve: () => void; reject: (err: Error) => void } | undefined;
  readonly #entries = new Map<string, Entry>();
  /** What the trust material behind each TrustRoot says about it (setTrustRootCondition). */
  readonly #trustRootConditions = new Map<string, ReadyState>();
  readonly #statusDirty = new Set<string>();
  readonly #listed = new Set<PolicyResourceKind>();
  readonly #runners: WatchRunner[];
  readonly #statuses: StatusReconciler;

  constructor(private readonly options: KubePolicyStoreOptions) {
    this.#compileAuthority = options.compileAuthority;
    this.#statuses = new StatusReconciler({
      writer: options.status,
      logger: options.logger,
      clock: options.clock ?? systemClock,
    });
    this.#runners = KINDS.map((kind) => {
      const resource = POLICY_RESOURCES[kind];
      return new WatchRunner(resource, options, {
        upsert: (object) => this.#upsert(resource, object),
        remove: (object) => this.#remove(resource, object),
        connected: () => this.#onListed(kind),
      });
    });
  }

  /**
   * Starts every watch; resolves after the first full sync of all three kinds and the first compilation
   * (the readiness gate). Rejects if stop() comes first.
   */
  start(): Promise<void> {
    if (this.#started === undefined) {
      this.#started = new Promise<void>((resolve, reject) => {
        this.#settleStart = { resolve, reject };
      });
      // stop() before the first sync rejects it; a caller that did not wait for it must not crash the process.
      this.#started.catch(() => {});
      for (const runner of this.#runners) runner.connect();
    }
    return this.#started;
  }

  /** The snapshot admissions read; empty until ready. */
  get current(): PolicySet {
    return this.#current;
  }

  /** True once all three kinds have been listed and compiled; stays true while a watch reconnects. */
  get ready(): boolean {
    return this.#ready;
  }

  /** Every TrustRoot whose current or last valid spec passed the checks, sorted by name. */
  get trustRoots(): readonly TrustRootObject[] {
    return this.#trustRoots;
  }

  /**
   * Recompiles every policy with a new authority compiler (new trust material), keeping the last valid
   * version of any policy that no longer compiles. `version` names the trust material; it goes into the
   * PolicySet fingerprint so that verdicts cached under the old material are not reused.
   */
  setAuthorityCompiler(compileAuthority: AuthorityCompiler, version?: string): void {
    this.#compileAuthority = compileAuthority;
    this.#compilerVersion = version ?? `change-${++this.#compilerChanges}`;
    this.#recompileAll = true;
    this.#schedule();
  }

  /**
   * The Ready condition of TrustRoot `name` while its spec is valid, from whoever builds its material (a TUF
   * fetch can fail, or still be running, long after the spec was accepted); undefined returns it to the
   * default. A spec that is invalid is still reported as such.
   */
  setTrustRootCondition(name: string, state: ReadyState | undefined): void {
    if (state === undefined) this.#trustRootConditions.delete(name);
    else this.#trustRootConditions.set(name, state);
    const key = describeRef({ resource: POLICY_RESOURCES.TrustRoot, name });
    if (!this.#entries.has(key)) return;
    this.#statusDirty.add(key);
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#statuses.stop();
    await Promise.all(this.#runners.map((r) => r.stop()));
    if (!this.#ready) this.#settleStart?.reject(new Error('the policy store stopped before its first sync'));
  }

  /** Resolves when pending changes have been applied and no status write is in flight (for tests). */
  async settled(): Promise<void> {
    while (this.#timer !== undefined || this.#flushing !== undefined) {
      if (this.#timer !== undefined) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
        void this.#flush();
      }
      await this.#flushing;
    }
    await this.#statuses.idle();
  }

  #onListed(kind: PolicyResourceKind): void {
    if (this.#listed.has(kind) || this.#stopped) return;
    this.#listed.add(kind);
    if (this.#listed.size < KINDS.length) return;
    this.#synced = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    void this.#flush();
  }

  #upsert(resource: PolicyResource, object: KubeObject): void {
    if (this.#stopped) return;
    const ref = refOf(resource, object);
    if (ref === undefined) return;
    const key = describeRef(ref);
    const uid = object.metadata?.uid;
    const specJson = JSON.stringify(object.spec ?? null);
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.uid !== uid) {
      // A new object, or one deleted and created again under the same name: nothing of the old one carries over.
      if (entry !== undefined) this.#statuses.forget(key);
      this.#entries.set(key, { ref, uid, object, specJson });
    } else {
      entry.object = object;
      entry.specJson = specJson;
    }
    this.#statusDirty.add(key);
    this.#schedule();
  }

  #remove(resource: PolicyResource, object: KubeObject): void {
    if (this.#stopped) return;
    const ref = refOf(resource, object);
    if (ref === undefined) return;
    const key = describeRef(ref);
    if (!this.#entries.delete(key)) return;
    this.#statusDirty.delete(key);
    this.#statuses.forget(key);
    this.options.logger.info({ object: key }, 'policy object deleted');
    this.#schedule();
  }

  #schedule(): void {
    // Flush a fixed time after the first pending change, so a steady stream of events cannot postpone it
    // forever. Nothing is compiled or published before the first full sync.
    if (this.#timer !== undefined || this.#stopped || !this.#synced) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#flush();
    }, this.options.debounceMs ?? 100);
  }

  /** One flush at a time; changes arriving meanwhile get another flush right after. */
  async #flush(): Promise<void> {
    if (this.#flushing !== undefined) {
      this.#flushAgain = true;
      return this.#flushing;
    }
    this.#flushing = (async () => {
      try {
        do {
          this.#flushAgain = false;
          await this.#apply();
        } while (this.#flushAgain && !this.#stopped);
      } catch (err) {
        this.options.logger.error({ ...describeError(err) }, 'applying policy changes failed');
      } finally {
        this.#flushing = undefined;
      }
    })();
    return this.#flushing;
  }

  async #apply(): Promise<void> {
    if (this.#stopped) return;
    const isRoot = (e: Entry) => e.ref.resource.kind === 'TrustRoot';
    const sorted = () => [...this.#entries.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

    const roots = sorted().filter(([, e]) => isRoot(e));
    for (const [, entry] of roots) if (entry.compiledSpec !== entry.specJson) this.#compile(entry);
    const handled = this.#publishTrustRoots(roots.map(([, e]) => e));
    // The first time, trust material must be in place before policies that name it are compiled.
    if (!this.#ready) await handled;
    if (this.#stopped) return;

    // Taken after the wait: objects may have come and gone meanwhile.
    const entries = sorted();
    const recompileAll = this.#recompileAll;
    this.#recompileAll = false;
    for (const [key, entry] of entries) {
      if (isRoot(entry) || (!recompileAll && entry.compiledSpec === entry.specJson)) continue;
      this.#compile(entry);
      this.#statusDirty.add(key);
    }
    this.#publishPolicies(entries.map(([, e]) => e).filter((e) => !isRoot(e)));

    for (const key of this.#statusDirty) {
      const entry = this.#entries.get(key);
      if (entry === undefined) continue;
      const material = isRoot(entry) ? this.#trustRootConditions.get(entry.ref.name) : undefined;
      const desired =
        material !== undefined && entry.problems === undefined
          ? material
          : readyStateFor({
              kind: isRoot(entry) ? 'trust-root' : 'policy',
              ...(entry.problems === undefined ? {} : { problems: entry.problems }),
              ...(entry.good === undefined ? {} : { lastGoodGeneration: entry.good.generation ?? 'unknown' }),
            });
      this.#statuses.reconcile(key, entry.ref, entry.object, desired);
    }
    this.#statusDirty.clear();

    if (!this.#ready) {
      this.#ready = true;
      this.options.logger.info(
        { policies: this.#current.policies.length, trustRoots: this.#trustRoots.length },
        'policies synced from the API server',
      );
      this.#settleStart?.resolve();
    }
  }

  #compile(entry: Entry): void {
    const { ref, object } = entry;
    entry.compiledSpec = entry.specJson;
    const meta = object.metadata ?? {};
    const generation = typeof meta.generation === 'number' ? meta.generation : undefined;
    let result: { good: LastGood } | { problems: readonly PolicyProblem[] };
    try {
      result =
        ref.resource.kind === 'TrustRoot' ? compileTrustRoot(ref, object) : this.#compilePolicy(ref, object);
    } catch (err) {
      // Compilation must never take the store down; an unexpected failure counts against this object only.
      result = { problems: [{ field: 'spec', message: describeError(err).error }] };
    }
    const what = describeRef(ref);
    if ('problems' in result) {
      entry.problems = result.problems;
      this.options.logger.warn(
        {
          object: what,
          generation,
          problems: result.problems.slice(0, 20),
          lastValidInForce: entry.good !== undefined,
        },
        entry.good === undefined
          ? 'invalid policy object ignored'
          : 'invalid policy object: its last valid version stays',
      );
      return;
    }
    entry.problems = undefined;
    entry.good = generation === undefined ? result.good : { ...result.good, generation };
    this.options.logger.info({ object: what, generation }, 'policy object compiled');
  }

  #compilePolicy(
    ref: ObjectRef,
    object: KubeObject,
  ): { good: LastGood } | { problems: readonly PolicyProblem[] } {
    const doc: PolicyDocument = {
      source: describeRef(ref),
      index: 0,
      value: {
        apiVersion: ref.resource.apiVersion,
        kind: ref.resource.kind,
        metadata: { name: ref.name, ...(ref.namespace === undefined ? {} : { namespace: ref.namespace }) },
        spec: object.spec,
      },
    };
    const result = compileDocument(doc, this.#compileAuthority);
    if ('problems' in result) return { problems: result.problems };
    return { good: { kind: 'policy', policy: result } };
  }

  #publishPolicies(entries: readonly Entry[]): void {
    const policies: CompiledPolicy[] = [];
    for (const entry of entries) if (entry.good?.kind === 'policy') policies.push(entry.good.policy);
    const base = toPolicySet(policies);
    const key = `${base.fingerprint}\n${this.#compilerVersion}`;
    if (key === this.#publishedKey) return;
    this.#publishedKey = key;
    // The trust material version is part of the fingerprint: a verdict cached under old material must not
    // be reused once the material changes, even though no policy spec did.
    this.#current = { ...base, fingerprint: sha256(key) };
    // The first set is announced with the sync ('policies synced from the API server').
    if (!this.#ready) return;
    this.options.logger.info(
      { policies: policies.length, fingerprint: this.#current.fingerprint.slice(0, 16) },
      'policy set replaced',
    );
    this.options.onPolicySetReplaced?.(this.#current);
  }

  /** Hands changed trust roots onward; resolves when the callback is done (errors are logged). */
  async #publishTrustRoots(entries: readonly Entry[]): Promise<void> {
    const roots: TrustRootObject[] = [];
    for (const entry of entries) if (entry.good?.kind === 'trust-root') roots.push(entry.good.root);
    const signature = JSON.stringify(roots.map((r) => [r.name, r.uid ?? '', r.resourceVersion]));
    if (signature === this.#trustRootsKey) return;
    this.#trustRootsKey = signature;
    this.#trustRoots = roots;
    try {
      await this.options.onTrustRootsChanged?.(roots);
    } catch (err) {
      this.options.logger.error({ ...describeError(err) }, 'handling changed trust roots failed');
    }
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function refOf(resource: PolicyResource, object: KubeObject): ObjectRef | undefined {
  const name = object.metadata?.name;
  if (typeof name !== 'string' || name === '') return undefined;
  if (!resource.namespaced) return { resource, name };
  const namespace = object.metadata?.namespace;
  if (typeof namespace !== 'string' || namespace === '') return undefined;
  return { resource, name, namespace };
}

function compileTrustRoot(
  ref: ObjectRef,
  object: KubeObject,
): { good: LastGood } | { problems: readonly PolicyProblem[] } {
  const result = validateTrustRootSpec(object.spec);
  if ('problems' in result) return result;
  const meta = object.metadata ?? {};
  const root: TrustRootObject = {
    name: ref.name,
    resourceVersion: meta.resourceVersion ?? '',
    ...(typeof meta.generation === 'number' ? { generation: meta.generation } : {}),
    ...(meta.uid === undefined ? {} : { uid: meta.uid }),
    spec: result.spec,
  };
  return { good: { kind: 'trust-root', root } };
}

interface RunnerHooks {
  readonly upsert: (object: KubeObject) => void;
  readonly remove: (object: KubeObject) => void;
  readonly connected: () => void;
}

/** Keeps one watch running: reconnects after a failure with exponential backoff and jitter. */
class WatchRunner {
  readonly #watch: ResourceWatch;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(
    private readonly resource: PolicyResource,
    private readonly options: KubePolicyStoreOptions,
    private readonly hooks: RunnerHooks,
  ) {
    this.#watch = options.watches(resource, {
      upsert: hooks.upsert,
      remove: hooks.remove,
      broken: (err) => this.#retry(err, 'watch lost (the last good policies stay in force)'),
    });
  }

  connect(): void {
    void this.#connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#watch.stop();
  }

  async #connect(): Promise<void> {
    this.#timer = undefined;
    if (this.#stopped) return;
    try {
      await this.#watch.start();
    } catch (err) {
      this.#retry(err, 'watch could not connect');
      return;
    }
    if (this.#stopped) return;
    if (this.#failures > 0) {
      this.options.logger.info(
        { resource: this.resource.plural, attempts: this.#failures },
        'watch reconnected',
      );
    }
    this.#failures = 0;
    this.hooks.connected();
  }

  #retry(err: unknown, what: string): void {
    if (this.#stopped || this.#timer !== undefined) return;
    const initial = this.options.reconnectInitialMs ?? 1_000;
    const max = this.options.reconnectMaxMs ?? 30_000;
    // ±20 % jitter, so replicas that lost the API server together do not come back in lockstep.
    const base = Math.min(initial * 2 ** this.#failures, max);
    const delay = Math.round(Math.min(base * (0.8 + Math.random() * 0.4), max));
    this.#failures++;
    const status = statusOf(err);
    const hint =
      status === 404
        ? ' (is the CustomResourceDefinition installed?)'
        : status === 401 || status === 403
          ? ' (check the service account and its RBAC: list and watch are needed)'
          : '';
    this.options.logger.warn(
      { resource: this.resource.plural, ...describeError(err), attempt: this.#failures, retryInMs: delay },
      `${what}${hint}; retrying`,
    );
    this.#timer = setTimeout(() => void this.#connect(), delay);
  }
}
