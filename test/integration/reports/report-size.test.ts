// PolicyReports against a real kube-apiserver (etcd's default 1.5 MiB request limit): whatever a tenant puts
// in its namespace, the report Provenant builds for it can be written, so it never keeps an older verdict.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReportStore } from '../../../src/kube/background-client.js';
import type { AuditSubject } from '../../../src/kube/workload-inventory.js';
import type { Judgement } from '../../../src/reports/judge.js';
import {
  buildClusterReport,
  buildPolicyReports,
  OMITTED_ANNOTATION,
} from '../../../src/reports/policy-report.js';
import type { Cluster } from '../../e2e/harness/index.js';
import { getObject, kubeConfigFor, startClusterWithCrds, installReportCrds } from '../kube/helpers.js';

const NS = 'tenant';

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startClusterWithCrds();
  await installReportCrds(cluster);
  await cluster.createNamespace(NS);
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

/** A name of exactly `n` characters (253: the longest a ReplicaSet or an ImagePolicy may have). */
function long(prefix: string, n: number): string {
  return (prefix + 'x'.repeat(n)).slice(0, n);
}

/**
 * What a tenant can make of its own namespace: ReplicaSets with 253-character names, four containers of
 * long image names each, failing a policy with a long message (the 1 KiB a result keeps).
 */
function tenantJudgements(count: number, policies: readonly string[]): Judgement[] {
  return Array.from({ length: count }, (_, i): Judgement => {
    const subject: AuditSubject = {
      ref: {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        namespace: NS,
        name: long(`rs-${i}-`, 253),
        uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      },
      kind: { group: 'apps', kind: 'ReplicaSet' },
      object: {},
      running: [],
    };
    return {
      subject,
      // Reports read the subject and the per-policy results only.
      decision: {} as unknown as Judgement['decision'],
      allowed: true,
      policies: policies.map((policy) => ({
        policy,
        mode: 'Audit',
        result: 'fail',
        codes: ['NO_SIGNATURE'],
        message: long(`container "app" image registry.example/${i}: NO_SIGNATURE: `, 1024),
        images: [0, 1, 2, 3].map((c) => long(`registry.example/${i}/${c}/`, 250)),
      })),
    };
  });
}

describe('a PolicyReport stays writable', () => {
  it('a namespace of many long results: cut to what the API server stores, and the cut is counted', async () => {
    const judgements = tenantJudgements(1000, [long(`${NS}/policy-`, NS.length + 1 + 253)]);
    const report = buildPolicyReports(judgements).get(NS)!;
    await createReportStore(kubeConfigFor(cluster)).putReport(report);

    const stored = await getObject<{
      results: unknown[];
      summary: { fail: number };
      metadata: { annotations?: Record<string, string> };
    }>(cluster, ['policyreport', 'provenant', '-n', NS]);
    expect(stored.summary.fail).toBe(1000);
    expect(stored.results.length).toBeGreaterThan(0);
    expect(stored.results.length + Number(stored.metadata.annotations?.[OMITTED_ANNOTATION] ?? 0)).toBe(1000);
  }, 120_000);

  it('the ClusterPolicyReport of many namespaced policies with long names: written', async () => {
    // 400 ImagePolicies a tenant may write in its namespace, each violated by 20 long-named workloads.
    const policies = Array.from({ length: 400 }, (_, i) => long(`${NS}/p${i}-`, NS.length + 1 + 253));
    const cluster_ = buildClusterReport(tenantJudgements(20, policies));
    await createReportStore(kubeConfigFor(cluster)).putReport(cluster_);

    const stored = await getObject<{
      results: unknown[];
      summary: { fail: number };
      metadata: { annotations?: Record<string, string> };
    }>(cluster, ['clusterpolicyreport', 'provenant']);
    expect(stored.summary.fail).toBe(400);
    expect(stored.results.length + Number(stored.metadata.annotations?.[OMITTED_ANNOTATION] ?? 0)).toBe(400);
  }, 120_000);
});
