import { describe, expect, it } from 'vitest';
import { TagCache } from './tag-cache.js';

const digest = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;

function counting(answers: () => Promise<string>) {
  let calls = 0;
  return {
    calls: () => calls,
    resolve: (): Promise<string> => {
      calls++;
      return answers();
    },
  };
}

describe('TagCache', () => {
  it('answers from memory within the TTL and asks again after it', async () => {
    let now = 0;
    const cache = new TagCache({ ttlMs: 100, maxEntries: 10, clock: { now: () => now } });
    let next = 1;
    const source = counting(async () => digest(next));
    expect(await cache.resolve('k', undefined, source.resolve)).toBe(digest(1));
    next = 2;
    now = 99;
    expect(await cache.resolve('k', undefined, source.resolve)).toBe(digest(1));
    now = 100;
    expect(await cache.resolve('k', undefined, source.resolve)).toBe(digest(2));
    expect(source.calls()).toBe(2);
  });

  it('is off with a TTL of 0', async () => {
    const cache = new TagCache({ ttlMs: 0, maxEntries: 10, clock: { now: () => 0 } });
    const source = counting(async () => digest(1));
    await cache.resolve('k', undefined, source.resolve);
    await cache.resolve('k', undefined, source.resolve);
    expect(source.calls()).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('shares one resolution between concurrent callers of a key, not between keys', async () => {
    const cache = new TagCache({ ttlMs: 100, maxEntries: 10, clock: { now: () => 0 } });
    const source = counting(async () => digest(1));
    await Promise.all([
      cache.resolve('a', undefined, source.resolve),
      cache.resolve('a', undefined, source.resolve),
      cache.resolve('b', undefined, source.resolve),
    ]);
    expect(source.calls()).toBe(2);
  });

  it('keeps no failure', async () => {
    const cache = new TagCache({ ttlMs: 100, maxEntries: 10, clock: { now: () => 0 } });
    const failing = counting(() => Promise.reject(new Error('IMAGE_NOT_FOUND')));
    await expect(cache.resolve('k', undefined, failing.resolve)).rejects.toThrow('IMAGE_NOT_FOUND');
    await expect(cache.resolve('k', undefined, failing.resolve)).rejects.toThrow('IMAGE_NOT_FOUND');
    expect(failing.calls()).toBe(2);
  });

  it("does not hand a joiner the first caller's deadline", async () => {
    const cache = new TagCache({ ttlMs: 100, maxEntries: 10, clock: { now: () => 0 } });
    const leader = new AbortController();
    const seen: (AbortSignal | undefined)[] = [];
    const resolve = (signal: AbortSignal | undefined) => {
      seen.push(signal);
      return new Promise<string>((ok, fail) => {
        if (signal === leader.signal) signal.addEventListener('abort', () => fail(new Error('TIMEOUT')));
        else ok(digest(3));
      });
    };
    const joinerSignal = new AbortController().signal;
    const first = cache.resolve('k', leader.signal, resolve);
    const joiner = cache.resolve('k', joinerSignal, resolve);
    leader.abort();
    await expect(first).rejects.toThrow('TIMEOUT');
    expect(await joiner).toBe(digest(3));
    expect(seen).toEqual([leader.signal, joinerSignal]);
  });

  it('holds at most maxEntries, dropping the least recently used', async () => {
    const cache = new TagCache({ ttlMs: 100, maxEntries: 2, clock: { now: () => 0 } });
    const source = counting(async () => digest(1));
    await cache.resolve('a', undefined, source.resolve);
    await cache.resolve('b', undefined, source.resolve);
    await cache.resolve('a', undefined, source.resolve); // a is now the most recently used
    await cache.resolve('c', undefined, source.resolve); // b goes
    expect(cache.size).toBe(2);
    await cache.resolve('a', undefined, source.resolve);
    expect(source.calls()).toBe(3);
    await cache.resolve('b', undefined, source.resolve);
    expect(source.calls()).toBe(4);
  });
});
