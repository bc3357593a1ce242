import { describe, expect, it } from 'vitest';
import { firstHeader, parseNextLink, parseRetryAfter } from './http-headers.js';

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it.each([
    ['0', 0],
    ['3', 3000],
    [' 120 ', 120_000],
    ['Thu, 01 Jan 2026 00:00:05 GMT', 5000],
    ['Thursday, 01-Jan-26 00:00:07 GMT', 7000],
    ['Thu Jan  1 00:00:09 2026', 9000],
    // A date in the past means "now", not a negative wait.
    ['Wed, 31 Dec 2025 23:59:00 GMT', 0],
  ])('reads %j as %d ms', (value, ms) => {
    expect(parseRetryAfter(value, now)).toBe(ms);
  });

  it.each([undefined, '', '-1', '1.5', 'soon', '2026-01-01T00:00:05Z', '9999999999', 'Thu, 99 Foo 2026'])(
    'ignores %j',
    (value) => {
      expect(parseRetryAfter(value, now)).toBeUndefined();
    },
  );
});

describe('parseNextLink', () => {
  const base = new URL('https://r.example/v2/a/referrers/sha256:x');

  it.each([
    [
      '</v2/a/referrers/sha256:x?n=2&last=b>; rel="next"',
      'https://r.example/v2/a/referrers/sha256:x?n=2&last=b',
    ],
    ['<https://r.example/p2>; rel=next', 'https://r.example/p2'],
    ['<https://r.example/prev>; rel="prev", <https://r.example/p3>; rel="next"', 'https://r.example/p3'],
    ['<https://r.example/p4>; type="x"; REL="Next"', 'https://r.example/p4'],
    ['<https://r.example/p5>; rel="last next"', 'https://r.example/p5'],
  ])('follows %j', (value, expected) => {
    expect(parseNextLink(value, base)?.href).toBe(expected);
  });

  it('reads several header values', () => {
    expect(
      parseNextLink(['<https://r.example/a>; rel="prev"', '<https://r.example/b>; rel="next"'], base)?.href,
    ).toBe('https://r.example/b');
  });

  it.each([
    undefined,
    '',
    '<https://r.example/p>; rel="prev"',
    'https://r.example/p; rel="next"',
    '<http://[::1>; rel=next',
  ])('finds no next page in %j', (value) => {
    expect(parseNextLink(value, base)).toBeUndefined();
  });
});

describe('firstHeader', () => {
  it('takes the first of several values', () => {
    expect(firstHeader(['a', 'b'])).toBe('a');
    expect(firstHeader('c')).toBe('c');
    expect(firstHeader(undefined)).toBeUndefined();
  });
});
