import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseReference } from '../oci/reference.js';
import { createTrustStore } from '../trust/index.js';
import { authorityCompiler } from './authorities.js';
import { compilePolicies, policyRegistries } from './compile.js';

const PUBLIC_KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .publicKey.export({ type: 'spki', format: 'pem' })
  .toString();

function compile(globs: string[], signatureRepository?: string) {
  return compilePolicies(
    [
      {
        source: 'test',
        index: 0,
        value: {
          apiVersion: 'provenant.dev/v1alpha1',
          kind: 'ClusterImagePolicy',
          metadata: { name: 'p' },
          spec: {
            images: globs.map((glob) => ({ glob })),
            authorities: [{ name: 'k', key: { publicKey: PUBLIC_KEY } }],
            signatures: { threshold: 1 },
            ...(signatureRepository ? { signatureRepository } : {}),
          },
        },
      },
    ],
    authorityCompiler(createTrustStore()),
  );
}

describe('policyRegistries', () => {
  it('lists the registries globs and the signature repository spell out, canonically', () => {
    const set = compile(
      [
        'GHCR.IO:443/acme/**',
        'nginx',
        'index.docker.io/acme/*',
        'registry.example.com:5000/x',
        '*.example.com/**',
        '**',
        '[FD00::1]:443/x/*',
      ],
      'Sigs.Example.com/acme/signatures',
    );
    expect([...policyRegistries(set)].sort()).toEqual([
      '[fd00::1]',
      'docker.io',
      'ghcr.io',
      'registry.example.com:5000',
      'sigs.example.com',
    ]);
    // Computed once per set.
    expect(policyRegistries(set)).toBe(policyRegistries(set));
  });
});

describe('which spellings of a reference a glob is tried against', () => {
  const D = `sha256:${'c'.repeat(64)}`;
  const matches = (glob: string, image: string) => compile([glob]).matching(parseReference(image)).length > 0;

  it.each([
    ['registry.example.com/base:v1', 'registry.example.com/base:v1', true],
    ['registry.example.com/base', 'registry.example.com/base:v1', true],
    ['registry.example.com/base*', 'registry.example.com/base:v1', true],
    [`registry.example.com/base@${D}`, `registry.example.com/base@${D}`, true],
    [`registry.example.com/base@${D}`, `registry.example.com/base:v1@${D}`, true],
    ['registry.example.com/base', `registry.example.com/base:v1@${D}`, true],
    // The kubelet pulls the digest and ignores the tag: a glob for the tag must not match.
    ['registry.example.com/base:v1', `registry.example.com/base:v1@${D}`, false],
    ['registry.example.com/base:*', `registry.example.com/base:v1@${D}`, false],
  ])('%s against %s: %s', (glob, image, expected) => {
    expect(matches(glob, image)).toBe(expected);
  });
});
