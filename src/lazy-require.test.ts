import { describe, expect, it } from 'vitest';
import { lazyRequire } from './lazy-require.js';

describe('lazyRequire', () => {
  it('loads nothing until first used, then the same module every time', () => {
    const missing = lazyRequire<unknown>('provenant-no-such-package');
    // Creating the loader resolves nothing; only using it does.
    expect(() => missing()).toThrow(/provenant-no-such-package/);
    const re2 = lazyRequire<typeof import('re2js')>('re2js');
    const first = re2();
    expect(typeof first.RE2JS.compile).toBe('function');
    expect(re2()).toBe(first);
  });

  it('loads ES modules too', () => {
    const cel = lazyRequire<typeof import('@marcbachmann/cel-js')>('@marcbachmann/cel-js');
    expect(typeof cel().Environment).toBe('function');
  });
});
