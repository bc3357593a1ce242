/**
 * The Kubernetes API for `provenant audit` and the background re-verification, through client-node: listing
 * workloads, storing PolicyReports, recording Events, writing the violation count into policy statuses and
 * the leader Lease. Each function implements a port defined by its consumer (src/reports/background.ts,
 * src/kube/lease.ts), which are tested with plain objects; these are exercised by the e2e tier.
 */
import {
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { API_GROUP } from '../policy/types.js';
import type {
  EventSink,
  ReportStore,
  StoredReport,
  ViolationStatusWriter,
  WorkloadLister,
} from '../reports/background.js';
import { MANAGED_BY, REPORT_API_VERSION, type PolicyReportObject } from '../reports/policy-report.js';
import type { LeaseApi, LeaseRecord, LeaseSpec } from './lease.js';
import { statusOf } from './log.js';
import { workloadEssentials } from './workload-essentials.js';
import type { ListedObject } from './workload-inventory.js';

/** The kinds the webhook decides, as they are listed. */
const WORKLOAD_KINDS: readonly { apiVersion: string; group: string; kind: string }[] = [
  { apiVersion: 'v1', group: '', kind: 'Pod' },
  { apiVersion: 'v1', group: '', kind: 'ReplicationController' },
  { apiVersion: 'apps/v1', group: 'apps', kind: 'Deployment' },
  { apiVersion: 'apps/v1', group: 'apps', kind: 'ReplicaSet' },
  { apiVersion: 'apps/v1', group: 'apps', kind: 'StatefulSet' },
  { apiVersion: 'apps/v1', group: 'apps', kind: 'DaemonSet' },
  { apiVersion: 'batch/v1', group: 'batch', kind: 'Job' },
  { apiVersion: 'batch/v1', group: 'batch', kind: 'CronJob' },
];

/**
 * Page size of list calls: a big cluster is read in pages, not one response of every Pod, and each page is
 * small even when its objects are large (the API server allows 1.5 MiB each).
 */
const PAGE_SIZE = 50;

type ListResult = { items?: KubernetesObject[]; metadata?: { _continue?: string; continue?: string } };

/** Every object of a kind, each passed through `keep` as its page arrives, so only what it returns stays. */
async function listAll<T>(
  api: KubernetesObjectApi,
  apiVersion: string,
  kind: string,
  keep: (object: KubernetesObject) => T,
  namespace?: string,
  labelSelector?: string,
): Promise<T[]> {
  const items: T[] = [];
  let token: string | undefined;
  do {
    const page = (await api.list(
      apiVersion,
      kind,
      namespace,
      undefined,
      undefined,
      undefined,
      undefined,
      labelSelector,
      PAGE_SIZE,
      token,
    )) as ListResult;
    for (const item of page.items ?? []) items.push(keep(item));
    token = page.metadata?._continue ?? page.metadata?.continue;
  } while (token !== undefined && token !== '');
  return items;
}

/** RBAC: list on pods, replicationcontrollers, deployments, replicasets, statefulsets, daemonsets, jobs, cronjobs. */
export function createWorkloadLister(kc: KubeConfig): WorkloadLister {
  const api = KubernetesObjectApi.makeApiClient(kc);
  return {
    async list(namespace) {
      const lists = await Promise.all(
        WORKLOAD_KINDS.map(({ apiVersion, group, kind }) =>
          listAll(
            api,
            apiVersion,
            kind,
            (object): ListedObject => ({
              apiVersion,
              kind: { group, kind },
              object: workloadEssentials({ group, kind }, plain(object)),
            }),
            namespace,
          ),
        ),
      );
      return lists.flat();
    },
  };
}

/** client-node hands back class instances with Date fields; decisions read plain JSON, as a webhook gets it. */
function plain(object: unknown): unknown {
  return JSON.parse(JSON.stringify(object)) as unknown;
}

const REPORT_KINDS = { namespaced: 'PolicyReport', cluster: 'ClusterPolicyReport' } as const;

/**
 * RBAC: list and create on policyreports, get, update and delete on those named "provenant"; create on
 * clusterpolicyreports, get and update on the one named "provenant".
 */
export function createReportStore(kc: KubeConfig): ReportStore {
  const api = KubernetesObjectApi.makeApiClient(kc);
  const selector = Object.entries(MANAGED_BY)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const stored = (object: KubernetesObject): StoredReport => ({
    ...(object.metadata?.namespace === undefined ? {} : { namespace: object.metadata.namespace }),
    name: object.metadata?.name ?? '',
    object: plain(object),
  });
  const read = async (kind: string, name: string, namespace?: string) => {
    try {
      return await api.read({
        apiVersion: REPORT_API_VERSION,
        kind,
        metadata: { name, ...(namespace === undefined ? {} : { namespace }) },
      });
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  };
  return {
    async listReports() {
      return listAll(api, REPORT_API_VERSION, REPORT_KINDS.namespaced, stored, undefined, selector);
    },
    async readClusterReport(name) {
      const object = await read(REPORT_KINDS.cluster, name);
      return object === undefined ? undefined : stored(object);
    },
    async putReport(report: PolicyReportObject) {
      const body = plain(report) as KubernetesObject;
      // One retry: a conflict means another writer (a former leader) wrote in between; ours is newer.
      for (let attempt = 0; ; attempt++) {
        const current = await read(report.kind, report.metadata.name, report.metadata.namespace);
        try {
          if (current === undefined) await api.create(body);
          else
            await api.replace({
              ...body,
              metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion ?? '' },
            } as KubernetesObject);
          return;
        } catch (err) {
          if (statusOf(err) !== 409 || attempt > 0) throw err;
        }
      }
    },
    async deleteReport(namespace, name) {
      try {
        await api.delete({
          apiVersion: REPORT_API_VERSION,
          kind: REPORT_KINDS.namespaced,
          metadata: { name, namespace },
        });
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
    },
  };
}

/** The component Events name as their source. */
const EVENT_COMPONENT = 'provenant-background';

/** RBAC: create on events (core). */
export function createEventSink(kc: KubeConfig, instance: string): EventSink {
  const api = KubernetesObjectApi.makeApiClient(kc);
  return {
    async warning(regarding, reason, message) {
      const now = new Date();
      await api.create({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: {
          // As client-go names Events: the object's name and the time in hex nanoseconds.
          name: `${regarding.name}.${(BigInt(now.getTime()) * 1_000_000n).toString(16)}`,
          namespace: regarding.namespace,
          labels: { ...MANAGED_BY },
        },
        involvedObject: {
          apiVersion: regarding.apiVersion,
          kind: regarding.kind,
          namespace: regarding.namespace,
          name: regarding.name,
          ...(regarding.uid === undefined ? {} : { uid: regarding.uid }),
        },
        reason,
        // The API server keeps at most 1 KiB of an Event message in view; keep well under its hard limit.
        message: message.length > 1024 ? `${message.slice(0, 1023)}…` : message,
        type: 'Warning',
        source: { component: EVENT_COMPONENT },
        reportingComponent: EVENT_COMPONENT,
        reportingInstance: instance.slice(0, 128),
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      } as KubernetesObject);
    },
  };
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** RBAC: patch on clusterimagepolicies/status and imagepolicies/status. */
export function createViolationStatusWriter(kc: KubeConfig): ViolationStatusWriter {
  const api = kc.makeApiClient(CustomObjectsApi);
  return {
    async write(policy, violatingWorkloads, checkedAt) {
      // A merge patch of two fields: the Ready condition written by every replica is left as it is.
      const body = {
        status: {
          violatingWorkloads,
          lastBackgroundCheck: checkedAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
        },
      };
      const common = { group: API_GROUP, version: 'v1alpha1', name: policy.name, body };
      try {
        if (policy.namespace === undefined) {
          await api.patchClusterCustomObjectStatus({ ...common, plural: 'clusterimagepolicies' }, mergePatch);
        } else {
          await api.patchNamespacedCustomObjectStatus(
            { ...common, plural: 'imagepolicies', namespace: policy.namespace },
            mergePatch,
          );
        }
      } catch (err) {
        // Deleted meanwhile: nothing to count on.
        if (statusOf(err) !== 404) throw err;
      }
    },
  };
}

/** MicroTime as the API server parses it: RFC 3339 with exactly six fractional digits. */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function toDate(value: unknown): Date | undefined {
  if (value instanceof Date) return value;
  if (typeof value !== 'string') return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** RBAC: get, create, update on leases (coordination.k8s.io) in the release namespace. */
export function createLeaseApi(kc: KubeConfig): LeaseApi {
  const api = KubernetesObjectApi.makeApiClient(kc);
  const body = (namespace: string, name: string, spec: LeaseSpec, resourceVersion?: string) =>
    ({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace, ...(resourceVersion === undefined ? {} : { resourceVersion }) },
      spec: {
        holderIdentity: spec.holderIdentity,
        leaseDurationSeconds: spec.leaseDurationSeconds,
        acquireTime: microTime(spec.acquireTime),
        renewTime: microTime(spec.renewTime),
        leaseTransitions: spec.leaseTransitions,
      },
    }) as unknown as KubernetesObject;
  return {
    async read(namespace, name): Promise<LeaseRecord | undefined> {
      let lease: KubernetesObject & { spec?: Record<string, unknown> };
      try {
        lease = await api.read({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
        });
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
      const spec = lease.spec ?? {};
      const holder = spec['holderIdentity'];
      const duration = spec['leaseDurationSeconds'];
      const transitions = spec['leaseTransitions'];
      const acquireTime = toDate(spec['acquireTime']);
      const renewTime = toDate(spec['renewTime']);
      return {
        resourceVersion: lease.metadata?.resourceVersion ?? '',
        ...(typeof holder === 'string' ? { holderIdentity: holder } : {}),
        ...(typeof duration === 'number' ? { leaseDurationSeconds: duration } : {}),
        ...(typeof transitions === 'number' ? { leaseTransitions: transitions } : {}),
        ...(acquireTime === undefined ? {} : { acquireTime }),
        ...(renewTime === undefined ? {} : { renewTime }),
      };
    },
    async create(namespace, name, spec) {
      try {
        await api.create(body(namespace, name, spec));
        return 'created';
      } catch (err) {
        if (statusOf(err) === 409) return 'conflict';
        throw err;
      }
    },
    async replace(namespace, name, resourceVersion, spec) {
      try {
        await api.replace(body(namespace, name, spec, resourceVersion));
        return 'updated';
      } catch (err) {
        if (statusOf(err) === 409) return 'conflict';
        throw err;
      }
    },
  };
}
