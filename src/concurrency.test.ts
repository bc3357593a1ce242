import { describe, expect, it } from 'vitest';
import { mapWithConcurrency } from './concurrency.js';

/** Calls that each wait for the test to release them, recording how many were running at most. */
function gatedCalls() {
  const releases: (() => void)[] = [];
  let running = 0;
  let most = 0;
  const fn = async (item: number, index: number): Promise<string> => {
    running++;
    most = Math.max(most, running);
    await new Promise<void>((resolve) => releases.push(resolve));
    running--;
    return `${item}@${index}`;
  };
  const releaseAll = async (): Promise<void> => {
    // Each release may start another call; keep releasing until none is waiting.
    while (releases.length > 0) {
      releases.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  return { fn, releaseAll, started: () => releases.length, most: () => most };
}

describe('mapWithConcurrency', () => {
  it('keeps at most `limit` calls in flight and the results in item order', async () => {
    const calls = gatedCalls();
    const result = mapWithConcurrency([5, 6, 7, 8, 9], 2, calls.fn);
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls.started()).toBe(2);
    await calls.releaseAll();
    expect(await result).toEqual(['5@0', '6@1', '7@2', '8@3', '9@4']);
    expect(calls.most()).toBe(2);
  });

  it('starts every call at once when the items fit within the limit', async () => {
    const calls = gatedCalls();
    const result = mapWithConcurrency([1, 2, 3], 3, calls.fn);
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls.started()).toBe(3);
    await calls.releaseAll();
    expect(await result).toEqual(['1@0', '2@1', '3@2']);
  });

  it('rejects with the first failure', async () => {
    const fn = async (item: number): Promise<number> => {
      if (item === 2) throw new Error('item 2 failed');
      return item;
    };
    await expect(mapWithConcurrency([1, 2, 3], 8, fn)).rejects.toThrow('item 2 failed');
    await expect(mapWithConcurrency([1, 2, 3], 1, fn)).rejects.toThrow('item 2 failed');
  });
});
