/**
 * AdmissionReviews for the webhook suites, built from the rendered fixtures in
 * test/fixtures/admission-review/rendered/ (what kube-apiserver sends) with their images swapped for real ones
 * in the test registry, and a JSONPatch applier to check what /mutate answers.
 */
import { randomUUID } from 'node:crypto';
import { readFixture } from '../admission/fixtures.js';

export interface ReviewJson {
  apiVersion: string;
  kind: string;
  request: {
    uid: string;
    namespace?: string;
    object: Record<string, unknown> | null;
    oldObject: Record<string, unknown> | null;
    [key: string]: unknown;
  };
}

/**
 * The rendered fixture `name` with every `image` field replaced through `images` (fixture image → real image),
 * and a fresh uid. An image the map does not name is an error: a forgotten one would reach the internet.
 */
export function reviewWithImages(name: string, images: Readonly<Record<string, string>>): ReviewJson {
  const review = readFixture(`rendered/${name}`) as unknown as ReviewJson;
  replaceImages(review.request, images);
  review.request.uid = randomUUID();
  return review;
}

/** `pod-create.json` (Pod shop/web) with exactly these containers and no init containers. */
export function podReview(
  containers: readonly { name: string; image: string }[],
  options: { namespace?: string } = {},
): ReviewJson {
  const review = readFixture('rendered/pod-create.json') as unknown as ReviewJson;
  const pod = review.request.object as { metadata: Record<string, unknown>; spec: Record<string, unknown> };
  pod.spec['containers'] = containers.map((c) => ({ ...c }));
  delete pod.spec['initContainers'];
  if (options.namespace !== undefined) {
    review.request.namespace = options.namespace;
    pod.metadata['namespace'] = options.namespace;
  }
  review.request.uid = randomUUID();
  return review;
}

/** An UPDATE of `review`'s object to `object`, as the API server sends it. */
export function updateReview(previous: ReviewJson, object: Record<string, unknown>): ReviewJson {
  return {
    ...previous,
    request: {
      ...previous.request,
      uid: randomUUID(),
      operation: 'UPDATE',
      object,
      oldObject: previous.request.object,
      options: { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
}

function replaceImages(node: unknown, images: Readonly<Record<string, string>>): void {
  if (Array.isArray(node)) {
    for (const item of node) replaceImages(item, images);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const record = node as Record<string, unknown>;
  for (const [key, value] of Object.entries(record)) {
    // Container images, and image volumes' `image.reference`.
    const isImage = key === 'image' || (key === 'reference' && isImageVolumeSource(record));
    if (isImage && typeof value === 'string') {
      const replacement = images[value];
      if (replacement === undefined) throw new Error(`fixture image ${value} has no replacement`);
      record[key] = replacement;
    } else {
      replaceImages(value, images);
    }
  }
}

function isImageVolumeSource(record: Record<string, unknown>): boolean {
  return Object.keys(record).every((k) => k === 'reference' || k === 'pullPolicy');
}

export interface JsonPatchOperation {
  op: string;
  path: string;
  value?: unknown;
}

export function decodePatch(patch: string | undefined): JsonPatchOperation[] {
  if (patch === undefined) return [];
  return JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as JsonPatchOperation[];
}

/** Applies RFC 6902 `replace` operations (all /mutate sends) to a copy of `object`, as the API server would. */
export function applyPatch<T>(object: T, ops: readonly JsonPatchOperation[]): T {
  const copy = structuredClone(object);
  for (const op of ops) {
    if (op.op !== 'replace') throw new Error(`unexpected JSONPatch op ${op.op}`);
    const segments = op.path
      .split('/')
      .slice(1)
      .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
    const last = segments.pop();
    let parent: unknown = copy;
    for (const segment of segments) parent = (parent as Record<string, unknown>)[segment];
    if (last === undefined || typeof parent !== 'object' || parent === null || !(last in parent)) {
      throw new Error(`JSONPatch replace of a missing path ${op.path}`);
    }
    (parent as Record<string, unknown>)[last] = op.value;
  }
  return copy;
}

/** Every container image of a pod spec at `specPath` (`spec` for a Pod, `spec.template.spec` for controllers). */
export function containerImages(object: unknown, specPath: readonly string[]): Record<string, string> {
  let spec: unknown = object;
  for (const segment of specPath) spec = (spec as Record<string, unknown>)[segment];
  const out: Record<string, string> = {};
  for (const list of ['containers', 'initContainers', 'ephemeralContainers']) {
    for (const c of ((spec as Record<string, unknown>)[list] ?? []) as { name: string; image: string }[]) {
      out[c.name] = c.image;
    }
  }
  return out;
}

/** Escapes text for use inside a RegExp. */
export function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
