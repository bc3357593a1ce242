import { describe, expect, it } from 'vitest';
import { readFixture } from '../../test/integration/admission/fixtures.js';
import { extractImageUses, type ObjectKind } from './extract.js';
import { podAsRun } from './running-images.js';
import { workloadEssentials } from './workload-essentials.js';
import { podPullSecretsOf } from './workload-pull-secrets.js';
import { auditSubjects } from './workload-inventory.js';

const FIXTURES = [
  'rendered/pod-create.json',
  'rendered/pod-ephemeralcontainers.json',
  'rendered/pod-image-volume-create.json',
  'rendered/deployment-create.json',
  'rendered/replicaset-create.json',
  'rendered/replicationcontroller-create.json',
  'rendered/statefulset-image-volume-create.json',
  'rendered/daemonset-create.json',
  'rendered/job-create.json',
  'rendered/cronjob-create.json',
  'connaisseur/19_pod_initcontainer.json',
];

interface Review {
  request: { kind: { group: string; kind: string }; namespace?: string; object: Record<string, unknown> };
}

/** The fixture's object with a large env on every container and a big annotation: what a pass must not keep. */
function padded(path: string): { kind: ObjectKind; object: Record<string, unknown>; namespace: string } {
  const review = readFixture(path) as unknown as Review;
  const object = structuredClone(review.request.object);
  const json = JSON.stringify(object).replace(
    /"image":"/g,
    `"env":[{"name":"PAD","value":"${'x'.repeat(10_000)}"}],"image":"`,
  );
  const withEnv = JSON.parse(json) as Record<string, unknown>;
  const metadata = (withEnv['metadata'] ?? {}) as Record<string, unknown>;
  withEnv['metadata'] = { ...metadata, annotations: { big: 'y'.repeat(100_000) } };
  return { kind: review.request.kind, object: withEnv, namespace: review.request.namespace ?? 'default' };
}

describe('workloadEssentials', () => {
  it.each(FIXTURES)('%s: every decision input is the same, and the padding is gone', (path) => {
    const { kind, object, namespace } = padded(path);
    const trimmed = workloadEssentials(kind, object);
    expect(extractImageUses(kind, trimmed)).toEqual(extractImageUses(kind, object));
    expect(podPullSecretsOf(kind, trimmed, namespace)).toEqual(podPullSecretsOf(kind, object, namespace));
    if (kind.kind === 'Pod') {
      const [small, full] = [podAsRun(trimmed), podAsRun(object)];
      expect(small.pinned).toEqual(full.pinned);
      expect(extractImageUses(kind, small.object)).toEqual(extractImageUses(kind, full.object));
    }
    const listed = (o: unknown) => [{ apiVersion: 'v1', kind, object: o }];
    expect(auditSubjects(listed(trimmed)).map((s) => [s.ref, s.owner, s.running])).toEqual(
      auditSubjects(listed(object)).map((s) => [s.ref, s.owner, s.running]),
    );
    expect(JSON.stringify(trimmed)).not.toMatch(/xxxx|yyyy/);
    expect(JSON.stringify(trimmed).length).toBeLessThan(5_000);
  });

  it("keeps a Pod's container statuses (what the kubelet pulled) and owner references", () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'p',
        namespace: 'ns',
        uid: 'u1',
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u0', controller: true },
        ],
        managedFields: [{ manager: 'kubectl', fieldsV1: { big: 'z'.repeat(10_000) } }],
      },
      spec: { containers: [{ name: 'app', image: 'ghcr.io/acme/app:v1', command: ['run'] }] },
      status: {
        phase: 'Running',
        containerStatuses: [
          {
            name: 'app',
            image: 'ghcr.io/acme/app:v1',
            imageID: `ghcr.io/acme/app@sha256:${'a'.repeat(64)}`,
            ready: true,
          },
        ],
      },
    };
    expect(workloadEssentials({ group: '', kind: 'Pod' }, pod)).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'p',
        namespace: 'ns',
        uid: 'u1',
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u0', controller: true },
        ],
      },
      spec: { containers: [{ name: 'app', image: 'ghcr.io/acme/app:v1' }] },
      status: {
        containerStatuses: [
          { name: 'app', image: 'ghcr.io/acme/app:v1', imageID: `ghcr.io/acme/app@sha256:${'a'.repeat(64)}` },
        ],
      },
    });
  });
});
