import { describe, expect, it } from 'vitest';
import { anchoredRegExp, compileIdentityPolicy, identityMismatch } from './identity-matcher.js';
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

describe('anchoredRegExp', () => {
  it('anchors both ends, so a prefix or suffix does not match', () => {
    const re = anchoredRegExp('https://github\\.com/acme/.+', 'x');
    expect(re.test('https://github.com/acme/app')).toBe(true);
    expect(re.test('evil https://github.com/acme/app')).toBe(false);
    expect(anchoredRegExp('acme|evil', 'x').test('acme-fork')).toBe(false);
  });

  it('turns a leading (?i) into a case-insensitive match', () => {
    expect(anchoredRegExp('(?i)https://github\\.com/ACME/.+', 'x').test('https://github.com/acme/app')).toBe(
      true,
    );
    expect(anchoredRegExp('https://github\\.com/ACME/.+', 'x').test('https://github.com/acme/app')).toBe(
      false,
    );
  });
});
