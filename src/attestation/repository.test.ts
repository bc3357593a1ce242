import { describe, expect, it } from 'vitest';
import { githubRepositoryFromSlug, httpsOrigin, normaliseRepository, parseGitUri } from './repository.js';

describe('normaliseRepository', () => {
  it.each([
    [
      'https://github.com/slsa-framework/example-package',
      'https://github.com/slsa-framework/example-package',
    ],
    [
      'git+https://github.com/slsa-framework/example-package',
      'https://github.com/slsa-framework/example-package',
    ],
    ['github.com/slsa-framework/example-package', 'https://github.com/slsa-framework/example-package'],
    ['https://github.com/Aspect-Build/Rules_Lint.git/', 'https://github.com/aspect-build/rules_lint'],
    // Only GitHub is known to be case-insensitive.
    ['https://GitLab.example/Group/App', 'https://gitlab.example/Group/App'],
    ['slsa-framework/example-package', undefined],
    ['https://github.com', undefined],
    ['https://github.com/o/r?x=1', undefined],
  ])('%s → %s', (uri, expected) => {
    expect(normaliseRepository(uri)).toBe(expected);
  });
});

describe('parseGitUri', () => {
  it.each([
    [
      'git+https://github.com/slsa-framework/example-package@refs/heads/main',
      { repository: 'https://github.com/slsa-framework/example-package', ref: 'refs/heads/main' },
    ],
    ['git+https://github.com/o/r', { repository: 'https://github.com/o/r' }],
    [
      'git+https://github.com/o/r@refs/pull/31/merge',
      { repository: 'https://github.com/o/r', ref: 'refs/pull/31/merge' },
    ],
    // An '@' before the path is userinfo, not a ref.
    ['git+https://user@git.example/o/r', {}],
  ])('%s', (uri, expected) => {
    expect(parseGitUri(uri)).toEqual(expected);
  });
});

describe('githubRepositoryFromSlug', () => {
  it.each([
    ['slsa-framework/example-package', 'https://github.com/slsa-framework/example-package'],
    ['example-package', undefined],
    ['a/b/c', undefined],
  ])('%s → %s', (slug, expected) => {
    expect(githubRepositoryFromSlug(slug)).toBe(expected);
  });

  it('reads the slug on the GitHub Enterprise instance that issued the certificate', () => {
    expect(githubRepositoryFromSlug('Acme/App', 'https://ghe.example.com')).toBe(
      'https://ghe.example.com/Acme/App',
    );
  });
});

describe('httpsOrigin', () => {
  it.each([
    ['https://ghe.example.com/acme/app/.github/workflows/x.yml@refs/heads/main', 'https://ghe.example.com'],
    ['https://ghe.example.com:8443/acme/app', 'https://ghe.example.com:8443'],
    ['http://ghe.example.com/acme/app', undefined],
    ['sha256:ab', undefined],
    [undefined, undefined],
  ])('%s → %s', (value, expected) => {
    expect(httpsOrigin(value)).toBe(expected);
  });
});
