import { describe, expect, it } from 'vitest';
import { auditSubjects, workloadKey, type ListedObject } from './workload-inventory.js';

const D1 = `sha256:${'a'.repeat(64)}`;

function listed(
  apiVersion: string,
  kind: string,
  name: string,
  owner?: { apiVersion: string; kind: string; name: string },
  extra: Record<string, unknown> = {},
): ListedObject {
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0]! : '';
  return {
    apiVersion,
    kind: { group, kind },
    object: {
      metadata: {
        name,
        namespace: 'shop',
        uid: `uid-${kind}-${name}`,
        ...(owner === undefined
          ? {}
          : { ownerReferences: [{ ...owner, uid: `uid-${owner.kind}-${owner.name}`, controller: true }] }),
      },
      spec: {},
      ...extra,
    },
  };
}

describe('auditSubjects', () => {
  const deployment = listed('apps/v1', 'Deployment', 'web');
  const replicaSet = listed('apps/v1', 'ReplicaSet', 'web-5d9', {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    name: 'web',
  });
  const pod = listed('v1', 'Pod', 'web-5d9-x', {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    name: 'web-5d9',
  });
  const cronJob = listed('batch/v1', 'CronJob', 'nightly');
  const job = listed('batch/v1', 'Job', 'nightly-1', {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    name: 'nightly',
  });
  const jobPod = listed('v1', 'Pod', 'nightly-1-y', {
    apiVersion: 'batch/v1',
    kind: 'Job',
    name: 'nightly-1',
  });
  const bare = listed('v1', 'Pod', 'debug');
  const standaloneRs = listed('apps/v1', 'ReplicaSet', 'legacy');
  const operatorPod = listed('v1', 'Pod', 'db-0', {
    apiVersion: 'example.com/v1',
    kind: 'Database',
    name: 'db',
  });

  it('decides Pods and top-level controllers, and leaves templates their owner covers to the owner', () => {
    const subjects = auditSubjects([
      deployment,
      replicaSet,
      pod,
      cronJob,
      job,
      jobPod,
      bare,
      standaloneRs,
      operatorPod,
    ]);
    expect(subjects.map((s) => `${s.ref.kind}/${s.ref.name}`)).toEqual([
      'Deployment/web',
      'Pod/web-5d9-x',
      'CronJob/nightly',
      'Pod/nightly-1-y',
      'Pod/debug',
      'ReplicaSet/legacy',
      'Pod/db-0',
    ]);
  });

  it('names the outermost owner of each Pod, and counts a workload once', () => {
    const subjects = auditSubjects([deployment, replicaSet, pod, cronJob, job, jobPod, bare, operatorPod]);
    const owners = Object.fromEntries(subjects.map((s) => [s.ref.name, s.owner?.name ?? null]));
    expect(owners).toEqual({
      web: null,
      'web-5d9-x': 'web',
      nightly: null,
      'nightly-1-y': 'nightly',
      debug: null,
      // An owner that is not a listed kind is still the owner.
      'db-0': 'db',
    });
    expect(new Set(subjects.map(workloadKey))).toEqual(
      new Set(['Deployment/shop/web', 'CronJob/shop/nightly', 'Pod/shop/debug', 'Database/shop/db']),
    );
  });

  it('decides a Pod by the digests it runs', () => {
    const running = listed('v1', 'Pod', 'run', undefined, {
      spec: { containers: [{ name: 'app', image: 'acme/app:v1' }] },
      status: { containerStatuses: [{ name: 'app', imageID: `docker.io/acme/app@${D1}` }] },
    });
    const [subject] = auditSubjects([running]);
    expect(subject!.running).toEqual([
      { container: 'app', image: 'acme/app:v1', running: `acme/app:v1@${D1}` },
    ]);
    expect(JSON.stringify(subject!.object)).toContain(`acme/app:v1@${D1}`);
  });

  it('skips objects without a name or namespace and survives owner cycles', () => {
    const a = listed('apps/v1', 'ReplicaSet', 'a', { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'b' });
    const b = listed('apps/v1', 'ReplicaSet', 'b', { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'a' });
    const nameless: ListedObject = {
      apiVersion: 'v1',
      kind: { group: '', kind: 'Pod' },
      object: { metadata: {} },
    };
    const subjects = auditSubjects([a, b, nameless]);
    expect(subjects.map((s) => s.ref.name)).toEqual(['a', 'b']);
  });
});
