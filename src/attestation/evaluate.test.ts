import { describe, expect, it } from 'vitest';
import { realAttestation, type RealAttestationName } from '../../test/support/real-attestations.js';
import type { ReasonCode } from '../errors.js';
import { compileAttestationRequirement } from './compile.js';
import { evaluateAttestationRequirement } from './evaluate.js';
import type {
  AttestationRequirementSpec,
  SlsaEvidence,
  SlsaRequirementSpec,
  VerifiedAttestation,
} from './types.js';

const AUTHORITIES = ['ci', 'bcid', 'other'];
/** After every fixture was signed, and within 720h of none of them. */
const NOW = new Date('2025-06-01T00:00:00Z');

const GENERATOR_BUILDER =
  'https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml';
const EXAMPLE_PACKAGE = 'https://github.com/slsa-framework/example-package';
const PUBLISH_TO_BCR = 'https://github.com/bazel-contrib/publish-to-bcr/.github/workflows/publish.yaml';
const BCID_VERIFIER = 'https://bcid.corp.google.com/verifier/bcid_package_enforcer/v0.1';

/** An attestation as the verifier hands it over, optionally edited to model a case the fixtures lack. */
type Input =
  | RealAttestationName
  | {
      readonly from: RealAttestationName;
      readonly edit: (a: VerifiedAttestation) => VerifiedAttestation;
      readonly authority?: string;
    };

interface Case {
  readonly name: string;
  /** Where the expectation comes from: expectations.json id, or why it follows from SOURCES.md. */
  readonly basis: string;
  readonly inputs: readonly Input[];
  readonly predicateType?: string;
  readonly authorities?: readonly string[];
  readonly slsa?: SlsaRequirementSpec;
  readonly maxAge?: string;
  readonly conditions?: AttestationRequirementSpec['conditions'];
  readonly now?: Date;
  readonly satisfied: boolean;
  /** Exactly the reason codes expected (in order). */
  readonly codes?: readonly ReasonCode[];
  readonly evidence?: Partial<SlsaEvidence>;
}

/** The GKE VSA's own requirement: its verifier, VSAs signed by the bcid authority. */
const GKE_VSA_REQUIREMENT: Pick<Case, 'predicateType' | 'authorities' | 'slsa'> = {
  predicateType: 'slsa-vsa',
  authorities: ['bcid'],
  slsa: { verifiers: [{ id: BCID_VERIFIER, resourceUri: 'gce_image://**' }] },
};

const GENERATOR_EVIDENCE: Partial<SlsaEvidence> = {
  via: 'provenance',
  level: 3,
  builder: `${GENERATOR_BUILDER}@refs/tags/v2.1.0`,
  buildType: 'https://github.com/slsa-framework/slsa-github-generator/container@v1',
  repository: EXAMPLE_PACKAGE,
  ref: 'refs/heads/main',
  commit: '4d329c75e7ec1725f7c9ce917a8799d408d06be3',
};

const CASES: readonly Case[] = [
  // slsa-github-generator container v2.1.0 (SOURCES.md §4a; slsa-verifier Test_runVerifyGHAArtifactImage)
  {
    name: 'generator: L3 from example-package on main',
    basis: 'expectations.json slsa-generator-container/valid-main',
    inputs: ['generator-container'],
    slsa: {
      minBuildLevel: 3,
      source: { repository: 'github.com/slsa-framework/example-package', refs: ['refs/heads/main'] },
    },
    satisfied: true,
    evidence: GENERATOR_EVIDENCE,
  },
  {
    name: 'generator: builder pinned at refs/tags/v2.1.0',
    basis: 'expectations.json slsa-generator-container/valid-main (builderId @refs/tags/v2.1.0)',
    inputs: ['generator-container'],
    slsa: {
      minBuildLevel: 3,
      builders: [{ id: `${GENERATOR_BUILDER}@refs/tags/v2.1.0` }],
      source: { repository: EXAMPLE_PACKAGE },
    },
    satisfied: true,
    evidence: { level: 3 },
  },
  {
    name: 'generator: bare builder id matches any ref',
    basis: 'SOURCES.md §4a: builder id accepted bare',
    inputs: ['generator-container'],
    slsa: { minBuildLevel: 3, builders: [{ id: GENERATOR_BUILDER }] },
    satisfied: true,
    evidence: { level: 3 },
  },
  {
    name: 'generator: the only accepted builder is not-trusted.yml',
    basis: 'expectations.json slsa-generator-container/untrusted-builder (ErrorUntrustedReusableWorkflow)',
    inputs: ['generator-container'],
    slsa: {
      builders: [
        { id: 'https://github.com/slsa-framework/slsa-github-generator/.github/workflows/not-trusted.yml' },
      ],
      source: { repository: EXAMPLE_PACKAGE },
    },
    satisfied: false,
    codes: ['SLSA_BUILDER_UNTRUSTED'],
  },
  {
    name: 'generator: branch master required',
    basis: 'expectations.json slsa-generator-container/wrong-branch (ErrorMismatchBranch)',
    inputs: ['generator-container'],
    slsa: { source: { repository: EXAMPLE_PACKAGE, refs: ['refs/heads/master'] } },
    satisfied: false,
    codes: ['SLSA_SOURCE_MISMATCH'],
    evidence: GENERATOR_EVIDENCE,
  },
  ...[
    'github.com/slsa-framework/example-packageA',
    'Agithub.com/slsa-framework/example-package',
    'github.com/Aslsa-framework/example-package',
  ].map((repository): Case => ({
    name: `generator: source ${repository} required`,
    basis: 'expectations.json slsa-generator-container/wrong-source (ErrorMismatchSource)',
    inputs: ['generator-container'],
    slsa: { source: { repository } },
    satisfied: false,
    codes: ['SLSA_SOURCE_MISMATCH'],
  })),
  {
    name: 'generator: tag v1.2.3 required, built from a branch',
    basis: 'expectations.json slsa-generator-container/tag-on-workflow-dispatch',
    inputs: ['generator-container'],
    slsa: { source: { repository: EXAMPLE_PACKAGE, refs: ['refs/tags/v1.2.3'] } },
    satisfied: false,
    codes: ['SLSA_SOURCE_MISMATCH'],
  },
  {
    name: 'generator: Build L4 required',
    basis: 'brief: no builder reaches L4',
    inputs: ['generator-container'],
    slsa: { minBuildLevel: 4 },
    satisfied: false,
    codes: ['SLSA_LEVEL_TOO_LOW'],
    evidence: { level: 3 },
  },
  {
    name: 'generator: accepted at v0.2 only, by exact predicate type',
    basis: 'the statement is provenance v0.2',
    inputs: ['generator-container'],
    predicateType: 'https://slsa.dev/provenance/v0.2',
    slsa: { minBuildLevel: 3 },
    satisfied: true,
  },
  {
    name: 'generator: a v1-only requirement finds no provenance',
    basis: 'the statement is provenance v0.2',
    inputs: ['generator-container'],
    predicateType: 'https://slsa.dev/provenance/v1',
    satisfied: false,
    codes: ['ATTESTATION_MISSING'],
  },
  {
    name: 'generator: signed by an authority the requirement does not name',
    basis: 'attestations signed by other authorities never count',
    inputs: [{ from: 'generator-container', edit: (a) => a, authority: 'other' }],
    slsa: { minBuildLevel: 1 },
    satisfied: false,
    codes: ['UNTRUSTED_SIGNER'],
  },
  {
    name: 'generator: the same statement signed by a key claims a GitHub workflow builder it cannot back',
    basis: 'builder.id must agree with the signing identity; a key has none',
    inputs: [
      {
        from: 'generator-container',
        edit: ({ signer, ...a }) => ({
          ...a,
          signer: { authority: signer.authority, identity: 'sha256:0123' },
        }),
      },
    ],
    slsa: { minBuildLevel: 1 },
    satisfied: false,
    codes: ['SLSA_BUILDER_UNTRUSTED'],
  },
  {
    name: 'generator: provenance names another repository than its certificate',
    basis: 'provenance and certificate source claims must agree',
    inputs: [
      {
        from: 'generator-container',
        edit: (a) =>
          withPredicate(a, (p) =>
            setPath(
              p,
              ['invocation', 'configSource', 'uri'],
              'git+https://github.com/evil/app@refs/heads/main',
            ),
          ),
      },
    ],
    slsa: { minBuildLevel: 3 },
    satisfied: false,
    codes: ['SLSA_SOURCE_MISMATCH'],
  },
  {
    name: 'generator: published as v1 but states v0.2',
    basis: 'the layer annotation must name the statement predicate type',
    inputs: [
      {
        from: 'generator-container',
        edit: (a) => ({ ...a, predicateType: 'https://slsa.dev/provenance/v1' }),
      },
    ],
    slsa: { minBuildLevel: 1 },
    satisfied: false,
    codes: ['ATTESTATION_INVALID'],
  },
  // GitHub artifact attestations on public good (SOURCES.md §4c; slsa-verifier Test_runVerifyGithubAttestation)
  {
    name: 'bcr: publish-to-bcr allow-listed at L3, called by rules_lint',
    basis: 'expectations.json github-attestation-bcr/module-bazel',
    inputs: ['bcr-module'],
    slsa: {
      minBuildLevel: 3,
      builders: [{ id: PUBLISH_TO_BCR, level: 3 }],
      source: { repository: 'github.com/aspect-build/rules_lint' },
    },
    satisfied: true,
    evidence: {
      level: 3,
      builder: `${PUBLISH_TO_BCR}@refs/tags/v0.0.1`,
      repository: 'https://github.com/aspect-build/rules_lint',
      ref: 'refs/heads/publish-to-bcr',
      commit: '8f70009fde0c94ade6ce2a054b94718c819126ec',
    },
  },
  {
    name: 'bcr: no builder allow-listed, so L2, and L3 required',
    basis:
      'expectations.json github-attestation-bcr/module-bazel-no-builder-id (a GitHub attestation alone is L2)',
    inputs: ['bcr-module'],
    slsa: { minBuildLevel: 3, source: { repository: 'github.com/aspect-build/rules_lint' } },
    satisfied: false,
    codes: ['SLSA_LEVEL_TOO_LOW'],
    evidence: { level: 2 },
  },
  {
    name: 'bcr: allow-listed without a level keeps the built-in L2',
    basis: 'GitHub artifact attestations are L2 (formats.md §4.6)',
    inputs: ['bcr-module'],
    slsa: { minBuildLevel: 2, builders: [{ id: PUBLISH_TO_BCR }] },
    satisfied: true,
    evidence: { level: 2 },
  },
  {
    name: 'bcr: the wrong signer claims the publish-to-bcr builder',
    basis: 'expectations.json github-attestation-bcr/module-bazel-wrong-signer',
    inputs: ['bcr-wrong-signer'],
    slsa: {
      minBuildLevel: 3,
      builders: [{ id: PUBLISH_TO_BCR, level: 3 }],
      source: { repository: 'github.com/aspect-build/rules_lint' },
    },
    satisfied: false,
    codes: ['SLSA_BUILDER_UNTRUSTED'],
  },
  {
    name: 'bcr: the wrong signer fails even without a builder list',
    basis: 'a builder.id that is not the certificate SAN is a forgery, whatever the policy',
    inputs: ['bcr-wrong-signer'],
    slsa: { minBuildLevel: 1 },
    satisfied: false,
    codes: ['SLSA_BUILDER_UNTRUSTED'],
  },
  {
    name: 'bcr: the genuine attestation still counts when the forged one is also attached',
    basis: 'a requirement is met when any attestation passes',
    inputs: ['bcr-wrong-signer', 'bcr-module'],
    slsa: { minBuildLevel: 3, builders: [{ id: PUBLISH_TO_BCR, level: 3 }] },
    satisfied: true,
    evidence: { level: 3 },
  },
  // GitHub artifact attestation for a container, GitHub's instance, private repo (SOURCES.md §4b)
  {
    name: 'opa-provider: L2 from its own repository',
    basis: 'expectations.json github-attestation-container/github-root; GitHub attestations are L2',
    inputs: ['opa-provider'],
    slsa: {
      minBuildLevel: 2,
      source: {
        repository: 'https://github.com/github/artifact-attestations-opa-provider',
        refs: ['refs/pull/*/merge'],
      },
    },
    satisfied: true,
    evidence: {
      level: 2,
      builder:
        'https://github.com/github/artifact-attestations-opa-provider/.github/workflows/docker.yaml@refs/pull/31/merge',
      ref: 'refs/pull/31/merge',
      commit: 'f492e8cf01446c41f376aa07656dc4266f154739',
    },
  },
  {
    name: 'opa-provider: rated L3 by the policy, but the workflow attests its own build',
    basis: 'formats.md §4.6: L3 only for a reusable workflow distinct from the caller (.9 ≠ .18)',
    inputs: ['opa-provider'],
    slsa: {
      minBuildLevel: 3,
      builders: [
        {
          id: 'https://github.com/github/artifact-attestations-opa-provider/.github/workflows/docker.yaml',
          level: 3,
        },
      ],
    },
    satisfied: false,
    codes: ['SLSA_LEVEL_TOO_LOW'],
    evidence: { level: 2 },
  },
  {
    name: 'opa-provider: built from another organisation',
    basis: 'the certificate names github/artifact-attestations-opa-provider',
    inputs: ['opa-provider'],
    slsa: { source: { repository: 'https://github.com/acme/*' } },
    satisfied: false,
    codes: ['SLSA_SOURCE_MISMATCH'],
  },
  // Google BCID VSA, key-signed (SOURCES.md §5; slsa-verifier Test_runVerifyVSA)
  {
    name: 'gke VSA: verifier, resource and levels as upstream',
    basis: 'expectations.json vsa/gke/valid',
    inputs: [{ from: 'gke-vsa', edit: (a) => a, authority: 'bcid' }],
    predicateType: 'slsa-vsa',
    authorities: ['bcid'],
    slsa: {
      minBuildLevel: 2,
      verifiers: [
        {
          id: BCID_VERIFIER,
          resourceUri: 'gce_image://gke-node-images:gke-12615-gke1418000-cos-101-17162-463-29-c-cgpv1-pre',
          verifiedLevels: ['BCID_L1', 'SLSA_BUILD_LEVEL_2'],
        },
      ],
    },
    satisfied: true,
    evidence: { via: 'vsa', level: 2, builder: BCID_VERIFIER },
  },
  {
    name: 'gke VSA: stands in for provenance in a provenance requirement',
    basis: 'slsa.verifiers lets a VSA satisfy minBuildLevel',
    inputs: [{ from: 'gke-vsa', edit: (a) => a, authority: 'bcid' }],
    authorities: ['ci', 'bcid'],
    slsa: {
      minBuildLevel: 1,
      verifiers: [
        {
          id: BCID_VERIFIER,
          resourceUri: 'gce_image://gke-node-images:*',
          verifiedLevels: ['SLSA_BUILD_LEVEL_1'],
          authorities: ['bcid'],
        },
      ],
    },
    satisfied: true,
    evidence: { via: 'vsa', level: 2 },
  },
  {
    name: "gke VSA: the CI authority signs one in the verifier's name",
    basis: 'formats.md §4.7: only specific signer-verifier pairs; verifier.id is the signer’s own claim',
    inputs: [{ from: 'gke-vsa', edit: (a) => a, authority: 'ci' }],
    authorities: ['ci', 'bcid'],
    slsa: {
      minBuildLevel: 2,
      verifiers: [{ id: BCID_VERIFIER, resourceUri: 'gce_image://**', authorities: ['bcid'] }],
    },
    satisfied: false,
    codes: ['VSA_VERIFIER_UNTRUSTED'],
  },
  {
    name: 'gke VSA: Build L3 required',
    basis: 'the VSA states SLSA_BUILD_LEVEL_2',
    inputs: [{ from: 'gke-vsa', edit: (a) => a, authority: 'bcid' }],
    predicateType: 'slsa-vsa',
    authorities: ['bcid'],
    slsa: { minBuildLevel: 3, verifiers: [{ id: BCID_VERIFIER, resourceUri: 'gce_image://**' }] },
    satisfied: false,
    codes: ['SLSA_LEVEL_TOO_LOW'],
  },
  {
    name: 'gke VSA: the verifier entry caps the level it may vouch for',
    basis: 'slsa.verifiers[].level',
    inputs: [{ from: 'gke-vsa', edit: (a) => a, authority: 'bcid' }],
    predicateType: 'slsa-vsa',
    authorities: ['bcid'],
    slsa: { minBuildLevel: 2, verifiers: [{ id: BCID_VERIFIER, resourceUri: 'gce_image://**', level: 1 }] },
    satisfied: false,
    codes: ['SLSA_LEVEL_TOO_LOW'],
    evidence: { level: 1 },
  },
  {
    name: 'gke VSA: from a verifier that is not listed',
    basis: 'formats.md §4.7: verifier.id must be accepted',
    inputs: [{ from: 'gke-vsa', edit: (a) => a, authority: 'bcid' }],
    predicateType: 'slsa-vsa',
    authorities: ['bcid'],
    slsa: { verifiers: [{ id: 'https://verifier.acme.example/*', resourceUri: 'gce_image://**' }] },
    satisfied: false,
    codes: ['VSA_VERIFIER_UNTRUSTED'],
  },
  {
    name: 'gke VSA: for another resource',
    basis: 'formats.md §4.7: resourceUri must match',
    inputs: [{ from: 'gke-vsa', edit: (a) => a, authority: 'bcid' }],
    predicateType: 'slsa-vsa',
    authorities: ['bcid'],
    slsa: { verifiers: [{ id: BCID_VERIFIER, resourceUri: 'gce_image://cos-cloud:*' }] },
    satisfied: false,
    codes: ['VSA_RESOURCE_MISMATCH'],
  },
  {
    name: 'gke VSA: reporting FAILED',
    basis: 'formats.md §4.7: verificationResult must be PASSED',
    inputs: [
      {
        from: 'gke-vsa',
        edit: (a) => withPredicate(a, (p) => ({ ...p, verificationResult: 'FAILED' })),
        authority: 'bcid',
      },
    ],
    predicateType: 'slsa-vsa',
    authorities: ['bcid'],
    slsa: { verifiers: [{ id: BCID_VERIFIER, resourceUri: 'gce_image://**' }] },
    satisfied: false,
    codes: ['VSA_FAILED'],
  },
  // Age and conditions over real statements
  {
    name: 'maxAge: signed within 720h',
    basis: 'Rekor integratedTime 2025-02-25T21:58:07Z',
    inputs: ['generator-container'],
    maxAge: '720h',
    now: new Date('2025-03-20T00:00:00Z'),
    satisfied: true,
  },
  {
    name: 'maxAge: signed more than 720h ago',
    basis: 'Rekor integratedTime 2025-02-25T21:58:07Z',
    inputs: ['generator-container'],
    maxAge: '720h',
    now: new Date('2025-03-28T00:00:00Z'),
    satisfied: false,
    codes: ['ATTESTATION_TOO_OLD'],
  },
  {
    name: 'maxAge: the TSA time of a GitHub-instance attestation counts',
    basis: 'RFC 3161 genTime 2025-05-07T08:05:10Z',
    inputs: ['opa-provider'],
    maxAge: '24h',
    now: new Date('2025-05-08T08:00:00Z'),
    satisfied: true,
  },
  {
    name: 'maxAge: a key-signed VSA is as old as the timeVerified it signed',
    basis: 'SOURCES.md: timeVerified 2024-06-12T07:24:34Z, 354 days before NOW',
    inputs: [{ from: 'gke-vsa', edit: (a) => a, authority: 'bcid' }],
    ...GKE_VSA_REQUIREMENT,
    maxAge: '8760h',
    satisfied: true,
  },
  {
    name: 'maxAge: a key-signed VSA older than maxAge by its timeVerified',
    basis: 'SOURCES.md: timeVerified 2024-06-12T07:24:34Z',
    inputs: [{ from: 'gke-vsa', edit: (a) => a, authority: 'bcid' }],
    ...GKE_VSA_REQUIREMENT,
    maxAge: '720h',
    satisfied: false,
    codes: ['ATTESTATION_TOO_OLD'],
  },
  {
    name: 'maxAge: a fresh timestamp on an old key signature does not make it young',
    basis: 'a TSA vouches that the signature existed, not when it was made; the signed timeVerified is older',
    inputs: [{ from: 'gke-vsa', edit: (a) => ({ ...a, signedAt: NOW }), authority: 'bcid' }],
    ...GKE_VSA_REQUIREMENT,
    maxAge: '720h',
    satisfied: false,
    codes: ['ATTESTATION_TOO_OLD'],
  },
  {
    name: 'maxAge: a key-signed statement stating no time cannot show its age, timestamp or not',
    basis: 'timeVerified removed; the timestamp alone could be renewed',
    inputs: [
      {
        from: 'gke-vsa',
        edit: (a) => ({ ...withPredicate(a, ({ timeVerified: _, ...p }) => p), signedAt: NOW }),
        authority: 'bcid',
      },
    ],
    ...GKE_VSA_REQUIREMENT,
    maxAge: '87600h',
    satisfied: false,
    codes: ['ATTESTATION_TOO_OLD'],
  },
  {
    name: 'maxAge: a key-signed statement dated in the future is not believed',
    basis: 'a wrong clock or a typo would otherwise keep it young for ever',
    inputs: [
      {
        from: 'gke-vsa',
        edit: (a) => withPredicate(a, (p) => ({ ...p, timeVerified: '2099-01-01T00:00:00Z' })),
        authority: 'bcid',
      },
    ],
    ...GKE_VSA_REQUIREMENT,
    maxAge: '87600h',
    satisfied: false,
    codes: ['ATTESTATION_TOO_OLD'],
  },
  {
    name: 'conditions: over predicate, statement and image',
    basis: 'the generator statement was built by workflow_dispatch with one material',
    inputs: ['generator-container'],
    conditions: [
      { expression: 'predicate.invocation.environment.github_event_name == "workflow_dispatch"' },
      { expression: 'image.digest == "sha256:" + statement.subject[0].digest.sha256' },
      {
        expression: 'predicate.materials.all(m, m.uri.startsWith("git+https://github.com/slsa-framework/"))',
      },
    ],
    satisfied: true,
  },
  {
    name: 'conditions: a false condition and a missing field both fail',
    basis: 'the build was not triggered by push, and v0.2 has no runDetails',
    inputs: ['generator-container'],
    conditions: [
      {
        expression: 'predicate.invocation.environment.github_event_name == "push"',
        message: 'release builds run on push',
      },
      { expression: 'predicate.runDetails.builder.id != ""' },
    ],
    satisfied: false,
    codes: ['CONDITION_FAILED', 'CONDITION_FAILED'],
  },
  {
    name: 'conditions: BCID level listed in the VSA',
    basis: 'verifiedLevels holds BCID_L1',
    inputs: [{ from: 'gke-vsa', edit: (a) => a, authority: 'bcid' }],
    predicateType: 'https://slsa.dev/verification_summary/v1',
    authorities: ['bcid'],
    slsa: { verifiers: [{ id: BCID_VERIFIER, resourceUri: 'gce_image://**' }] },
    conditions: [
      { expression: '"BCID_L1" in predicate.verifiedLevels && predicate.verificationResult == "PASSED"' },
    ],
    satisfied: true,
  },
  {
    name: 'no attestation at all',
    basis: 'nothing attached',
    inputs: [],
    predicateType: 'spdx',
    satisfied: false,
    codes: ['ATTESTATION_MISSING'],
  },
];

describe('evaluateAttestationRequirement on real attestations', () => {
  it.each(CASES)('$name', (c) => {
    const inputs = c.inputs.map(resolve);
    const digest =
      inputs[0]?.digest ?? 'sha256:234e2c830c2fb31ac5671789d22adfe44d30c3ee831d01beae5e237841a13122';
    const req = compileAttestationRequirement(
      {
        name: 'provenance',
        predicateType: c.predicateType ?? 'slsa-provenance',
        authorities: c.authorities ?? ['ci'],
        ...(c.slsa !== undefined ? { slsa: c.slsa } : {}),
        ...(c.maxAge !== undefined ? { maxAge: c.maxAge } : {}),
        ...(c.conditions !== undefined ? { conditions: c.conditions } : {}),
      },
      AUTHORITIES,
    );
    const result = evaluateAttestationRequirement(
      req,
      inputs.map((i) => i.attestation),
      { imageDigest: digest, imageReference: `registry.example/image@${digest}`, now: c.now ?? NOW },
    );
    expect(result.reasons.map((r) => r.code)).toEqual(c.codes ?? []);
    expect(result.satisfied).toBe(c.satisfied);
    if (c.evidence !== undefined) expect(result.evidence?.slsa).toMatchObject(c.evidence);
  });
});

describe('reason messages', () => {
  const evaluate = (slsa: SlsaRequirementSpec, name: RealAttestationName) => {
    const real = realAttestation(name);
    const req = compileAttestationRequirement(
      { name: 'provenance', predicateType: 'slsa-provenance', authorities: ['ci'], slsa },
      AUTHORITIES,
    );
    return evaluateAttestationRequirement(req, [real.attestation], {
      imageDigest: real.digest,
      imageReference: 'x',
      now: NOW,
    });
  };

  it('state the level, builder and basis found versus the level required', () => {
    const [reason] = evaluate({ minBuildLevel: 3 }, 'opa-provider').reasons;
    expect(reason).toMatchObject({ code: 'SLSA_LEVEL_TOO_LOW', authority: 'ci' });
    expect(reason?.message).toContain('SLSA Build L2 found, L3 required');
    expect(reason?.message).toContain('docker.yaml@refs/pull/31/merge');
    expect(reason?.message).toContain('GitHub artifact attestation');
  });

  it('state the source found versus the source required', () => {
    const [reason] = evaluate(
      { source: { repository: EXAMPLE_PACKAGE, refs: ['refs/heads/master'] } },
      'generator-container',
    ).reasons;
    expect(reason?.message).toContain(`built from ${EXAMPLE_PACKAGE} at ref refs/heads/main`);
    expect(reason?.message).toContain('required ref refs/heads/master');
  });

  it('name the claimed builder and the real signer of a forged provenance', () => {
    const [reason] = evaluate({}, 'bcr-wrong-signer').reasons;
    expect(reason?.message).toContain(`claims builder ${PUBLISH_TO_BCR}@refs/tags/v0.0.1`);
    expect(reason?.message).toContain(
      'loosebazooka/aa-test/.github/workflows/malicious_attestation.yaml@refs/heads/main',
    );
  });
});

describe('judging one verified attestation again', () => {
  // The verification cache hands the same attestation objects to every admission; what is read from one is
  // remembered, so each judgement must still be exactly what a fresh copy gives, requirement by requirement.
  it('gives each requirement what a fresh copy of the attestation gives, however often and in any order', () => {
    const shared = realAttestation('generator-container');
    const requirement = (refs: readonly string[], minBuildLevel: number) =>
      compileAttestationRequirement(
        {
          name: 'provenance',
          predicateType: 'slsa-provenance',
          authorities: ['ci'],
          slsa: { minBuildLevel, source: { repository: 'github.com/slsa-framework/example-package', refs } },
        },
        AUTHORITIES,
      );
    const requirements = [
      requirement(['refs/heads/main'], 3),
      requirement(['refs/heads/release'], 3),
      requirement(['refs/heads/main'], 4),
    ];
    const context = { imageDigest: shared.digest, imageReference: 'x', now: NOW };
    const fresh = requirements.map((req) =>
      evaluateAttestationRequirement(req, [realAttestation('generator-container').attestation], context),
    );
    expect(fresh.map((r) => r.satisfied)).toEqual([true, false, false]);
    for (const order of [
      [0, 1, 2],
      [2, 1, 0, 0, 1],
    ]) {
      for (const i of order) {
        const req = requirements[i] as (typeof requirements)[number];
        expect(evaluateAttestationRequirement(req, [shared.attestation], context)).toEqual(fresh[i]);
      }
    }
  });
});

describe('a VSA under a requirement without slsa.verifiers', () => {
  it('counts for nothing, even should such a requirement ever be compiled', () => {
    const vsa = realAttestation('gke-vsa', 'bcid');
    const failed = withPredicate(vsa.attestation, (p) => ({
      ...p,
      verificationResult: 'FAILED',
      verifiedLevels: [],
    }));
    const compiled = compileAttestationRequirement(
      {
        name: 'vsa',
        predicateType: 'slsa-vsa',
        authorities: ['bcid'],
        slsa: { verifiers: [{ id: BCID_VERIFIER, resourceUri: 'gce_image://**' }] },
      },
      AUTHORITIES,
    );
    const withoutSlsa = { ...compiled };
    delete withoutSlsa.slsa;
    const result = evaluateAttestationRequirement(withoutSlsa, [failed], {
      imageDigest: vsa.digest,
      imageReference: 'x',
      now: NOW,
    });
    expect(result.satisfied).toBe(false);
    expect(result.reasons.map((r) => r.code)).toEqual(['VSA_VERIFIER_UNTRUSTED']);
  });
});

function resolve(input: Input): { digest: string; attestation: VerifiedAttestation } {
  if (typeof input === 'string') return realAttestation(input);
  const real = realAttestation(input.from, input.authority);
  return { digest: real.digest, attestation: input.edit(real.attestation) };
}

function withPredicate(
  attestation: VerifiedAttestation,
  edit: (predicate: Record<string, unknown>) => Record<string, unknown>,
): VerifiedAttestation {
  const predicate = structuredClone(attestation.statement.predicate) as Record<string, unknown>;
  return { ...attestation, statement: { ...attestation.statement, predicate: edit(predicate) } };
}

function setPath(
  obj: Record<string, unknown>,
  path: readonly string[],
  value: unknown,
): Record<string, unknown> {
  let node = obj;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
  node[path.at(-1) as string] = value;
  return obj;
}
