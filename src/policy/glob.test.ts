import { describe, expect, it } from 'vitest';
import { compileGlob } from './glob.js';

describe('compileGlob', () => {
  it.each([
    ['registry.example.com/team/**', 'registry.example.com/team/app', true],
    ['registry.example.com/team/**', 'registry.example.com/team/sub/app:1.0', true],
    ['registry.example.com/team/**', 'registry.example.com/other/app', false],
    ['registry.example.com/team/*', 'registry.example.com/team/app:1.0', true],
    ['registry.example.com/team/*', 'registry.example.com/team/sub/app', false],
    ['registry.example.com/team/ap?', 'registry.example.com/team/app', true],
    ['nginx', 'docker.io/library/nginx', true],
    ['library/*', 'docker.io/library/redis', true],
    ['acme/*', 'docker.io/acme/web', true],
    ['index.docker.io/acme/*', 'docker.io/acme/web', true],
    ['localhost:5000/**', 'localhost:5000/a/b', true],
    ['127.0.0.1:5000/demo/*', '127.0.0.1:5000/demo/app', true],
    ['127.0.0.1:5000/demo/*', '127.0.0.1:5001/demo/app', false],
    ['**', 'ghcr.io/anything/at/all', true],
    // Dots are literal, not regex wildcards.
    ['registry.example.com/app', 'registryXexampleYcom/app', false],
  ])('%s matches %s: %s', (glob, candidate, expected) => {
    expect(compileGlob(glob).test(candidate)).toBe(expected);
  });

  it.each(['', 'a b', 'reg/(x)', 'reg/***', 'x'.repeat(513), 'ümlaut/app'])('rejects %j', (glob) => {
    expect(() => compileGlob(glob)).toThrow();
  });
});
