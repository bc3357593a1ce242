import { describe, expect, it } from 'vitest';
import { validateTrustRootSpec } from './trust-root-spec.js';

const root = Buffer.from(JSON.stringify({ signed: { _type: 'root', version: 1 }, signatures: [] })).toString(
  'base64',
);

describe('validateTrustRootSpec', () => {
  it.each([
    ['an inline trusted root', { trustedRoot: { mediaType: 'x' } }],
    ['a TUF mirror', { tuf: { mirror: 'https://tuf.example/', root } }],
    [
      'a TUF mirror with a refresh interval',
      { tuf: { mirror: 'http://10.0.0.1:8080/repo', root, refreshInterval: '1h30m' } },
    ],
    [
      'a TUF mirror with a maximum staleness',
      { tuf: { mirror: 'https://tuf.example/', root, refreshInterval: '1h', maxStaleness: '72h' } },
    ],
  ])('accepts %s', (_, spec) => {
    expect(validateTrustRootSpec(spec)).toEqual({ spec });
  });

  it.each([
    ['no spec', undefined, 'spec'],
    ['neither source', {}, 'spec'],
    ['both sources', { trustedRoot: {}, tuf: { mirror: 'https://x', root } }, 'spec'],
    ['a trusted root that is not an object', { trustedRoot: 'json text' }, 'spec.trustedRoot'],
    ['a mirror that is not a URL', { tuf: { mirror: 'tuf.example', root } }, 'spec.tuf.mirror'],
    ['a mirror with another scheme', { tuf: { mirror: 'file:///etc/passwd', root } }, 'spec.tuf.mirror'],
    ['a root that is not base64', { tuf: { mirror: 'https://x', root: 'not base64!' } }, 'spec.tuf.root'],
    ['a root that is not root.json', { tuf: { mirror: 'https://x', root: 'e30=' } }, 'spec.tuf.root'],
    [
      'a malformed interval',
      { tuf: { mirror: 'https://x', root, refreshInterval: 'daily' } },
      'spec.tuf.refreshInterval',
    ],
    [
      'a malformed maximum staleness',
      { tuf: { mirror: 'https://x', root, maxStaleness: 'a week' } },
      'spec.tuf.maxStaleness',
    ],
    [
      'a maximum staleness no longer than the default refresh interval',
      { tuf: { mirror: 'https://x', root, maxStaleness: '24h' } },
      'spec.tuf.maxStaleness',
    ],
  ])('refuses %s', (_, spec, field) => {
    const result = validateTrustRootSpec(spec);
    expect('problems' in result && result.problems.map((p) => p.field)).toContain(field);
  });

  it('reports every TUF problem at once', () => {
    const result = validateTrustRootSpec({ tuf: { refreshInterval: 5 } });
    expect('problems' in result && result.problems.map((p) => p.field)).toEqual([
      'spec.tuf.mirror',
      'spec.tuf.root',
      'spec.tuf.refreshInterval',
    ]);
  });
});
