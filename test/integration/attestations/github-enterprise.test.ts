import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GithubInstance } from '../../../src/attestation/types.js';
import { verifyAttested, writeAttestationPolicy } from '../../support/attestation-policy.js';
import { cosignAttestKeyless } from '../../support/cosign-attestation.js';
import { pushRandomImage, type PushedImage } from '../../support/images.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { githubActionsIdentity, startPrivateSigstore, type PrivateSigstore } from '../../support/sigstore.js';

// A GitHub Enterprise Server instance's artifact attestation, through the whole pipeline: real cosign 3 attests
// the GitHub workflow provenance under a Fulcio certificate for the instance's own Actions issuer and host (the
// private Sigstore derives its extensions from the token claims, server_url included, as Fulcio does).

const GHE: GithubInstance = {
  issuer: 'https://ghe.example.com/_services/token',
  url: 'https://ghe.example.com',
};
const COMMIT = '6f1e3b0c9d2a4e5f8a7b6c5d4e3f2a1b0c9d8e7f';

let registry: TestRegistry;
let sigstore: PrivateSigstore;
let image: PushedImage;

async function verify(minBuildLevel: number, githubEnterprise?: GithubInstance[]) {
  const policy = await writeAttestationPolicy({
    glob: `${registry.host}/**`,
    authorities: [
      {
        name: 'ghe-ci',
        keyless: {
          trustRoot: 'private',
          identities: [{ issuer: GHE.issuer, subjectRegExp: '^https://ghe\\.example\\.com/acme/app/.+$' }],
        },
      },
    ],
    attestations: [
      {
        name: 'provenance',
        predicateType: 'slsa-provenance',
        authorities: ['ghe-ci'],
        slsa: {
          minBuildLevel,
          source: { repository: 'https://ghe.example.com/acme/app', refs: ['refs/heads/main'] },
          ...(githubEnterprise ? { githubEnterprise } : {}),
        },
      },
    ],
  });
  return verifyAttested(image.ref, policy, registry.host, [
    '--trust-root',
    `private=${sigstore.trustedRootPath}`,
  ]);
}

beforeAll(async () => {
  [registry, sigstore] = await Promise.all([startRegistry(), startPrivateSigstore()]);
  image = await pushRandomImage(registry, 'ghe/app', 'v1');
  const predicate = (
    await readFile(new URL('../../fixtures/predicates/slsa-provenance-v1.json', import.meta.url), 'utf8')
  ).replaceAll('https://github.com/', `${GHE.url}/`);
  const predicatePath = join(await mkdtemp(join(tmpdir(), 'provenant-ghe-')), 'predicate.json');
  await writeFile(predicatePath, predicate);
  const github = githubActionsIdentity({ repository: 'acme/app', sha: COMMIT });
  const identity = {
    ...github,
    issuer: GHE.issuer,
    subject: github.subject.replace('https://github.com/', `${GHE.url}/`),
    claims: { ...github.claims, server_url: GHE.url },
  };
  await cosignAttestKeyless(3, sigstore, image.digestRef, registry, {
    type: 'slsaprovenance1',
    predicate: predicatePath,
    identity,
  });
});

afterAll(async () => {
  await sigstore?.stop();
  await registry?.stop();
});

describe('GitHub Enterprise artifact attestations', () => {
  it('are rated like github.com (Build L2) once the instance is listed in slsa.githubEnterprise', async () => {
    const { codes, result } = await verify(2, [GHE]);
    expect(codes, JSON.stringify(result.reasons)).toEqual([]);
    expect(result.attestations[0]?.slsa).toMatchObject({
      level: 2,
      repository: 'https://ghe.example.com/acme/app',
      ref: 'refs/heads/main',
      commit: COMMIT,
      levelBasis: expect.stringContaining('from https://ghe.example.com'),
    });
  });

  it('are an unknown builder (L1) without it', async () => {
    expect((await verify(2)).codes).toEqual(['SLSA_LEVEL_TOO_LOW']);
    expect((await verify(1)).codes).toEqual([]);
  });
});
