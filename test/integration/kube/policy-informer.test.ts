/**
 * KubePolicyStore against a real kube-apiserver with the chart's CRDs: list-then-watch of all three kinds,
 * the PolicySet following create/edit/delete within seconds, Ready conditions written through the status
 * subresource (and not rewritten by two replicas in turn), an invalid edit keeping the last valid version,
 * TrustRoots handed onward, and a watch that survives its API server being restarted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseReference } from '../../../src/oci/reference.js';
import { authorityCompiler } from '../../../src/policy/authorities.js';
import { createTrustStore } from '../../../src/trust/index.js';
import { createPolicyStatusWriter, createResourceWatchFactory } from '../../../src/kube/client.js';
import { KubePolicyStore } from '../../../src/kube/policy-informer.js';
import type { TrustRootObject } from '../../../src/kube/trust-root-spec.js';
import type { Cluster } from '../../e2e/harness/index.js';
import { startExtraApiServer, type ExtraApiServer } from './api-server.js';
import {
  applyObject,
  CHART_SERVICE_ACCOUNT,
  installChartRbac,
  getObject,
  kubeConfigFor,
  kubectlOk,
  publicKeyPem,
  RecordingLogger,
  startClusterWithCrds,
  waitFor,
} from './helpers.js';

const KEY = publicKeyPem();

/** PEM-shaped, so the CRD's rules accept it, but no key: only Provenant's compilation refuses it. */
const NOT_A_KEY = '-----BEGIN PUBLIC KEY-----\nAAAAAAAAAAAA\n-----END PUBLIC KEY-----';

function clusterPolicy(name: string, glob: string, publicKey = KEY) {
  return {
    apiVersion: 'provenant.dev/v1alpha1',
    kind: 'ClusterImagePolicy',
    metadata: { name },
    spec: {
      images: [{ glob }],
      authorities: [{ name: 'release', key: { publicKey } }],
      signatures: { threshold: 1 },
    },
  };
}

function imagePolicy(namespace: string, name: string, glob: string) {
  return { ...clusterPolicy(name, glob), kind: 'ImagePolicy', metadata: { name, namespace } };
}

const TRUSTED_ROOT = { mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs: [] };

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string;
}
interface Observed {
  metadata: { generation: number; resourceVersion: string };
  status?: { observedGeneration?: number; conditions?: Condition[] };
}

const ready = (o: Observed) => o.status?.conditions?.find((c) => c.type === 'Ready');
const image = (ref: string) => parseReference(ref);

/** A store with exactly the chart's permissions: its clients impersonate the chart's ServiceAccount. */
function newStore(
  cluster: Cluster,
  logger: RecordingLogger,
  server?: string,
  trustRoots?: TrustRootObject[][],
) {
  const kc = kubeConfigFor(cluster, { server, as: CHART_SERVICE_ACCOUNT });
  return new KubePolicyStore({
    watches: createResourceWatchFactory(kc),
    status: createPolicyStatusWriter(kc),
    compileAuthority: authorityCompiler(createTrustStore()),
    logger,
    reconnectInitialMs: 250,
    reconnectMaxMs: 2_000,
    ...(trustRoots === undefined
      ? {}
      : {
          onTrustRootsChanged: (roots: readonly TrustRootObject[]) => {
            trustRoots.push([...roots]);
          },
        }),
  });
}

describe('KubePolicyStore on a real API server', () => {
  let cluster: Cluster;
  const stores: KubePolicyStore[] = [];

  beforeAll(async () => {
    cluster = await startClusterWithCrds();
    await installChartRbac(cluster);
    await cluster.createNamespace('apps');
    await applyObject(cluster, clusterPolicy('release', 'ghcr.io/acme/**'));
    await applyObject(cluster, imagePolicy('apps', 'team', 'docker.io/**'));
    await applyObject(cluster, {
      apiVersion: 'provenant.dev/v1alpha1',
      kind: 'TrustRoot',
      metadata: { name: 'corp' },
      spec: { trustedRoot: TRUSTED_ROOT },
    });
  });

  afterAll(async () => {
    await Promise.all(stores.map((s) => s.stop()));
    await cluster?.stop();
  });

  const roots: TrustRootObject[][] = [];
  const logger = new RecordingLogger('replica-1');
  let store: KubePolicyStore;

  it('starts after listing all three kinds, with the existing objects in force', async () => {
    store = newStore(cluster, logger, undefined, roots);
    stores.push(store);
    expect(store.ready).toBe(false);
    await store.start();
    expect(store.ready).toBe(true);
    expect(store.current.policies.map((p) => p.name)).toEqual(['release', 'apps/team']);
    expect(store.current.matching(image('ghcr.io/acme/api:1')).map((p) => p.name)).toEqual(['release']);
    expect(store.current.matching(image('nginx:1'), 'apps').map((p) => p.name)).toEqual(['apps/team']);
    expect(roots.at(-1)?.map((r) => r.name)).toEqual(['corp']);
    expect(store.trustRoots[0]?.spec).toEqual({ trustedRoot: TRUSTED_ROOT });
  });

  it('writes Ready=True with observedGeneration through the status subresource', async () => {
    for (const args of [
      ['clusterimagepolicy', 'release'],
      ['-n', 'apps', 'imagepolicy', 'team'],
      ['trustroot', 'corp'],
    ]) {
      const observed = await waitFor(
        async () => {
          const o = await getObject<Observed>(cluster, args);
          return ready(o)?.status === 'True' ? o : undefined;
        },
        { timeoutMs: 10_000, description: `Ready on ${args.join(' ')}` },
      );
      expect(observed.status?.observedGeneration).toBe(observed.metadata.generation);
      expect(ready(observed)).toMatchObject({ reason: 'Valid' });
    }
    const table = await kubectlOk(cluster, ['get', 'cip', 'release']);
    expect(table).toMatch(/release\s+Enforce\s+ghcr\.io\/acme\/\*\*\s+True/);
  });

  it('follows a new policy within seconds', async () => {
    const before = store.current;
    await applyObject(cluster, clusterPolicy('late', 'quay.io/**'));
    await waitFor(() => store.current.matching(image('quay.io/x/y:1')).length === 1, {
      timeoutMs: 5_000,
      description: 'the new policy in the set',
    });
    expect(store.current.fingerprint).not.toBe(before.fingerprint);
    expect(before.matching(image('quay.io/x/y:1'))).toEqual([]);
  });

  it('keeps the last valid version when an edit is invalid, and says so in the status', async () => {
    const fingerprint = store.current.policies.find((p) => p.name === 'release')?.fingerprint;
    await applyObject(cluster, clusterPolicy('release', 'ghcr.io/acme/**', NOT_A_KEY));
    const observed = await waitFor(
      async () => {
        const o = await getObject<Observed>(cluster, ['clusterimagepolicy', 'release']);
        return ready(o)?.status === 'False' ? o : undefined;
      },
      { timeoutMs: 10_000, description: 'Ready=False on release' },
    );
    expect(observed.status?.observedGeneration).toBe(2);
    expect(ready(observed)).toMatchObject({ reason: 'InvalidPolicy' });
    expect(ready(observed)?.message).toMatch(/^spec\.authorities\[0\]\.key\.publicKey: /);
    expect(ready(observed)?.message).toContain('The last valid version (generation 1) stays in force.');
    expect(store.current.policies.find((p) => p.name === 'release')?.fingerprint).toBe(fingerprint);
    expect(store.current.matching(image('ghcr.io/acme/api:1'))).toHaveLength(1);

    // Fixed: the new version takes over.
    await applyObject(cluster, clusterPolicy('release', 'ghcr.io/acme/api'));
    await waitFor(() => store.current.matching(image('ghcr.io/acme/web:1')).length === 0, {
      timeoutMs: 5_000,
      description: 'the fixed policy in force',
    });
    await waitFor(
      async () => ready(await getObject<Observed>(cluster, ['cip', 'release']))?.status === 'True',
      {
        timeoutMs: 10_000,
        description: 'Ready=True again',
      },
    );
  });

  it('does not enforce a policy that was never valid', async () => {
    await applyObject(cluster, clusterPolicy('broken', 'gcr.io/**', NOT_A_KEY));
    const observed = await waitFor(
      async () => {
        const o = await getObject<Observed>(cluster, ['cip', 'broken']);
        return ready(o)?.status === 'False' ? o : undefined;
      },
      { timeoutMs: 10_000, description: 'Ready=False on broken' },
    );
    expect(ready(observed)?.message).toContain('The policy is not enforced until it is fixed.');
    expect(store.current.matching(image('gcr.io/x/y:1'))).toEqual([]);
  });

  it('drops a deleted policy', async () => {
    await kubectlOk(cluster, ['delete', 'cip', 'late']);
    await waitFor(() => store.current.matching(image('quay.io/x/y:1')).length === 0, {
      timeoutMs: 5_000,
      description: 'the deleted policy gone',
    });
  });

  it('hands valid TrustRoots onward and marks an invalid one', async () => {
    const rootJson = Buffer.from(
      JSON.stringify({ signed: { _type: 'root', version: 1 }, signatures: [] }),
    ).toString('base64');
    await applyObject(cluster, {
      apiVersion: 'provenant.dev/v1alpha1',
      kind: 'TrustRoot',
      metadata: { name: 'mirror' },
      spec: { tuf: { mirror: 'https://tuf.example.com', root: rootJson } },
    });
    // Passes the CRD's checks, fails ours: the root is base64 of something that is not a TUF root.json.
    await applyObject(cluster, {
      apiVersion: 'provenant.dev/v1alpha1',
      kind: 'TrustRoot',
      metadata: { name: 'bogus' },
      spec: { tuf: { mirror: 'https://tuf.example.com', root: Buffer.from('[]').toString('base64') } },
    });
    await waitFor(
      () =>
        roots
          .at(-1)
          ?.map((r) => r.name)
          .join() === 'corp,mirror',
      {
        timeoutMs: 5_000,
        description: 'trust roots handed onward',
      },
    );
    // The CRD defaults refreshInterval.
    expect(store.trustRoots[1]?.spec).toEqual({
      tuf: { mirror: 'https://tuf.example.com', root: rootJson, refreshInterval: '24h' },
    });
    const bogus = await waitFor(
      async () => {
        const o = await getObject<Observed>(cluster, ['trustroot', 'bogus']);
        return ready(o)?.status === 'False' ? o : undefined;
      },
      { timeoutMs: 10_000, description: 'Ready=False on bogus' },
    );
    expect(ready(bogus)).toMatchObject({ reason: 'InvalidTrustRoot' });
    expect(ready(bogus)?.message).toContain('spec.tuf.root');
  });

  it('lets two replicas agree on status without rewriting it in turn', async () => {
    const second = newStore(cluster, new RecordingLogger('replica-2'));
    stores.push(second);
    await second.start();
    expect(second.current.fingerprint).toBe(store.current.fingerprint);

    // Both replicas see this edit and compute the same status; whichever writes second gets 409 or finds it done.
    await applyObject(cluster, clusterPolicy('release', 'ghcr.io/acme/api', `${NOT_A_KEY}\n`));
    await waitFor(
      async () => ready(await getObject<Observed>(cluster, ['cip', 'release']))?.status === 'False',
      {
        timeoutMs: 10_000,
        description: 'Ready=False seen by both',
      },
    );
    await Promise.all([store.settled(), second.settled()]);
    await new Promise((r) => setTimeout(r, 1_000));
    const settled = await getObject<Observed>(cluster, ['cip', 'release']);
    await new Promise((r) => setTimeout(r, 3_000));
    const later = await getObject<Observed>(cluster, ['cip', 'release']);
    expect(later.metadata.resourceVersion).toBe(settled.metadata.resourceVersion);
    expect(second.current.fingerprint).toBe(store.current.fingerprint);
  });
});

describe('KubePolicyStore when its API server restarts', () => {
  let cluster: Cluster;
  let server: ExtraApiServer;
  let store: KubePolicyStore | undefined;
  const logger = new RecordingLogger('restart');

  beforeAll(async () => {
    cluster = await startClusterWithCrds();
    await installChartRbac(cluster);
    server = await startExtraApiServer(cluster);
    await applyObject(cluster, clusterPolicy('before', 'ghcr.io/before/**'));
  });

  afterAll(async () => {
    await store?.stop();
    await server?.stop();
    await cluster?.stop();
  });

  it('keeps serving the last good set while the API server is down and catches up after it returns', async () => {
    store = newStore(cluster, logger, server.url);
    await store.start();
    expect(store.current.policies.map((p) => p.name)).toEqual(['before']);
    const set = store.current;

    await server.stop();
    await waitFor(() => logger.lines.some((l) => l.level === 'warn' && l.message.startsWith('watch')), {
      timeoutMs: 40_000,
      description: 'the store noticing the lost watch',
    });
    // Changes made meanwhile (through the harness's own API server, same etcd).
    await applyObject(cluster, clusterPolicy('during', 'ghcr.io/during/**'));
    await kubectlOk(cluster, ['delete', 'cip', 'before']);
    await new Promise((r) => setTimeout(r, 2_000));
    expect(store.ready).toBe(true);
    expect(store.current).toBe(set);

    await server.start();
    await waitFor(() => store?.current.policies.map((p) => p.name).join() === 'during', {
      timeoutMs: 30_000,
      description: 'the set after reconnecting',
    });
    expect(logger.has('watch reconnected')).toBe(true);
    const delays = logger.lines
      .filter((l) => l.message.startsWith('watch') && 'retryInMs' in l.fields)
      .map((l) => (l.fields as { retryInMs: number }).retryInMs);
    expect(Math.max(...delays)).toBeLessThanOrEqual(2_000);

    // And the watch is live again.
    await applyObject(cluster, clusterPolicy('after', 'ghcr.io/after/**'));
    await waitFor(() => store?.current.policies.length === 2, {
      timeoutMs: 5_000,
      description: 'a change after reconnecting',
    });
  });
});
