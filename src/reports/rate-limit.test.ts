import { describe, expect, it } from 'vitest';
import { TokenBucket } from './rate-limit.js';

/** A clock that only moves when the bucket sleeps, so the sleeps are the measure of the pacing. */
function manualTime() {
  let now = 0;
  const sleeps: number[] = [];
  return {
    clock: { now: () => now },
    sleep: (ms: number) => {
      sleeps.push(ms);
      now += ms;
      return Promise.resolve();
    },
    sleeps,
    elapsed: () => now,
  };
}

describe('TokenBucket', () => {
  it('lets a burst through at once, then paces at the rate', async () => {
    const time = manualTime();
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 20, ...time });
    for (let i = 0; i < 20; i++) await bucket.acquire(1);
    expect(time.elapsed()).toBe(0);
    for (let i = 0; i < 30; i++) await bucket.acquire(1);
    // 30 more tokens at 10 a second.
    expect(time.elapsed()).toBeGreaterThanOrEqual(3000);
    expect(time.elapsed()).toBeLessThan(3100);
  });

  it('serves a request larger than the burst a burst at a time instead of never', async () => {
    const time = manualTime();
    const bucket = new TokenBucket({ ratePerSecond: 1, burst: 2, ...time });
    await bucket.acquire(50);
    await bucket.acquire(2);
    expect(time.elapsed()).toBe(2000);
  });

  it('stops waiting when its signal aborts', async () => {
    const bucket = new TokenBucket({ ratePerSecond: 0.001, burst: 1 });
    await bucket.acquire(1);
    const controller = new AbortController();
    const waiting = bucket.acquire(1, controller.signal);
    controller.abort(new Error('lost the lease'));
    await expect(waiting).rejects.toThrow('lost the lease');
  });

  it('refuses a rate of zero', () => {
    expect(() => new TokenBucket({ ratePerSecond: 0, burst: 1 })).toThrow(RangeError);
  });
});
