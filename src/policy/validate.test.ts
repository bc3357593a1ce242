import { describe, expect, it } from 'vitest';
import { createTrustStore } from '../trust/trust-store.js';
import { authorityCompiler } from './authorities.js';
import { compileDocument, toPolicySet } from './compile.js';
import type { CompiledPolicy } from './types.js';
import type { PolicyProblem } from './validate.js';

const KEY = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEg9OXvOgC4fj8LRAMTsPZ2zoqlji4
mqHovQTttY6ASunw3TeLbsY7g40z1zWz4VMPf9ykzvwv8nsyIv46d/XMeA==
-----END PUBLIC KEY-----
`;

const compileAuthority = authorityCompiler(createTrustStore());

function compile(spec: Record<string, unknown>): CompiledPolicy | { problems: PolicyProblem[] } {
  return compileDocument(
    {
      source: 'test.yaml',
      index: 0,
      value: {
        apiVersion: 'provenant.dev/v1alpha1',
        kind: 'ClusterImagePolicy',
        metadata: { name: 'p' },
        spec: {
          images: [{ glob: 'registry.example/**' }],
          authorities: [
            { name: 'ci', key: { publicKey: KEY } },
            {
              name: 'slsa-generator',
              keyless: {
                identities: [{ issuer: 'https://token.actions.githubusercontent.com', subjectRegExp: '.*' }],
              },
            },
          ],
          ...spec,
        },
      },
    },
    compileAuthority,
  );
}

function problems(spec: Record<string, unknown>): PolicyProblem[] {
  const result = compile(spec);
  return 'problems' in result ? result.problems : [];
}

const PROVENANCE = {
  name: 'provenance',
  predicateType: 'slsa-provenance',
  authorities: ['slsa-generator'],
  slsa: { minBuildLevel: 3, source: { repository: 'github.com/acme/*', refs: ['refs/heads/main'] } },
};

describe('policies with spec.attestations', () => {
  it('may require attestations without signatures', () => {
    const result = compile({ attestations: [PROVENANCE] });
    if ('problems' in result) throw new Error(JSON.stringify(result.problems));
    expect(result.signatures).toBeUndefined();
    expect(result.attestations?.map((a) => [a.name, a.authorities, a.slsa?.minBuildLevel])).toEqual([
      ['provenance', ['slsa-generator'], 3],
    ]);
  });

  it('may require both, and a policy without attestations compiles as before', () => {
    const both = compile({ signatures: { threshold: 1 }, attestations: [PROVENANCE] });
    expect('problems' in both ? both.problems : both.attestations?.length).toBe(1);
    const signaturesOnly = compile({ signatures: {} });
    expect(
      'problems' in signaturesOnly ? signaturesOnly.problems : signaturesOnly.attestations,
    ).toBeUndefined();
  });

  it('changes its fingerprint when an attestation requirement changes', () => {
    const a = compile({ attestations: [PROVENANCE] });
    const b = compile({ attestations: [{ ...PROVENANCE, slsa: { minBuildLevel: 2 } }] });
    if ('problems' in a || 'problems' in b) throw new Error('invalid');
    expect(a.fingerprint).not.toBe(b.fingerprint);
  });

  it.each([
    ['nothing at all', {}, 'spec', 'set spec.signatures or spec.attestations'],
    [
      'an empty attestations list',
      { attestations: [] },
      'spec.attestations',
      'must NOT have fewer than 1 items',
    ],
    [
      'an authority the policy does not define',
      { attestations: [{ ...PROVENANCE, authorities: ['release'] }] },
      'spec.attestations[0].authorities',
      'unknown authority "release"',
    ],
    [
      'a CEL condition that does not parse',
      { attestations: [{ ...PROVENANCE, conditions: [{ expression: 'predicate.(' }] }] },
      'spec.attestations[0].conditions[0].expression',
      'does not parse',
    ],
    [
      'a duplicate requirement name',
      { attestations: [PROVENANCE, PROVENANCE] },
      'spec.attestations[1].name',
      'duplicate name',
    ],
    [
      'an unknown field in a requirement',
      { attestations: [{ ...PROVENANCE, minLevel: 3 }] },
      'spec.attestations[0]',
      'unknown field "minLevel"',
    ],
    [
      'a maxAge that is not a Go duration',
      { attestations: [{ ...PROVENANCE, maxAge: '30 days' }] },
      'spec.attestations[0].maxAge',
      'must match pattern',
    ],
  ])('refuses %s, naming the field', (_, spec, field, message) => {
    const found = problems(spec);
    expect(found).toEqual(
      expect.arrayContaining([{ field, message: expect.stringContaining(message) as unknown as string }]),
    );
  });
});

describe('spec.signaturePullSecrets', () => {
  function compileKind(kind: 'ClusterImagePolicy' | 'ImagePolicy', secrets: unknown[]) {
    return compileDocument(
      {
        source: 'test.yaml',
        index: 0,
        value: {
          apiVersion: 'provenant.dev/v1alpha1',
          kind,
          metadata: { name: 'p', ...(kind === 'ImagePolicy' ? { namespace: 'team-a' } : {}) },
          spec: {
            images: [{ glob: 'registry.example/**' }],
            authorities: [{ name: 'ci', key: { publicKey: KEY } }],
            signatures: {},
            signaturePullSecrets: secrets,
          },
        },
      },
      compileAuthority,
    );
  }

  it('resolves an ImagePolicy secret to its own namespace, and lists every applicable secret per namespace', () => {
    const namespaced = compileKind('ImagePolicy', [{ name: 'sig-cred' }]);
    const cluster = compileKind('ClusterImagePolicy', [{ name: 'shared', namespace: 'provenant-system' }]);
    if ('problems' in namespaced || 'problems' in cluster) throw new Error('expected both to compile');
    expect(namespaced.signaturePullSecrets).toEqual([{ namespace: 'team-a', name: 'sig-cred' }]);
    const set = toPolicySet([namespaced, cluster]);
    expect(set.signaturePullSecrets('team-a')).toEqual([
      { namespace: 'team-a', name: 'sig-cred' },
      { namespace: 'provenant-system', name: 'shared' },
    ]);
    expect(set.signaturePullSecrets('team-b')).toEqual([{ namespace: 'provenant-system', name: 'shared' }]);
  });

  it.each([
    ['ClusterImagePolicy', { name: 'x' }, "must name each secret's namespace"],
    ['ImagePolicy', { name: 'x', namespace: 'kube-system' }, 'only name secrets in its own namespace'],
  ] as const)('refuses in a %s: %j', (kind, secret, message) => {
    const result = compileKind(kind, [secret]);
    expect('problems' in result && result.problems).toEqual([
      { field: 'spec.signaturePullSecrets[0].namespace', message: expect.stringContaining(message) },
    ]);
  });
});

describe('spec.images', () => {
  it('reports a glob with capitals in its repository path on its field', () => {
    expect(
      problems({
        signatures: {},
        images: [{ glob: 'registry.example/**' }, { glob: 'registry.example/Team/**' }],
      }),
    ).toEqual([
      {
        field: 'spec.images[1].glob',
        message:
          'repository path "Team/**" must be lowercase (image references are): as written it matches no image',
      },
    ]);
  });
});
