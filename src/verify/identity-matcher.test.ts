import { describe, expect, it } from 'vitest';
import { REGEXP_DIALECT } from '../../test/support/regexp-dialect.js';
import { compileIdentityPolicy, identityMismatch } from './identity-matcher.js';
import type { KeylessAuthority } from './types.js';

const base: KeylessAuthority = {
  kind: 'keyless',
  name: 'ci',
  trustRoot: 'public-good',
  identities: [
    { issuer: 'https://token.actions.githubusercontent.com', subjectRegExp: 'https://github\\.com/acme/.+' },
  ],
};
const found = {
  issuer: 'https://token.actions.githubusercontent.com',
  subject: 'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3',
  extensions: { sourceRepositoryRef: 'refs/tags/v1.2.3', runnerEnvironment: 'github-hosted' },
};

describe('compileIdentityPolicy', () => {
  it.each<[string, Partial<KeylessAuthority>]>([
    ['no identities', { identities: [] }],
    ['an identity without issuer', { identities: [{ subject: 'x' }] }],
    ['an identity without subject', { identities: [{ issuer: 'x' }] }],
    ['exact value and RegExp together', { identities: [{ issuer: 'x', subject: 'y', subjectRegExp: 'y' }] }],
    ['an invalid RegExp', { identities: [{ issuer: 'x', subjectRegExp: '(' }] }],
    ['an empty value', { identities: [{ issuer: '', subject: 'y' }] }],
    ['an unknown extension name', { certificate: { sourceRepo: 'x' } as never }],
  ])('rejects %s with INVALID_POLICY', (_, change) => {
    expect(() => compileIdentityPolicy({ ...base, ...change })).toThrow(
      expect.objectContaining({ code: 'INVALID_POLICY' }),
    );
  });
});

describe('identityMismatch', () => {
  it('accepts a matching identity and extensions', () => {
    const policy = compileIdentityPolicy({
      ...base,
      certificate: {
        sourceRepositoryRefRegExp: 'refs/tags/v[0-9]+\\.[0-9]+\\.[0-9]+',
        runnerEnvironment: 'github-hosted',
      },
    });
    expect(identityMismatch(policy, found)).toBeUndefined();
  });

  it('reports the identity found versus expected', () => {
    const policy = compileIdentityPolicy({
      ...base,
      identities: [{ issuer: 'https://accounts.google.com', subject: 'a@b.c' }],
    });
    const message = identityMismatch(policy, found);
    expect(message).toContain(found.subject);
    expect(message).toContain('a@b.c');
  });

  it('matches any one of several identities', () => {
    const policy = compileIdentityPolicy({
      ...base,
      identities: [{ issuer: 'https://accounts.google.com', subject: 'a@b.c' }, ...base.identities],
    });
    expect(identityMismatch(policy, found)).toBeUndefined();
  });

  it('requires extensions that are absent', () => {
    const policy = compileIdentityPolicy({ ...base, certificate: { deploymentEnvironment: 'production' } });
    expect(identityMismatch(policy, found)).toMatch(/deploymentEnvironment/);
  });
});

describe('one regular-expression dialect (RE2) for every *RegExp field', () => {
  const authority = (identity: object, certificate?: object) => ({
    kind: 'keyless' as const,
    name: 'ci',
    trustRoot: 'public-good',
    identities: [{ issuer: 'https://token.actions.githubusercontent.com', subject: 'x', ...identity }],
    ...(certificate === undefined ? {} : { certificate }),
  });
  // JSON drops the `undefined` that takes out the exact field the RegExp replaces.
  const fields: [string, (pattern: string) => object][] = [
    ['subjectRegExp', (p) => authority({ subject: undefined, subjectRegExp: p })],
    ['issuerRegExp', (p) => authority({ issuer: undefined, issuerRegExp: p })],
    ['certificate.sourceRepositoryRefRegExp', (p) => authority({}, { sourceRepositoryRefRegExp: p })],
  ];

  for (const [field, build] of fields) {
    it.each(REGEXP_DIALECT.map((c) => [c.pattern, c.valid, c.why] as const))(
      `${field} %s: valid %s (%s)`,
      (pattern, valid) => {
        const compile = () =>
          compileIdentityPolicy(JSON.parse(JSON.stringify(build(pattern))) as KeylessAuthority);
        if (valid) expect(compile).not.toThrow();
        else expect(compile).toThrow(/not a valid regular expression \(RE2 syntax\)/);
      },
    );
  }
});
