/**
 * A token bucket: `ratePerSecond` tokens a second, at most `burst` saved up. Background passes take one
 * token per image they verify, so a cluster of thousands of Pods is re-verified at a pace the registries
 * (shared with admissions) can take. Clock and sleep are injected for tests.
 */
import { systemClock, type Clock } from '../clock.js';
import type { RateLimiter } from './judge.js';

export interface TokenBucketOptions {
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly clock?: Clock;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export class TokenBucket implements RateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #clock: Clock;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  #tokens: number;
  #updated: number;
  /** Waiters are served in order, so a large request is not starved by small ones. */
  #queue: Promise<void> = Promise.resolve();

  constructor(options: TokenBucketOptions) {
    if (!(options.ratePerSecond > 0) || !(options.burst >= 1)) {
      throw new RangeError('a token bucket needs a positive rate and a burst of at least 1');
    }
    this.#rate = options.ratePerSecond;
    this.#burst = options.burst;
    this.#clock = options.clock ?? systemClock;
    this.#sleep = options.sleep ?? sleep;
    this.#tokens = options.burst;
    this.#updated = this.#clock.now();
  }

  acquire(count: number, signal?: AbortSignal): Promise<void> {
    // More than a burst is taken a burst at a time, never refused.
    const wanted = Math.min(Math.max(1, count), this.#burst);
    const turn = this.#queue.then(() => this.#take(wanted, signal));
    this.#queue = turn.catch(() => undefined);
    return turn;
  }

  async #take(wanted: number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const now = this.#clock.now();
      this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#updated) / 1000) * this.#rate);
      this.#updated = now;
      if (this.#tokens >= wanted) {
        this.#tokens -= wanted;
        return;
      }
      await this.#sleep(Math.ceil(((wanted - this.#tokens) / this.#rate) * 1000), signal);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
