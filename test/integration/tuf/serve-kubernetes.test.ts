/**
 * `provenant serve --kubernetes` against a real kube-apiserver with the chart's CRDs: a TrustRoot with
 * `spec.tuf` pointing at a real TUF repository on loopback (serving the public-good trusted_root.json) makes
 * a keyless policy naming it Ready, and the real public-good signature verifies through it; the same
 * signature judged under a TUF repository serving GitHub's root does not. A TrustRoot whose mirror is down
 * is Ready False with the reason, and the policy naming it stays in force: what it governs is denied with
 * TRUST_ROOT_UNAVAILABLE, even where another policy (here one that only audits) matches the same images.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../e2e/harness/index.js';
import { freePort } from '../../e2e/harness/index.js';
import { fixtureBytes } from '../../support/fixtures.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import {
  pushRealKeylessSignature,
  REAL_SIGNER,
  type ServedSignature,
} from '../keyless/real-keyless-signature.js';
import { pushRandomImage, type PushedImage } from '../../support/images.js';
import { applyObject, publicKeyPem, startClusterWithCrds } from '../kube/helpers.js';
import { podReview } from '../webhook/reviews.js';
import { startServe, type ServeProcess } from '../webhook/serve-process.js';
import { startTufRepository, type TufRepository } from './tuf-repository.js';

let registry: TestRegistry;
let served: ServedSignature;
let repo: TufRepository;
let githubRepo: TufRepository;
let servedAgain: ServedSignature;
let unsigned: PushedImage;
let signedElsewhere: ServedSignature;
let cluster: Cluster;
let server: ServeProcess;
let tmp: string;
const savedTmpdir = process.env['TMPDIR'];

function trustRoot(name: string, mirror: string, from = repo) {
  return {
    apiVersion: 'provenant.dev/v1alpha1',
    kind: 'TrustRoot',
    metadata: { name },
    spec: { tuf: { mirror, root: from.initialRoot.toString('base64') } },
  };
}

function keylessPolicy(name: string, glob: string, root: string) {
  return {
    apiVersion: 'provenant.dev/v1alpha1',
    kind: 'ClusterImagePolicy',
    metadata: { name },
    spec: {
      images: [{ glob }],
      authorities: [{ name: 'signer', keyless: { trustRoot: root, identities: [{ ...REAL_SIGNER }] } }],
      signatures: { threshold: 1 },
    },
  };
}

async function ready(
  resource: string,
  name: string,
): Promise<{ status: string; reason: string; message: string }> {
  const path = '{.status.conditions[?(@.type=="Ready")]}';
  const result = await cluster.kubectl(['get', resource, name, '-o', `jsonpath=${path}`]);
  return result.stdout === '' ? { status: '', reason: '', message: '' } : JSON.parse(result.stdout);
}

async function waitReady(resource: string, name: string, status: string) {
  await expect
    .poll(async () => (await ready(resource, name)).status, { timeout: 30_000, interval: 250 })
    .toBe(status);
  return ready(resource, name);
}

beforeAll(async () => {
  registry = await startRegistry();
  served = await pushRealKeylessSignature(registry);
  servedAgain = await pushRealKeylessSignature(registry, 'judged-by-github/rekor-test');
  unsigned = await pushRandomImage(registry, 'other/app', '1');
  // Signed by the real public-good signer: it would verify had the TrustRoot been fetched.
  signedElsewhere = await pushRealKeylessSignature(registry, 'other/rekor-test');
  repo = await startTufRepository(fixtureBytes('real/trusted-root/public-good/trusted_root.json'));
  githubRepo = await startTufRepository(fixtureBytes('real/trusted-root/github/trusted_root.json'));
  cluster = await startClusterWithCrds();
  const down = `http://127.0.0.1:${await freePort()}`;
  await applyObject(cluster, trustRoot('corp-tuf', repo.url));
  await applyObject(cluster, trustRoot('down-tuf', down));
  await applyObject(cluster, trustRoot('github-tuf', githubRepo.url, githubRepo));
  await applyObject(cluster, keylessPolicy('via-tuf', `${registry.host}/phbelitz/**`, 'corp-tuf'));
  await applyObject(cluster, keylessPolicy('via-down', `${registry.host}/other/**`, 'down-tuf'));
  // A second policy over the same images, as an inventory or a rollout would have: it only audits.
  await applyObject(cluster, {
    apiVersion: 'provenant.dev/v1alpha1',
    kind: 'ClusterImagePolicy',
    metadata: { name: 'inventory' },
    spec: {
      mode: 'Audit',
      images: [{ glob: `${registry.host}/other/**` }],
      authorities: [{ name: 'inventory', key: { publicKey: publicKeyPem() } }],
      signatures: { threshold: 1 },
    },
  });
  await applyObject(
    cluster,
    keylessPolicy('via-github', `${registry.host}/judged-by-github/**`, 'github-tuf'),
  );
  // The TUF cache goes under the OS temp dir (the chart's writable /tmp); keep this run's apart.
  tmp = await mkdtemp(join(tmpdir(), 'provenant-tuf-serve-'));
  process.env['TMPDIR'] = tmp;
  server = await startServe([
    '--kubernetes',
    '--kubeconfig',
    cluster.kubeconfigPath,
    '--insecure-registry',
    registry.host,
  ]);
});

afterAll(async () => {
  if (savedTmpdir === undefined) delete process.env['TMPDIR'];
  else process.env['TMPDIR'] = savedTmpdir;
  await server?.stop('SIGKILL');
  await cluster?.stop();
  await repo?.stop();
  await githubRepo?.stop();
  await registry?.stop();
  if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
});

describe('serve --kubernetes with TUF TrustRoots', () => {
  it('makes a keyless policy naming a TUF TrustRoot Ready, and verifies the real signature with it', async () => {
    expect(await waitReady('trustroot', 'corp-tuf', 'True')).toMatchObject({ reason: 'Valid' });
    expect(await waitReady('clusterimagepolicy', 'via-tuf', 'True')).toMatchObject({ reason: 'Valid' });
    expect(repo.requests).toContain(`GET ${repo.targetPath} 200`);

    const response = await server.review('/validate', podReview([{ name: 'app', image: served.digestRef }]));
    expect(response.status?.message ?? '').toBe('');
    expect(response.allowed).toBe(true);

    // Control: the trust really comes from the repository. Under GitHub's root the same signature fails.
    expect(await waitReady('clusterimagepolicy', 'via-github', 'True')).toMatchObject({ reason: 'Valid' });
    const denied = await server.review(
      '/validate',
      podReview([{ name: 'app', image: servedAgain.digestRef }]),
    );
    expect(denied.allowed).toBe(false);
    expect(denied.status?.details.causes.map((c) => c.reason)).toEqual(['UNTRUSTED_SIGNER']);
  });

  it('reports a TrustRoot whose mirror is unreachable, and keeps the policy naming it in force', async () => {
    const root = await waitReady('trustroot', 'down-tuf', 'False');
    expect(root.reason).toBe('TrustRootUnavailable');
    expect(root.message).toContain('ECONNREFUSED');
    expect(root.message).toContain('TRUST_ROOT_UNAVAILABLE');
    expect(await waitReady('clusterimagepolicy', 'via-down', 'True')).toMatchObject({ reason: 'Valid' });
    expect(
      server.logs.some(
        (l) => l['msg'] === 'fetching the TrustRoot failed; signatures checked against it are refused',
      ),
    ).toBe(true);
  });

  it('denies what a policy naming a TrustRoot never fetched governs, whatever else matches', async () => {
    await waitReady('trustroot', 'down-tuf', 'False');
    // Before the fix the policy dropped out of the set, and the Audit policy alone admitted both.
    const signed = await server.review(
      '/validate',
      podReview([{ name: 'app', image: signedElsewhere.digestRef }]),
    );
    expect(signed.allowed).toBe(false);
    expect(signed.status?.details.causes.map((c) => c.reason)).toEqual(['TRUST_ROOT_UNAVAILABLE']);
    expect(signed.status?.message).toContain('no copy of trusted_root.json has been verified yet');

    const bare = await server.review('/validate', podReview([{ name: 'app', image: unsigned.digestRef }]));
    expect(bare.allowed).toBe(false);
    expect(bare.status?.details.causes.map((c) => c.reason)).toEqual(['NO_SIGNATURE']);
  });
});
