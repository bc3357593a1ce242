import { describe, expect, it } from 'vitest';
import { byteLength, sanitizeText, truncateBytes, truncateMiddle, truncateRunes } from './text.js';

describe('sanitizeText', () => {
  it.each([
    ['line breaks become spaces', 'a\nb\r\nc\td', 'a b c d'],
    ['C0/C1 controls and DEL are removed', 'a\u0000b\u001bc\u007fd\u0085e', 'abcde'],
    ['ANSI escapes lose their ESC', 'red\u001b[31mX', 'red[31mX'],
    ['bidi overrides and zero-width characters are removed', 'abc\u202Edcba\u200B\u2066x', 'abcdcbax'],
    ['lone surrogates become U+FFFD', 'a\ud800b', 'a\ufffdb'],
    ['ordinary unicode is kept', 'régistre/イメージ:1', 'régistre/イメージ:1'],
  ])('%s', (_name, input, expected) => {
    expect(sanitizeText(input)).toBe(expected);
  });

  it.each([
    ['URL user info', 'GET https://bob:hunter2@registry.local/v2/ failed', 'hunter2'],
    ['Authorization header', 'sent Authorization: Bearer abcdefghijklmnop', 'abcdefghijklmnop'],
    ['bearer token', 'token was Bearer eyJhbGciOiJIUzI1NiJ9x', 'eyJhbGciOiJIUzI1NiJ9x'],
    ['password=', 'login password=s3cr3t! failed', 's3cr3t!'],
    ['JSON token field', '{"token": "abc123def456"}', 'abc123def456'],
    ['JWT', 'id eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJl', 'eyJzdWIiOiJib2IifQ'],
    ['PEM private key', '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----', 'MHcCAQEE'],
  ])('masks a %s', (_name, input, secret) => {
    const out = sanitizeText(input);
    expect(out).not.toContain(secret);
    expect(out).toMatch(/\*\*\*|\[private key redacted\]/);
  });

  it('leaves reason codes and digests alone', () => {
    const text = 'UNTRUSTED_SIGNER: signed by key sha256:4f6e2d7c3b1a09e8 (expected keyless)';
    expect(sanitizeText(text)).toBe(text);
  });
});

describe('truncation', () => {
  it('truncateRunes counts code points, not UTF-16 units', () => {
    expect(truncateRunes('😀😀😀', 3)).toBe('😀😀😀');
    expect(truncateRunes('😀😀😀😀', 3)).toBe('😀😀…');
  });

  it('truncateMiddle keeps both ends', () => {
    const out = truncateMiddle(`ghcr.io/${'a'.repeat(500)}@sha256:ffff`, 40);
    expect(Array.from(out)).toHaveLength(40);
    expect(out.startsWith('ghcr.io/')).toBe(true);
    expect(out.endsWith('sha256:ffff')).toBe(true);
  });

  it('truncateBytes never splits a code point and respects the bound', () => {
    const out = truncateBytes('é'.repeat(100), 51);
    expect(byteLength(out)).toBeLessThanOrEqual(51);
    expect(out.endsWith('…')).toBe(true);
    expect(out).not.toContain('\ufffd');
  });
});
