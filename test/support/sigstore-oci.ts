/**
 * Attaches a Sigstore bundle to an image as an OCI 1.1 referrer, the way cosign 3 stores `cosign sign` and
 * `cosign attest` output (formats.md §2.2) — for bundles made with @sigstore/sign, which cannot push.
 *
 * distribution 2.8 has no referrers API, so the referrer must also be listed in the fallback index under the
 * tag `sha256-<hex>` (§2.3). The manifest is pushed with crane, and go-containerregistry maintains that index
 * itself when a pushed manifest has a `subject` and the registry does not acknowledge it (no `OCI-Subject`
 * header): the same code path cosign 3 uses, so the index looks exactly like cosign's.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  digestTag,
  fetchManifest,
  MEDIA_TYPES,
  pushManifest,
  runToolOrThrow,
  sha256Digest,
  toolEnv,
  toolSandbox,
} from './images.js';
import { toolPath, type TestRegistry } from './registry.js';
import type { SerializedBundle } from './sigstore.js';

export const OCI_EMPTY_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';
const EMPTY_JSON = Buffer.from('{}');

export interface AttachBundleOptions {
  /**
   * How the fallback index lists the referrer:
   * - `go-containerregistry` (default): as crane and cosign 3 leave it — `artifactType` taken from the config
   *   media type (`application/vnd.oci.empty.v1+json`), no annotations;
   * - `annotated`: as @sigstore/oci writes it and as a registry with the referrers API would answer —
   *   `artifactType` = the bundle media type, with the manifest's annotations.
   */
  index?: 'go-containerregistry' | 'annotated';
  /** `org.opencontainers.image.created`; default now. */
  created?: Date;
}

export interface AttachedReferrer {
  /** Digest of the referrer manifest. */
  digest: string;
  /** Digest of the bundle blob (the manifest's only layer). */
  bundleDigest: string;
  manifest: Buffer;
  /** `host/repo:sha256-<hex>`, the fallback index listing the referrer. */
  fallbackTagRef: string;
}

/**
 * Pushes `bundleJson` as a referrer of `imageDigest` in `repo` (`name/space` or `host/name/space`), with
 * cosign 3's manifest layout: artifactType and single layer = the bundle media type, empty config, the image as
 * `subject`, and the `dev.sigstore.bundle.*` annotations. Attaching to one image concurrently races on the
 * fallback index (read-modify-write of one tag), so callers serialise per image.
 */
export async function attachBundleReferrer(
  reg: TestRegistry,
  repo: string,
  imageDigest: string,
  bundleJson: SerializedBundle | string,
  options: AttachBundleOptions = {},
): Promise<AttachedReferrer> {
  const repository = repo.startsWith(`${reg.host}/`) ? repo : `${reg.host}/${repo}`;
  const subject = await fetchManifest(reg, `${repository}@${imageDigest}`);
  if (subject === null) throw new Error(`no manifest ${repository}@${imageDigest} to attach to`);
  const subjectMediaType = (JSON.parse(subject.toString('utf8')) as { mediaType?: string }).mediaType;
  if (subjectMediaType === undefined) throw new Error(`${repository}@${imageDigest} has no mediaType`);

  const bundleBytes = Buffer.from(typeof bundleJson === 'string' ? bundleJson : JSON.stringify(bundleJson));
  const bundle = JSON.parse(bundleBytes.toString('utf8')) as SerializedBundle;
  const bundleMediaType = bundle.mediaType;
  const annotations: Record<string, string> = {
    'dev.sigstore.bundle.content': bundle.dsseEnvelope ? 'dsse-envelope' : 'message-signature',
  };
  const predicateType = predicateTypeOf(bundle);
  if (predicateType !== undefined) annotations['dev.sigstore.bundle.predicateType'] = predicateType;
  // cosign writes RFC 3339 with whole seconds.
  annotations['org.opencontainers.image.created'] = (options.created ?? new Date())
    .toISOString()
    .replace(/\.\d+Z$/, 'Z');

  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      artifactType: bundleMediaType,
      config: { mediaType: OCI_EMPTY_MEDIA_TYPE, digest: sha256Digest(EMPTY_JSON), size: EMPTY_JSON.length },
      layers: [{ mediaType: bundleMediaType, digest: sha256Digest(bundleBytes), size: bundleBytes.length }],
      subject: { mediaType: subjectMediaType, digest: imageDigest, size: subject.length },
      annotations,
    }),
  );
  const digest = await pushManifest(reg, `${repository}@${sha256Digest(manifest)}`, manifest, [
    EMPTY_JSON,
    bundleBytes,
  ]);

  const fallbackTagRef = `${repository}:${digestTag(imageDigest)}`;
  const index = await fetchManifest(reg, fallbackTagRef);
  const parsed = index === null ? undefined : (JSON.parse(index.toString('utf8')) as FallbackIndex);
  const listed = parsed?.manifests.find((m) => m.digest === digest);
  if (parsed === undefined || listed === undefined) {
    throw new Error(`crane did not list ${digest} in the fallback index ${fallbackTagRef}`);
  }
  if (options.index === 'annotated') {
    const rewritten: FallbackIndex = {
      ...parsed,
      manifests: parsed.manifests.map((m) =>
        m.digest === digest ? { ...m, artifactType: bundleMediaType, annotations } : m,
      ),
    };
    await putManifest(reg, fallbackTagRef, Buffer.from(JSON.stringify(rewritten)), MEDIA_TYPES.ociIndex);
  }
  return { digest, bundleDigest: sha256Digest(bundleBytes), manifest, fallbackTagRef };
}

interface FallbackIndex {
  schemaVersion: number;
  mediaType: string;
  manifests: Array<
    { mediaType: string; digest: string; size: number; artifactType?: string } & Record<string, unknown>
  >;
}

function predicateTypeOf(bundle: SerializedBundle): string | undefined {
  const envelope = bundle.dsseEnvelope;
  if (envelope?.payloadType !== 'application/vnd.in-toto+json') return undefined;
  const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as {
    predicateType?: unknown;
  };
  return typeof statement.predicateType === 'string' ? statement.predicateType : undefined;
}

/**
 * PUTs manifest bytes as they are. crane can only push what it can rebuild from a layout, which for an index
 * means every listed manifest and its blobs; oras sends the bytes alone.
 */
async function putManifest(
  reg: TestRegistry,
  ref: string,
  manifest: Buffer,
  mediaType: string,
): Promise<void> {
  const dir = await mkdtemp(join(toolSandbox().root, 'manifest-'));
  try {
    const file = join(dir, 'manifest.json');
    await writeFile(file, manifest);
    const args = ['manifest', 'push', '--media-type', mediaType];
    if (!reg.tls) args.push('--plain-http');
    if (reg.tls && reg.caFile !== undefined) args.push('--ca-file', reg.caFile);
    if (reg.dockerConfigDir !== undefined)
      args.push('--registry-config', join(reg.dockerConfigDir, 'config.json'));
    await runToolOrThrow(toolPath('oras'), [...args, ref, file], { env: toolEnv(reg) });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
