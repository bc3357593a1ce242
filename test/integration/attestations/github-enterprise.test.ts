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
/** Attested by a reusable workflow on the instance, with a token that states no runner environment. */
let reusable: PushedImage;
const RELEASE_WORKFLOW = `${GHE.url}/acme/ci/.github/workflows/release.yml@refs/tags/v1.0.0`;

async function verify(
  minBuildLevel: number,
  githubEnterprise?: GithubInstance[],
  target: PushedImage = image,
  builders?: { id: string; level: number }[],
) {
  const policy = await writeAttestationPolicy({
    glob: `${registry.host}/**`,
    authorities: [
      {
        name: 'ghe-ci',
        keyless: {
          trustRoot: 'private',
          identities: [{ issuer: GHE.issuer, subjectRegExp: '^https://ghe\\.example\\.com/acme/.+$' }],
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
          ...(builders ? { builders } : {}),
        },
      },
    ],
  });
  return verifyAttested(target.ref, policy, registry.host, [
    '--trust-root',
    `private=${sigstore.trustedRootPath}`,
  ]);
}

beforeAll(async () => {
  [registry, sigstore] = await Promise.all([startRegistry(), startPrivateSigstore()]);
  [image, reusable] = await Promise.all([
    pushRandomImage(registry, 'ghe/app', 'v1'),
    pushRandomImage(registry, 'ghe/released', 'v1'),
  ]);
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

  // The same build signed by a reusable workflow that acme/app called, as L3 builders are; the instance's
  // token has no runner_environment claim, so the certificate has no Runner Environment (.11) extension.
  const releasePredicate = join(await mkdtemp(join(tmpdir(), 'provenant-ghe-')), 'predicate.json');
  const parsed = JSON.parse(predicate) as { runDetails: { builder: { id: string } } };
  parsed.runDetails.builder.id = RELEASE_WORKFLOW;
  await writeFile(releasePredicate, JSON.stringify(parsed));
  const claims = Object.fromEntries(
    Object.entries(identity.claims ?? {}).filter(([name]) => name !== 'runner_environment'),
  );
  await cosignAttestKeyless(3, sigstore, reusable.digestRef, registry, {
    type: 'slsaprovenance1',
    predicate: releasePredicate,
    identity: {
      ...identity,
      subject: RELEASE_WORKFLOW,
      claims: { ...claims, job_workflow_ref: RELEASE_WORKFLOW.slice(`${GHE.url}/`.length) },
    },
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

  it('keep L3 from a listed reusable workflow only when the certificate names a GitHub-hosted runner', async () => {
    // GitHub Enterprise Server runners are the instance's own; a certificate that does not say where the
    // job ran does not show the isolation L3 asks for.
    const builders = [{ id: `${GHE.url}/acme/ci/.github/workflows/release.yml@refs/tags/v*`, level: 3 }];
    const { codes, result } = await verify(3, [GHE], reusable, builders);
    expect(codes, JSON.stringify(result.reasons)).toEqual(['SLSA_LEVEL_TOO_LOW']);
    const rated = await verify(2, [GHE], reusable, builders);
    expect(rated.codes, JSON.stringify(rated.result.reasons)).toEqual([]);
    expect(rated.result.attestations[0]?.slsa).toMatchObject({
      level: 2,
      builder: RELEASE_WORKFLOW,
      levelBasis: expect.stringContaining('runner'),
    });
  });

  it('are an unknown builder (L1) without it', async () => {
    expect((await verify(2)).codes).toEqual(['SLSA_LEVEL_TOO_LOW']);
    expect((await verify(1)).codes).toEqual([]);
  });
});
