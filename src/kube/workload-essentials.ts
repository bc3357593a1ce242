/**
 * What deciding a listed workload reads, and nothing else: the background pass lists every workload of the
 * cluster, and whoever may create a ReplicaSet (with no replicas, so no quota) may fill its template with
 * megabytes of env values, which a pass used to hold for its whole length (150 such objects ran a 256 MiB
 * heap out of memory). Pure; applied to each object as its page arrives, so only these fields stay.
 *
 * Kept: kind and apiVersion; metadata's name, namespace, uid and ownerReferences (workload-inventory.ts);
 * in the pod spec (extract.ts), each container's name and image, image volumes, imagePullSecrets and the
 * service account (workload-pull-secrets.ts); a Pod's container statuses' name, image and imageID
 * (running-images.ts).
 */
import { isRecord, own, podSpecOf, podSpecPath, type ObjectKind } from './extract.js';

const CONTAINER_LISTS = ['containers', 'initContainers', 'ephemeralContainers'];
const STATUS_LISTS = ['containerStatuses', 'initContainerStatuses', 'ephemeralContainerStatuses'];
const OWNER_FIELDS = ['apiVersion', 'kind', 'name', 'uid', 'controller'];

export function workloadEssentials(kind: ObjectKind, object: unknown): unknown {
  if (!isRecord(object)) return object;
  const metadata = own(object, 'metadata');
  const trimmed: Record<string, unknown> = {
    ...pick(object, ['apiVersion', 'kind']),
    ...(isRecord(metadata) ? { metadata: trimMetadata(metadata) } : {}),
  };
  const path = podSpecPath(kind);
  const spec = podSpecOf(kind, object);
  if (path !== undefined && spec !== undefined) setAt(trimmed, path, trimPodSpec(spec));
  const status = own(object, 'status');
  if (path?.length === 1 && isRecord(status)) {
    trimmed['status'] = Object.fromEntries(
      STATUS_LISTS.flatMap((list) => listOf(status, list, ['name', 'image', 'imageID'])),
    );
  }
  return trimmed;
}

function trimMetadata(metadata: Record<string, unknown>): Record<string, unknown> {
  const owners = own(metadata, 'ownerReferences');
  return {
    ...pick(metadata, ['name', 'namespace', 'uid']),
    ...(Array.isArray(owners)
      ? { ownerReferences: owners.map((o: unknown) => (isRecord(o) ? pick(o, OWNER_FIELDS) : o)) }
      : {}),
  };
}

function trimPodSpec(spec: Record<string, unknown>): Record<string, unknown> {
  return {
    ...pick(spec, ['imagePullSecrets', 'serviceAccountName', 'serviceAccount']),
    ...Object.fromEntries(CONTAINER_LISTS.flatMap((list) => listOf(spec, list, ['name', 'image']))),
    // Every volume keeps its place (an image's position names it), but only an image volume its source.
    ...Object.fromEntries(listOf(spec, 'volumes', ['name', 'image'])),
  };
}

/** `[field, items with only `keep`]` when `field` is a list; a value of another shape is kept as it is. */
function listOf(node: Record<string, unknown>, field: string, keep: readonly string[]): [string, unknown][] {
  const value = own(node, field);
  if (value === undefined) return [];
  if (!Array.isArray(value)) return [[field, value]];
  return [[field, value.map((item: unknown) => (isRecord(item) ? pick(item, keep) : item))]];
}

function pick(node: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const key of keys) {
    const value = own(node, key);
    if (value !== undefined) picked[key] = value;
  }
  return picked;
}

function setAt(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const segment of path.slice(0, -1)) {
    const next = own(node, segment);
    node = (node[segment] = isRecord(next) ? next : {}) as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}
