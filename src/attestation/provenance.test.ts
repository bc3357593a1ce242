import { describe, expect, it } from 'vitest';
import { realAttestation, type RealAttestationName } from '../../test/support/real-attestations.js';
import { certificateSources, readProvenance, type ProvenanceFacts, type SourceClaim } from './provenance.js';

const EXAMPLE = {
  repository: 'https://github.com/slsa-framework/example-package',
  ref: 'refs/heads/main',
  commit: '4d329c75e7ec1725f7c9ce917a8799d408d06be3',
};
const RULES_LINT = {
  repository: 'https://github.com/aspect-build/rules_lint',
  ref: 'refs/heads/publish-to-bcr',
};

describe('readProvenance on real statements', () => {
  it.each<[RealAttestationName, ProvenanceFacts]>([
    [
      'generator-container',
      {
        version: 'v0.2',
        builderId:
          'https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.1.0',
        buildType: 'https://github.com/slsa-framework/slsa-github-generator/container@v1',
        sources: [
          { field: 'invocation.configSource', ...EXAMPLE },
          { field: 'invocation.environment', ref: EXAMPLE.ref, commit: EXAMPLE.commit },
          { field: 'materials[0]', ...EXAMPLE },
        ],
      },
    ],
    [
      'bcr-module',
      {
        version: 'v1',
        builderId:
          'https://github.com/bazel-contrib/publish-to-bcr/.github/workflows/publish.yaml@refs/tags/v0.0.1',
        buildType: 'https://actions.github.io/buildtypes/workflow/v1',
        sources: [
          { field: 'externalParameters.workflow', ...RULES_LINT },
          {
            field: 'resolvedDependencies[0]',
            ...RULES_LINT,
            commit: '8f70009fde0c94ade6ce2a054b94718c819126ec',
          },
        ],
      },
    ],
  ])('%s', (name, expected) => {
    expect(readProvenance(realAttestation(name).attestation.statement)).toEqual(expected);
  });

  it.each<[string, (p: Record<string, unknown>) => unknown, string]>([
    ['no predicate', () => undefined, 'no predicate object'],
    ['v0.2 without builder.id', (p) => ({ ...p, builder: {} }), 'no builder.id'],
    ['builder.id not a string', (p) => ({ ...p, builder: { id: 42 } }), 'no builder.id'],
  ])('says why a v0.2 provenance cannot be used: %s', (_, edit, problem) => {
    const { statement } = realAttestation('generator-container').attestation;
    const predicate = edit(structuredClone(statement.predicate) as Record<string, unknown>);
    expect(readProvenance({ ...statement, predicate })).toContain(problem);
  });

  it('ignores source claims of the wrong shape instead of failing on them', () => {
    const { statement } = realAttestation('bcr-module').attestation;
    const predicate = structuredClone(statement.predicate) as { buildDefinition: Record<string, unknown> };
    predicate.buildDefinition.externalParameters = { workflow: 'not an object' };
    predicate.buildDefinition.resolvedDependencies = [{ uri: 'pkg:npm/left-pad@1.0.0' }];
    const facts = readProvenance({ ...statement, predicate });
    expect(facts).toMatchObject({ sources: [] });
  });
});

describe('certificateSources on real certificates', () => {
  it.each<[RealAttestationName, SourceClaim[]]>([
    [
      'generator-container',
      [
        { field: 'certificate source repository extensions', ...EXAMPLE },
        { field: 'certificate GitHub workflow extensions', ...EXAMPLE },
      ],
    ],
    [
      'opa-provider',
      [
        {
          field: 'certificate source repository extensions',
          repository: 'https://github.com/github/artifact-attestations-opa-provider',
          ref: 'refs/pull/31/merge',
          commit: 'f492e8cf01446c41f376aa07656dc4266f154739',
        },
        {
          field: 'certificate GitHub workflow extensions',
          repository: 'https://github.com/github/artifact-attestations-opa-provider',
          ref: 'refs/pull/31/merge',
          commit: 'f492e8cf01446c41f376aa07656dc4266f154739',
        },
      ],
    ],
  ])('%s', (name, expected) => {
    expect(certificateSources(realAttestation(name).attestation.signer)).toEqual(expected);
  });

  it('has none for a key signer', () => {
    expect(certificateSources(realAttestation('gke-vsa').attestation.signer)).toEqual([]);
  });
});
