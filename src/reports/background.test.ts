import { describe, expect, it } from 'vitest';
import { fakeVerifier } from '../../test/integration/admission/fake-verifier.js';
import type { ListedObject } from '../kube/workload-inventory.js';
import { toPolicySet } from '../policy/compile.js';
import type { CompiledPolicy } from '../policy/types.js';
import type { PolicyOutcome } from '../verdict.js';
import { BackgroundVerifier, type PolicyRef, type StoredReport } from './background.js';
import type { PolicyReportObject } from './policy-report.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

function pod(name: string, namespace: string, image: string): ListedObject {
  return {
    apiVersion: 'v1',
    kind: { group: '', kind: 'Pod' },
    object: {
      metadata: { name, namespace, uid: `uid-${name}` },
      spec: { containers: [{ name: 'app', image }] },
    },
  };
}

const outcome = (satisfied: boolean): PolicyOutcome => ({
  policy: 'release',
  mode: 'Enforce',
  satisfied,
  verifiedAuthorities: satisfied ? ['key'] : [],
  reasons: satisfied ? [] : [{ policy: 'release', code: 'NO_SIGNATURE', message: 'no signature' }],
});

/** The cluster and the report store as plain objects; `signed` says which images verify right now. */
function world(options: { reportsMissing?: boolean } = {}) {
  const signed = new Set<string>(['acme/app:v1', 'acme/other:v1']);
  const workloads: ListedObject[] = [pod('web', 'shop', 'acme/app:v1'), pod('db', 'data', 'acme/other:v1')];
  const reports = new Map<string, PolicyReportObject>();
  const events: string[] = [];
  const statuses: string[] = [];
  let gauge: { policy: string; code: string; workloads: number }[] = [];
  const policy = { kind: 'ClusterImagePolicy', name: 'release' } as unknown as CompiledPolicy;
  const verifier = fakeVerifier((image) =>
    signed.has(image)
      ? { outcomes: [outcome(true)] }
      : { allowed: false, outcomes: [outcome(false)], reasons: outcome(false).reasons },
  );
  const key = (r: { metadata: { namespace?: string; name: string } }) =>
    `${r.metadata.namespace ?? ''}/${r.metadata.name}`;
  const background = new BackgroundVerifier({
    lister: { list: () => Promise.resolve(workloads) },
    reports: options.reportsMissing
      ? {
          // As client-node fails when the wgpolicyk8s.io CRDs are not installed.
          listReports: () => Promise.reject(new Error('HTTP-Code: 404')),
          readClusterReport: () => Promise.reject(new Error('HTTP-Code: 404')),
          putReport: () => Promise.reject(new Error('HTTP-Code: 404')),
          deleteReport: () => Promise.reject(new Error('HTTP-Code: 404')),
        }
      : {
          listReports: () =>
            Promise.resolve(
              [...reports.values()]
                .filter((r) => r.kind === 'PolicyReport')
                .map((r): StoredReport => ({
                  namespace: r.metadata.namespace!,
                  name: r.metadata.name,
                  object: JSON.parse(JSON.stringify(r)),
                })),
            ),
          readClusterReport: (name) => {
            const r = reports.get(`/${name}`);
            return Promise.resolve(
              r === undefined ? undefined : { name, object: JSON.parse(JSON.stringify(r)) },
            );
          },
          putReport: (r) => {
            reports.set(key(r), r);
            return Promise.resolve();
          },
          deleteReport: (namespace, name) => {
            reports.delete(`${namespace}/${name}`);
            return Promise.resolve();
          },
        },
    events: {
      warning: (ref, reason, message) => {
        events.push(`${ref.kind} ${ref.namespace}/${ref.name} ${reason}: ${message.slice(0, 60)}`);
        return Promise.resolve();
      },
    },
    status: {
      write: (p: PolicyRef, count: number) => {
        statuses.push(`${p.kind}/${p.name}=${count}`);
        return Promise.resolve();
      },
    },
    gauge: { replace: (entries) => (gauge = [...entries]) },
    policies: () => toPolicySet([policy]),
    judge: { decide: { verifier, timeoutMs: 2000 }, concurrency: 2 },
    excludedNamespaces: ['kube-system'],
    logger: silent,
  });
  return { signed, workloads, reports, events, statuses, gauge: () => gauge, background };
}

describe('BackgroundVerifier', () => {
  it('writes reports, and on a pass that finds nothing new writes nothing and announces nothing', async () => {
    const w = world();
    const first = await w.background.runPass('start');
    expect(first).toMatchObject({
      objects: 2,
      violations: 0,
      violatingWorkloads: 0,
      reportsWritten: 3,
      events: 0,
    });
    expect([...w.reports.keys()].sort()).toEqual(['/provenant', 'data/provenant', 'shop/provenant']);
    expect(w.statuses).toEqual(['ClusterImagePolicy/release=0']);
    const again = await w.background.runPass('interval');
    expect(again).toMatchObject({ reportsWritten: 0, events: 0 });
    expect(w.statuses).toHaveLength(1);
  });

  it('catches a workload that stops satisfying its policy: report, one Event, status count and gauge', async () => {
    const w = world();
    await w.background.runPass('start');
    // The signature of acme/app:v1 is removed from the registry.
    w.signed.delete('acme/app:v1');
    const summary = await w.background.runPass('cache-expiry');
    expect(summary).toMatchObject({ violations: 1, violatingWorkloads: 1, reportsWritten: 2, events: 1 });
    expect(w.reports.get('shop/provenant')!.summary).toMatchObject({ pass: 0, fail: 1 });
    expect(w.reports.get('data/provenant')!.summary).toMatchObject({ pass: 1, fail: 0 });
    expect(w.events).toEqual([
      expect.stringMatching(
        /^Pod shop\/web PolicyViolation: no longer satisfies policy release \(NO_SIGNATURE\)/,
      ),
    ]);
    expect(w.statuses).toEqual(['ClusterImagePolicy/release=0', 'ClusterImagePolicy/release=1']);
    expect(w.gauge()).toEqual([{ policy: 'release', code: 'NO_SIGNATURE', workloads: 1 }]);

    // Still failing: no second Event; a replica that took over remembers through the stored report.
    w.background.reset();
    const later = await w.background.runPass('interval');
    expect(later.events).toBe(0);
    expect(w.events).toHaveLength(1);

    // Signed again: the count and the gauge go back to zero.
    w.signed.add('acme/app:v1');
    await w.background.runPass('interval');
    expect(w.statuses.at(-1)).toBe('ClusterImagePolicy/release=0');
    expect(w.gauge()).toEqual([]);
  });

  it('removes its report from a namespace with nothing left and skips excluded namespaces', async () => {
    const w = world();
    w.workloads.push(pod('dns', 'kube-system', 'unsigned/dns:1'));
    await w.background.runPass('start');
    expect(w.reports.has('kube-system/provenant')).toBe(false);
    w.workloads.splice(1, 1);
    await w.background.runPass('interval');
    expect([...w.reports.keys()].sort()).toEqual(['/provenant', 'shop/provenant']);
  });

  it('without the PolicyReport CRDs still announces, counts and measures, once per new violation', async () => {
    const w = world({ reportsMissing: true });
    await w.background.runPass('start');
    w.signed.delete('acme/app:v1');
    const summary = await w.background.runPass('cache-expiry');
    expect(summary).toMatchObject({ reportsWritten: 0, events: 1, violatingWorkloads: 1 });
    expect(w.statuses.at(-1)).toBe('ClusterImagePolicy/release=1');
    expect(w.gauge()).toEqual([{ policy: 'release', code: 'NO_SIGNATURE', workloads: 1 }]);
    // Remembered by this replica: the next pass does not repeat the Event.
    expect((await w.background.runPass('interval')).events).toBe(0);
  });
});
