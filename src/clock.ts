/** Wall-clock time, injected so caches and trust freshness can be tested. Signature time never comes from here. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
