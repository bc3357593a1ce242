import { describe, expect, it } from 'vitest';
import type { Clock } from '../clock.js';
import { SingleFlightCache, type CacheOutcome } from './single-flight-cache.js';

class ManualClock implements Clock {
  t = 1_000;
  now(): number {
    return this.t;
  }
}

function cache(clock: Clock, maxEntries = 10) {
  return new SingleFlightCache<{ ok: boolean }>({
    maxEntries,
    clock,
    ttlFor: (v) => (v.ok ? 60_000 : 1_000),
  });
}

describe('SingleFlightCache', () => {
  it('computes once and serves hits until the TTL ends', async () => {
    const clock = new ManualClock();
    const c = cache(clock);
    let calls = 0;
    const compute = async () => ({ ok: !!++calls });
    const outcomes: CacheOutcome[] = [];
    await c.get('k', compute, { onOutcome: (o) => outcomes.push(o) });
    await c.get('k', compute, { onOutcome: (o) => outcomes.push(o) });
    clock.t += 60_001;
    await c.get('k', compute, { onOutcome: (o) => outcomes.push(o) });
    expect(calls).toBe(2);
    expect(outcomes).toEqual(['miss', 'hit', 'miss']);
  });

  it('keeps failures only for their short TTL', async () => {
    const clock = new ManualClock();
    const c = cache(clock);
    let calls = 0;
    const compute = async () => ({ ok: ++calls > 1 });
    await c.get('k', compute);
    await c.get('k', compute);
    expect(calls).toBe(1);
    clock.t += 1_001;
    expect(await c.get('k', compute)).toEqual({ ok: true });
    expect(calls).toBe(2);
  });

  it('shares one computation between concurrent callers', async () => {
    const c = cache(new ManualClock());
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const compute = async () => {
      calls++;
      await gate;
      return { ok: true };
    };
    const outcomes: CacheOutcome[] = [];
    const all = Promise.all([1, 2, 3].map(() => c.get('k', compute, { onOutcome: (o) => outcomes.push(o) })));
    release();
    await all;
    expect(calls).toBe(1);
    expect(outcomes.sort()).toEqual(['miss', 'shared', 'shared']);
  });

  it('does not store rejections', async () => {
    const c = cache(new ManualClock());
    await expect(c.get('k', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await c.get('k', async () => ({ ok: true }))).toEqual({ ok: true });
  });

  it('evicts the least recently used entry beyond its bound', async () => {
    const c = cache(new ManualClock(), 2);
    let calls = 0;
    const compute = async () => ({ ok: !!++calls });
    await c.get('a', compute);
    await c.get('b', compute);
    await c.get('a', compute); // a is now most recent
    await c.get('c', compute); // evicts b
    expect(c.size).toBe(2);
    await c.get('a', compute);
    expect(calls).toBe(3);
    await c.get('b', compute);
    expect(calls).toBe(4);
  });

  describe('callers with their own deadlines', () => {
    /** A computation that waits for `release` and records whether its own signal aborted. */
    function gated() {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const seen: { calls: number; signal?: AbortSignal } = { calls: 0 };
      const compute = async (signal: AbortSignal) => {
        seen.calls++;
        seen.signal = signal;
        await Promise.race([
          gate,
          new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
        ]);
        return { ok: true };
      };
      return { compute, release, seen };
    }

    it('gives the first caller its own reason when it aborts, and the joiner still gets the result', async () => {
      const c = cache(new ManualClock());
      const { compute, release, seen } = gated();
      const first = new AbortController();
      const joiner = new AbortController();
      const a = c.get('k', compute, { signal: first.signal });
      const b = c.get('k', compute, { signal: joiner.signal });
      first.abort(new Error('first caller timed out'));
      await expect(a).rejects.toThrow('first caller timed out');
      expect(seen.signal?.aborted).toBe(false);
      release();
      expect(await b).toEqual({ ok: true });
      expect(seen.calls).toBe(1);
      expect(c.size).toBe(1);
    });

    it('gives a joiner that aborts first its own reason, and the first caller the result', async () => {
      const c = cache(new ManualClock());
      const { compute, release, seen } = gated();
      const joiner = new AbortController();
      const a = c.get('k', compute, { signal: new AbortController().signal });
      const b = c.get('k', compute, { signal: joiner.signal });
      joiner.abort(new Error('joiner timed out'));
      await expect(b).rejects.toThrow('joiner timed out');
      release();
      expect(await a).toEqual({ ok: true });
      expect(seen.calls).toBe(1);
    });

    it('aborts the computation once every caller has given up, and starts afresh for the next', async () => {
      const c = cache(new ManualClock());
      const { compute, seen } = gated();
      const one = new AbortController();
      const two = new AbortController();
      const a = c.get('k', compute, { signal: one.signal });
      const b = c.get('k', compute, { signal: two.signal });
      one.abort(new Error('one'));
      await expect(a).rejects.toThrow('one');
      expect(seen.signal?.aborted).toBe(false);
      two.abort(new Error('two'));
      await expect(b).rejects.toThrow('two');
      expect(seen.signal?.aborted).toBe(true);

      const outcomes: CacheOutcome[] = [];
      expect(await c.get('k', async () => ({ ok: true }), { onOutcome: (o) => outcomes.push(o) })).toEqual({
        ok: true,
      });
      expect(outcomes).toEqual(['miss']);
    });

    it('refuses a caller whose signal has already fired, without computing', async () => {
      const c = cache(new ManualClock());
      const { compute, seen } = gated();
      await expect(c.get('k', compute, { signal: AbortSignal.abort(new Error('late')) })).rejects.toThrow(
        'late',
      );
      expect(seen.calls).toBe(0);
    });
  });
});

describe('SingleFlightCache weight bound', () => {
  const weighted = (clock: Clock, maxWeight: number) =>
    new SingleFlightCache<{ size: number }>({
      maxEntries: 100,
      clock,
      ttlFor: () => 60_000,
      maxWeight,
      weigh: (v) => v.size,
    });

  it('evicts the least recently used entries while the summed weight is over the bound', async () => {
    const c = weighted(new ManualClock(), 100);
    await c.get('a', async () => ({ size: 40 }));
    await c.get('b', async () => ({ size: 40 }));
    await c.get('a', async () => ({ size: 0 })); // a hit: a becomes the most recently used
    await c.get('c', async () => ({ size: 40 }));
    expect(c.weight).toBe(80);
    expect(c.size).toBe(2);
    const outcomes: CacheOutcome[] = [];
    await c.get('a', async () => ({ size: 40 }), { onOutcome: (o) => outcomes.push(o) });
    await c.get('b', async () => ({ size: 40 }), { onOutcome: (o) => outcomes.push(o) });
    expect(outcomes).toEqual(['hit', 'miss']);
  });

  it('does not keep a value heavier than the whole bound', async () => {
    const c = weighted(new ManualClock(), 100);
    await c.get('small', async () => ({ size: 10 }));
    await c.get('huge', async () => ({ size: 101 }));
    expect(c.size).toBe(1);
    expect(c.weight).toBe(10);
  });

  it('keeps the weight exact when entries expire and are replaced', async () => {
    const clock = new ManualClock();
    const c = weighted(clock, 100);
    await c.get('a', async () => ({ size: 30 }));
    clock.t += 60_001;
    await c.get('a', async () => ({ size: 20 }));
    expect(c.weight).toBe(20);
    c.clear();
    expect(c.weight).toBe(0);
  });
});
