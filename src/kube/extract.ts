/**
 * Lists the images a workload would make a node pull, with the JSON pointer of each field so that the
 * mutating webhook can pin it and the deny message can name the container or volume. Pure: the object comes
 * from the request.
 *
 * Fields through which a Pod makes the kubelet pull an image, audited against the Kubernetes 1.36 PodSpec
 * (k8s.io/api v0.36 core/v1): `containers[].image`, `initContainers[].image` (sidecars included),
 * `ephemeralContainers[].image` and `volumes[].image.reference` (image volumes, on by default since 1.35).
 * Every other PodSpec field was checked and pulls nothing: `volumes[].rbd.image` names a Ceph block device,
 * `runtimeClassName` selects a handler whose sandbox image is node configuration, `resourceClaims` and
 * `volumes[].csi`/`ephemeral` hand opaque attributes to drivers (a CSI driver that pulls images from its
 * `volumeAttributes` is outside what a Pod spec can declare; docs/security.md says so).
 *
 * The object is attacker-controlled until the API server has validated it (mutating webhooks run before
 * schema validation), so every step checks shapes and reports INVALID_REQUEST instead of throwing TypeErrors.
 */
import { ProvenantError } from '../errors.js';

export type ContainerKind = 'container' | 'initContainer' | 'ephemeralContainer' | 'imageVolume';

export interface ImageUse {
  readonly image: string;
  /** The container's name, or the volume's for `imageVolume` (messages say which). */
  readonly container: string;
  readonly kind: ContainerKind;
  /**
   * RFC 6901 pointer to the image field, e.g. `/spec/template/spec/containers/0/image` or
   * `/spec/volumes/2/image/reference`.
   */
  readonly fieldPath: string;
}

/** The API group and kind of the object; the version does not matter because pod specs are the same in all. */
export interface ObjectKind {
  readonly group: string;
  readonly kind: string;
}

// Where each supported kind keeps its pod spec. Keyed by `group/kind` so that a CRD reusing a core kind name
// ("Deployment" in some other group) is not mistaken for the real one.
const POD_SPEC_PATHS: ReadonlyMap<string, readonly string[]> = new Map([
  ['/Pod', ['spec']],
  ['/ReplicationController', ['spec', 'template', 'spec']],
  ['apps/Deployment', ['spec', 'template', 'spec']],
  ['apps/ReplicaSet', ['spec', 'template', 'spec']],
  ['apps/StatefulSet', ['spec', 'template', 'spec']],
  ['apps/DaemonSet', ['spec', 'template', 'spec']],
  ['batch/Job', ['spec', 'template', 'spec']],
  ['batch/CronJob', ['spec', 'jobTemplate', 'spec', 'template', 'spec']],
]);

const CONTAINER_LISTS: readonly { readonly field: string; readonly kind: ContainerKind }[] = [
  { field: 'containers', kind: 'container' },
  { field: 'initContainers', kind: 'initContainer' },
  { field: 'ephemeralContainers', kind: 'ephemeralContainer' },
];

/** Where the kind keeps its pod spec (`['spec']` for a Pod), or undefined for a kind Provenant does not decide. */
export function podSpecPath(kind: ObjectKind): readonly string[] | undefined {
  return POD_SPEC_PATHS.get(`${kind.group}/${kind.kind}`);
}

export function isSupportedKind(kind: ObjectKind): boolean {
  return POD_SPEC_PATHS.has(`${kind.group}/${kind.kind}`);
}

/**
 * Every image the object names, in spec order: containers, init containers, ephemeral containers, then
 * image volumes.
 */
export function extractImageUses(kind: ObjectKind, object: unknown): ImageUse[] {
  const path = POD_SPEC_PATHS.get(`${kind.group}/${kind.kind}`);
  if (path === undefined) {
    const gk = kind.group === '' ? kind.kind : `${kind.kind}.${kind.group}`;
    throw new ProvenantError(
      'INVALID_REQUEST',
      `unsupported kind "${gk}": Provenant reads images from Pods, Deployments, ReplicaSets, StatefulSets, ` +
        'DaemonSets, Jobs, CronJobs and ReplicationControllers; check the webhook rules',
    );
  }
  if (!isRecord(object)) throw new ProvenantError('INVALID_REQUEST', 'the object is not a JSON object');

  let node: Record<string, unknown> = object;
  const walked: string[] = [];
  for (const segment of path) {
    walked.push(segment);
    const next = own(node, segment);
    // A template without a pod spec runs nothing; the API server's own validation rejects it if it must.
    if (next === undefined || next === null) return [];
    if (!isRecord(next)) throw shapeError(walked, 'an object');
    node = next;
  }

  const uses: ImageUse[] = [];
  for (const list of CONTAINER_LISTS) {
    const containers = own(node, list.field);
    if (containers === undefined || containers === null) continue;
    const listPath = [...path, list.field];
    if (!Array.isArray(containers)) throw shapeError(listPath, 'a list');
    containers.forEach((container: unknown, index) => {
      const itemPath = [...listPath, String(index)];
      if (!isRecord(container)) throw shapeError(itemPath, 'an object');
      const image = own(container, 'image');
      // Controllers' templates may leave the image empty for a later mutator to fill in: nothing to pull yet.
      if (image === undefined || image === null || image === '') return;
      if (typeof image !== 'string') throw shapeError([...itemPath, 'image'], 'a string');
      uses.push({
        image,
        container: nameOf(container, index),
        kind: list.kind,
        fieldPath: toPointer([...itemPath, 'image']),
      });
    });
  }
  uses.push(...imageVolumeUses(node, [...path, 'volumes']));
  return uses;
}

/** `volumes[].image.reference`: the kubelet pulls it like a container image and mounts it into containers. */
function imageVolumeUses(podSpec: Record<string, unknown>, listPath: readonly string[]): ImageUse[] {
  const volumes = own(podSpec, 'volumes');
  if (volumes === undefined || volumes === null) return [];
  if (!Array.isArray(volumes)) throw shapeError(listPath, 'a list');
  const uses: ImageUse[] = [];
  volumes.forEach((volume: unknown, index) => {
    const itemPath = [...listPath, String(index)];
    if (!isRecord(volume)) throw shapeError(itemPath, 'an object');
    const source = own(volume, 'image');
    if (source === undefined || source === null) return;
    if (!isRecord(source)) throw shapeError([...itemPath, 'image'], 'an object');
    const reference = own(source, 'reference');
    // Optional in templates, like a container's image, for a later mutator to fill in.
    if (reference === undefined || reference === null || reference === '') return;
    if (typeof reference !== 'string') throw shapeError([...itemPath, 'image', 'reference'], 'a string');
    uses.push({
      image: reference,
      container: nameOf(volume, index),
      kind: 'imageVolume',
      fieldPath: toPointer([...itemPath, 'image', 'reference']),
    });
  });
  return uses;
}

function nameOf(item: Record<string, unknown>, index: number): string {
  const name = own(item, 'name');
  return typeof name === 'string' && name !== '' ? name : `#${index}`;
}

/**
 * The object's pod spec (a Pod's, or a controller's pod template's), or undefined when the kind has none
 * or the object is not shaped like one. Lenient: extractImageUses reports shape problems.
 */
export function podSpecOf(kind: ObjectKind, object: unknown): Record<string, unknown> | undefined {
  const path = podSpecPath(kind);
  let node: unknown = object;
  for (const segment of path ?? []) node = isRecord(node) ? own(node, segment) : undefined;
  return path !== undefined && isRecord(node) ? node : undefined;
}

/**
 * The uses an UPDATE must verify: containers and image volumes that are new or whose image changed. Each is
 * identified by its list and name, as Kubernetes does; an unchanged image was admitted when it was set.
 * Without `previous` (CREATE, or an unreadable oldObject) everything is verified.
 */
export function imageUsesToVerify(current: readonly ImageUse[], previous?: readonly ImageUse[]): ImageUse[] {
  if (previous === undefined) return [...current];
  const before = new Map(previous.map((use) => [`${use.kind}\u0000${use.container}`, use.image]));
  return current.filter((use) => before.get(`${use.kind}\u0000${use.container}`) !== use.image);
}

/** Distinct image strings in first-seen order: each is verified once per request however many containers use it. */
export function distinctImages(uses: readonly ImageUse[]): string[] {
  return [...new Set(uses.map((use) => use.image))];
}

/** RFC 6901: `~` and `/` inside a segment are escaped as `~0` and `~1`. */
export function toPointer(segments: readonly string[]): string {
  return segments.map((s) => '/' + s.replaceAll('~', '~0').replaceAll('/', '~1')).join('');
}

function shapeError(segments: readonly string[], expected: string): ProvenantError {
  return new ProvenantError('INVALID_REQUEST', `${segments.join('.')} must be ${expected}`);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Own properties only: attacker JSON may carry `__proto__` or `constructor` keys that must not resolve. */
export function own(record: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
