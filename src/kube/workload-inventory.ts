/**
 * Which objects of a cluster an audit decides, and whose they are. Pure: the objects come from list calls.
 *
 * Every Pod is decided with the images it runs (running-images.ts), and every pod controller with its pod
 * template, which is what its next Pod will run. A ReplicaSet that a Deployment controls, and a Job that a
 * CronJob controls, are not decided on their own: their template is their owner's (an older revision's
 * ReplicaSet still running Pods is covered by those Pods). Each Pod names its top-level owner (a Pod of a
 * Deployment names the Deployment, through its ReplicaSet), so counts of violating workloads count a
 * Deployment with three failing Pods once.
 */
import { isRecord, own, type ObjectKind } from './extract.js';
import { podAsRun, type RunningImage } from './running-images.js';

/** An object as listed from the API server, with the group and kind it was listed as. */
export interface ListedObject {
  readonly apiVersion: string;
  readonly kind: ObjectKind;
  readonly object: unknown;
}

export interface ObjectIdentity {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
}

export interface AuditSubject {
  readonly ref: ObjectIdentity;
  readonly kind: ObjectKind;
  /** What is decided: a Pod with the images it runs, or the controller as it is. */
  readonly object: unknown;
  /** The outermost controller (through ownerReferences), when there is one. */
  readonly owner?: ObjectIdentity;
  /** For a Pod: the containers decided by the digest the kubelet reported rather than by their spec image. */
  readonly running: readonly RunningImage[];
}

/** Key of the workload a subject belongs to: its top-level owner's, or its own. */
export function workloadKey(subject: Pick<AuditSubject, 'ref' | 'owner'>): string {
  const ref = subject.owner ?? subject.ref;
  return `${ref.kind}/${ref.namespace}/${ref.name}`;
}

const MAX_OWNER_DEPTH = 8;

export function auditSubjects(listed: readonly ListedObject[]): AuditSubject[] {
  const byUid = new Map<string, ListedObject>();
  for (const entry of listed) {
    const uid = identityOf(entry)?.uid;
    if (uid !== undefined) byUid.set(uid, entry);
  }
  const subjects: AuditSubject[] = [];
  for (const entry of listed) {
    const ref = identityOf(entry);
    if (ref === undefined) continue;
    const parent = controllerOf(entry.object, ref.namespace);
    if (parent !== undefined && templateComesFrom(entry.kind, parent)) continue;
    const owner = topOwner(entry, ref.namespace, byUid);
    const isPod = entry.kind.group === '' && entry.kind.kind === 'Pod';
    const asRun = isPod ? podAsRun(entry.object) : { object: entry.object, pinned: [] };
    subjects.push({
      ref,
      kind: entry.kind,
      object: asRun.object,
      ...(owner === undefined ? {} : { owner }),
      running: asRun.pinned,
    });
  }
  return subjects;
}

/** A ReplicaSet of a Deployment, or a Job of a CronJob, runs its owner's template. */
function templateComesFrom(kind: ObjectKind, parent: ObjectIdentity): boolean {
  return (
    (kind.group === 'apps' &&
      kind.kind === 'ReplicaSet' &&
      parent.kind === 'Deployment' &&
      parent.apiVersion.startsWith('apps/')) ||
    (kind.group === 'batch' &&
      kind.kind === 'Job' &&
      parent.kind === 'CronJob' &&
      parent.apiVersion.startsWith('batch/'))
  );
}

function topOwner(
  entry: ListedObject,
  namespace: string,
  byUid: ReadonlyMap<string, ListedObject>,
): ObjectIdentity | undefined {
  let owner = controllerOf(entry.object, namespace);
  for (let depth = 0; owner !== undefined && depth < MAX_OWNER_DEPTH; depth++) {
    const listedOwner = owner.uid === undefined ? undefined : byUid.get(owner.uid);
    const next = listedOwner === undefined ? undefined : controllerOf(listedOwner.object, namespace);
    if (next === undefined) return owner;
    owner = next;
  }
  return owner;
}

function metadataOf(object: unknown): Record<string, unknown> {
  const metadata = isRecord(object) ? own(object, 'metadata') : undefined;
  return isRecord(metadata) ? metadata : {};
}

function identityOf(entry: ListedObject): ObjectIdentity | undefined {
  const meta = metadataOf(entry.object);
  const name = own(meta, 'name');
  const namespace = own(meta, 'namespace');
  const uid = own(meta, 'uid');
  if (typeof name !== 'string' || name === '' || typeof namespace !== 'string' || namespace === '') {
    return undefined;
  }
  return {
    apiVersion: entry.apiVersion,
    kind: entry.kind.kind,
    namespace,
    name,
    ...(typeof uid === 'string' && uid !== '' ? { uid } : {}),
  };
}

/** The ownerReference with `controller: true` (owners are always in the same namespace). */
function controllerOf(object: unknown, namespace: string): ObjectIdentity | undefined {
  const refs = own(metadataOf(object), 'ownerReferences');
  if (!Array.isArray(refs)) return undefined;
  for (const ref of refs as unknown[]) {
    if (!isRecord(ref) || own(ref, 'controller') !== true) continue;
    const apiVersion = own(ref, 'apiVersion');
    const kind = own(ref, 'kind');
    const name = own(ref, 'name');
    const uid = own(ref, 'uid');
    if (typeof apiVersion !== 'string' || typeof kind !== 'string' || typeof name !== 'string') continue;
    return { apiVersion, kind, namespace, name, ...(typeof uid === 'string' ? { uid } : {}) };
  }
  return undefined;
}
