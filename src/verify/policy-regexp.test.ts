import { describe, expect, it } from 'vitest';
import { REGEXP_DIALECT } from '../../test/support/regexp-dialect.js';
import { policyRegExp, withUniqueGroupNames } from './policy-regexp.js';

describe('policyRegExp', () => {
  it('matches the whole value, so a prefix or suffix does not match', () => {
    const re = policyRegExp('https://github\\.com/acme/.+', 'x');
    expect(re.matches('https://github.com/acme/app')).toBe(true);
    expect(re.matches('evil https://github.com/acme/app')).toBe(false);
    expect(policyRegExp('acme|evil', 'x').matches('acme-fork')).toBe(false);
    expect(policyRegExp('acme|evil', 'x').matches('evil')).toBe(true);
  });

  it('takes (?i) as RE2 does: leading or anywhere', () => {
    expect(policyRegExp('(?i)https://github\\.com/ACME/.+', 'x').matches('https://github.com/acme/app')).toBe(
      true,
    );
    expect(policyRegExp('https://github\\.com/(?i)ACME/.+', 'x').matches('https://github.com/acme/app')).toBe(
      true,
    );
    expect(policyRegExp('https://github\\.com/ACME/.+', 'x').matches('https://github.com/acme/app')).toBe(
      false,
    );
  });

  it('names the field and RE2 syntax when it refuses', () => {
    expect(() => policyRegExp('(?=x)', 'identities[0].subject')).toThrow(
      /identities\[0\]\.subjectRegExp is not a valid regular expression \(RE2 syntax\)/,
    );
  });
});

describe('RE2 syntax (the dialect table shared with the chart tier)', () => {
  it.each(REGEXP_DIALECT.map((c) => [c.pattern, c.valid, c.why] as const))(
    '%s: valid %s (%s)',
    (pattern, valid) => {
      const compile = () => policyRegExp(pattern, 'x');
      if (valid) expect(compile).not.toThrow();
      else expect(compile).toThrow(/not a valid regular expression \(RE2 syntax\)/);
    },
  );
});

describe('withUniqueGroupNames', () => {
  it('renames repeated group names only', () => {
    expect(withUniqueGroupNames('(?P<n>a)|(?<n>b)|(?<m>c)')).toBe('(?P<n>a)|(?<n_2>b)|(?<m>c)');
    expect(withUniqueGroupNames('(?<n>a)(?<n>b)(?<n_2>c)')).toBe('(?<n>a)(?<n_3>b)(?<n_2>c)');
  });

  it('leaves escaped, quoted and bracketed text alone', () => {
    for (const source of [
      '\\(?<n>a)',
      '\\Q(?<n>a)\\E',
      '[(?<n>a)]',
      '[](?<n>a)]',
      '[^]x(?<n>)]',
      '[[:alpha:](?<n>)]',
    ]) {
      expect(withUniqueGroupNames(`(?<n>z)${source}`)).toBe(`(?<n>z)${source}`);
    }
  });

  it('matches what the pattern with one name matches', () => {
    const re = policyRegExp('(?<org>acme)/app|(?<org>acme-labs)/tool', 'x');
    expect(re.matches('acme/app')).toBe(true);
    expect(re.matches('acme-labs/tool')).toBe(true);
    expect(re.matches('acme/tool')).toBe(false);
  });
});
