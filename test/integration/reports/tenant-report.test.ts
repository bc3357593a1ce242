// A tenant that may write the `provenant` PolicyReport of its own namespace, against a real kube-apiserver:
// what it writes there must not decide which Events another namespace's workloads get.
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  createEventSink,
  createReportStore,
  createWorkloadLister,
} from '../../../src/kube/background-client.js';
import { toPolicySet } from '../../../src/policy/compile.js';
import type { CompiledPolicy } from '../../../src/policy/types.js';
import { BackgroundVerifier } from '../../../src/reports/background.js';
import type { PolicyOutcome } from '../../../src/verdict.js';
import type { Cluster } from '../../e2e/harness/index.js';
import { fakeVerifier } from '../admission/fake-verifier.js';
import {
  applyObject,
  getObject,
  kubeConfigFor,
  startClusterWithCrds,
  installReportCrds,
} from '../kube/helpers.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startClusterWithCrds();
  await installReportCrds(cluster);
  await cluster.createNamespace('victim');
  await cluster.createNamespace('tenant');
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

const outcome = (satisfied: boolean): PolicyOutcome => ({
  policy: 'release',
  mode: 'Enforce',
  satisfied,
  verifiedAuthorities: satisfied ? ['key'] : [],
  reasons: satisfied ? [] : [{ policy: 'release', code: 'NO_SIGNATURE', message: 'no signature' }],
});

it("a tenant's report naming another namespace's Pod does not silence that Pod's violation Event", async () => {
  const kc = kubeConfigFor(cluster);
  const signed = new Set(['acme/app:v1']);
  const verifier = fakeVerifier((image) =>
    signed.has(image)
      ? { outcomes: [outcome(true)] }
      : { allowed: false, outcomes: [outcome(false)], reasons: outcome(false).reasons },
  );
  const background = new BackgroundVerifier({
    lister: createWorkloadLister(kc),
    reports: createReportStore(kc),
    events: createEventSink(kc, 'test'),
    status: { write: () => Promise.resolve() },
    gauge: { replace: () => {} },
    policies: () =>
      toPolicySet([{ kind: 'ClusterImagePolicy', name: 'release' } as unknown as CompiledPolicy]),
    judge: { decide: { verifier, timeoutMs: 2000 }, concurrency: 1 },
    excludedNamespaces: [],
    logger: silent,
  });
  await applyObject(cluster, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'victim' },
    spec: { containers: [{ name: 'app', image: 'acme/app:v1' }] },
  });
  const uid = (await getObject<{ metadata: { uid: string } }>(cluster, ['pod', 'web', '-n', 'victim']))
    .metadata.uid;
  await background.runPass('start');

  // The tenant writes "its" report: already failing, the victim's Pod by uid.
  await applyObject(cluster, {
    apiVersion: 'wgpolicyk8s.io/v1alpha2',
    kind: 'PolicyReport',
    metadata: {
      name: 'provenant',
      namespace: 'tenant',
      labels: { 'app.kubernetes.io/managed-by': 'provenant' },
    },
    results: [
      {
        policy: 'release',
        result: 'fail',
        resources: [{ apiVersion: 'v1', kind: 'Pod', namespace: 'victim', name: 'web', uid }],
      },
    ],
  });
  // A new leader (this replica's memory is gone), and the victim's image loses its signature.
  background.reset();
  signed.delete('acme/app:v1');
  const summary = await background.runPass('cache-expiry');
  expect(summary.violatingWorkloads).toBe(1);
  expect(summary.events).toBe(1);
  const events = await getObject<{ items: { reason: string; involvedObject: { uid: string } }[] }>(cluster, [
    'events',
    '-n',
    'victim',
  ]);
  expect(events.items.map((e) => [e.reason, e.involvedObject.uid])).toEqual([['PolicyViolation', uid]]);
}, 120_000);
