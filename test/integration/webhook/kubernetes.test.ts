/**
 * `provenant serve --kubernetes` against a real kube-apiserver (the e2e harness: etcd + kube-apiserver, no
 * controllers): policies are read from ClusterImagePolicy objects and follow their edits, and the server is
 * registered with the webhook configuration docs/webhook.md shows (url + caBundle), so kubectl prints the
 * real denial. Images live in a real registry, signed with real cosign.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../e2e/harness/index.js';
import { cosignSign, generateKeyPair, type CosignKeyPair } from '../../support/cosign.js';
import { pushRandomImage, type PushedImage } from '../../support/images.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { literal, podReview } from './reviews.js';
import { startServe, type ServeProcess } from './serve-process.js';

const CRDS = ['clusterimagepolicies', 'imagepolicies', 'trustroots'].map(
  (name) => new URL(`../../../charts/provenant/crds/${name}.provenant.dev.yaml`, import.meta.url),
);
const WEBHOOKS = new URL('./webhook-configuration.yaml', import.meta.url);

let registry: TestRegistry;
let cluster: Cluster;
let server: ServeProcess;
let keyA: CosignKeyPair;
let keyB: CosignKeyPair;
let signed: PushedImage;
let unsigned: PushedImage;

function clusterImagePolicy(key: CosignKeyPair): string {
  const pem = key.publicKeyPem
    .trim()
    .split('\n')
    .map((line) => `          ${line}`)
    .join('\n');
  return `apiVersion: provenant.dev/v1alpha1
kind: ClusterImagePolicy
metadata: {name: release-signed}
spec:
  images: [{glob: "${registry.host}/acme/**"}]
  authorities:
    - name: release-key
      key:
        publicKey: |
${pem}
  signatures: {threshold: 1}
`;
}

async function kubectl(args: string[], input?: string) {
  const result = await cluster.kubectl(args, input === undefined ? {} : { input });
  return result;
}

async function decide(): Promise<string> {
  const response = await server.review('/validate', podReview([{ name: 'app', image: signed.digestRef }]));
  return response.allowed ? 'allowed' : (response.status?.details.causes[0]?.reason ?? 'denied');
}

beforeAll(async () => {
  registry = await startRegistry();
  [keyA, keyB] = await Promise.all([generateKeyPair('ecdsa-p256'), generateKeyPair('ecdsa-p256')]);
  [signed, unsigned] = await Promise.all([
    pushRandomImage(registry, 'acme/api', '1.4.2'),
    pushRandomImage(registry, 'acme/worker', '2.0.0'),
  ]);
  await cosignSign(2, keyA, signed.digestRef, registry);
  cluster = await startCluster();
  for (const crd of CRDS) {
    const applied = await kubectl(['apply', '-f', '-'], await readFile(crd, 'utf8'));
    expect(applied.code, applied.stderr).toBe(0);
  }
  await kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
  // Key B first: the signed image is then UNTRUSTED_SIGNER until the policy object names key A.
  const created = await kubectl(['apply', '-f', '-'], clusterImagePolicy(keyB));
  expect(created.code, created.stderr).toBe(0);
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

describe('serve --kubernetes', () => {
  it('becomes ready after syncing policy objects, and follows their edits', async () => {
    await server.waitForLog((l) => l['msg'] === 'policies synced from the API server');
    expect(await decide()).toBe('UNTRUSTED_SIGNER');
    const edited = await kubectl(['apply', '-f', '-'], clusterImagePolicy(keyA));
    expect(edited.code, edited.stderr).toBe(0);
    await expect.poll(decide, { timeout: 15_000, interval: 200 }).toBe('allowed');
    await expect
      .poll(
        async () =>
          (
            await kubectl([
              'get',
              'clusterimagepolicy',
              'release-signed',
              '-o',
              'jsonpath={.status.conditions[0].reason}',
            ])
          ).stdout,
        { timeout: 15_000, interval: 250 },
      )
      .toBe('Valid');
  });

  it('is called by the API server through the documented webhook configuration', async () => {
    const configuration = (await readFile(WEBHOOKS, 'utf8'))
      .replaceAll('https://WEBHOOK_HOST:PORT', server.url)
      .replaceAll('CA_BUNDLE', Buffer.from(server.caPem).toString('base64'));
    const registered = await kubectl(['apply', '-f', '-'], configuration);
    expect(registered.code, registered.stderr).toBe(0);
    await cluster.createNamespace('shop');

    // The API server needs a moment to pick up a new webhook configuration.
    await expect
      .poll(
        async () =>
          (await kubectl(['-n', 'shop', 'run', 'probe', `--image=${unsigned.ref}`, '--dry-run=server']))
            .stderr,
        {
          timeout: 15_000,
          interval: 250,
        },
      )
      .toContain('NO_SIGNATURE');
    const denied = await kubectl(['-n', 'shop', 'run', 'worker', `--image=${unsigned.ref}`]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(
      new RegExp(
        `^Error from server \\(Forbidden\\): admission webhook "pin.provenant.dev" denied the request: ` +
          `Pod shop/worker: 1 of 1 image failed verification \\(NO_SIGNATURE\\)\\n` +
          `Pod shop/worker: container "worker" image ${literal(unsigned.ref)}: policy release-signed: `,
      ),
    );

    const admitted = await kubectl(['-n', 'shop', 'create', 'deployment', 'api', `--image=${signed.ref}`]);
    expect(admitted.code, admitted.stderr).toBe(0);
    const image = await kubectl([
      '-n',
      'shop',
      'get',
      'deployment',
      'api',
      '-o',
      'jsonpath={.spec.template.spec.containers[0].image}',
    ]);
    expect(image.stdout).toBe(`${signed.ref}@${signed.digest}`);
  });
});
