import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AttestationRequirementSpec } from '../../../src/attestation/types.js';
import type { AuthoritySpec } from '../../../src/policy/types.js';
import { verifyAttested, writeAttestationPolicy } from '../../support/attestation-policy.js';
import {
  cosignAttest,
  cosignAttestKeyless,
  cosignVerifyAttestation,
  type AttestationTrust,
  type CosignPredicateType,
} from '../../support/cosign-attestation.js';
import { generateKeyPair, type CosignKeyPair, type CosignVersion } from '../../support/cosign.js';
import { digestTag, pushRandomImage, tagManifest, type PushedImage } from '../../support/images.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import {
  GITHUB_ACTIONS_ISSUER,
  githubActionsIdentity,
  startPrivateSigstore,
  type PrivateSigstore,
} from '../../support/sigstore.js';

// Attestations made by real cosign 2 (legacy `.att` tags) and cosign 3 (bundles as OCI referrers), with a key
// offline and keylessly against a private Sigstore, judged by `provenant verify` against a real registry.
// Each policy rule is shown to allow and to deny; wherever cosign can judge the same question (signature,
// signer, subject digest, predicate type present), `cosign verify-attestation` must agree.

const PREDICATES = {
  provenanceV02: 'slsa-provenance-v0.2',
  provenanceV1: 'slsa-provenance-v1',
  spdx: 'spdx',
  cyclonedx: 'cyclonedx',
  vuln: 'vuln',
} as const;
const predicate = (name: keyof typeof PREDICATES): string =>
  fileURLToPath(new URL(`../../fixtures/predicates/${PREDICATES[name]}.json`, import.meta.url));

/** The commit the fixtures' provenance names; the keyless identity runs at the same one. */
const COMMIT = '6f1e3b0c9d2a4e5f8a7b6c5d4e3f2a1b0c9d8e7f';
const GITHUB_IDENTITY = githubActionsIdentity({ repository: 'acme/app', sha: COMMIT });
const GITHUB_SUBJECT_REGEXP = '^https://github\\.com/acme/app/\\.github/workflows/[^@]+@refs/heads/main$';
const VULN = 'https://cosign.sigstore.dev/attestation/vuln/v1';

interface Attested {
  /** Key-signed (key `ci`): both provenance versions, SPDX, CycloneDX and a vulnerability scan. */
  readonly keyed: PushedImage;
  /** Key-signed SLSA v0.2 provenance only. */
  readonly provenanceOnly: PushedImage;
  /** Keyless (GitHub Actions identity, private Sigstore): SLSA v1 provenance and SPDX. */
  readonly keyless: PushedImage;
  /** Its attestation tags hold copies of `keyed`'s: valid attestations about another digest. */
  readonly copied: PushedImage;
  /** Key-signed provenance stored in `attestations/store-v<N>` (COSIGN_REPOSITORY). */
  readonly elsewhere: PushedImage;
  readonly store: string;
}

let registry: TestRegistry;
let sigstore: PrivateSigstore;
let ci: CosignKeyPair;
let release: CosignKeyPair;
const attested = new Map<CosignVersion, Attested>();

async function attestAll(
  version: CosignVersion,
  image: PushedImage,
  what: readonly [CosignPredicateType, keyof typeof PREDICATES][],
  signatureRepository?: string,
): Promise<void> {
  // One after another: cosign read-modify-writes one tag (or fallback index) per image.
  for (const [type, name] of what) {
    await cosignAttest(version, ci, image.digestRef, registry, {
      type,
      predicate: predicate(name),
      ...(signatureRepository !== undefined ? { signatureRepository } : {}),
    });
  }
}

async function seed(version: CosignVersion): Promise<Attested> {
  const ns = `attestations/cosign${version}`;
  const [keyed, provenanceOnly, keyless, copied, elsewhere] = await Promise.all([
    pushRandomImage(registry, ns, 'keyed'),
    pushRandomImage(registry, ns, 'provenance-only'),
    pushRandomImage(registry, ns, 'keyless'),
    pushRandomImage(registry, ns, 'copied'),
    pushRandomImage(registry, ns, 'elsewhere'),
  ]);
  const store = `${registry.host}/attestations/store-v${version}`;
  await Promise.all([
    attestAll(version, keyed, [
      ['slsaprovenance', 'provenanceV02'],
      ['slsaprovenance1', 'provenanceV1'],
      ['spdxjson', 'spdx'],
      ['cyclonedx', 'cyclonedx'],
      ['vuln', 'vuln'],
    ]),
    attestAll(version, provenanceOnly, [['slsaprovenance', 'provenanceV02']]),
    attestAll(version, elsewhere, [['slsaprovenance', 'provenanceV02']], store),
    (async () => {
      for (const [type, name] of [
        ['slsaprovenance1', 'provenanceV1'],
        ['spdxjson', 'spdx'],
      ] as const) {
        await cosignAttestKeyless(version, sigstore, keyless.digestRef, registry, {
          identity: GITHUB_IDENTITY,
          type,
          predicate: predicate(name),
        });
      }
    })(),
  ]);
  // The copies: cosign 2's `.att` manifest, or cosign 3's referrers fallback index, retagged for `copied`.
  const suffix = version === 2 ? '.att' : '';
  await tagManifest(
    registry,
    `${keyed.repository}:${digestTag(keyed.digest)}${suffix}`,
    `${digestTag(copied.digest)}${suffix}`,
  );
  return { keyed, provenanceOnly, keyless, copied, elsewhere, store };
}

beforeAll(async () => {
  [registry, sigstore, ci, release] = await Promise.all([
    startRegistry(),
    startPrivateSigstore({ name: 'attest-test' }),
    generateKeyPair('ecdsa-p256'),
    generateKeyPair('ecdsa-p256'),
  ]);
  for (const version of [2, 3] as const) attested.set(version, await seed(version));
});

afterAll(async () => {
  await Promise.all([registry?.stop(), sigstore?.stop()]);
});

const keyAuthority = (name: string, key: CosignKeyPair): AuthoritySpec => ({
  name,
  key: { publicKey: key.publicKeyPem },
});
const AUTHORITIES = (): AuthoritySpec[] => [keyAuthority('ci', ci), keyAuthority('release', release)];
const githubAuthority = (subjectRegExp = GITHUB_SUBJECT_REGEXP): AuthoritySpec => ({
  name: 'github-ci',
  keyless: { trustRoot: 'private', identities: [{ issuer: GITHUB_ACTIONS_ISSUER, subjectRegExp }] },
});

type Requirement = Omit<AttestationRequirementSpec, 'name' | 'authorities'> & {
  readonly name?: string;
  readonly authorities?: readonly string[];
};

async function verify(
  image: PushedImage,
  requirements: readonly Requirement[],
  options: { authorities?: AuthoritySpec[]; signatureRepository?: string } = {},
) {
  const policy = await writeAttestationPolicy({
    name: 'attested',
    glob: `${registry.host}/attestations/**`,
    authorities: options.authorities ?? AUTHORITIES(),
    attestations: requirements.map((r, i) => ({
      ...r,
      name: r.name ?? `req-${i}`,
      authorities: r.authorities ?? ['ci'],
    })),
    ...(options.signatureRepository !== undefined
      ? { signatureRepository: options.signatureRepository }
      : {}),
  });
  return verifyAttested(image.digestRef, policy, registry.host, [
    '--trust-root',
    `private=${sigstore.trustedRootPath}`,
  ]);
}

/** cosign's own verdict on the same attestation, which must equal `expected`. */
async function expectCosign(
  version: CosignVersion,
  image: PushedImage,
  type: CosignPredicateType,
  trust: AttestationTrust,
  expected: boolean,
  signatureRepository?: string,
): Promise<void> {
  const result = await cosignVerifyAttestation(version, trust, image.digestRef, registry, {
    type,
    ...(signatureRepository !== undefined ? { signatureRepository } : {}),
  });
  expect(result.verified, `${result.command}\n${result.stderr}`).toBe(expected);
}

const keyTrust = (key: CosignKeyPair): AttestationTrust => ({ key: key.publicKeyPath });

describe.each([2, 3] as const)('cosign %i attest', (version) => {
  const s = (): Attested => {
    const found = attested.get(version);
    if (found === undefined) throw new Error(`cosign ${version} attestations were not seeded`);
    return found;
  };

  describe('key-signed SLSA provenance', () => {
    it('is SLSA Build L1: minBuildLevel 1 admits, with its source checked', async () => {
      const { code, result } = await verify(s().keyed, [
        {
          name: 'provenance',
          predicateType: 'slsa-provenance-v0.2',
          slsa: {
            minBuildLevel: 1,
            source: { repository: 'https://github.com/acme/*', refs: ['refs/heads/main'] },
          },
        },
      ]);
      expect(code).toBe(0);
      expect(result.attestations).toEqual([
        expect.objectContaining({
          name: 'provenance',
          satisfied: true,
          predicateType: 'https://slsa.dev/provenance/v0.2',
          authority: 'ci',
          slsa: expect.objectContaining({
            level: 1,
            builder: 'https://tekton.dev/chains/v2',
            repository: 'https://github.com/acme/app',
            ref: 'refs/heads/main',
            commit: COMMIT,
          }) as unknown,
        }),
      ]);
      await expectCosign(version, s().keyed, 'slsaprovenance', keyTrust(ci), true);
    });

    it('is denied at minBuildLevel 2 with SLSA_LEVEL_TOO_LOW', async () => {
      const { code, codes } = await verify(s().keyed, [
        { predicateType: 'slsa-provenance', slsa: { minBuildLevel: 2 } },
      ]);
      expect(code).toBe(1);
      expect(new Set(codes)).toEqual(new Set(['SLSA_LEVEL_TOO_LOW', 'SLSA_BUILDER_UNTRUSTED']));
    });

    it('cannot claim a GitHub workflow builder with a key: SLSA_BUILDER_UNTRUSTED', async () => {
      const { code, codes, result } = await verify(s().keyed, [
        { predicateType: 'slsa-provenance-v1', slsa: { minBuildLevel: 1 } },
      ]);
      expect(code).toBe(1);
      expect(codes).toEqual(['SLSA_BUILDER_UNTRUSTED']);
      expect(result.reasons[0]?.message).toContain('https://github.com/acme/app/.github/workflows/build.yml');
      // Without SLSA checks, its presence alone is what is asked, and it is there (cosign agrees).
      expect((await verify(s().keyed, [{ predicateType: 'slsa-provenance-v1' }])).code).toBe(0);
      await expectCosign(version, s().keyed, 'slsaprovenance1', keyTrust(ci), true);
    });

    it('a wrong source repository is SLSA_SOURCE_MISMATCH', async () => {
      const { codes } = await verify(s().keyed, [
        { predicateType: 'slsa-provenance-v0.2', slsa: { source: { repository: 'github.com/acme/other' } } },
      ]);
      expect(codes).toEqual(['SLSA_SOURCE_MISMATCH']);
    });
  });

  describe('SBOMs', () => {
    it('admits an image with SPDX and CycloneDX SBOMs', async () => {
      const { code, result } = await verify(s().keyed, [
        { name: 'spdx', predicateType: 'spdx' },
        { name: 'cyclonedx', predicateType: 'cyclonedx' },
      ]);
      expect(code).toBe(0);
      expect(result.attestations.map((a) => [a.name, a.satisfied, a.predicateType])).toEqual([
        ['spdx', true, 'https://spdx.dev/Document'],
        ['cyclonedx', true, 'https://cyclonedx.org/bom'],
      ]);
      await expectCosign(version, s().keyed, 'spdxjson', keyTrust(ci), true);
      await expectCosign(version, s().keyed, 'cyclonedx', keyTrust(ci), true);
    });

    it('denies an image without one with ATTESTATION_MISSING', async () => {
      const { code, codes, result } = await verify(s().provenanceOnly, [{ predicateType: 'spdx' }]);
      expect(code).toBe(1);
      expect(codes).toEqual(['ATTESTATION_MISSING']);
      expect(result.reasons[0]?.message).toContain('https://slsa.dev/provenance/v0.2');
      await expectCosign(version, s().provenanceOnly, 'spdxjson', keyTrust(ci), false);
    });
  });

  describe('CEL conditions', () => {
    it.each([
      ['spdx', 'size(predicate.packages) == 3 && predicate.spdxVersion == "SPDX-2.3"', true],
      ['spdx', 'predicate.packages.exists(p, p.name == "openssl")', false],
      [VULN, 'predicate.scanner.result.Summary.CRITICAL == 0', true],
      [VULN, 'predicate.scanner.result.Summary.HIGH == 0', false],
      ['cyclonedx', 'predicate.components.all(c, c.licenses.size() > 0)', true],
      ['slsa-provenance-v0.2', 'image.digest in statement.subject.map(s, "sha256:" + s.digest.sha256)', true],
    ] as const)('%s: `%s` is %s', async (predicateType, expression, holds) => {
      const { code, codes } = await verify(s().keyed, [
        { predicateType, conditions: [{ expression, message: 'policy condition' }] },
      ]);
      expect(code).toBe(holds ? 0 : 1);
      expect(codes).toEqual(holds ? [] : ['CONDITION_FAILED']);
    });
  });

  describe('maxAge', () => {
    it('measures a key-signed SBOM from the time it states it was created, the only time a key vouches for', async () => {
      // test/fixtures/predicates/spdx.json: creationInfo.created 2026-11-20T10:17:02Z.
      const createdAt = Date.parse('2026-11-20T10:17:02Z');
      const within = `${Math.ceil((Date.now() - createdAt) / 3_600_000) + 1}h`;
      const young = await verify(s().keyed, [{ predicateType: 'spdx', maxAge: within }]);
      expect(young.codes).toEqual([]);
      const { code, codes, result } = await verify(s().keyed, [{ predicateType: 'spdx', maxAge: '1h' }]);
      expect(code).toBe(1);
      expect(codes).toEqual(['ATTESTATION_TOO_OLD']);
      expect(JSON.stringify(result.reasons)).toContain('made (as its predicate states) 2026-11-20T10:17:02');
    });

    it('measures a keyless attestation from its transparency-log time', async () => {
      const requirement = (maxAge: string): Requirement => ({
        predicateType: 'spdx',
        authorities: ['github-ci'],
        maxAge,
      });
      const fresh = await verify(s().keyless, [requirement('1h')], { authorities: [githubAuthority()] });
      expect(fresh.code).toBe(0);
      const signedAt = Date.parse(fresh.result.attestations[0]?.signedAt ?? '');
      expect(Date.now() - signedAt).toBeLessThan(10 * 60_000);
      const stale = await verify(s().keyless, [requirement('1ms')], { authorities: [githubAuthority()] });
      expect(stale.codes).toEqual(['ATTESTATION_TOO_OLD']);
    });
  });

  describe('keyless GitHub Actions provenance (private Sigstore)', () => {
    const requirement = (minBuildLevel: number): Requirement => ({
      predicateType: 'slsa-provenance',
      authorities: ['github-ci'],
      slsa: { minBuildLevel, source: { repository: 'github.com/acme/app', refs: ['refs/heads/main'] } },
    });

    it('is SLSA Build L2 (a GitHub workflow attesting its own run), with its source from the certificate', async () => {
      const { code, result } = await verify(s().keyless, [requirement(2)], {
        authorities: [githubAuthority()],
      });
      expect(code).toBe(0);
      expect(result.attestations[0]).toMatchObject({
        satisfied: true,
        signer: GITHUB_IDENTITY.subject,
        slsa: { level: 2, repository: 'https://github.com/acme/app', ref: 'refs/heads/main', commit: COMMIT },
      });
      await expectCosign(
        version,
        s().keyless,
        'slsaprovenance1',
        {
          sigstore,
          identity: {
            certificateOidcIssuer: GITHUB_ACTIONS_ISSUER,
            certificateIdentityRegexp: GITHUB_SUBJECT_REGEXP,
          },
        },
        true,
      );
    });

    it('is denied at minBuildLevel 3 with SLSA_LEVEL_TOO_LOW', async () => {
      const { codes } = await verify(s().keyless, [requirement(3)], { authorities: [githubAuthority()] });
      expect(codes).toEqual(['SLSA_LEVEL_TOO_LOW']);
    });

    it('does not count for an identity the authority does not allow (UNTRUSTED_SIGNER)', async () => {
      const other = '^https://github\\.com/acme/other/.*$';
      const { codes } = await verify(s().keyless, [requirement(1)], {
        authorities: [githubAuthority(other)],
      });
      expect(codes).toEqual(['UNTRUSTED_SIGNER']);
      await expectCosign(
        version,
        s().keyless,
        'slsaprovenance1',
        {
          sigstore,
          identity: { certificateOidcIssuer: GITHUB_ACTIONS_ISSUER, certificateIdentityRegexp: other },
        },
        false,
      );
    });
  });

  describe('attestations that never count', () => {
    it('one copied from another image: DIGEST_MISMATCH, and the image it was made for is still admitted', async () => {
      const { code, result } = await verify(s().copied, [{ predicateType: 'spdx' }]);
      expect(code).toBe(1);
      expect(result.reasons).toEqual([
        expect.objectContaining({ policy: 'attested', authority: 'ci', code: 'DIGEST_MISMATCH' }),
      ]);
      expect(result.reasons[0]?.message).toContain(s().keyed.digest);
      await expectCosign(version, s().copied, 'spdxjson', keyTrust(ci), false);
      expect((await verify(s().keyed, [{ predicateType: 'spdx' }])).code).toBe(0);
    });

    it('one signed by an authority the requirement does not name: UNTRUSTED_SIGNER', async () => {
      const { code, result } = await verify(s().keyed, [{ predicateType: 'spdx', authorities: ['release'] }]);
      expect(code).toBe(1);
      expect(result.reasons.map((r) => r.code)).toEqual(['UNTRUSTED_SIGNER']);
      expect(result.reasons[0]?.message).toContain('authority ci');
      await expectCosign(version, s().keyed, 'spdxjson', keyTrust(release), false);
    });

    it('one signed by no authority of the policy: UNTRUSTED_SIGNER for the named authority', async () => {
      const { code, result } = await verify(
        s().keyed,
        [{ predicateType: 'spdx', authorities: ['release'] }],
        {
          authorities: [keyAuthority('release', release)],
        },
      );
      expect(code).toBe(1);
      expect(result.reasons).toEqual([
        expect.objectContaining({ authority: 'release', code: 'UNTRUSTED_SIGNER' }),
      ]);
    });
  });

  it('finds attestations in the policy signatureRepository (COSIGN_REPOSITORY)', async () => {
    const { elsewhere, store } = s();
    const repository = store.slice(registry.host.length + 1);
    const found = await verify(elsewhere, [{ predicateType: 'slsa-provenance' }], {
      signatureRepository: `${registry.host}/${repository}`,
    });
    expect(found.code).toBe(0);
    const missing = await verify(elsewhere, [{ predicateType: 'slsa-provenance' }]);
    expect(missing.codes).toEqual(['ATTESTATION_MISSING']);
    await expectCosign(version, elsewhere, 'slsaprovenance', keyTrust(ci), true, store);
  });
});
