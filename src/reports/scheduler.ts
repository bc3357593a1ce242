/**
 * When background passes run: once soon after start, then every interval; sooner when the verification
 * cache expires (the verdicts the last pass used are gone, so the next one re-reads the registries and sees a
 * removed signature or a re-pointed tag); and shortly after a policy or trust root changes (debounced, so an
 * `kubectl apply` of ten policies starts one pass). Passes never overlap: a trigger during a pass runs one
 * more pass right after it. A failed pass is logged by the caller and the schedule goes on.
 */

export type PassReason = 'start' | 'interval' | 'cache-expiry' | 'policy-change';

export interface SchedulerOptions {
  /** Time between passes (> 0). */
  readonly intervalMs: number;
  /** The verification cache TTL: a pass is due at the latest when the last pass's verdicts expire. */
  readonly cacheTtlMs: number;
  /** Delay after start and after a change before a pass begins (collects bursts of changes). */
  readonly debounceMs: number;
  readonly run: (reason: PassReason) => Promise<void>;
}

export class PassScheduler {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  /** A trigger arrived during a pass: run again when it ends. */
  #pending: PassReason | undefined;
  #stopped = true;

  constructor(private readonly options: SchedulerOptions) {
    if (!(options.intervalMs > 0)) throw new RangeError('the background interval must be positive');
  }

  get running(): boolean {
    return this.#running !== undefined;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule('start', this.options.debounceMs);
  }

  /** A policy or trust root changed: pass soon (restarting the debounce), or after the running one. */
  trigger(reason: PassReason = 'policy-change'): void {
    if (this.#stopped) return;
    if (this.#running !== undefined) {
      this.#pending = reason;
      return;
    }
    this.#schedule(reason, this.options.debounceMs);
  }

  /** Stops scheduling and waits for a pass in flight (the caller aborts it through its own signal). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pending = undefined;
    await this.#running;
  }

  #schedule(reason: PassReason, delayMs: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#pass(reason);
    }, delayMs);
    this.#timer.unref();
  }

  #pass(reason: PassReason): void {
    if (this.#stopped) return;
    this.#running = this.options
      .run(reason)
      .catch(() => undefined)
      .finally(() => {
        this.#running = undefined;
        if (this.#stopped) return;
        const pending = this.#pending;
        this.#pending = undefined;
        if (pending !== undefined) {
          this.#schedule(pending, this.options.debounceMs);
          return;
        }
        const { intervalMs, cacheTtlMs } = this.options;
        if (cacheTtlMs > 0 && cacheTtlMs < intervalMs) this.#schedule('cache-expiry', cacheTtlMs);
        else this.#schedule('interval', intervalMs);
      });
  }
}
