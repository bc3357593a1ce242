import { describe, expect, it } from 'vitest';
import { realAttestation } from '../../test/support/real-attestations.js';
import { CEL_COST_LIMIT, compileCondition, countElements, MATCHES_MAX_INPUT } from './conditions.js';
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

    it('counts a membership test over a non-literal list as a pass over it', () => {
      // The reviewer's shape: quadratic without a second macro (60,000 strings each side took 11 s).
      const scan = 'predicate.materials.exists(a, a in predicate.materials)';
      expect(compileCondition(scan).evaluate(input())).toEqual({ ok: true });
      const result = compileCondition(scan).evaluate(input(withMaterials(2_000)));
      expect(result).toMatchObject({ ok: false, problem: expect.stringContaining('more than the limit') });
      // Over a literal list it is as cheap as an equality.
      const literal =
        'predicate.materials.all(m, m.uri in ["git+https://github.com/slsa-framework/example-package@refs/heads/main"])';
      expect(compileCondition(literal).evaluate(input(withMaterials(2_000)))).toMatchObject({ ok: true });
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

/** The generator statement with `buildType` replaced by `value`. */
function withBuildType(value: string): InTotoStatement {
  const { statement } = generator.attestation;
  return {
    ...statement,
    predicate: { ...(statement.predicate as object), buildType: value },
  } as InTotoStatement;
}

describe('matches()', () => {
  it.each([
    ['predicate.buildType.matches(predicate.builder.id)', 'string literal'],
    ['matches(predicate.buildType, predicate.builder.id)', 'string literal'],
    ['predicate.buildType.matches("(")', 'not a valid regular expression (RE2 syntax)'],
    // JavaScript's RegExp accepts these; RE2, which CEL specifies, does not.
    ['predicate.buildType.matches("^https(?=://)")', 'not a valid regular expression (RE2 syntax)'],
    ['predicate.buildType.matches("(a)\\\\1")', 'not a valid regular expression (RE2 syntax)'],
  ])('rejects %s', (expression, problem) => {
    expect(() => compileCondition(expression)).toThrow(problem);
  });

  it('names the function as the author wrote it when a call does not type-check', () => {
    expect(() => compileCondition('image.digest.size().matches("a")')).toThrow(/'int\.matches\(string\)'/);
  });

  it('evaluates a literal pattern on a real attestation, as a method or a function', () => {
    const condition = compileCondition(
      'predicate.buildType.matches("^https://github\\\\.com/slsa-framework/.+$")',
    );
    expect(condition.evaluate(input())).toEqual({ ok: true });
    const other = compileCondition('predicate.buildType.matches("^https://gitlab")');
    expect(other.evaluate(input())).toEqual({ ok: false, problem: 'is false' });
    const global = compileCondition('matches(predicate.buildType, "slsa-framework")');
    expect(global.evaluate(input())).toEqual({ ok: true });
  });

  it('reads patterns as RE2 does: flags inside the pattern, Unicode classes', () => {
    expect(compileCondition('predicate.buildType.matches("^(?i)HTTPS://GITHUB")').evaluate(input())).toEqual({
      ok: true,
    });
    const letters = compileCondition('predicate.buildType.matches("^\\\\pL+$")');
    expect(letters.evaluate(input(withBuildType('Grüße')))).toEqual({ ok: true });
    expect(letters.evaluate(input(withBuildType('v1.0')))).toEqual({ ok: false, problem: 'is false' });
  });

  it.each([
    ['slsa', true],
    ['^https://', true],
    ['^github', false],
    ['generic@v[0-9]+$', false],
    ['container@v1$', true],
    ['^HTTPS', false],
    ['(go|generic|container)', true],
    ['[A-Z]', false],
    ['x{3}', false],
  ])(
    'finds %s anywhere in the string, as JavaScript RegExp.test does for the same pattern: %s',
    (pattern, expected) => {
      const { buildType } = generator.attestation.statement.predicate as { buildType: string };
      expect(new RegExp(pattern).test(buildType)).toBe(expected);
      const condition = compileCondition(`predicate.buildType.matches(${JSON.stringify(pattern)})`);
      expect(condition.evaluate(input())).toEqual(
        expected ? { ok: true } : { ok: false, problem: 'is false' },
      );
    },
  );

  it.each([
    // Each took minutes or longer with JavaScript's backtracking RegExp on strings this long.
    ['.*.*.*=.*;', '='.repeat(MATCHES_MAX_INPUT)],
    ['^(a+)+$', `${'a'.repeat(MATCHES_MAX_INPUT - 1)}!`],
    ['^(\\\\w*)*x', 'w'.repeat(MATCHES_MAX_INPUT)],
    ['((ab)+c)+d', 'abababc'.repeat(MATCHES_MAX_INPUT / 8)],
  ])('matches %s in linear time, so an attestation cannot stall admissions', (pattern, value) => {
    const condition = compileCondition(`predicate.buildType.matches(${JSON.stringify(pattern)})`);
    expect(condition.evaluate(input(withBuildType(value)))).toEqual({ ok: false, problem: 'is false' });
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
});
