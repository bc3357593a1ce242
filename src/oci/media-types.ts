export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

/**
 * Every manifest type we accept, lists first. Sending all four matters: a registry that is not told about
 * index types may hand back one platform's manifest, and one told nothing may convert to schema1, each
 * with a different digest than the one that was signed.
 */
export const MANIFEST_MEDIA_TYPES = [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST] as const;

export type ManifestMediaType = (typeof MANIFEST_MEDIA_TYPES)[number];

export function isManifestMediaType(value: string): value is ManifestMediaType {
  return (MANIFEST_MEDIA_TYPES as readonly string[]).includes(value);
}

export function isIndexMediaType(value: string): boolean {
  return value === OCI_INDEX || value === DOCKER_MANIFEST_LIST;
}

/** The media type of a Content-Type header without parameters, lowercased: `a/b; charset=x` → `a/b`. */
export function baseMediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
}
