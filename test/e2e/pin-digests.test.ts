// `--pin-digests pods` end to end, as the chart runs it with `admission.pinDigests=pods`: kubectl creates a
// Deployment and a Job whose templates keep the tags their manifests name (what a GitOps tool compares with
// Git; a Job's template is immutable), while a Pod is still pinned to the verified digest. A real
// kube-apiserver calling `provenant serve --kubernetes` through the chart's webhook configurations.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTools } from '../chart/support.js';
import { cosignSign, generateKeyPair } from '../support/cosign.js';
import { pushRandomImage, type PushedImage } from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { type Cluster, startCluster, waitFor } from './harness/index.js';
import { RELEASE, installProvenant, type Provenant } from './support/provenant.js';

let cluster: Cluster | undefined;
let registry: TestRegistry | undefined;
let provenant: Provenant | undefined;
let signed: PushedImage;
const NS = 'gitops';

const kubectl = (args: string[], input?: string) =>
  cluster!.kubectl(['-n', NS, ...args], input === undefined ? {} : { input });

async function image(what: string[], path: string): Promise<string> {
  const r = await kubectl(['get', ...what, '-o', `jsonpath=${path}`]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  requireTools('kubectl', 'kube-apiserver', 'etcd', 'helm', 'docker-registry', 'cosign2');
  const [c, r] = await Promise.all([startCluster(), startRegistry()]);
  cluster = c;
  registry = r;
  const key = await generateKeyPair('ecdsa-p256');
  signed = await pushRandomImage(r, 'gitops/app', 'v1');
  await cosignSign(2, key, signed.digestRef, r);
  provenant = await installProvenant(
    c,
    [
      '--pin-digests',
      'pods',
      '--exclude-namespace',
      'kube-system',
      '--exclude-namespace',
      RELEASE.namespace,
      '--insecure-registry',
      r.host,
    ],
    { set: ['admission.pinDigests=pods'] },
  );
  const policy = {
    apiVersion: 'provenant.dev/v1alpha1',
    kind: 'ClusterImagePolicy',
    metadata: { name: 'release' },
    spec: {
      images: [{ glob: `${r.host}/gitops/**` }],
      authorities: [{ name: 'release-key', key: { publicKey: key.publicKeyPem } }],
      signatures: {},
    },
  };
  const applied = await c.kubectl(['apply', '-f', '-'], { input: JSON.stringify(policy) });
  expect(applied.code, applied.stderr).toBe(0);
  await c.createNamespace(NS);
  // Webhook configurations and the policy take effect asynchronously: wait until a Pod is pinned.
  await waitFor(
    async () => {
      const r = await kubectl([
        'run',
        'probe',
        `--image=${signed.ref}`,
        '--restart=Never',
        '--dry-run=server',
        '-o',
        'jsonpath={.spec.containers[0].image}',
      ]);
      return r.code === 0 && r.stdout.includes('@sha256:');
    },
    { timeoutMs: 30_000, intervalMs: 250, description: 'the webhooks pin a Pod' },
  );
}, 300_000);

afterAll(async () => {
  await provenant?.stop();
  await cluster?.stop();
  await registry?.stop();
});

describe('--pin-digests pods', () => {
  it('leaves a Deployment template as written, and pins a Pod', async () => {
    const created = await kubectl(['create', 'deployment', 'web', `--image=${signed.ref}`]);
    expect(created.code, created.stderr).toBe(0);
    expect(await image(['deployment', 'web'], '{.spec.template.spec.containers[0].image}')).toBe(signed.ref);

    const run = await kubectl(['run', 'web', `--image=${signed.ref}`, '--restart=Never']);
    expect(run.code, run.stderr).toBe(0);
    expect(await image(['pod', 'web'], '{.spec.containers[0].image}')).toBe(`${signed.ref}@${signed.digest}`);
  });

  it('leaves a Job template as written, so applying the same manifest again changes nothing', async () => {
    const job = JSON.stringify({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'migrate', namespace: NS },
      spec: {
        template: { spec: { restartPolicy: 'Never', containers: [{ name: 'migrate', image: signed.ref }] } },
      },
    });
    const first = await kubectl(['apply', '-f', '-'], job);
    expect(first.code, first.stderr).toBe(0);
    expect(await image(['job', 'migrate'], '{.spec.template.spec.containers[0].image}')).toBe(signed.ref);
    const again = await kubectl(['apply', '-f', '-'], job);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim()).toBe('job.batch/migrate unchanged');
  });
});
