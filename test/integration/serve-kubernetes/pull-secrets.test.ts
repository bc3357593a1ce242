/**
 * Registry credentials from pull secrets, as the kubelet uses them: `provenant serve --kubernetes` (with
 * the chart's RBAC) is registered with a real kube-apiserver through the chart's webhook configurations
 * (external URL mode), and verifies images in a real htpasswd registry with the credentials of each
 * workload's imagePullSecrets or its ServiceAccount's. It has no credentials of its own.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../e2e/harness/index.js';
import { cosignSign, generateKeyPair, type CosignKeyPair } from '../../support/cosign.js';
import { pushRandomImage, type PushedImage } from '../../support/images.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { applyObject, installChartRbac, kubectlOk, startClusterWithCrds, waitFor } from '../kube/helpers.js';
import { startServe, type ServeProcess } from '../webhook/serve-process.js';
import { chartKubeconfig, renderChart } from './chart.js';

let registry: TestRegistry;
let cluster: Cluster;
let server: ServeProcess;
let key: CosignKeyPair;
let signed: PushedImage;
let dockerConfigJson: string;

const NS = 'shop';

function policy(): unknown {
  return {
    apiVersion: 'provenant.dev/v1alpha1',
    kind: 'ClusterImagePolicy',
    metadata: { name: 'private-registry' },
    spec: {
      images: [{ glob: `${registry.host}/acme/**` }],
      authorities: [{ name: 'release-key', key: { publicKey: key.publicKeyPem } }],
      signatures: { threshold: 1 },
    },
  };
}

function pod(name: string, spec: Record<string, unknown> = {}): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS },
    spec: { containers: [{ name: 'app', image: signed.ref }], ...spec },
  };
}

function deployment(name: string, podSpec: Record<string, unknown>): unknown {
  const labels = { app: name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS },
    spec: {
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: 'app', image: signed.ref }], ...podSpec },
      },
    },
  };
}

/** `kubectl create` of one object: what the API server (and so the webhooks) answered. */
async function create(object: unknown, dryRun = false): Promise<{ code: number; stderr: string }> {
  const args = ['create', ...(dryRun ? ['--dry-run=server'] : []), '-f', '-'];
  const result = await cluster.kubectl(args, { input: JSON.stringify(object) });
  return { code: result.code, stderr: result.stderr };
}

beforeAll(async () => {
  registry = await startRegistry({ auth: 'htpasswd' });
  key = await generateKeyPair('ecdsa-p256');
  signed = await pushRandomImage(registry, 'acme/api', '1.0.0');
  await cosignSign(2, key, signed.digestRef, registry);
  dockerConfigJson = await readFile(join(registry.dockerConfigDir ?? '', 'config.json'), 'utf8');

  cluster = await startClusterWithCrds();
  await installChartRbac(cluster);
  await cluster.createNamespace(NS);
  await applyObject(cluster, {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'regcred', namespace: NS },
        type: 'kubernetes.io/dockerconfigjson',
        data: { '.dockerconfigjson': Buffer.from(dockerConfigJson).toString('base64') },
      },
      {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: 'builder', namespace: NS },
        imagePullSecrets: [{ name: 'regcred' }],
      },
      policy(),
    ],
  });

  server = await startServe(
    ['--kubernetes', '--kubeconfig', await chartKubeconfig(cluster), '--insecure-registry', registry.host],
    { startTimeoutMs: 60_000 },
  );
  await server.waitForLog((l) => l['msg'] === 'policies synced from the API server', { timeoutMs: 30_000 });
  // The chart's own webhook configurations, calling this process by URL.
  const webhooks = await renderChart('templates/webhooks.yaml', [
    `webhook.url=${server.url}`,
    `webhook.caBundle=${Buffer.from(server.caPem).toString('base64')}`,
  ]);
  await kubectlOk(cluster, ['apply', '-f', '-'], webhooks);
  // The API server takes a moment to start calling a new webhook configuration.
  await waitFor(async () => (await create(pod('probe'), true)).stderr.includes('REGISTRY_AUTH_FAILED'), {
    timeoutMs: 15_000,
    intervalMs: 250,
    description: 'the API server calling the webhook',
  });
});

afterAll(async () => {
  await server?.stop('SIGKILL');
  await cluster?.stop();
  await registry?.stop();
});

describe('serve --kubernetes with credentials from pull secrets', () => {
  it('denies a Pod without pull secrets REGISTRY_AUTH_FAILED: Provenant has no credentials of its own', async () => {
    const denied = await create(pod('anonymous'));
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('admission webhook "pin.provenant.dev" denied the request');
    expect(denied.stderr).toContain('(REGISTRY_AUTH_FAILED)');
  });

  it("admits the same Pod with imagePullSecrets naming the registry's credentials, pinned to the digest", async () => {
    const admitted = await create(pod('with-secret', { imagePullSecrets: [{ name: 'regcred' }] }));
    expect(admitted.stderr).toBe('');
    expect(admitted.code).toBe(0);
    const image = await kubectlOk(cluster, [
      '-n',
      NS,
      'get',
      'pod',
      'with-secret',
      '-o',
      'jsonpath={.spec.containers[0].image}',
    ]);
    expect(image).toBe(`${signed.ref}@${signed.digest}`);
  });

  it('still denies the Pod without them once the image was verified for another', async () => {
    // Tags are resolved on every admission, with the requesting workload's own credentials.
    const denied = await create(pod('anonymous-again'));
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('(REGISTRY_AUTH_FAILED)');
  });

  it("uses the service account's pull secrets, for a Pod and for a Deployment's pod template", async () => {
    expect(await create(pod('via-account', { serviceAccountName: 'builder' }))).toEqual({
      code: 0,
      stderr: '',
    });
    expect(await create(deployment('via-account', { serviceAccountName: 'builder' }))).toEqual({
      code: 0,
      stderr: '',
    });
    expect((await create(deployment('no-account', {}))).stderr).toContain('(REGISTRY_AUTH_FAILED)');
  });

  it("admits a workload with no pull secrets of its own through the policy's signaturePullSecrets", async () => {
    const bare = 'bare-ns';
    await cluster.createNamespace(bare);
    const barePod = {
      ...(pod('bare') as Record<string, unknown>),
      metadata: { name: 'bare', namespace: bare },
    };
    expect((await create(barePod, true)).stderr).toContain('REGISTRY_AUTH_FAILED');
    const withSecrets = policy() as { spec: Record<string, unknown> };
    withSecrets.spec.signaturePullSecrets = [{ namespace: NS, name: 'regcred' }];
    await applyObject(cluster, withSecrets);
    // The informer picks the edit up within seconds; then the policy's secret serves the workload.
    await waitFor(async () => (await create(barePod, true)).code === 0, {
      timeoutMs: 20_000,
      intervalMs: 250,
      description: 'the policy edit taking effect',
    });
  });

  it('never logs the credentials', () => {
    const password = registry.password ?? '';
    const basic = Buffer.from(`${registry.username ?? ''}:${password}`).toString('base64');
    const output = `${JSON.stringify(server.logs)}\n${server.stderr()}`;
    expect(password).not.toBe('');
    expect(output).not.toContain(password);
    expect(output).not.toContain(basic);
  });
});
