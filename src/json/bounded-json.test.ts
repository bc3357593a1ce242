import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ADMISSION_REVIEW_BOUNDS,
  JsonBoundsError,
  jsonBoundsProblem,
  parseBoundedJson,
  parseBoundedJsonBytes,
  REMOTE_JSON_BOUNDS,
  type JsonBounds,
} from './bounded-json.js';

const encode = (text: string) => new TextEncoder().encode(text);

/** Depth and value count of a parsed value, counted the slow way, to check the scan against. */
function measure(value: unknown): { depth: number; values: number } {
  if (typeof value !== 'object' || value === null) return { depth: 0, values: 1 };
  const children = Array.isArray(value) ? value : Object.values(value);
  let depth = 0;
  let values = 1;
  for (const child of children) {
    const inner = measure(child);
    depth = Math.max(depth, inner.depth);
    values += inner.values;
  }
  return { depth: depth + 1, values };
}

describe('jsonBoundsProblem', () => {
  it('accepts documents at the bounds and refuses one level or value more', () => {
    const bounds: JsonBounds = { maxDepth: 3, maxValues: 100 };
    expect(jsonBoundsProblem('[[[1]]]', bounds)).toBeUndefined();
    expect(jsonBoundsProblem('[[[[1]]]]', bounds)).toBe('JSON nests deeper than 3 levels');
    expect(jsonBoundsProblem(encode('{"a":{"b":{"c":{}}}}'), bounds)).toBe('JSON nests deeper than 3 levels');

    const wide: JsonBounds = { maxDepth: 10, maxValues: 5 };
    expect(jsonBoundsProblem('[1,2,3]', wide)).toBeUndefined(); // estimate 4: the array, 3 separators+1
    expect(jsonBoundsProblem('[1,2,3,4]', wide)).toBeUndefined();
    expect(jsonBoundsProblem('[1,2,3,4,5]', wide)).toBe('JSON has more than 5 values');
  });

  it('ignores brackets, commas and escaped quotes inside strings', () => {
    const bounds: JsonBounds = { maxDepth: 1, maxValues: 3 };
    const tricky = '{"k":"[[[[,,,,{{{{ \\" ]]]] \\\\"}';
    expect(JSON.parse(tricky)).toEqual({ k: '[[[[,,,,{{{{ " ]]]] \\' });
    expect(jsonBoundsProblem(tricky, bounds)).toBeUndefined();
    expect(jsonBoundsProblem(encode(tricky), bounds)).toBeUndefined();
    // After the string closes, structure counts again.
    expect(jsonBoundsProblem('["\\\\",[1]]', bounds)).toBe('JSON nests deeper than 1 levels');
  });

  it('treats multi-byte UTF-8 as string content', () => {
    const text = '{"ключ":"値[{","emoji":"😀]"}';
    expect(jsonBoundsProblem(encode(text), { maxDepth: 1, maxValues: 3 })).toBeUndefined();
  });

  it('refuses the hostile shapes from the probe: 3 MB of nesting and of empty objects', () => {
    const deep = '['.repeat(1_500_000) + ']'.repeat(1_500_000);
    const flat = `[${'{},'.repeat(1_000_000)}{}]`;
    expect(jsonBoundsProblem(encode(deep), ADMISSION_REVIEW_BOUNDS)).toMatch(/deeper than 100/);
    expect(jsonBoundsProblem(encode(flat), ADMISSION_REVIEW_BOUNDS)).toMatch(/more than 200000 values/);
    expect(jsonBoundsProblem(deep, REMOTE_JSON_BOUNDS)).toMatch(/deeper than 64/);
    expect(jsonBoundsProblem(flat, REMOTE_JSON_BOUNDS)).toMatch(/more than 250000 values/);
  });

  it('finds the exact depth and an upper estimate of the values of any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (value) => {
        const text = JSON.stringify(value);
        const { depth, values } = measure(value);
        const exact: JsonBounds = { maxDepth: Math.max(depth, 1), maxValues: 10 * values + 1 };
        expect(jsonBoundsProblem(text, exact)).toBeUndefined();
        expect(jsonBoundsProblem(encode(text), exact)).toBeUndefined();
        if (depth > 1) {
          const shallower = { ...exact, maxDepth: depth - 1 };
          expect(jsonBoundsProblem(text, shallower)).toMatch(/deeper/);
        }
        if (values > 1) {
          // The estimate is never below the true count, so a bound under the true count always refuses.
          expect(jsonBoundsProblem(text, { maxDepth: 100, maxValues: values - 1 })).toMatch(/values/);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('parseBoundedJson', () => {
  it('parses what is within bounds exactly as JSON.parse does', () => {
    const text = '{"a":[1,"x",null,{"b":true}]}';
    expect(parseBoundedJson(text, REMOTE_JSON_BOUNDS)).toEqual(JSON.parse(text));
    expect(parseBoundedJsonBytes(encode(text), REMOTE_JSON_BOUNDS)).toEqual(JSON.parse(text));
  });

  it('throws JsonBoundsError (a SyntaxError) beyond the bounds, SyntaxError for bad JSON', () => {
    const deep = '['.repeat(65) + ']'.repeat(65);
    expect(() => parseBoundedJson(deep, REMOTE_JSON_BOUNDS)).toThrow(JsonBoundsError);
    expect(() => parseBoundedJsonBytes(encode(deep), REMOTE_JSON_BOUNDS)).toThrow(SyntaxError);
    expect(() => parseBoundedJson('{"a":', REMOTE_JSON_BOUNDS)).toThrow(SyntaxError);
    expect(() => parseBoundedJsonBytes(new Uint8Array([0x22, 0xff, 0x22]), REMOTE_JSON_BOUNDS)).toThrow(
      TypeError,
    );
  });
});
