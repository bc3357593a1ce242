import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PassScheduler, type PassReason } from './scheduler.js';

const MIN = 60_000;

describe('PassScheduler', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function scheduler(
    options: { intervalMs?: number; cacheTtlMs?: number; run?: (r: PassReason) => Promise<void> } = {},
  ) {
    const reasons: PassReason[] = [];
    const s = new PassScheduler({
      intervalMs: options.intervalMs ?? 60 * MIN,
      cacheTtlMs: options.cacheTtlMs ?? 0,
      debounceMs: 1000,
      run: async (reason) => {
        reasons.push(reason);
        await options.run?.(reason);
      },
    });
    return { s, reasons };
  }

  it('passes soon after start, then every interval', async () => {
    const { s, reasons } = scheduler();
    s.start();
    await vi.advanceTimersByTimeAsync(999);
    expect(reasons).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(reasons).toEqual(['start']);
    await vi.advanceTimersByTimeAsync(60 * MIN);
    await vi.advanceTimersByTimeAsync(60 * MIN);
    expect(reasons).toEqual(['start', 'interval', 'interval']);
    await s.stop();
    await vi.advanceTimersByTimeAsync(120 * MIN);
    expect(reasons).toHaveLength(3);
  });

  it('passes when the verification cache expires, if that comes before the interval', async () => {
    const { s, reasons } = scheduler({ cacheTtlMs: 10 * MIN });
    s.start();
    await vi.advanceTimersByTimeAsync(1000 + 10 * MIN);
    expect(reasons).toEqual(['start', 'cache-expiry']);
    await s.stop();
  });

  it('collects a burst of policy changes into one pass', async () => {
    const { s, reasons } = scheduler();
    s.start();
    await vi.advanceTimersByTimeAsync(1000);
    for (let i = 0; i < 5; i++) {
      s.trigger('policy-change');
      await vi.advanceTimersByTimeAsync(500);
    }
    await vi.advanceTimersByTimeAsync(1000);
    expect(reasons).toEqual(['start', 'policy-change']);
    await s.stop();
  });

  it('never overlaps passes: a change during a pass runs one more pass after it', async () => {
    let release: () => void = () => {};
    let active = 0;
    let most = 0;
    const { s, reasons } = scheduler({
      run: async () => {
        active++;
        most = Math.max(most, active);
        await new Promise<void>((resolve) => (release = resolve));
        active--;
      },
    });
    s.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.running).toBe(true);
    s.trigger('policy-change');
    s.trigger('policy-change');
    await vi.advanceTimersByTimeAsync(5000);
    expect(reasons).toEqual(['start']);
    release();
    await vi.advanceTimersByTimeAsync(1000);
    expect(reasons).toEqual(['start', 'policy-change']);
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(most).toBe(1);
    await s.stop();
  });

  it('keeps the schedule after a failed pass', async () => {
    const { s, reasons } = scheduler({ run: () => Promise.reject(new Error('API server down')) });
    s.start();
    await vi.advanceTimersByTimeAsync(1000 + 60 * MIN);
    expect(reasons).toEqual(['start', 'interval']);
    await s.stop();
  });

  it('refuses an interval of zero (the caller turns the feature off instead)', () => {
    expect(() => scheduler({ intervalMs: 0 })).toThrow(RangeError);
  });
});
