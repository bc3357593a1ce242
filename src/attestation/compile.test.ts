import { describe, expect, it } from 'vitest';
import {
  compileAttestationRequirement,
  compileAttestationRequirements,
  normaliseRepositoryGlob,
} from './compile.js';
import type { AttestationRequirementSpec } from './types.js';

const AUTHORITIES = ['ci', 'release'];

/** The brief's example policy: L3 from our repository, and an SBOM with packages. */
const PROVENANCE: AttestationRequirementSpec = {
  name: 'provenance',
  predicateType: 'https://slsa.dev/provenance/v1',
  authorities: ['ci'],
  slsa: {
    minBuildLevel: 3,
    builders: [{ id: 'https://github.com/acme/build/.github/workflows/build.yml@refs/tags/v*', level: 3 }],
    source: { repository: 'https://github.com/acme/app', refs: ['refs/heads/main', 'refs/tags/v*'] },
  },
};
const SBOM: AttestationRequirementSpec = {
  name: 'sbom',
  predicateType: 'https://spdx.dev/Document',
  authorities: ['ci'],
  maxAge: '720h',
  conditions: [{ expression: 'size(predicate.packages) > 0', message: 'SBOM lists no packages' }],
};

describe('compileAttestationRequirement', () => {
  it('compiles the example requirements', () => {
    const provenance = compileAttestationRequirement(PROVENANCE, AUTHORITIES);
    expect(provenance.slsa).toMatchObject({ minBuildLevel: 3, verifiers: [] });
    // A requirement with one authority: that authority signs its verifiers' VSAs.
    const vsa = compileAttestationRequirement(
      {
        ...SBOM,
        predicateType: 'slsa-vsa',
        slsa: { verifiers: [{ id: 'https://v.example', resourceUri: '**' }] },
      },
      AUTHORITIES,
    );
    expect(vsa.slsa?.verifiers[0]?.authorities).toEqual(['ci']);
    expect(provenance.slsa?.source?.repository?.test('https://github.com/acme/app')).toBe(true);
    const sbom = compileAttestationRequirement(SBOM, AUTHORITIES);
    expect(sbom).toMatchObject({ maxAgeMs: 720 * 3_600_000, maxAge: '720h' });
    expect(sbom.predicateType.matches('https://spdx.dev/Document/v2.3')).toBe(true);
    expect(sbom.conditions).toHaveLength(1);
  });

  it('says who may claim each listed builder', () => {
    const GCB = 'https://cloudbuild.googleapis.com/GoogleHostedWorker';
    const withBuilders = (
      authorities: string[],
      builders: { id: string; level?: number; authorities?: string[] }[],
    ) =>
      compileAttestationRequirement(
        { ...PROVENANCE, authorities, slsa: { minBuildLevel: 3, builders } },
        AUTHORITIES,
      ).slsa?.builders;
    // One authority: it is the one that signs as the builder.
    expect(withBuilders(['ci'], [{ id: GCB, level: 3 }])?.[0]).toMatchObject({ authorities: ['ci'] });
    // Several, none named: the builder is accepted from any of them, its level from none.
    const unnamed = withBuilders(['ci', 'release'], [{ id: GCB, level: 3 }])?.[0];
    expect(unnamed).toMatchObject({ level: 3, levelWithheld: true });
    expect(unnamed?.authorities).toBeUndefined();
    expect(withBuilders(['ci', 'release'], [{ id: GCB }])?.[0]?.levelWithheld).toBeUndefined();
    expect(
      withBuilders(['ci', 'release'], [{ id: GCB, level: 3, authorities: ['release'] }])?.[0],
    ).toMatchObject({ authorities: ['release'] });
    expect(() => withBuilders(['ci'], [{ id: GCB, level: 3, authorities: ['release'] }])).toThrow(
      '.slsa.builders[0].authorities: must name authorities of this requirement (ci); not: release',
    );
  });

  it.each<[string, AttestationRequirementSpec, string]>([
    [
      'unknown authority',
      { ...SBOM, authorities: ['ci', 'nightly'] },
      '.authorities: unknown authority "nightly"',
    ],
    ['no authority', { ...SBOM, authorities: [] }, '.authorities: must name at least one authority'],
    ['bad predicate type', { ...SBOM, predicateType: 'sbom' }, '.predicateType:'],
    ['days in maxAge', { ...SBOM, maxAge: '30d' }, '.maxAge: "30d" is not a duration'],
    [
      'CEL that does not parse',
      { ...SBOM, conditions: [{ expression: 'size(predicate.packages) >' }] },
      '.conditions[0].expression: does not parse',
    ],
    [
      'CEL on an unknown variable',
      { ...SBOM, conditions: [{ expression: 'sbom.packages != null' }] },
      '.conditions[0].expression: does not type-check',
    ],
    [
      'bad builder glob',
      { ...PROVENANCE, slsa: { builders: [{ id: 'https://github.com/***' }] } },
      '.slsa.builders[0].id: *** is not a valid wildcard',
    ],
    [
      'builder level 4',
      { ...PROVENANCE, slsa: { builders: [{ id: 'https://x.example/b', level: 4 }] } },
      '.slsa.builders[0].level',
    ],
    [
      'empty builder list',
      { ...PROVENANCE, slsa: { builders: [] } },
      '.slsa.builders: an empty list accepts no builder',
    ],
    ['minBuildLevel 5', { ...PROVENANCE, slsa: { minBuildLevel: 5 } }, '.slsa.minBuildLevel'],
    ['minBuildLevel 2.5', { ...PROVENANCE, slsa: { minBuildLevel: 2.5 } }, '.slsa.minBuildLevel'],
    [
      'short ref',
      { ...PROVENANCE, slsa: { source: { refs: ['main'] } } },
      '.slsa.source.refs[0]: "main" is not a full git ref',
    ],
    ['empty source', { ...PROVENANCE, slsa: { source: {} } }, '.slsa.source: set repository, refs or both'],
    [
      'repository that is not a URL',
      { ...PROVENANCE, slsa: { source: { repository: 'acme' } } },
      '.slsa.source.repository',
    ],
    [
      'slsa on an SBOM',
      { ...SBOM, slsa: { minBuildLevel: 1 } },
      '.slsa: applies to SLSA provenance or VSA predicate types',
    ],
    [
      'VSA without verifiers',
      { ...SBOM, predicateType: 'slsa-vsa', slsa: { minBuildLevel: 2 } },
      '.slsa.verifiers: a VSA requirement must list',
    ],
    [
      'a VSA requirement without any slsa block',
      { ...SBOM, predicateType: 'slsa-vsa' },
      '.slsa.verifiers: a requirement that accepts VSAs must list the verifiers it trusts',
    ],
    [
      'builders on a VSA',
      {
        ...SBOM,
        predicateType: 'slsa-vsa',
        slsa: {
          builders: [{ id: 'https://x.example/b' }],
          verifiers: [{ id: 'https://v.example', resourceUri: '**' }],
        },
      },
      '.slsa: builders and source apply to provenance',
    ],
    [
      'malformed verified level',
      {
        ...PROVENANCE,
        slsa: {
          verifiers: [{ id: 'https://v.example', resourceUri: '**', verifiedLevels: ['SLSA_BUILD_3'] }],
        },
      },
      '.slsa.verifiers[0].verifiedLevels[0]',
    ],
    [
      'a verifier without the authorities that sign its VSAs, in a requirement of two',
      {
        ...PROVENANCE,
        authorities: ['ci', 'release'],
        slsa: { verifiers: [{ id: 'https://v.example', resourceUri: '**' }] },
      },
      ".slsa.verifiers[0].authorities: name which of this requirement's authorities (ci, release) sign this verifier's VSAs",
    ],
    [
      'a verifier signed by an authority the requirement does not name',
      {
        ...PROVENANCE,
        slsa: { verifiers: [{ id: 'https://v.example', resourceUri: '**', authorities: ['release'] }] },
      },
      '.slsa.verifiers[0].authorities: must name authorities of this requirement (ci); not: release',
    ],
  ])('rejects %s, naming the field', (_, spec, message) => {
    const attempt = () => compileAttestationRequirement(spec, AUTHORITIES, 'spec.attestations[0]');
    expect(attempt).toThrow(expect.objectContaining({ code: 'INVALID_POLICY' }));
    expect(attempt).toThrow(`spec.attestations[0]${message}`);
  });

  it('reports every problem at once', () => {
    const spec = { ...SBOM, authorities: ['nightly'], maxAge: '1w', conditions: [{ expression: '(' }] };
    expect(() => compileAttestationRequirement(spec, AUTHORITIES)).toThrow(
      /authorities.*maxAge.*conditions\[0\]/,
    );
  });
});

describe('compileAttestationRequirements', () => {
  it('compiles a list', () => {
    expect(compileAttestationRequirements([PROVENANCE, SBOM], AUTHORITIES)).toMatchObject({
      requirements: [{ name: 'provenance' }, { name: 'sbom' }],
    });
  });

  it('lists duplicate names and per-entry problems with their index', () => {
    const result = compileAttestationRequirements([SBOM, { ...SBOM, maxAge: 'soon' }], AUTHORITIES);
    expect(result).toEqual({
      problems: [
        { field: 'spec.attestations[1].name', message: 'duplicate name "sbom"' },
        { field: 'spec.attestations[1].maxAge', message: expect.stringContaining('not a duration') },
      ],
    });
  });
});

describe('slsa.githubEnterprise', () => {
  const GHE = { issuer: 'https://ghe.example.com/_services/token', url: 'https://ghe.example.com' };
  const withInstances = (
    githubEnterprise: { issuer: string; url: string }[],
  ): AttestationRequirementSpec => ({
    ...PROVENANCE,
    slsa: { ...PROVENANCE.slsa, githubEnterprise },
  });

  it('carries the instances to the compiled requirement', () => {
    expect(compileAttestationRequirements([withInstances([GHE])], AUTHORITIES)).toMatchObject({
      requirements: [{ slsa: { githubEnterprise: [GHE] } }],
    });
  });

  it('refuses github.com itself, which is always known', () => {
    const result = compileAttestationRequirements(
      [withInstances([{ issuer: 'https://token.actions.githubusercontent.com', url: 'https://github.com' }])],
      AUTHORITIES,
    );
    expect(result).toEqual({
      problems: [
        {
          field: 'spec.attestations[0].slsa.githubEnterprise[0]',
          message: 'github.com is always known: list only GitHub Enterprise instances',
        },
      ],
    });
  });
});

describe('normaliseRepositoryGlob', () => {
  it.each([
    ['https://github.com/Acme/App', 'https://github.com/acme/app'],
    ['github.com/acme/*', 'https://github.com/acme/*'],
    ['git+https://github.com/acme/app.git', 'https://github.com/acme/app'],
    ['https://GitLab.example/Group/**', 'https://gitlab.example/Group/**'],
  ])('%s → %s', (glob, expected) => {
    expect(normaliseRepositoryGlob(glob)).toBe(expected);
  });
});
