// Stage 3 of the cluster tier: Provenant as users install it. `helm install` of the chart as it ships, with
// the image `npm run image` built, on a single-node cluster whose kubelet runs Pods with containerd and runc
// (test/cluster/support/node.ts). Both replicas become Ready, fill their certificate Secret and patch the
// webhook configurations' caBundles; kubectl then shows the denials and the digest pinning of the e2e tier,
// now decided by Provenant running in the cluster; a signed Pod runs; one replica down keeps admissions
// going; none fails closed.
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helm } from '../chart/support.js';
import { waitFor } from '../e2e/harness/process.js';
import { cosignSign, generateKeyPair, type CosignKeyPair } from '../support/cosign.js';
import { crane } from '../support/images.js';
import { builtImage, pushBuiltImage } from './support/built-image.js';
import { NODE_NAME, startNode, type Node } from './support/node.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CHART = join(ROOT, 'charts/provenant');
const RELEASE = 'provenant';
const NS = 'provenant-system';
const APP_NS = 'shop';

let node: Node;
let key: CosignKeyPair;
let host: string;
/** Runnable workload images (the pause program with a unique label): `host/repo:tag` → digest. */
const images: Record<'signed' | 'signed2' | 'unsigned', { ref: string; digest: string }> = {
  signed: { ref: '', digest: '' },
  signed2: { ref: '', digest: '' },
  unsigned: { ref: '', digest: '' },
};

const kubectl = (args: string[], input?: string) =>
  node.cluster.kubectl(args, input === undefined ? { timeoutMs: 90_000 } : { input, timeoutMs: 90_000 });

async function must(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** A runnable image with its own digest: the node's pause image, relabelled. */
async function pushWorkload(repo: string): Promise<{ ref: string; digest: string }> {
  const ref = `${host}/${repo}:v1`;
  const digestRef = (
    await crane(node.registry, [
      'mutate',
      `${host}/pause:3.10`,
      '--label',
      `test.provenant.dev/id=${randomUUID()}`,
      '-t',
      ref,
    ])
  ).trim();
  return { ref, digest: digestRef.split('@')[1] ?? '' };
}

function podManifest(name: string, image: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: APP_NS },
    spec: {
      containers: [
        {
          name: 'app',
          image,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 65535,
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          },
        },
      ],
      terminationGracePeriodSeconds: 1,
    },
  });
}

const createPod = (name: string, image: string) => kubectl(['create', '-f', '-'], podManifest(name, image));

/** Ready Provenant replicas: the endpoints the API server calls. */
async function readyProviders(): Promise<number> {
  const out = await must([
    '-n',
    NS,
    'get',
    'pods',
    '-l',
    'app.kubernetes.io/name=provenant',
    '-o',
    'jsonpath={range .items[*]}{.status.containerStatuses[0].ready}{"\\n"}{end}',
  ]);
  return out.split('\n').filter((l) => l === 'true').length;
}

async function providerPods(): Promise<string[]> {
  const out = await must(['-n', NS, 'get', 'pods', '-l', 'app.kubernetes.io/name=provenant', '-o', 'name']);
  return out.split('\n').filter(Boolean);
}

beforeAll(async () => {
  const image = builtImage();
  node = await startNode();
  host = node.registry.host;
  key = await generateKeyPair('ecdsa-p256');
  const provenantRef = await pushBuiltImage(image, node.registry, 'provenant-dev/provenant', 'dev');
  images.signed = await pushWorkload('shop/app');
  images.signed2 = await pushWorkload('shop/worker');
  images.unsigned = await pushWorkload('shop/unsigned');
  for (const img of [images.signed, images.signed2]) {
    const signed = await cosignSign(3, key, `${img.ref.split(':v1')[0]}@${img.digest}`, node.registry);
    expect(signed.exitCode, signed.stderr).toBe(0);
  }

  // The chart as it ships; only the image, and the flag for the plain-HTTP test registry, are set.
  const install = await helm([
    'install',
    RELEASE,
    CHART,
    '--kubeconfig',
    node.cluster.kubeconfigPath,
    '--namespace',
    NS,
    '--create-namespace',
    '--set',
    `image.repository=${provenantRef.split('@')[0]}`,
    '--set',
    `image.digest=${image.digest}`,
    '--set',
    `extraArgs={--insecure-registry,${host}}`,
  ]);
  if (install.code !== 0) throw new Error(`helm install failed: ${install.stderr}`);
  const rollout = await kubectl(
    ['-n', NS, 'rollout', 'status', `deployment/${RELEASE}`, '--timeout=240s'],
    undefined,
  );
  if (rollout.code !== 0) {
    const pods = await kubectl(['-n', NS, 'describe', 'pods']);
    const logs = await kubectl(['-n', NS, 'logs', '-l', 'app.kubernetes.io/name=provenant', '--tail=30']);
    throw new Error(
      `the Deployment never became ready: ${rollout.stderr}\n${pods.stdout}\n${logs.stdout}${logs.stderr}\nkubelet:\n${node.logTail('kubelet')}`,
    );
  }

  await must(['create', 'namespace', APP_NS]);
  await must(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'provenant.dev/v1alpha1',
      kind: 'ClusterImagePolicy',
      metadata: { name: 'shop-signed' },
      spec: {
        images: [{ glob: `${host}/shop/**` }],
        authorities: [{ name: 'release-key', key: { publicKey: key.publicKeyPem } }],
        signatures: { threshold: 1 },
      },
    }),
  );
  // Both replicas read policies through their informers: wait until an unsigned image is denied for the
  // policy's reason (before that, --no-match decides), on a Pod name that is never created.
  await waitFor(
    async () => {
      const r = await kubectl([
        '-n',
        APP_NS,
        'run',
        'probe',
        '--image',
        images.unsigned.ref,
        '--dry-run=server',
      ]);
      return r.code !== 0 && r.stderr.includes('NO_SIGNATURE');
    },
    { timeoutMs: 60_000, intervalMs: 1_000, description: 'the policy in force' },
  );
}, 900_000);

afterAll(async () => {
  await node?.stop();
});

describe('helm install on a real node', () => {
  it('runs both replicas Ready, from the built image, with the restricted security context', async () => {
    const deployment = JSON.parse(await must(['-n', NS, 'get', 'deployment', RELEASE, '-o', 'json'])) as {
      status: { readyReplicas?: number };
      spec: { template: { spec: { containers: { image: string }[] } } };
    };
    expect(deployment.status.readyReplicas).toBe(2);
    expect(deployment.spec.template.spec.containers[0]?.image).toContain(builtImage().digest);
    const pods = JSON.parse(
      await must(['-n', NS, 'get', 'pods', '-l', 'app.kubernetes.io/name=provenant', '-o', 'json']),
    ) as { items: { status: { phase: string; containerStatuses: { ready: boolean; imageID: string }[] } }[] };
    expect(pods.items).toHaveLength(2);
    for (const pod of pods.items) {
      expect(pod.status.phase).toBe('Running');
      expect(pod.status.containerStatuses[0]?.ready).toBe(true);
      expect(pod.status.containerStatuses[0]?.imageID).toContain(builtImage().digest);
    }
  });

  it('fills its certificate Secret and patches the CA into both webhook configurations', async () => {
    const secret = JSON.parse(await must(['-n', NS, 'get', 'secret', `${RELEASE}-tls`, '-o', 'json'])) as {
      data?: Record<string, string>;
    };
    for (const k of ['ca.crt', 'tls.crt', 'tls.key']) expect(secret.data?.[k], k).toBeTruthy();
    const ca = secret.data?.['ca.crt'];
    for (const kind of ['validatingwebhookconfiguration', 'mutatingwebhookconfiguration']) {
      const bundle = await must([
        'get',
        kind,
        RELEASE,
        '-o',
        'jsonpath={.webhooks[*].clientConfig.caBundle}',
      ]);
      expect(bundle.trim(), kind).toBe(ca);
    }
  });

  it('denies an unsigned image through kubectl with the reason code', async () => {
    const r = await createPod('unsigned', images.unsigned.ref);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      `admission webhook "pin.provenant.dev" denied the request: Pod ${APP_NS}/unsigned: 1 of 1 image failed verification (NO_SIGNATURE)`,
    );
    expect((await kubectl(['-n', APP_NS, 'get', 'pod', 'unsigned'])).code).not.toBe(0);
  });

  it('admits a signed image pinned to its digest, and the Pod reaches Running', async () => {
    const r = await createPod('web', images.signed.ref);
    expect(r.code, r.stderr).toBe(0);
    const image = await must([
      '-n',
      APP_NS,
      'get',
      'pod',
      'web',
      '-o',
      'jsonpath={.spec.containers[0].image}',
    ]);
    expect(image).toBe(`${images.signed.ref}@${images.signed.digest}`);
    await waitFor(
      async () =>
        (await must(['-n', APP_NS, 'get', 'pod', 'web', '-o', 'jsonpath={.status.phase}'])) === 'Running',
      { timeoutMs: 90_000, intervalMs: 1_000, description: 'Pod shop/web Running' },
    );
    const imageID = await must([
      '-n',
      APP_NS,
      'get',
      'pod',
      'web',
      '-o',
      'jsonpath={.status.containerStatuses[0].imageID}',
    ]);
    expect(imageID).toContain(images.signed.digest);
  });

  // The node is cordoned while replicas are deleted, so that their replacements stay Pending: exactly one
  // replica, then none, serves while the admissions below are made.
  it('keeps deciding with one replica deleted', async () => {
    await must(['cordon', NODE_NAME]);
    try {
      const pods = await providerPods();
      const first = pods[0];
      if (pods.length !== 2 || first === undefined)
        throw new Error(`expected two Provenant pods: ${pods.join(', ')}`);
      await must(['-n', NS, 'delete', first, '--wait=true', '--timeout=60s']);
      expect(await readyProviders()).toBe(1);
      const denied = await createPod('unsigned-2', images.unsigned.ref);
      expect(denied.stderr).toContain(
        `Pod ${APP_NS}/unsigned-2: 1 of 1 image failed verification (NO_SIGNATURE)`,
      );
      const admitted = await createPod('worker', images.signed2.ref);
      expect(admitted.code, admitted.stderr).toBe(0);
      expect(await readyProviders()).toBe(1);
    } finally {
      await must(['uncordon', NODE_NAME]);
    }
    await must(['-n', NS, 'rollout', 'status', `deployment/${RELEASE}`, '--timeout=120s']);
  });

  it('fails closed with both replicas deleted, and recovers when they return', async () => {
    await must(['cordon', NODE_NAME]);
    try {
      for (const pod of await providerPods()) {
        await must(['-n', NS, 'delete', pod, '--wait=true', '--timeout=60s']);
      }
      expect(await readyProviders()).toBe(0);
      const r = await createPod('while-down', images.signed.ref);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/failed calling webhook "pin\.provenant\.dev"/);
      expect((await kubectl(['-n', APP_NS, 'get', 'pod', 'while-down'])).code).not.toBe(0);
    } finally {
      await must(['uncordon', NODE_NAME]);
    }
    await must(['-n', NS, 'rollout', 'status', `deployment/${RELEASE}`, '--timeout=120s']);
    const after = await createPod('after', images.signed.ref);
    expect(after.code, after.stderr).toBe(0);
  });
});
