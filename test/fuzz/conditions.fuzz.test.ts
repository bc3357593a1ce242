/**
 * CEL conditions' `matches()`. Patterns come from policy authors, the strings they read from signed
 * attestations. Invariants: on the regular core both dialects share (literals, `.`, classes, groups,
 * alternation, `*` `+` `?` `{m,n}`, anchors), a condition says what JavaScript's `RegExp.test` says of the same
 * pattern (RE2 and JavaScript pick different matches, never a different answer to "is there one"); and
 * evaluation answers with a result, never an exception, on any string, including strings built to make a
 * backtracking engine explode.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { compileCondition, MATCHES_MAX_INPUT } from '../../src/attestation/conditions.js';
import type { InTotoStatement } from '../../src/attestation/types.js';
import { casesRun, counted, params } from './support.js';

const atom: fc.Memo<string> = fc.memo((depth) =>
  depth <= 1
    ? fc.constantFrom('a', 'b', '.', '[ab]', '[^a]', '[a-c]')
    : fc.oneof(
        { weight: 3, arbitrary: atom(1) },
        { weight: 1, arbitrary: pattern(depth - 1).map((inner) => `(${inner})`) },
      ),
);
const quantifier = fc.constantFrom('', '', '*', '+', '?', '{1,2}', '{2}');
const sequence: fc.Memo<string> = fc.memo((depth) =>
  fc
    .array(fc.tuple(atom(depth), quantifier), { minLength: 1, maxLength: 4 })
    .map((parts) => parts.map(([a, q]) => a + q).join('')),
);
const pattern: fc.Memo<string> = fc.memo((depth) =>
  fc.array(sequence(depth), { minLength: 1, maxLength: 3 }).map((alternatives) => alternatives.join('|')),
);
const anchored = fc
  .tuple(fc.boolean(), pattern(3), fc.boolean())
  .map(([start, body, end]) => `${start ? '^' : ''}(${body})${end ? '$' : ''}`);
const text = fc.string({ maxLength: 16, unit: fc.constantFrom('a', 'b', 'c') });

function statementWith(value: string): InTotoStatement {
  return {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'image', digest: { sha256: 'a'.repeat(64) } }],
    predicateType: 'https://example.com/predicate/v1',
    predicate: { value },
  };
}

function evaluate(patternText: string, value: string) {
  const condition = compileCondition(`predicate.value.matches(${JSON.stringify(patternText)})`);
  return condition.evaluate({
    statement: statementWith(value),
    image: { digest: `sha256:${'a'.repeat(64)}`, reference: 'registry.example/app' },
  });
}

afterAll(() => {
  console.log(`fuzz conditions: ${casesRun()} cases`);
});

describe('CEL matches()', () => {
  it('answers as JavaScript RegExp.test does on the syntax both dialects share', () => {
    fc.assert(
      fc.property(
        anchored,
        text,
        counted((patternText, value) => {
          const expected = new RegExp(patternText).test(value);
          expect(evaluate(patternText, value)).toEqual(
            expected ? { ok: true } : { ok: false, problem: 'is false' },
          );
        }),
      ),
      params(2_000),
    );
  });

  it('answers on long strings built against backtracking, without throwing', () => {
    const hostile = fc
      .tuple(fc.constantFrom('a', 'ab', 'aab', '='), fc.constantFrom('!', '', 'b', ';'))
      .map(([unit, tail]) => unit.repeat(Math.floor((MATCHES_MAX_INPUT - 1) / unit.length)) + tail);
    fc.assert(
      fc.property(
        anchored,
        hostile,
        counted((patternText, value) => {
          const result = evaluate(patternText, value);
          expect(typeof result.ok).toBe('boolean');
        }),
      ),
      params(200),
    );
  });
});
