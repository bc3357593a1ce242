/**
 * The trust store behind `serve --kubernetes`: the built-in roots, `--trust-root` files, and every valid
 * TrustRoot object. An inline `trustedRoot` is used as it is; a `tuf` one is fetched from its mirror and
 * verified by TUF (trust-sources/tuf.ts), checked like any trusted_root.json, and refreshed every
 * `refreshInterval`. Each root stands alone, so one that fails leaves the others (and the policies naming
 * them) in force, and whatever fails keeps the last good copy of that root in use and says why in its Ready
 * condition. Nothing goes online unless a TrustRoot names a TUF mirror.
 */
import { createHash } from 'node:crypto';
import { parseGoDuration } from '../attestation/duration.js';
import { systemClock, type Clock } from '../clock.js';
import { ProvenantError } from '../errors.js';
import { TRUSTED_ROOT_TARGET, type TrustedRootFetcher, type TufRepository } from '../trust-sources/tuf.js';
import { createTrustStore, type CustomTrustRoot, type TrustStore } from '../trust/index.js';
import { describeError, type LogSink } from './log.js';
import type { ReadyState } from './status.js';
import type { TrustRootObject } from './trust-root-spec.js';

export const DEFAULT_REFRESH_INTERVAL = '24h';

export interface KubeTrustRootsOptions {
  /** Roots given with --trust-root; a TrustRoot object of the same name takes its place. */
  readonly fileRoots?: Readonly<Record<string, CustomTrustRoot>>;
  readonly fetcher: TrustedRootFetcher;
  readonly logger: LogSink;
  readonly clock?: Clock;
  /** Called with a new store whenever the material changes; `version` names the material. */
  readonly onChange: (store: TrustStore, version: string) => void;
  /** A TrustRoot's Ready condition as its material sees it; undefined leaves it to the spec checks. */
  readonly onCondition: (name: string, state: ReadyState | undefined) => void;
  /** How long update() waits for first fetches before it returns without them (default 30 s). */
  readonly firstFetchWaitMs?: number;
  /** Retry after a failed fetch: first delay (default 10 s), doubling up to retryMaxMs (default 5 min). */
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
}

/** One usable trusted_root.json and where it came from. */
interface Material {
  readonly custom: CustomTrustRoot;
  readonly digest: string;
  /** The spec it was built from: after a spec change it may be the previous one's, kept until replaced. */
  readonly specKey: string;
  /** Set for TUF material: when TUF last verified it, and whether it came from the mirror or the cache. */
  readonly verified?: { readonly at: Date; readonly from: 'mirror' | 'cache' };
  /** Set once the copy is older than its TrustRoot's maxStaleness: why it may not be used. */
  readonly stale?: string;
}

interface TufState {
  readonly repository: TufRepository;
  readonly interval: string;
  readonly intervalMs: number;
  /** The oldest a verified copy may be while refreshing fails; absent: no limit. */
  readonly maxStaleness?: { readonly text: string; readonly ms: number };
  stopped: boolean;
  timer?: NodeJS.Timeout | undefined;
  failures: number;
  failingSince?: Date | undefined;
  /** The cache is only worth a try before this process has verified anything for the spec. */
  triedCache: boolean;
}

interface Slot {
  readonly name: string;
  readonly uid: string;
  readonly specKey: string;
  material?: Material | undefined;
  tuf?: TufState | undefined;
}

// setTimeout fires at once for delays above 2^31-1 ms (~24.8 days), which would turn a long interval into a loop.
const MAX_TIMER_MS = 2 ** 31 - 1;
// The CRD asks for at least 1m; a hand-made object must still not make Provenant hammer a mirror.
const MIN_INTERVAL_MS = 1_000;

export class KubeTrustRoots {
  readonly #slots = new Map<string, Slot>();
  #fileRoots: Readonly<Record<string, CustomTrustRoot>>;
  readonly #clock: Clock;
  #store: TrustStore;
  #version: string;
  #stopped = false;

  constructor(private readonly options: KubeTrustRootsOptions) {
    this.#fileRoots = options.fileRoots ?? {};
    this.#clock = options.clock ?? systemClock;
    this.#store = createTrustStore(this.#fileRoots);
    this.#version = versionOf([], this.#fileRoots);
  }

  /** The current store; replaced whole whenever the material changes. */
  get store(): TrustStore {
    return this.#store;
  }

  /** Names the material in `store`: changes exactly when it does. */
  get version(): string {
    return this.#version;
  }

  /**
   * Takes the valid TrustRoot objects (KubePolicyStore's onTrustRootsChanged). New and changed ones are
   * (re)built, removed ones dropped. Resolves once every new TUF root's first fetch has ended, or after
   * firstFetchWaitMs, so that readiness is not held hostage by a mirror that does not answer.
   */
  async update(roots: readonly TrustRootObject[]): Promise<void> {
    if (this.#stopped) return;
    const wanted = new Set(roots.map((r) => r.name));
    for (const [name, slot] of this.#slots) {
      if (wanted.has(name)) continue;
      this.#stopTuf(slot);
      this.#slots.delete(name);
      this.options.onCondition(name, undefined);
    }
    const firstFetches: Promise<void>[] = [];
    for (const root of roots) {
      const uid = root.uid ?? '';
      const specKey = JSON.stringify(root.spec);
      const previous = this.#slots.get(root.name);
      if (previous?.uid === uid && previous.specKey === specKey) continue;
      if (previous !== undefined) this.#stopTuf(previous);
      // A new spec of the same object keeps the old material until its own is in hand; a new object does not.
      const slot: Slot = {
        name: root.name,
        uid,
        specKey,
        material: previous?.uid === uid ? previous.material : undefined,
      };
      this.#slots.set(root.name, slot);
      if ('trustedRoot' in root.spec) this.#useInline(slot, root.spec.trustedRoot);
      else firstFetches.push(this.#startTuf(slot, root.spec.tuf));
    }
    this.#publish();
    if (firstFetches.length > 0) await this.#waitAtMost(Promise.all(firstFetches));
  }

  /** New `--trust-root` file contents (the files changed); the store is rebuilt with them. */
  setFileRoots(fileRoots: Readonly<Record<string, CustomTrustRoot>>): void {
    this.#fileRoots = fileRoots;
    this.#publish();
  }

  /** Stops every refresh; fetches in flight finish but are not used. */
  stop(): void {
    this.#stopped = true;
    for (const slot of this.#slots.values()) this.#stopTuf(slot);
  }

  #useInline(slot: Slot, trustedRoot: Readonly<Record<string, unknown>>): void {
    const custom: CustomTrustRoot = { trustedRoot };
    try {
      checkRoot(slot.name, custom);
    } catch (err) {
      this.options.logger.warn(
        { trustRoot: slot.name, ...describeError(err), lastGoodInUse: slot.material !== undefined },
        'TrustRoot not usable',
      );
      this.options.onCondition(slot.name, {
        status: 'False',
        reason: 'InvalidTrustRoot',
        message: `${messageOf(err)} ${this.#consequence(slot)}`,
      });
      return;
    }
    slot.material = { custom, digest: sha256(JSON.stringify(trustedRoot)), specKey: slot.specKey };
    this.options.onCondition(slot.name, undefined);
  }

  #startTuf(
    slot: Slot,
    spec: {
      readonly mirror: string;
      readonly root: string;
      readonly refreshInterval?: string;
      readonly maxStaleness?: string;
    },
  ): Promise<void> {
    const interval = spec.refreshInterval ?? DEFAULT_REFRESH_INTERVAL;
    let intervalMs: number;
    try {
      intervalMs = parseGoDuration(interval);
    } catch {
      intervalMs = parseGoDuration(DEFAULT_REFRESH_INTERVAL);
    }
    const tuf: TufState = {
      repository: { mirror: spec.mirror, root: Buffer.from(spec.root, 'base64') },
      interval,
      intervalMs: Math.min(Math.max(intervalMs, MIN_INTERVAL_MS), MAX_TIMER_MS),
      ...(spec.maxStaleness !== undefined
        ? { maxStaleness: { text: spec.maxStaleness, ms: parseGoDuration(spec.maxStaleness) } }
        : {}),
      stopped: false,
      failures: 0,
      triedCache: false,
    };
    slot.tuf = tuf;
    if (slot.material === undefined) {
      this.options.onCondition(slot.name, {
        status: 'Unknown',
        reason: 'Fetching',
        message: `Fetching ${TRUSTED_ROOT_TARGET} from ${spec.mirror}.`,
      });
    }
    return this.#refresh(slot, tuf);
  }

  async #refresh(slot: Slot, tuf: TufState): Promise<void> {
    tuf.timer = undefined;
    const { mirror } = tuf.repository;
    let failure: unknown;
    try {
      this.#adopt(slot, tuf, await this.options.fetcher.fetchTrustedRoot(tuf.repository, 'mirror'), 'mirror');
    } catch (err) {
      failure = err;
    }
    if (tuf.stopped) return;
    if (failure === undefined) {
      if (tuf.failures > 0) {
        this.options.logger.info(
          { trustRoot: slot.name, mirror, failures: tuf.failures },
          'TrustRoot refreshed again',
        );
      }
      tuf.failures = 0;
      tuf.failingSince = undefined;
      this.options.onCondition(slot.name, {
        status: 'True',
        reason: 'Valid',
        message:
          `The trust root is valid and in use: ${TRUSTED_ROOT_TARGET} from ${mirror}, verified with TUF ` +
          `and refreshed every ${tuf.interval}.`,
      });
      this.#schedule(slot, tuf, tuf.intervalMs);
      return;
    }

    if (!tuf.triedCache && !fromThisSpec(slot) && tuf.maxStaleness === undefined) {
      // Metadata cached by an earlier run (the pod's /tmp outlives a container restart) is still signed and
      // may still be unexpired: good enough to start with while the mirror is away. Not with maxStaleness:
      // the cache cannot say how old its copy is.
      tuf.triedCache = true;
      try {
        this.#adopt(slot, tuf, await this.options.fetcher.fetchTrustedRoot(tuf.repository, 'cache'), 'cache');
      } catch {
        // The mirror's failure is the one worth reporting.
      }
      if (tuf.stopped) return;
    }

    tuf.failures++;
    tuf.failingSince ??= new Date(this.#clock.now());
    const delay = Math.min(
      (this.options.retryInitialMs ?? 10_000) * 2 ** (tuf.failures - 1),
      this.options.retryMaxMs ?? 300_000,
      tuf.intervalMs,
    );
    const inUse = slot.material;
    const why = messageOf(failure);
    this.options.logger.warn(
      {
        trustRoot: slot.name,
        mirror,
        ...describeError(failure),
        failures: tuf.failures,
        lastGoodInUse: inUse !== undefined,
        ...(inUse?.verified === undefined ? {} : { lastGoodVerifiedAt: inUse.verified.at.toISOString() }),
        retryInMs: delay,
      },
      inUse === undefined
        ? 'fetching the TrustRoot failed; signatures checked against it are refused'
        : 'fetching the TrustRoot failed; its last good copy stays in use',
    );
    const verified = fromThisSpec(slot) ? inUse?.verified : undefined;
    if (inUse?.verified !== undefined && tuf.maxStaleness !== undefined) {
      const age = this.#clock.now() - inUse.verified.at.getTime();
      if (age > tuf.maxStaleness.ms) {
        const message =
          `trust root "${slot.name}": the copy in use was verified at ${isoSeconds(inUse.verified.at)}, ` +
          `longer ago than its maxStaleness ${tuf.maxStaleness.text}, and refreshing from ${mirror} fails: ${why}`;
        if (inUse.stale === undefined) {
          slot.material = { ...inUse, stale: message };
          this.options.logger.warn({ trustRoot: slot.name, mirror }, 'TrustRoot is stale; it is not used');
          this.#publish();
        }
        this.options.onCondition(slot.name, {
          status: 'False',
          reason: 'Stale',
          message: `${message} Signatures checked against it are refused (TRUST_ROOT_STALE); retrying.`,
        });
        this.#schedule(slot, tuf, delay);
        return;
      }
    }
    this.options.onCondition(
      slot.name,
      verified !== undefined
        ? {
            status: 'True',
            reason: 'RefreshFailed',
            message:
              `Refreshing has failed since ${isoSeconds(tuf.failingSince)}: ${why} ` +
              `The copy verified ${verified.from === 'cache' ? 'from the local TUF cache ' : ''}` +
              `at ${isoSeconds(verified.at)} stays in use; retrying.`,
          }
        : {
            status: 'False',
            reason: isInvalidRoot(failure) ? 'InvalidTrustRoot' : 'TrustRootUnavailable',
            message: `Fetching ${TRUSTED_ROOT_TARGET} failed: ${why} ${this.#consequence(slot)} Retrying.`,
          },
    );
    this.#schedule(slot, tuf, delay);
  }

  /** Checks a fetched trusted_root.json and, if it is good, puts it in use. Throws TRUST_ROOT_INVALID. */
  #adopt(slot: Slot, tuf: TufState, text: string, from: 'mirror' | 'cache'): void {
    if (tuf.stopped) return;
    const custom: CustomTrustRoot = { trustedRoot: text };
    checkRoot(slot.name, custom);
    const digest = sha256(text);
    const changed = slot.material?.digest !== digest || slot.material.stale !== undefined;
    slot.material = {
      custom,
      digest,
      specKey: slot.specKey,
      verified: { at: new Date(this.#clock.now()), from },
    };
    if (changed) {
      this.options.logger.info(
        { trustRoot: slot.name, mirror: tuf.repository.mirror, from, sha256: digest },
        `TrustRoot ${TRUSTED_ROOT_TARGET} verified and in use`,
      );
      this.#publish();
    }
  }

  #schedule(slot: Slot, tuf: TufState, delayMs: number): void {
    if (tuf.stopped) return;
    tuf.timer = setTimeout(() => void this.#refresh(slot, tuf), delayMs);
    // A refresh is never a reason to keep the process alive.
    tuf.timer.unref();
  }

  #stopTuf(slot: Slot): void {
    if (slot.tuf === undefined) return;
    slot.tuf.stopped = true;
    clearTimeout(slot.tuf.timer);
    slot.tuf = undefined;
  }

  #consequence(slot: Slot): string {
    if (slot.material === undefined && slot.tuf !== undefined)
      return 'Signatures checked against it are refused (TRUST_ROOT_UNAVAILABLE) until a copy is verified.';
    if (slot.material === undefined)
      return 'Policies naming this trust root stay invalid until it is usable.';
    return slot.material.specKey === slot.specKey
      ? 'The last good copy stays in use.'
      : "The material of the TrustRoot's previous spec stays in use until this one is usable.";
  }

  /** Rebuilds the store when the set of materials changed, and hands it on. */
  #publish(): void {
    if (this.#stopped) return;
    const slots = [...this.#slots.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const materials = slots.filter(
      (slot): slot is Slot & { material: Material } => slot.material !== undefined,
    );
    // A TUF root with no verified copy yet is in the store all the same, holding nothing: policies naming it
    // stay in force and refuse what they govern (TRUST_ROOT_UNAVAILABLE) rather than dropping out of the set
    // while its mirror is away, which would leave those images to other policies or to --no-match.
    const unavailable = Object.fromEntries(
      slots
        .filter((slot) => slot.material === undefined && slot.tuf !== undefined)
        .map((slot) => [
          slot.name,
          `trust root "${slot.name}": no copy of ${TRUSTED_ROOT_TARGET} has been verified yet from ` +
            `${slot.tuf?.repository.mirror ?? 'its mirror'}`,
        ]),
    );
    const version = versionOf(
      [
        ...materials.map((slot): [string, string] => [
          slot.name,
          `${slot.material.digest}${slot.material.stale ? ':stale' : ''}`,
        ]),
        ...Object.keys(unavailable).map((name): [string, string] => [name, 'unavailable']),
      ],
      this.#fileRoots,
    );
    if (version === this.#version) return;
    let store: TrustStore;
    try {
      store = createTrustStore(
        {
          ...this.#fileRoots,
          ...Object.fromEntries(
            materials.map((slot) => [
              slot.name,
              slot.material.stale === undefined
                ? slot.material.custom
                : { ...slot.material.custom, stale: slot.material.stale },
            ]),
          ),
        },
        unavailable,
      );
    } catch (err) {
      // Every root was checked on its own before it got here; keep serving the last store if that was wrong.
      this.options.logger.error(
        { ...describeError(err) },
        'building the trust store failed; the last one stays',
      );
      return;
    }
    this.#store = store;
    this.#version = version;
    this.options.logger.info({ trustRoots: materials.map((slot) => slot.name) }, 'trust store replaced');
    this.options.onChange(store, version);
  }

  async #waitAtMost(work: Promise<unknown>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const waitMs = this.options.firstFetchWaitMs ?? 30_000;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), waitMs);
    });
    const late = await Promise.race([work.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) {
      this.options.logger.warn(
        { waitedMs: waitMs },
        'TUF trust roots are still being fetched; going on without them for now',
      );
    }
  }
}

/** Builds the root on its own, so that a bad one (or a built-in name) is refused without touching others. */
function checkRoot(name: string, custom: CustomTrustRoot): void {
  createTrustStore({ [name]: custom });
}

function fromThisSpec(slot: Slot): boolean {
  return slot.material !== undefined && slot.material.specKey === slot.specKey;
}

function isInvalidRoot(err: unknown): boolean {
  return err instanceof ProvenantError && err.code === 'TRUST_ROOT_INVALID';
}

/** The error's message as a sentence, short enough for a condition. */
function messageOf(err: unknown): string {
  let text = err instanceof Error ? err.message : String(err);
  if (text.length > 600) text = `${text.slice(0, 600)}…`;
  return /[.!?…]$/.test(text) ? text : `${text}.`;
}

function versionOf(
  entries: readonly (readonly [string, string])[],
  fileRoots: Readonly<Record<string, CustomTrustRoot>>,
): string {
  return `trust-${sha256(JSON.stringify([entries, fileRoots])).slice(0, 16)}`;
}

function isoSeconds(date: Date | undefined): string {
  return (date ?? new Date(0)).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
