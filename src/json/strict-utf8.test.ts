import { describe, expect, it } from 'vitest';
import { decodeStrictUtf8 } from './strict-utf8.js';

const utf8 = (text: string) => new TextEncoder().encode(text);

describe('decodeStrictUtf8', () => {
  it('decodes multi-byte text exactly', () => {
    expect(decodeStrictUtf8(utf8('ünïcødé ✓ 𝄞'))).toBe('ünïcødé ✓ 𝄞');
  });

  it('refuses invalid sequences instead of substituting U+FFFD', () => {
    expect(() => decodeStrictUtf8(Uint8Array.of(0x7b, 0xff, 0x7d))).toThrow(TypeError);
    // An overlong encoding of "/", a classic way to smuggle a character past byte-level checks.
    expect(() => decodeStrictUtf8(Uint8Array.of(0xc0, 0xaf))).toThrow(TypeError);
  });

  it('keeps a leading byte order mark, so a document with one is not read as the same text without it', () => {
    expect(decodeStrictUtf8(Uint8Array.of(0xef, 0xbb, 0xbf, 0x7b, 0x7d))).toBe('\uFEFF{}');
  });

  it('keeps no state between calls: a sequence cut at the end of one call is an error, not a prefix', () => {
    const snowman = utf8('☃');
    expect(() => decodeStrictUtf8(snowman.subarray(0, 2))).toThrow(TypeError);
    // Had the first two bytes been kept, this lone continuation byte would complete them.
    expect(() => decodeStrictUtf8(snowman.subarray(2))).toThrow(TypeError);
    expect(decodeStrictUtf8(utf8('after a failure'))).toBe('after a failure');
  });
});
