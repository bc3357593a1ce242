import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AttestationRequirementSpec, SlsaRequirementSpec } from '../../../src/attestation/types.js';
import type { AuthoritySpec } from '../../../src/policy/types.js';
import { verifyAttested, writeAttestationPolicy } from '../../support/attestation-policy.js';
import { cosignVerifyAttestation } from '../../support/cosign-attestation.js';
import { fetchManifest, sha256Digest } from '../../support/images.js';
import {
  pushSlsaGeneratorImage,
  SLSA_GENERATOR_IMAGE as IMAGE,
  type ServedSlsaImage,
} from '../../support/real-slsa-image.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { prepareSlsaVerifier, slsaVerifierVerifyImage, type SlsaVerifierFlags } from './slsa-verifier.js';

// The real slsa-github-generator v2.1.0 container image and its cosign `.att` (public good, 2025-02-25),
// served byte for byte from a local registry, judged by `provenant verify` with nothing but the embedded
// public-good root. The cases are slsa-verifier's own (expectations.json slsa-generator-container/*); each
// verdict is cross-checked with cosign 3 `verify-attestation` (signature and signer) and with slsa-verifier
// `verify-image` (builder, source repository and ref).

const PUBLIC_GOOD_ROOT = new URL(
  '../../fixtures/real/trusted-root/public-good/trusted_root.json',
  import.meta.url,
).pathname;
const GENERATOR_WORKFLOW =
  'https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml';

let registry: TestRegistry;
let served: ServedSlsaImage;

// Building slsa-verifier from the module proxy takes minutes on a fresh machine (seconds once cached).
beforeAll(async () => {
  const verifier = prepareSlsaVerifier();
  registry = await startRegistry();
  served = await pushSlsaGeneratorImage(registry);
  await verifier;
}, 660_000);

afterAll(async () => {
  await registry?.stop();
});

const generatorAuthority = (subjectRegExp: string = IMAGE.subjectRegExp): AuthoritySpec => ({
  name: 'slsa-generator',
  keyless: { identities: [{ issuer: IMAGE.issuer, subjectRegExp }] },
});

async function verifyWith(
  slsa: SlsaRequirementSpec | undefined,
  extra: Partial<AttestationRequirementSpec> & { authority?: AuthoritySpec; signatures?: boolean } = {},
) {
  const { authority, signatures, ...requirement } = extra;
  const policy = await writeAttestationPolicy({
    name: 'slsa3',
    glob: `${registry.host}/slsa-framework/**`,
    authorities: [authority ?? generatorAuthority()],
    ...(signatures === true ? { signatures: {} } : {}),
    attestations: [
      {
        name: 'provenance',
        predicateType: 'slsa-provenance',
        authorities: [authority?.name ?? 'slsa-generator'],
        ...(slsa !== undefined ? { slsa } : {}),
        ...requirement,
      },
    ],
  });
  return verifyAttested(served.digestRef, policy, registry.host);
}

/** slsa-verifier must reach the same verdict where it can judge the same question. */
async function expectSlsaVerifier(flags: SlsaVerifierFlags, allowed: boolean): Promise<void> {
  const result = await slsaVerifierVerifyImage(served.digestRef, flags);
  expect(result.verified, `${result.command}\n${result.stdout}${result.stderr}`).toBe(allowed);
}

describe('the real slsa-github-generator .att, served from a local registry', () => {
  it('is served byte for byte at the digests the fixtures were recorded under', async () => {
    const att = await fetchManifest(registry, served.attestationTagRef);
    expect(att && sha256Digest(att)).toBe(IMAGE.attestationDigest);
    const index = await fetchManifest(registry, `${served.repository}:main`);
    expect(index && sha256Digest(index)).toBe(IMAGE.digest);
  });

  it('admits it at SLSA Build L3 from example-package on refs/heads/main', async () => {
    const { code, result } = await verifyWith({
      minBuildLevel: 3,
      source: { repository: 'github.com/slsa-framework/example-package', refs: ['refs/heads/main'] },
    });
    expect(code).toBe(0);
    expect(result).toMatchObject({ allowed: true, digest: IMAGE.digest, reasons: [] });
    expect(result.attestations).toEqual([
      {
        policy: 'slsa3',
        name: 'provenance',
        satisfied: true,
        predicateType: 'https://slsa.dev/provenance/v0.2',
        source: `${served.attestationTagRef} layer 0`,
        authority: 'slsa-generator',
        signer: IMAGE.signer,
        signedAt: IMAGE.signedAt,
        timestamps: [{ kind: 'tlog', time: IMAGE.signedAt, by: 'https://rekor.sigstore.dev' }],
        slsa: {
          via: 'provenance',
          level: 3,
          levelBasis: expect.stringContaining('release tag refs/tags/v2.1.0') as unknown as string,
          builder: IMAGE.signer,
          buildType: 'https://github.com/slsa-framework/slsa-github-generator/container@v1',
          repository: IMAGE.sourceRepository,
          ref: IMAGE.sourceRef,
          commit: IMAGE.sourceCommit,
        },
      },
    ]);

    // cosign checks the signature, the certificate chain at the Rekor time and the signer identity.
    const cosign = await cosignVerifyAttestation(
      3,
      {
        trustedRoot: PUBLIC_GOOD_ROOT,
        identity: { certificateOidcIssuer: IMAGE.issuer, certificateIdentityRegexp: IMAGE.subjectRegExp },
      },
      served.digestRef,
      registry,
      { type: 'slsaprovenance' },
    );
    expect(cosign.verified, `${cosign.command}\n${cosign.stderr}`).toBe(true);
    await expectSlsaVerifier(
      { sourceUri: 'github.com/slsa-framework/example-package', sourceBranch: 'main' },
      true,
    );
  });

  it('admits it with the builder pinned at its release tag, and with the bare builder id', async () => {
    for (const id of [`${GENERATOR_WORKFLOW}@refs/tags/v2.1.0`, GENERATOR_WORKFLOW]) {
      const { code, result } = await verifyWith({
        minBuildLevel: 3,
        builders: [{ id }],
        source: { repository: IMAGE.sourceRepository },
      });
      expect(code, id).toBe(0);
      expect(result.attestations[0]?.slsa?.level).toBe(3);
      await expectSlsaVerifier(
        { sourceUri: 'github.com/slsa-framework/example-package', builderId: id },
        true,
      );
    }
  });

  it.each([
    ['refs/heads/master', { sourceBranch: 'master' }],
    ['refs/tags/v1.2.3', { sourceTag: 'v1.2.3' }],
  ] as const)('denies it for ref %s with SLSA_SOURCE_MISMATCH', async (ref, flags) => {
    const { code, result, codes } = await verifyWith({
      source: { repository: IMAGE.sourceRepository, refs: [ref] },
    });
    expect(code).toBe(1);
    expect(codes).toEqual(['SLSA_SOURCE_MISMATCH']);
    expect(result.reasons[0]).toMatchObject({ policy: 'slsa3', authority: 'slsa-generator' });
    expect(result.reasons[0]?.message).toContain('refs/heads/main');
    expect(result.attestations[0]).toMatchObject({
      name: 'provenance',
      satisfied: false,
      slsa: { level: 3 },
    });
    await expectSlsaVerifier({ sourceUri: 'github.com/slsa-framework/example-package', ...flags }, false);
  });

  it.each(['github.com/slsa-framework/example-packageA', 'github.com/Aslsa-framework/example-package'])(
    'denies it for repository %s with SLSA_SOURCE_MISMATCH',
    async (repository) => {
      const { code, codes } = await verifyWith({ minBuildLevel: 3, source: { repository } });
      expect(code).toBe(1);
      expect(codes).toEqual(['SLSA_SOURCE_MISMATCH']);
      await expectSlsaVerifier({ sourceUri: repository }, false);
    },
  );

  it('denies it with SLSA_BUILDER_UNTRUSTED when only another builder is trusted', async () => {
    const untrusted =
      'https://github.com/slsa-framework/slsa-github-generator/.github/workflows/not-trusted.yml';
    const { code, codes, result } = await verifyWith({ builders: [{ id: untrusted }] });
    expect(code).toBe(1);
    expect(codes).toEqual(['SLSA_BUILDER_UNTRUSTED']);
    expect(result.reasons[0]?.message).toContain(untrusted);
    await expectSlsaVerifier(
      { sourceUri: 'github.com/slsa-framework/example-package', builderId: untrusted },
      false,
    );
  });

  it('denies it with SLSA_LEVEL_TOO_LOW at minBuildLevel 4', async () => {
    const { code, codes, result } = await verifyWith({ minBuildLevel: 4 });
    expect(code).toBe(1);
    expect(codes).toEqual(['SLSA_LEVEL_TOO_LOW']);
    expect(result.attestations[0]).toMatchObject({ satisfied: false, slsa: { level: 3 } });
  });

  it('does not count it for an authority whose identity it does not match (UNTRUSTED_SIGNER)', async () => {
    const generic =
      '^https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@.*$';
    const { code, codes, result } = await verifyWith(undefined, { authority: generatorAuthority(generic) });
    expect(code).toBe(1);
    expect(codes).toEqual(['UNTRUSTED_SIGNER']);
    expect(result.reasons[0]?.message).toContain(IMAGE.signer);
    const cosign = await cosignVerifyAttestation(
      3,
      {
        trustedRoot: PUBLIC_GOOD_ROOT,
        identity: { certificateOidcIssuer: IMAGE.issuer, certificateIdentityRegexp: generic },
      },
      served.digestRef,
      registry,
      { type: 'slsaprovenance' },
    );
    expect(cosign.verified, cosign.command).toBe(false);
  });

  it('measures maxAge from the Rekor time: ten years admits, a day denies with ATTESTATION_TOO_OLD', async () => {
    expect((await verifyWith(undefined, { maxAge: '87600h' })).code).toBe(0);
    const { code, codes, result } = await verifyWith(undefined, { maxAge: '24h' });
    expect(code).toBe(1);
    expect(codes).toEqual(['ATTESTATION_TOO_OLD']);
    expect(result.reasons[0]?.message).toContain(IMAGE.signedAt);
  });

  it('reports a missing signature and a met attestation requirement side by side', async () => {
    const { code, codes, result } = await verifyWith({ minBuildLevel: 3 }, { signatures: true });
    expect(code).toBe(1);
    expect(codes).toEqual(['NO_SIGNATURE']);
    expect(result.attestations[0]).toMatchObject({ satisfied: true });
  });

  it('requires a SBOM it does not have with ATTESTATION_MISSING, naming what was found', async () => {
    const { code, codes, result } = await verifyWith(undefined, { predicateType: 'spdx' });
    expect(code).toBe(1);
    expect(codes).toEqual(['ATTESTATION_MISSING']);
    expect(result.reasons[0]?.message).toContain('https://slsa.dev/provenance/v0.2');
  });
});
