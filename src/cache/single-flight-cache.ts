import type { Clock } from '../clock.js';
import { SharedFlights } from './shared-flights.js';

export type CacheOutcome = 'hit' | 'miss' | 'shared';

interface Entry<V> {
  readonly value: V;
  readonly expiresAt: number;
  readonly weight: number;
}

export interface SingleFlightCacheOptions<V> {
  readonly maxEntries: number;
  readonly clock: Clock;
  readonly ttlFor: (value: V) => number;
  /**
   * Bound on the summed weights of stored values (e.g. estimated bytes), so a few huge values cannot hold
   * what the entry count alone would allow; least recently used entries go first. Unbounded when absent.
   */
  readonly maxWeight?: number;
  readonly weigh?: (value: V) => number;
}

export interface GetOptions {
  /**
   * This caller's deadline. When it fires, this caller gets the signal's reason at once; the computation
   * goes on for the callers still waiting, and is aborted only when none is left.
   */
  readonly signal?: AbortSignal;
  readonly onOutcome?: (outcome: CacheOutcome) => void;
}

/**
 * A bounded TTL cache whose misses are computed once: concurrent callers asking for the same key while
 * it is being computed share that one computation ("single flight"). The TTL is chosen per value, so
 * successes can live long and failures briefly. Rejections are never stored.
 *
 * A computation belongs to no single caller: it gets its own signal, which aborts only once every caller
 * waiting for it has given up, so a caller whose admission times out never cuts short a joiner with a
 * longer deadline. Whatever else a computation depends on (credentials, trust material) belongs in the key.
 */
export class SingleFlightCache<V> {
  readonly #entries = new Map<string, Entry<V>>();
  readonly #inFlight = new SharedFlights<V>();
  #weight = 0;

  constructor(private readonly options: SingleFlightCacheOptions<V>) {}

  async get(key: string, compute: (signal: AbortSignal) => Promise<V>, options: GetOptions = {}): Promise<V> {
    const { signal, onOutcome } = options;
    const entry = this.#entries.get(key);
    if (entry && entry.expiresAt > this.options.clock.now()) {
      // Re-insert to keep Map order = least recently used first.
      this.#entries.delete(key);
      this.#entries.set(key, entry);
      onOutcome?.('hit');
      return entry.value;
    }
    if (entry) this.#remove(key, entry);
    signal?.throwIfAborted();

    onOutcome?.(this.#inFlight.has(key) ? 'shared' : 'miss');
    return this.#inFlight.run(
      key,
      async (flightSignal) => {
        const value = await compute(flightSignal);
        this.#store(key, value);
        return value;
      },
      signal,
    );
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Summed weight of the stored values. */
  get weight(): number {
    return this.#weight;
  }

  clear(): void {
    this.#entries.clear();
    this.#weight = 0;
  }

  #remove(key: string, entry: Entry<V>): void {
    this.#entries.delete(key);
    this.#weight -= entry.weight;
  }

  #store(key: string, value: V): void {
    const ttl = this.options.ttlFor(value);
    if (ttl <= 0) return;
    const weight = this.options.weigh?.(value) ?? 0;
    const maxWeight = this.options.maxWeight ?? Number.POSITIVE_INFINITY;
    // A value heavier than the whole budget is not kept: it would evict everything else and then itself.
    if (weight > maxWeight) return;
    const previous = this.#entries.get(key);
    if (previous) this.#remove(key, previous);
    this.#entries.set(key, { value, expiresAt: this.options.clock.now() + ttl, weight });
    this.#weight += weight;
    while (this.#entries.size > this.options.maxEntries || this.#weight > maxWeight) {
      const oldest = this.#entries.keys().next().value as string;
      this.#remove(oldest, this.#entries.get(oldest) as Entry<V>);
    }
  }
}
