import { describe, expect, it } from 'vitest';
import { effectiveTimeout, parseGoDuration } from './server.js';

describe('parseGoDuration', () => {
  it.each([
    ['10s', 10_000],
    ['500ms', 500],
    ['1m30s', 90_000],
    ['1.5s', 1500],
  ])('%s -> %i ms', (text, ms) => {
    expect(parseGoDuration(text)).toBe(ms);
  });

  it.each(['', '10', 's', '10x', '10s;drop', '-1s', 'x'.repeat(100)])('rejects %j', (text) => {
    expect(parseGoDuration(text)).toBeUndefined();
  });
});

describe('effectiveTimeout', () => {
  it('keeps the configured budget when the API server allows more', () => {
    expect(effectiveTimeout(9000, '30s')).toBe(9000);
  });

  it('answers within a shorter API server timeout, leaving a margin', () => {
    expect(effectiveTimeout(9000, '5s')).toBe(4000);
    expect(effectiveTimeout(9000, '1s')).toBe(800);
  });

  it('ignores a missing or malformed timeout', () => {
    expect(effectiveTimeout(9000, undefined)).toBe(9000);
    expect(effectiveTimeout(9000, ['1s', '2s'])).toBe(9000);
    expect(effectiveTimeout(9000, 'soon')).toBe(9000);
    expect(effectiveTimeout(9000, '0s')).toBe(9000);
  });
});
