import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAttested, writeAttestationPolicy } from '../../support/attestation-policy.js';
import { cosignAttestKeyless } from '../../support/cosign-attestation.js';
import { pushRandomImage, type PushedImage } from '../../support/images.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import {
  GITHUB_ACTIONS_ISSUER,
  githubActionsIdentity,
  startPrivateSigstore,
  type PrivateSigstore,
} from '../../support/sigstore.js';

// BYOB (Build Your Own Builder) provenance through the whole pipeline: the predicate of slsa-verifier's real
// BYOB test provenance (test/fixtures/slsa-byob), attested with real cosign 3 under a Fulcio certificate whose
// SAN is the slsa-github-generator delegator, as the BYOB framework signs, from a private Sigstore that issues
// GitHub Actions certificates with the same claims as that build's (repository, commit, ref).

const DELEGATOR =
  'slsa-framework/slsa-github-generator/.github/workflows/delegator_lowperms-generic_slsa3.yml';
const REPOSITORY = 'enteraga6/slsa-lvl3-generic-provenance-with-bazel-example';
const SHA = '7f23ac4783cb702a68c55f7955cc296fdd425dbb';
const TOOL =
  'https://github.com/slsa-framework/slsa-github-generator/.github/workflows/builder_bazel_slsa3.yml';

let registry: TestRegistry;
let sigstore: PrivateSigstore;
let predicatePath: string;
const images = {} as Record<'release' | 'branch', PushedImage>;

async function attestAs(image: PushedImage, delegatorRef: string): Promise<void> {
  const identity = githubActionsIdentity({
    repository: REPOSITORY,
    workflow: '.github/workflows/test-verifier-glob.yaml',
    sha: SHA,
    eventName: 'workflow_dispatch',
    jobWorkflowRef: `${DELEGATOR}@${delegatorRef}`,
  });
  await cosignAttestKeyless(3, sigstore, image.digestRef, registry, {
    type: 'slsaprovenance1',
    predicate: predicatePath,
    identity,
  });
}

async function verify(image: PushedImage, minBuildLevel: number, builders?: { id: string }[]) {
  const policy = await writeAttestationPolicy({
    glob: `${registry.host}/**`,
    authorities: [
      {
        name: 'byob',
        keyless: {
          trustRoot: 'private',
          identities: [
            {
              issuer: GITHUB_ACTIONS_ISSUER,
              subjectRegExp:
                '^https://github\\.com/slsa-framework/slsa-github-generator/\\.github/workflows/delegator_.+$',
            },
          ],
        },
      },
    ],
    attestations: [
      {
        name: 'provenance',
        predicateType: 'slsa-provenance',
        authorities: ['byob'],
        slsa: { minBuildLevel, ...(builders ? { builders } : {}) },
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
  const envelope = JSON.parse(
    await readFile(
      new URL('../../fixtures/slsa-byob/bazel-trusted-dsseEnvelope.build.slsa', import.meta.url),
      'utf8',
    ),
  ) as { payload: string };
  const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as {
    predicate: unknown;
  };
  predicatePath = join(await mkdtemp(join(tmpdir(), 'provenant-byob-')), 'predicate.json');
  await writeFile(predicatePath, JSON.stringify(statement.predicate));
  images.release = await pushRandomImage(registry, 'byob/release', 'v1');
  images.branch = await pushRandomImage(registry, 'byob/branch', 'v1');
  await attestAs(images.release, 'refs/tags/v1.8.0');
  await attestAs(images.branch, 'refs/heads/main');
});

afterAll(async () => {
  await sigstore?.stop();
  await registry?.stop();
});

describe('BYOB provenance (real predicate, real cosign, delegator certificate)', () => {
  it('is Build L3 when the delegator ran at a release tag; builder is the tool workflow', async () => {
    const { codes, result } = await verify(images.release, 3);
    expect(codes).toEqual([]);
    expect(result.attestations[0]?.slsa).toMatchObject({
      level: 3,
      builder: `${TOOL}@refs/tags/v1.8.0`,
      levelBasis: expect.stringContaining('BYOB'),
    });
  });

  it('policy builders match the tool workflow, as slsa-verifier --builder-id does', async () => {
    expect((await verify(images.release, 3, [{ id: `${TOOL}@refs/tags/v1.*` }])).codes).toEqual([]);
    expect((await verify(images.release, 3, [{ id: 'https://github.com/acme/**' }])).codes).toEqual([
      'SLSA_BUILDER_UNTRUSTED',
    ]);
  });

  it('is L1 when the delegator ran from a branch', async () => {
    expect((await verify(images.branch, 3)).codes).toEqual(['SLSA_LEVEL_TOO_LOW']);
    expect((await verify(images.branch, 1)).codes).toEqual([]);
  });
});
