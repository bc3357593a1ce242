/**
 * Remembers the results of a pure computation keyed by a string, at most `maxEntries` of them: the oldest is
 * forgotten first. For per-request work whose inputs repeat (the same image strings, Pod after Pod) but
 * which a hostile client can vary without end, so the memo must stay bounded. A computation that throws is
 * not remembered.
 */
export class BoundedMemo<V> {
  readonly #entries = new Map<string, V>();

  constructor(private readonly maxEntries: number) {}

  get(key: string, compute: () => V): V {
    if (this.#entries.has(key)) return this.#entries.get(key) as V;
    const value = compute();
    if (this.maxEntries <= 0) return value;
    if (this.#entries.size >= this.maxEntries) {
      // Maps iterate in insertion order: the first key is the oldest.
      for (const oldest of this.#entries.keys()) {
        this.#entries.delete(oldest);
        break;
      }
    }
    this.#entries.set(key, value);
    return value;
  }

  get size(): number {
    return this.#entries.size;
  }
}
