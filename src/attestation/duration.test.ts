import { describe, expect, it } from 'vitest';
import { formatDuration, parseGoDuration } from './duration.js';

describe('parseGoDuration', () => {
  it.each([
    ['720h', 720 * 3_600_000],
    ['1h30m', 5_400_000],
    ['90s', 90_000],
    ['1.5h', 5_400_000],
    ['500ms', 500],
    ['2h0m5s', 7_205_000],
  ])('%s → %d ms', (text, ms) => {
    expect(parseGoDuration(text)).toBe(ms);
  });

  // Days are not a Go duration unit: "30d" must fail rather than be guessed.
  it.each(['30d', '', 'h', '10', '-1h', '0s', '1h 30m', '1e3s'])('rejects %j', (text) => {
    expect(() => parseGoDuration(text)).toThrow();
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [59_000, '59s'],
    [3_600_000, '1h'],
    [8_213_000, '2h16m53s'],
    [-60_000, '-1m'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
