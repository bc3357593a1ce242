import { describe, expect, it } from 'vitest';
import { compileUriGlob } from './uri-glob.js';

describe('compileUriGlob', () => {
  it.each([
    ['https://github.com/acme/app', 'https://github.com/acme/app', true],
    ['https://github.com/acme/app', 'https://github.com/acme/app2', false],
    ['https://github.com/acme/*', 'https://github.com/acme/app', true],
    // `*` stays inside one path segment, so an org glob cannot reach into a sub-path.
    ['https://github.com/acme/*', 'https://github.com/acme/app/evil', false],
    ['https://github.com/acme/**', 'https://github.com/acme/app/x', true],
    ['refs/tags/v*', 'refs/tags/v1.2.3', true],
    ['refs/tags/v*', 'refs/heads/v1', false],
    ['refs/heads/*', 'refs/heads/feature/x', false],
    ['refs/heads/**', 'refs/heads/feature/x', true],
    ['refs/pull/?/merge', 'refs/pull/7/merge', true],
    ['refs/pull/?/merge', 'refs/pull/31/merge', false],
    // Regex metacharacters are literal.
    ['https://a.b/x.yml', 'https://aXb/x.yml', false],
    ['https://a.b/(x)+', 'https://a.b/(x)+', true],
    ['gce_image://gke-node-images:*', 'gce_image://gke-node-images:gke-12615-pre', true],
  ])('%s against %s → %s', (glob, candidate, expected) => {
    expect(compileUriGlob(glob).test(candidate)).toBe(expected);
  });

  it.each([[''], ['https://x/***'], ['https://x/a b'], ['refs/heads/\tmain'], ['x'.repeat(1025)]])(
    'rejects %j',
    (glob) => {
      expect(() => compileUriGlob(glob)).toThrow();
    },
  );
});
