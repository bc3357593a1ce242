import { describe, expect, it } from 'vitest';
import { ambiguousKeyProblem, misspelledKey } from './ambiguous-keys.js';

describe('ambiguousKeyProblem', () => {
  it.each([
    [
      'a real image index',
      '{"schemaVersion":2,"manifests":[{"digest":"a","platform":{"os":"linux"}},{"digest":"b"}]}',
    ],
    ['the same key in sibling objects', '[{"os":"linux"},{"os":"linux"}]'],
    ['the same key at different depths', '{"platform":{"platform":{"platform":1}}}'],
    ['keys inside string values', '{"a":"\\"a\\":1,\\"A\\"","b":"{\\"b\\":1,\\"b\\":2}"}'],
    ['an escaped quote in a key', '{"a\\"b":1,"a\\"c":2}'],
    ['after a nested value', '{"a":{"b":[1,{"c":2}]},"b":{"a":1}}'],
    ['scalars and empty containers', '{"a":[],"b":{},"c":null,"d":true,"e":-1.5e3}'],
  ])('accepts %s', (_name, text) => {
    JSON.parse(text);
    expect(ambiguousKeyProblem(text)).toBeUndefined();
  });

  it.each([
    ['an exact repeat', '{"digest":"a","digest":"b"}', 'digest'],
    ['another letter case', '{"digest":"a","Digest":"b"}', 'Digest'],
    ['a repeat after a nested object', '{"platform":{"os":"linux"},"size":1,"PLATFORM":{}}', 'PLATFORM'],
    ['a nested object', '{"manifests":[{"platform":{"os":"linux","OS":"windows"}}]}', 'OS'],
    ['Unicode simple folding (long s)', '{"os":"linux","o\u017f":"windows"}', 'o\u017f'],
    ['Unicode simple folding (dotless i)', '{"digest":"a","d\u0131gest":"b"}', 'd\u0131gest'],
    ['a key spelled with escapes', '{"platform":1,"\\u0050latform":2}', 'Platform'],
    ['the second list of an index', '{"manifests":[],"Manifests":[]}', 'Manifests'],
  ])('refuses %s', (_name, text, key) => {
    JSON.parse(text);
    expect(ambiguousKeyProblem(text)).toBe(
      `an object has the key ${JSON.stringify(key)} more than once (letter case aside), which other JSON readers take differently`,
    );
  });
});

describe('misspelledKey', () => {
  const fields = ['digest', 'platform', 'os'];
  it.each([
    [{ digest: 'a', platform: {}, size: 1, Size: 2 }, undefined],
    [{ Platform: {} }, { key: 'Platform', field: 'platform' }],
    [
      { digest: 'a', DIGEST: 'b' },
      { key: 'DIGEST', field: 'digest' },
    ],
    [{ oſ: 'linux' }, { key: 'o\u017f', field: 'os' }],
    [
      { '\u0131gnored': 1, dıgest: 'a' },
      { key: 'd\u0131gest', field: 'digest' },
    ],
    [{ '\u212aind': 'Pod' }, { key: '\u212aind', field: 'kind' }],
  ])('%j: %j', (record, expected) => {
    expect(misspelledKey(record, [...fields, 'kind'])).toEqual(expected);
  });

  it('finds nothing in what is no object', () => {
    for (const value of [undefined, null, 'digest', ['Digest'], 1]) {
      expect(misspelledKey(value, fields)).toBeUndefined();
    }
  });
});
