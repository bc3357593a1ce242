import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthoritySpec } from '../../../src/policy/types.js';
import { verifyAttested, writeAttestationPolicy } from '../../support/attestation-policy.js';
import { cosignAttest } from '../../support/cosign-attestation.js';
import { generateKeyPair, type CosignKeyPair } from '../../support/cosign.js';
import { pushRandomImage, type PushedImage } from '../../support/images.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';

// A `slsa.builders` entry with a level, in a requirement that accepts two authorities: the level is meant for
// provenance from one of them (here `chains`, the Tekton Chains key), yet the other (`ci`, a CI job's key)
// signs a provenance naming the same builder.id. The fixture provenance names https://tekton.dev/chains/v2.

const PROVENANCE = fileURLToPath(
  new URL('../../fixtures/predicates/slsa-provenance-v0.2.json', import.meta.url),
);

let registry: TestRegistry;
let ci: CosignKeyPair;
let chains: CosignKeyPair;
const images = new Map<2 | 3, PushedImage>();

beforeAll(async () => {
  [registry, ci, chains] = await Promise.all([
    startRegistry(),
    generateKeyPair('ecdsa-p256'),
    generateKeyPair('ecdsa-p256'),
  ]);
  for (const version of [2, 3] as const) {
    const image = await pushRandomImage(registry, `builder-authority/cosign${version}`, 'app');
    await cosignAttest(version, ci, image.digestRef, registry, {
      type: 'slsaprovenance',
      predicate: PROVENANCE,
    });
    images.set(version, image);
  }
});

afterAll(async () => {
  await registry?.stop();
});

const authorities = (): AuthoritySpec[] => [
  { name: 'ci', key: { publicKey: ci.publicKeyPem } },
  { name: 'chains', key: { publicKey: chains.publicKeyPem } },
];

const policyFor = (builder: { level?: number; authorities?: string[] }) =>
  writeAttestationPolicy({
    glob: `${registry.host}/builder-authority/**`,
    authorities: authorities(),
    attestations: [
      {
        name: 'provenance',
        predicateType: 'slsa-provenance',
        authorities: ['ci', 'chains'],
        slsa: { minBuildLevel: 3, builders: [{ id: 'https://tekton.dev/chains/v2', ...builder }] },
      },
    ],
  });

describe.each([2, 3] as const)('cosign %i: a builder level claimed by another authority', (version) => {
  const image = (): PushedImage => {
    const found = images.get(version);
    if (found === undefined) throw new Error(`cosign ${version} image was not seeded`);
    return found;
  };

  it('is not granted by an entry that names no authority, when the requirement has several', async () => {
    const { code, codes, result } = await verifyAttested(
      image().digestRef,
      await policyFor({ level: 3 }),
      registry.host,
    );
    expect(code).toBe(1);
    expect(codes).toEqual(['SLSA_LEVEL_TOO_LOW']);
    expect(result.attestations[0]?.slsa).toEqual(
      expect.objectContaining({ level: 1, builder: 'https://tekton.dev/chains/v2' }),
    );
  });

  it('is refused by an entry that names another authority', async () => {
    const { code, codes, raw } = await verifyAttested(
      image().digestRef,
      await policyFor({ level: 3, authorities: ['chains'] }),
      registry.host,
    );
    expect(code).toBe(1);
    expect(codes).toEqual(['SLSA_BUILDER_UNTRUSTED']);
    expect(raw.stdout).toContain('signed by authority ci; that builder is accepted from chains');
  });

  it('is granted by an entry that names the authority that signed', async () => {
    const { code, result } = await verifyAttested(
      image().digestRef,
      await policyFor({ level: 3, authorities: ['ci'] }),
      registry.host,
    );
    expect(code).toBe(0);
    expect(result.attestations[0]?.slsa).toEqual(expect.objectContaining({ level: 3 }));
  });
});
