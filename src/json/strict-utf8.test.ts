import fc from 'fast-check';
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

  describe('agrees with a fatal TextDecoder, the WHATWG definition of strict UTF-8', () => {
    const reference = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
    const outcome = (decode: (bytes: Uint8Array) => string, bytes: Uint8Array) => {
      try {
        return { text: decode(bytes) };
      } catch (err: unknown) {
        return { error: err instanceof TypeError ? 'TypeError' : String(err) };
      }
    };
    const agree = (bytes: Uint8Array) =>
      expect(outcome(decodeStrictUtf8, bytes)).toEqual(outcome((b) => reference.decode(b), bytes));

    it('on the sequences strict decoders differ on', () => {
      const cases = [
        [0xed, 0xa0, 0x80], // a UTF-16 surrogate (CESU-8)
        [0xed, 0x9f, 0xbf], // the last code point before the surrogates
        [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
        [0xf4, 0x8f, 0xbf, 0xbf], // U+10FFFF itself
        [0xe0, 0x80, 0xaf], // overlong, three bytes
        [0xf0, 0x80, 0x80, 0xaf], // overlong, four bytes
        [0xc1, 0xbf], // overlong, two bytes
        [0xf5, 0x80, 0x80, 0x80], // a lead byte no code point uses
        [0x80], // a lone continuation byte
        [0xe2, 0x98], // cut short
        [0x00], // NUL is valid
        [0xef, 0xbf, 0xbe], // a noncharacter is valid
        [],
      ];
      for (const bytes of cases) agree(Uint8Array.from(bytes));
    });

    it('on random bytes and random text, whole or cut anywhere', () => {
      const bytes = fc.oneof(
        fc.uint8Array({ maxLength: 48 }),
        fc.tuple(fc.string({ unit: 'binary', maxLength: 24 }), fc.nat(), fc.nat()).map(([text, a, b]) => {
          const encoded = utf8(text);
          return encoded.subarray(
            Math.min(a, b) % (encoded.length + 1),
            Math.max(a, b) % (encoded.length + 1) || undefined,
          );
        }),
      );
      fc.assert(
        fc.property(bytes, (input) => {
          agree(input);
        }),
        { numRuns: 20_000 },
      );
    });

    it('on a view into a larger buffer: only the viewed bytes are decoded', () => {
      const whole = utf8('ab☃cd');
      agree(whole.subarray(2, 5));
      expect(decodeStrictUtf8(whole.subarray(2, 5))).toBe('☃');
      expect(() => decodeStrictUtf8(whole.subarray(1, 4))).toThrow(TypeError);
    });
  });
});
