import { describe, expect, it } from 'vitest';
import { BoundedMemo } from './bounded-memo.js';

describe('BoundedMemo', () => {
  it('computes a key once and answers later calls from memory', () => {
    const memo = new BoundedMemo<number>(10);
    let calls = 0;
    const compute = () => ++calls;
    expect(memo.get('a', compute)).toBe(1);
    expect(memo.get('a', compute)).toBe(1);
    expect(memo.get('b', compute)).toBe(2);
    expect(calls).toBe(2);
  });

  it('remembers undefined results too', () => {
    const memo = new BoundedMemo<string | undefined>(10);
    let calls = 0;
    const compute = () => {
      calls++;
      return undefined;
    };
    memo.get('a', compute);
    memo.get('a', compute);
    expect(calls).toBe(1);
  });

  it('holds at most maxEntries, forgetting the oldest first', () => {
    const memo = new BoundedMemo<string>(3);
    for (const key of ['a', 'b', 'c', 'd']) memo.get(key, () => key.toUpperCase());
    expect(memo.size).toBe(3);
    let recomputed: string[] = [];
    const track = (key: string) => () => {
      recomputed.push(key);
      return key;
    };
    memo.get('d', track('d'));
    memo.get('c', track('c'));
    expect(recomputed).toEqual([]);
    memo.get('a', track('a'));
    expect(recomputed).toEqual(['a']);
    recomputed = [];
    // 'a' came back in place of 'b', the oldest at that point.
    memo.get('b', track('b'));
    expect(recomputed).toEqual(['b']);
  });

  it('does not remember a computation that throws', () => {
    const memo = new BoundedMemo<number>(10);
    expect(() =>
      memo.get('bad', () => {
        throw new Error('no');
      }),
    ).toThrow('no');
    expect(memo.get('bad', () => 7)).toBe(7);
    expect(memo.size).toBe(1);
  });

  it('remembers nothing with a bound of zero', () => {
    const memo = new BoundedMemo<number>(0);
    let calls = 0;
    memo.get('a', () => ++calls);
    memo.get('a', () => ++calls);
    expect(calls).toBe(2);
    expect(memo.size).toBe(0);
  });
});
