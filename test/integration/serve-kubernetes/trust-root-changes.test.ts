/**
 * `provenant serve --kubernetes` against a real kube-apiserver: a verdict cached under a TrustRoot does not
 * outlive the TrustRoot. An inline TrustRoot holding the public-good root admits the real public-good
 * signature (and the second admission is served from the cache, without registry requests); edited to hold
 * GitHub's root, the very next admission is denied; removed, it is denied too. The cache TTL is the default
 * 10 minutes, so nothing here expires by itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../e2e/harness/index.js';
import { fixtureJson } from '../../support/fixtures.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import {
  pushRealKeylessSignature,
  REAL_SIGNER,
  type ServedSignature,
} from '../keyless/real-keyless-signature.js';
import { applyObject, kubectlOk, startClusterWithCrds } from '../kube/helpers.js';
import { podReview } from '../webhook/reviews.js';
import { startServe, type ServeProcess } from '../webhook/serve-process.js';

let registry: TestRegistry;
let served: ServedSignature;
let cluster: Cluster;
let server: ServeProcess;

const trustRoot = (fixture: 'public-good' | 'github') => ({
  apiVersion: 'provenant.dev/v1alpha1',
  kind: 'TrustRoot',
  metadata: { name: 'corp' },
  spec: { trustedRoot: fixtureJson(`real/trusted-root/${fixture}/trusted_root.json`) },
});

beforeAll(async () => {
  registry = await startRegistry();
  served = await pushRealKeylessSignature(registry);
  cluster = await startClusterWithCrds();
  await applyObject(cluster, trustRoot('public-good'));
  await applyObject(cluster, {
    apiVersion: 'provenant.dev/v1alpha1',
    kind: 'ClusterImagePolicy',
    metadata: { name: 'corp-signed' },
    spec: {
      images: [{ glob: `${registry.host}/**` }],
      authorities: [{ name: 'signer', keyless: { trustRoot: 'corp', identities: [{ ...REAL_SIGNER }] } }],
      signatures: { threshold: 1 },
    },
  });
  server = await startServe([
    '--kubernetes',
    '--kubeconfig',
    cluster.kubeconfigPath,
    '--insecure-registry',
    registry.host,
  ]);
});

afterAll(async () => {
  await server?.stop('SIGKILL');
  await cluster?.stop();
  await registry?.stop();
});

const admit = () => server.review('/validate', podReview([{ name: 'app', image: served.digestRef }]));
const causes = (response: Awaited<ReturnType<typeof admit>>) =>
  response.status?.details.causes.map((c) => c.reason);

/** Applies a change and waits until the server has swapped in the trust store it leads to. */
async function changeTrust(change: () => Promise<unknown>): Promise<void> {
  const since = server.logs.length;
  await change();
  await server.waitForLog((l) => l['msg'] === 'trust store replaced', { since, timeoutMs: 30_000 });
}

describe('serve --kubernetes: TrustRoot changes reach cached verdicts', () => {
  it('admits under the TrustRoot, from the cache the second time', async () => {
    await expect.poll(async () => (await admit()).allowed, { timeout: 30_000, interval: 250 }).toBe(true);
    const before = await server.registryRequests();
    expect((await admit()).allowed).toBe(true);
    expect(await server.registryRequests()).toBe(before);
  });

  it('denies the next admission once the TrustRoot holds another root', async () => {
    await changeTrust(() => applyObject(cluster, trustRoot('github')));
    const response = await admit();
    expect(response.allowed).toBe(false);
    expect(causes(response)).toEqual(['UNTRUSTED_SIGNER']);
  });

  it('admits again when the original root is back, and denies once the TrustRoot is removed', async () => {
    await changeTrust(() => applyObject(cluster, trustRoot('public-good')));
    expect((await admit()).allowed).toBe(true);

    await changeTrust(() => kubectlOk(cluster, ['delete', 'trustroot', 'corp']));
    const response = await admit();
    expect(response.allowed).toBe(false);
    expect(response.status?.message).toContain('corp');
  });
});
