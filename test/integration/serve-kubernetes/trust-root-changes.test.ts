/**
 * `provenant serve --kubernetes` against a real kube-apiserver: a verdict cached under a TrustRoot does not
 * outlive the TrustRoot. An inline TrustRoot holding the public-good root admits the real public-good
 * signature (and the second admission is served from the cache, without registry requests); edited to hold
 * GitHub's root, the very next admission is denied; removed, it is denied too. A TUF TrustRoot whose mirror
 * starts serving GitHub's root denies the next admission once that root has been fetched. The cache TTL is
 * the default 10 minutes, so nothing here expires by itself.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../e2e/harness/index.js';
import { fixtureBytes, fixtureJson } from '../../support/fixtures.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import {
  pushRealKeylessSignature,
  REAL_SIGNER,
  type ServedSignature,
} from '../keyless/real-keyless-signature.js';
import { applyObject, kubectlOk, startClusterWithCrds } from '../kube/helpers.js';
import { startTufRepository, type TufRepository } from '../tuf/tuf-repository.js';
import { podReview } from '../webhook/reviews.js';
import { startServe, type ServeProcess } from '../webhook/serve-process.js';

let registry: TestRegistry;
let served: ServedSignature;
let viaTuf: ServedSignature;
let mirror: TufRepository;
let cluster: Cluster;
let server: ServeProcess;
let tmp: string;
const savedTmpdir = process.env['TMPDIR'];

const trustRoot = (fixture: 'public-good' | 'github') => ({
  apiVersion: 'provenant.dev/v1alpha1',
  kind: 'TrustRoot',
  metadata: { name: 'corp' },
  spec: { trustedRoot: fixtureJson(`real/trusted-root/${fixture}/trusted_root.json`) },
});

const tufTrustRoot = (refreshInterval: string) => ({
  apiVersion: 'provenant.dev/v1alpha1',
  kind: 'TrustRoot',
  metadata: { name: 'corp-tuf' },
  spec: { tuf: { mirror: mirror.url, root: mirror.initialRoot.toString('base64'), refreshInterval } },
});

const keylessPolicy = (name: string, glob: string, trustRoot: string) => ({
  apiVersion: 'provenant.dev/v1alpha1',
  kind: 'ClusterImagePolicy',
  metadata: { name },
  spec: {
    images: [{ glob }],
    authorities: [{ name: 'signer', keyless: { trustRoot, identities: [{ ...REAL_SIGNER }] } }],
    signatures: { threshold: 1 },
  },
});

beforeAll(async () => {
  registry = await startRegistry();
  served = await pushRealKeylessSignature(registry);
  viaTuf = await pushRealKeylessSignature(registry, 'via-tuf/rekor-test');
  mirror = await startTufRepository(fixtureBytes('real/trusted-root/public-good/trusted_root.json'));
  cluster = await startClusterWithCrds();
  await applyObject(cluster, trustRoot('public-good'));
  await applyObject(cluster, tufTrustRoot('24h'));
  await applyObject(cluster, keylessPolicy('corp-signed', `${registry.host}/phbelitz/**`, 'corp'));
  await applyObject(cluster, keylessPolicy('tuf-signed', `${registry.host}/via-tuf/**`, 'corp-tuf'));
  // The TUF cache goes under the OS temp dir; keep this run's apart.
  tmp = await mkdtemp(join(tmpdir(), 'provenant-trust-changes-'));
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
  await mirror?.stop();
  await registry?.stop();
  if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
});

const admit = (image = served.digestRef) => server.review('/validate', podReview([{ name: 'app', image }]));
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

describe('serve --kubernetes: a TUF TrustRoot fetched anew reaches cached verdicts', () => {
  it('admits under the root its mirror serves, then denies once the mirror serves another', async () => {
    await expect
      .poll(async () => (await admit(viaTuf.digestRef)).allowed, { timeout: 30_000, interval: 250 })
      .toBe(true);
    const before = await server.registryRequests();
    expect((await admit(viaTuf.digestRef)).allowed).toBe(true);
    expect(await server.registryRequests()).toBe(before);

    mirror.publish(fixtureBytes('real/trusted-root/github/trusted_root.json'));
    // A new spec fetches at once, as the refresh timer would after refreshInterval.
    await changeTrust(() => applyObject(cluster, tufTrustRoot('23h')));
    const response = await admit(viaTuf.digestRef);
    expect(response.allowed).toBe(false);
    expect(causes(response)).toEqual(['UNTRUSTED_SIGNER']);
  });
});
