import type { Clock } from '../clock.js';

export type CacheOutcome = 'hit' | 'miss' | 'shared';

interface Entry<V> {
  readonly value: V;
  readonly expiresAt: number;
}

/**
 * A bounded TTL cache whose misses are computed once: concurrent callers asking for the same key while
 * it is being computed share that one computation ("single flight"). The TTL is chosen per value, so
 * successes can live long and failures briefly. Rejections are never stored.
 */
export class SingleFlightCache<V> {
  readonly #entries = new Map<string, Entry<V>>();
  readonly #inFlight = new Map<string, Promise<V>>();

  constructor(private readonly options: { maxEntries: number; clock: Clock; ttlFor: (value: V) => number }) {}

  async get(key: string, compute: () => Promise<V>, onOutcome?: (o: CacheOutcome) => void): Promise<V> {
    const entry = this.#entries.get(key);
    if (entry && entry.expiresAt > this.options.clock.now()) {
      // Re-insert to keep Map order = least recently used first.
      this.#entries.delete(key);
      this.#entries.set(key, entry);
      onOutcome?.('hit');
      return entry.value;
    }
    if (entry) this.#entries.delete(key);

    const pending = this.#inFlight.get(key);
    if (pending) {
      onOutcome?.('shared');
      return pending;
    }
    onOutcome?.('miss');
    const promise = compute().then((value) => {
      this.#store(key, value);
      return value;
    });
    this.#inFlight.set(key, promise);
    try {
      return await promise;
    } finally {
      this.#inFlight.delete(key);
    }
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }

  #store(key: string, value: V): void {
    const ttl = this.options.ttlFor(value);
    if (ttl <= 0) return;
    this.#entries.set(key, { value, expiresAt: this.options.clock.now() + ttl });
    while (this.#entries.size > this.options.maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }
}
