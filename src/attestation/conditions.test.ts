import { describe, expect, it } from 'vitest';
import { realAttestation } from '../../test/support/real-attestations.js';
import {
  CEL_COST_LIMIT,
  compileCondition,
  countElements,
  MATCHES_MAX_INPUT,
  nestsQuantifiers,
} from './conditions.js';
import type { InTotoStatement } from './types.js';

const generator = realAttestation('generator-container');
const input = (statement: InTotoStatement = generator.attestation.statement) => ({
  statement,
  image: {
    digest: generator.digest,
    reference: `ghcr.io/slsa-framework/example-package@${generator.digest}`,
  },
});

/** The real generator statement with its materials list repeated `times` times: a large but realistic shape. */
function withMaterials(times: number): InTotoStatement {
  const { statement } = generator.attestation;
  const predicate = structuredClone(statement.predicate) as { materials: unknown[] };
  predicate.materials = Array.from({ length: times }, () => predicate.materials[0]);
  return { ...statement, predicate };
}

describe('compileCondition', () => {
  it.each([
    ['1 +', 'does not parse'],
    ['foo == 1', 'does not type-check'],
    ['"a" + 1', 'does not type-check'],
    ['image.digest', 'not bool'],
    ['size(predicate.materials)', 'not bool'],
    [
      'predicate.materials.all(a, predicate.materials.all(b, predicate.materials.exists(c, a == b && b == c)))',
      'nests list macros 3 deep',
    ],
  ])('rejects %s', (expression, problem) => {
    expect(() => compileCondition(expression)).toThrow(problem);
  });

  it.each([
    [
      'predicate.buildType == "https://github.com/slsa-framework/slsa-github-generator/container@v1"',
      { ok: true },
    ],
    ['statement._type == "https://in-toto.io/Statement/v0.1"', { ok: true }],
    [
      'image.reference.startsWith("ghcr.io/slsa-framework/") && image.digest.startsWith("sha256:")',
      { ok: true },
    ],
    [
      'predicate.materials.exists(m, m.digest.sha1 == "4d329c75e7ec1725f7c9ce917a8799d408d06be3")',
      { ok: true },
    ],
    ['has(predicate.runDetails)', { ok: false, problem: 'is false' }],
    [
      'predicate.runDetails.builder.id == ""',
      { ok: false, problem: 'could not be evaluated: No such key: runDetails (at offset 10)' },
    ],
    // A dyn result is only known at run time.
    ['predicate.metadata.reproducible', { ok: false, problem: 'is false' }],
    [
      'predicate.metadata.buildInvocationID == "13531731005-1" ? predicate.metadata.completeness.parameters : false',
      { ok: true },
    ],
  ])('%s on the real generator provenance', (expression, expected) => {
    expect(compileCondition(expression).evaluate(input())).toEqual(expected);
  });

  it('refuses a dyn expression that yields a non-bool', () => {
    const result = compileCondition('predicate.metadata.buildInvocationID').evaluate(input());
    expect(result).toEqual({ ok: false, problem: 'yields string, not a bool' });
  });

  describe('cost bound', () => {
    const nested = 'predicate.materials.all(a, predicate.materials.exists(b, a.uri == b.uri))';

    it('evaluates a nested macro on the real statement', () => {
      expect(compileCondition(nested).evaluate(input())).toEqual({ ok: true });
    });

    it('refuses a nested macro over a large statement before running it', () => {
      const result = compileCondition(nested).evaluate(input(withMaterials(2_000)));
      expect(result.ok).toBe(false);
      expect(result).toMatchObject({ problem: expect.stringContaining('more than the limit') });
    });

    it('still runs a single macro over the same large statement', () => {
      const single = 'predicate.materials.all(m, m.uri.startsWith("git+https://"))';
      expect(compileCondition(single).evaluate(input(withMaterials(2_000)))).toEqual({ ok: true });
    });
  });
});

describe('countElements', () => {
  it('counts list elements and map entries, and stops at the cap', () => {
    expect(countElements({ a: [1, 2, { b: 3 }] }, 100)).toBe(5);
    expect(countElements(withMaterials(5_000), 100)).toBeLessThanOrEqual(100 + 5_000);
    expect(countElements(withMaterials(5_000), CEL_COST_LIMIT)).toBeGreaterThan(5_000 * 3);
  });
});

describe('matches() bounds', () => {
  it.each([
    ['predicate.buildType.matches(predicate.builder.id)', 'string literal'],
    ['predicate.buildType.matches("(a+)+$")', 'backtrack exponentially'],
    ['predicate.buildType.matches("^(\\\\w*)*x")', 'backtrack exponentially'],
    ['predicate.buildType.matches("((ab)+c)+")', 'backtrack exponentially'],
    ['predicate.buildType.matches("(")', 'not a valid regular expression'],
  ])('rejects %s', (expression, problem) => {
    expect(() => compileCondition(expression)).toThrow(problem);
  });

  it('evaluates a literal pattern on a real attestation', () => {
    const condition = compileCondition(
      'predicate.buildType.matches("^https://github\\\\.com/slsa-framework/.+$")',
    );
    expect(condition.evaluate(input())).toEqual({ ok: true });
    const other = compileCondition('predicate.buildType.matches("^https://gitlab")');
    expect(other.evaluate(input())).toEqual({ ok: false, problem: 'is false' });
  });

  it(`refuses an attestation holding a string longer than ${MATCHES_MAX_INPUT} characters, only when matches() is used`, () => {
    const { statement } = generator.attestation;
    const long = {
      ...statement,
      predicate: { ...(statement.predicate as object), note: 'x'.repeat(MATCHES_MAX_INPUT + 1) },
    } as InTotoStatement;
    const withMatches = compileCondition('predicate.buildType.matches("^https://")');
    expect(withMatches.evaluate(input(long))).toEqual({
      ok: false,
      problem: expect.stringContaining('strings of at most 4,096 characters'),
    });
    expect(compileCondition('predicate.buildType.startsWith("https://")').evaluate(input(long))).toEqual({
      ok: true,
    });
  });

  it.each([
    ['a+b*', false],
    ['(ab)+', false],
    ['(a+)?', false],
    ['[(a+)]+', false],
    ['\\(a+\\)+', false],
    ['(a+)+', true],
    ['(a|b*){2,}', true],
    ['((a)+)+', true],
  ])('nestsQuantifiers(%s) is %s', (pattern, expected) => {
    expect(nestsQuantifiers(pattern)).toBe(expected);
  });
});
