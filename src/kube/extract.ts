/**
 * Lists the images a workload would run, with the JSON pointer of each `image` field so that the mutating
 * webhook can pin it and the deny message can name the container. Pure: the object comes from the request.
 *
 * The object is attacker-controlled until the API server has validated it (mutating webhooks run before
 * schema validation), so every step checks shapes and reports INVALID_REQUEST instead of throwing TypeErrors.
 */
import { ProvenantError } from '../errors.js';

export type ContainerKind = 'container' | 'initContainer' | 'ephemeralContainer';

export interface ImageUse {
  readonly image: string;
  readonly container: string;
  readonly kind: ContainerKind;
  /** RFC 6901 pointer to the `image` field, e.g. `/spec/template/spec/containers/0/image`. */
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

export function isSupportedKind(kind: ObjectKind): boolean {
  return POD_SPEC_PATHS.has(`${kind.group}/${kind.kind}`);
}

/** Every image the object names, in spec order: containers, then init containers, then ephemeral containers. */
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
      const name = own(container, 'name');
      uses.push({
        image,
        container: typeof name === 'string' && name !== '' ? name : `#${index}`,
        kind: list.kind,
        fieldPath: toPointer([...itemPath, 'image']),
      });
    });
  }
  return uses;
}

/**
 * The object's pod spec (a Pod's, or a controller's pod template's), or undefined when the kind has none
 * or the object is not shaped like one. Lenient: extractImageUses reports shape problems.
 */
export function podSpecOf(kind: ObjectKind, object: unknown): Record<string, unknown> | undefined {
  const path = POD_SPEC_PATHS.get(`${kind.group}/${kind.kind}`);
  let node: unknown = object;
  for (const segment of path ?? []) node = isRecord(node) ? own(node, segment) : undefined;
  return path !== undefined && isRecord(node) ? node : undefined;
}

/**
 * The uses an UPDATE must verify: containers that are new or whose image changed. A container is identified
 * by its list and name, as Kubernetes does; an unchanged image was admitted when it was set.
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
