/**
 * Ready conditions on ClusterImagePolicy, ImagePolicy and TrustRoot objects, written through the status
 * subresource. Every replica computes the same status from the same object, so concurrent writers agree;
 * a write carries the resourceVersion it was computed from (a stale one gets 409 and waits for the next
 * event), and a replica writes a given status for a given generation at most once, so a schema that
 * prunes a field, or an older replica that words a message differently, cannot start a write loop.
 */
import type { Clock } from '../clock.js';
import type { PolicyProblem } from '../policy/validate.js';
import { describeError, type LogSink } from './log.js';
import { describeRef, type KubeObject, type ObjectRef } from './policy-resources.js';

/**
 * Why an object is (not) ready. For a TrustRoot with `spec.tuf` (src/kube/trust-roots.ts): `Fetching` (Unknown)
 * until the first fetch ends, `TrustRootUnavailable` when it failed, `RefreshFailed` (still True) when a
 * refresh failed and the last verified copy stays in use.
 */
export type ReadyReason =
  | 'Valid'
  | 'InvalidPolicy'
  | 'InvalidTrustRoot'
  | 'Fetching'
  | 'TrustRootUnavailable'
  | 'RefreshFailed'
  | 'Stale';

/** What the Ready condition should say; lastTransitionTime is filled in when writing. */
export interface ReadyState {
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: ReadyReason;
  readonly message: string;
}

export interface ReadyCondition extends ReadyState {
  readonly type: 'Ready';
  readonly lastTransitionTime: string;
}

/** The `status` merge-patched onto an object. */
export interface StatusBody {
  readonly observedGeneration?: number;
  readonly conditions: readonly unknown[];
}

export type StatusWriteOutcome = 'patched' | 'conflict' | 'gone';

/**
 * Writes `status` through the status subresource with a merge patch that also carries `resourceVersion`
 * as a precondition. RBAC: `patch` on clusterimagepolicies/status, imagepolicies/status, trustroots/status.
 */
export interface PolicyStatusWriter {
  patchStatus(ref: ObjectRef, resourceVersion: string, status: StatusBody): Promise<StatusWriteOutcome>;
}

/** Conditions are for people: keep the message readable and well below the API's 32 KiB limit. */
export const MAX_MESSAGE_CHARS = 1024;

/** `field: message; field: message`, cut at a problem boundary with a count of what was left out. */
export function formatProblems(problems: readonly PolicyProblem[], maxChars = MAX_MESSAGE_CHARS): string {
  const parts = problems.map((p) => `${p.field}: ${p.message}`);
  let out = '';
  for (const [i, part] of parts.entries()) {
    const next = out === '' ? part : `${out}; ${part}`;
    const rest = parts.length - i - 1;
    const suffix = rest > 0 ? ` (and ${rest} more)` : '';
    if (next.length + suffix.length > maxChars) {
      const omitted = parts.length - i;
      if (out === '') return `${part.slice(0, maxChars - 20)}… (and ${omitted - 1} more)`;
      return `${out} (and ${omitted} more)`;
    }
    out = next;
  }
  return out;
}

export interface ReadyInputs {
  readonly kind: 'policy' | 'trust-root';
  /** Problems of the current spec; undefined when it is valid. */
  readonly problems?: readonly PolicyProblem[];
  /** The generation of the last valid spec still in force, when the current one is invalid. */
  readonly lastGoodGeneration?: number | 'unknown';
}

export function readyStateFor(inputs: ReadyInputs): ReadyState {
  const policy = inputs.kind === 'policy';
  if (inputs.problems === undefined) {
    return {
      status: 'True',
      reason: 'Valid',
      message: policy ? 'The policy is valid and enforced.' : 'The trust root is valid and in use.',
    };
  }
  const reason: ReadyReason = policy ? 'InvalidPolicy' : 'InvalidTrustRoot';
  const last = inputs.lastGoodGeneration;
  const consequence =
    last === undefined
      ? policy
        ? 'The policy is not enforced until it is fixed.'
        : 'The trust root is not used until it is fixed.'
      : `The last valid version${last === 'unknown' ? '' : ` (generation ${last})`} stays in ${policy ? 'force' : 'use'}.`;
  const budget = MAX_MESSAGE_CHARS - consequence.length - 2;
  const problems = formatProblems(inputs.problems, budget);
  return {
    status: 'False',
    reason,
    message: `${problems}${problems.endsWith('.') ? '' : '.'} ${consequence}`,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The status to write, or undefined when the object already says it. Only observedGeneration and the
 * Ready condition's status, reason and message are compared: lastTransitionTime moves only when the
 * status flips, and conditions of other types are kept as they are.
 */
export function planStatus(
  observed: unknown,
  generation: number | undefined,
  desired: ReadyState,
  now: Date,
): StatusBody | undefined {
  const status = isRecord(observed) ? observed : {};
  const conditions = Array.isArray(status['conditions']) ? (status['conditions'] as unknown[]) : [];
  const index = conditions.findIndex((c) => isRecord(c) && c['type'] === 'Ready');
  const current = index >= 0 ? (conditions[index] as Record<string, unknown>) : undefined;

  const sameGeneration = generation === undefined || status['observedGeneration'] === generation;
  const sameReady =
    current !== undefined &&
    current['status'] === desired.status &&
    current['reason'] === desired.reason &&
    current['message'] === desired.message;
  if (sameGeneration && sameReady) return undefined;

  const keptTime =
    current !== undefined &&
    current['status'] === desired.status &&
    typeof current['lastTransitionTime'] === 'string'
      ? current['lastTransitionTime']
      : undefined;
  const ready: ReadyCondition = {
    type: 'Ready',
    status: desired.status,
    reason: desired.reason,
    message: desired.message,
    // metav1.Time has second precision.
    lastTransitionTime: keptTime ?? now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  const next = index >= 0 ? conditions.map((c, i) => (i === index ? ready : c)) : [...conditions, ready];
  return { ...(generation === undefined ? {} : { observedGeneration: generation }), conditions: next };
}

export interface StatusReconcilerOptions {
  readonly writer: PolicyStatusWriter;
  readonly logger: LogSink;
  readonly clock: Clock;
  /** First retry delay after a failed write (other than a conflict); doubles up to retryMaxMs. */
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
}

interface Request {
  readonly ref: ObjectRef;
  readonly object: KubeObject;
  readonly desired: ReadyState;
}

interface KeyState {
  running: boolean;
  next?: Request | undefined;
  failures: number;
  retry?: NodeJS.Timeout | undefined;
  /** uid, generation and desired state of the last successful write. */
  written?: string | undefined;
}

/** Writes Ready conditions one object at a time: per object, writes are serialised and the latest wins. */
export class StatusReconciler {
  readonly #states = new Map<string, KeyState>();
  readonly #running = new Set<Promise<void>>();
  #stopped = false;

  constructor(private readonly options: StatusReconcilerOptions) {}

  /** Brings the object's status in line with `desired`, in the background. */
  reconcile(key: string, ref: ObjectRef, object: KubeObject, desired: ReadyState): void {
    if (this.#stopped) return;
    let state = this.#states.get(key);
    if (state === undefined) {
      state = { running: false, failures: 0 };
      this.#states.set(key, state);
    }
    clearTimeout(state.retry);
    state.retry = undefined;
    state.next = { ref, object, desired };
    if (!state.running) this.#track(this.#drain(key, state));
  }

  /** The object is gone: drop what was remembered about it. */
  forget(key: string): void {
    const state = this.#states.get(key);
    if (state === undefined) return;
    clearTimeout(state.retry);
    state.next = undefined;
    this.#states.delete(key);
  }

  /** Resolves when no write is in flight (retries still pending on timers are not waited for). */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  stop(): void {
    this.#stopped = true;
    for (const state of this.#states.values()) {
      clearTimeout(state.retry);
      state.next = undefined;
    }
  }

  #track(run: Promise<void>): void {
    this.#running.add(run);
    void run.finally(() => this.#running.delete(run));
  }

  async #drain(key: string, state: KeyState): Promise<void> {
    state.running = true;
    try {
      while (state.next !== undefined && !this.#stopped) {
        const request = state.next;
        state.next = undefined;
        await this.#write(key, state, request);
      }
    } finally {
      state.running = false;
    }
  }

  async #write(key: string, state: KeyState, request: Request): Promise<void> {
    const { ref, object, desired } = request;
    const meta = object.metadata ?? {};
    const generation = typeof meta.generation === 'number' ? meta.generation : undefined;
    const signature = JSON.stringify([meta.uid ?? '', generation ?? null, desired]);
    if (state.written === signature) return;
    const body = planStatus(object.status, generation, desired, new Date(this.options.clock.now()));
    if (body === undefined) {
      state.written = signature;
      return;
    }
    const resourceVersion = meta.resourceVersion;
    if (resourceVersion === undefined) return;
    const what = describeRef(ref);
    try {
      const outcome = await this.options.writer.patchStatus(ref, resourceVersion, body);
      state.failures = 0;
      if (outcome === 'patched') {
        state.written = signature;
        this.options.logger.debug(
          { object: what, ready: desired.status, reason: desired.reason },
          'status written',
        );
      } else {
        // A newer version (or the deletion) is on its way through the watch; it decides what to write.
        this.options.logger.debug(
          { object: what, outcome },
          'status not written: the object changed meanwhile',
        );
      }
    } catch (err) {
      state.failures++;
      const initial = this.options.retryInitialMs ?? 2_000;
      const delay = Math.min(initial * 2 ** (state.failures - 1), this.options.retryMaxMs ?? 60_000);
      this.options.logger.warn(
        { object: what, ...describeError(err), retryInMs: delay },
        'writing status failed',
      );
      if (this.#stopped || state.next !== undefined) return;
      state.retry = setTimeout(() => {
        state.retry = undefined;
        if (state.next === undefined) this.reconcile(key, ref, object, desired);
      }, delay);
      state.retry.unref();
    }
  }
}
