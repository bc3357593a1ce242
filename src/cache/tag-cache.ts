import type { Clock } from '../clock.js';

interface Entry {
  readonly digest: string;
  readonly expiresAt: number;
}

interface Flight {
  readonly promise: Promise<string>;
  /** The signal of the caller whose request is in flight; joiners must not inherit its deadline. */
  readonly signal: AbortSignal | undefined;
}

export interface TagCacheOptions {
  /** How long a resolved tag is reused (ms); 0 turns the cache off. */
  readonly ttlMs: number;
  readonly maxEntries: number;
  readonly clock: Clock;
}

/**
 * Tag → digest answers for a short while, so that a Pod admitted by tag does not cost a registry request per
 * container per admission. Bounded (least recently used entries go first), single flight (concurrent
 * resolutions of one key share one request), and only successes are kept: a missing tag or a failure is
 * asked again next time.
 *
 * Callers key entries by everything that decides the answer: the repository, the tag and the identity of the
 * credentials used, so that a tag resolved with one workload's pull secrets is never served to a caller that
 * could not have resolved it. A joiner shares the request in flight but not its deadline: when that request
 * fails because its own caller gave up, the joiner resolves the tag itself.
 */
export class TagCache {
  readonly #entries = new Map<string, Entry>();
  readonly #inFlight = new Map<string, Flight>();

  constructor(private readonly options: TagCacheOptions) {}

  async resolve(
    key: string,
    signal: AbortSignal | undefined,
    resolve: (signal: AbortSignal | undefined) => Promise<string>,
  ): Promise<string> {
    if (this.options.ttlMs <= 0) return resolve(signal);
    const entry = this.#entries.get(key);
    const now = this.options.clock.now();
    if (entry !== undefined && entry.expiresAt > now) {
      // Re-inserted: Map order is least recently used first.
      this.#entries.delete(key);
      this.#entries.set(key, entry);
      return entry.digest;
    }
    if (entry !== undefined) this.#entries.delete(key);

    const flight = this.#inFlight.get(key);
    if (flight !== undefined) {
      try {
        return await flight.promise;
      } catch (err) {
        if (flight.signal?.aborted !== true || signal?.aborted === true) throw err;
        if (this.#inFlight.get(key) === flight) this.#inFlight.delete(key);
        return this.resolve(key, signal, resolve);
      }
    }
    const promise = resolve(signal).then((digest) => {
      this.#store(key, digest);
      return digest;
    });
    this.#inFlight.set(key, { promise, signal });
    try {
      return await promise;
    } finally {
      this.#inFlight.delete(key);
    }
  }

  get size(): number {
    return this.#entries.size;
  }

  #store(key: string, digest: string): void {
    this.#entries.set(key, { digest, expiresAt: this.options.clock.now() + this.options.ttlMs });
    while (this.#entries.size > this.options.maxEntries) {
      this.#entries.delete(this.#entries.keys().next().value as string);
    }
  }
}
