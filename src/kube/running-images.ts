/**
 * The images a Pod actually runs. A Pod's spec names what was asked for (`nginx:1.27`); the kubelet writes
 * what it pulled into `status.containerStatuses[].imageID`, usually as a registry digest
 * (`docker.io/library/nginx@sha256:…`, `docker-pullable://nginx@sha256:…` from dockershim). Re-deciding a
 * running Pod by its tag would judge whatever the tag points at today; judging `tag@digest` judges what
 * runs, so a tag moved since the Pod started cannot hide an unsigned image. Pure: the Pod comes from the
 * API server, and every field is still checked before use.
 */
import { isRecord, own } from './extract.js';

const DIGEST = /^(sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$/;
/** imageIDs are a reference plus a digest; anything longer is not one. */
const MAX_IMAGE_ID_CHARS = 4096;

/**
 * The registry digest in an imageID, or undefined when it has none. A bare `sha256:…` (CRI-O, or an image
 * loaded into the node without a registry) or `docker://sha256:…` is a local image ID, the digest of the
 * image config, not of a manifest in any registry: it cannot be looked up, so it gives no digest.
 */
export function registryDigestOf(imageId: unknown): string | undefined {
  if (typeof imageId !== 'string' || imageId.length > MAX_IMAGE_ID_CHARS) return undefined;
  const withoutScheme = imageId.replace(/^[a-z][a-z0-9+.-]*:\/\//, '');
  const at = withoutScheme.lastIndexOf('@');
  if (at <= 0) return undefined;
  const digest = withoutScheme.slice(at + 1);
  return DIGEST.test(digest) ? digest : undefined;
}

/** `repo:tag` (or `repo:tag@old`) with the digest that runs: the tag stays for policy globs and messages. */
export function pinToDigest(image: string, digest: string): string {
  const at = image.indexOf('@');
  return `${at === -1 ? image : image.slice(0, at)}@${digest}`;
}

export interface RunningImage {
  readonly container: string;
  /** As the spec names it. */
  readonly image: string;
  /** What is decided: the spec image pinned to the digest the kubelet reported. */
  readonly running: string;
}

export interface PodAsRun {
  /** The Pod with every image the kubelet reported a registry digest for pinned to that digest. */
  readonly object: unknown;
  readonly pinned: readonly RunningImage[];
}

const LISTS = [
  { spec: 'containers', status: 'containerStatuses' },
  { spec: 'initContainers', status: 'initContainerStatuses' },
  { spec: 'ephemeralContainers', status: 'ephemeralContainerStatuses' },
] as const;

/**
 * A copy of the Pod whose container images are those it runs. Containers without a status (not started,
 * no kubelet) or without a registry digest keep their spec image, and are decided as the webhook would.
 */
export function podAsRun(pod: unknown): PodAsRun {
  if (!isRecord(pod)) return { object: pod, pinned: [] };
  const spec = own(pod, 'spec');
  const status = own(pod, 'status');
  if (!isRecord(spec) || !isRecord(status)) return { object: pod, pinned: [] };
  const pinned: RunningImage[] = [];
  const nextSpec: Record<string, unknown> = { ...spec };
  for (const list of LISTS) {
    const containers = own(spec, list.spec);
    const statuses = own(status, list.status);
    if (!Array.isArray(containers) || !Array.isArray(statuses)) continue;
    const digests = new Map<string, string>();
    for (const entry of statuses as unknown[]) {
      if (!isRecord(entry)) continue;
      const name = own(entry, 'name');
      const digest = registryDigestOf(own(entry, 'imageID'));
      if (typeof name === 'string' && digest !== undefined) digests.set(name, digest);
    }
    nextSpec[list.spec] = (containers as unknown[]).map((container) => {
      if (!isRecord(container)) return container;
      const name = own(container, 'name');
      const image = own(container, 'image');
      const digest = typeof name === 'string' ? digests.get(name) : undefined;
      if (digest === undefined || typeof image !== 'string' || image === '') return container;
      const running = pinToDigest(image, digest);
      if (running === image) return container;
      pinned.push({ container: name as string, image, running });
      return { ...container, image: running };
    });
  }
  return { object: pinned.length === 0 ? pod : { ...pod, spec: nextSpec }, pinned };
}
