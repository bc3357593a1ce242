import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpRegistry, type RegistryRequestEvent } from '../../../src/oci/http-registry.js';
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  OCI_INDEX,
  OCI_MANIFEST,
} from '../../../src/oci/media-types.js';
import { parseRepository } from '../../../src/oci/reference.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { deleteManifest, pushImage, pushIndex, sha256, targetOf, type Pushed } from './helpers.js';
import { codeOf } from '../../support/error-code.js';

describe('HttpRegistry against distribution 2.8 (plain HTTP, anonymous)', () => {
  let registry: TestRegistry;
  let client: HttpRegistry;
  const events: RegistryRequestEvent[] = [];
  let oci: Pushed & { layer: Pushed };
  let docker: Pushed & { layer: Pushed };
  let index: Pushed;
  let list: Pushed;

  beforeAll(async () => {
    registry = await startRegistry();
    client = new HttpRegistry({ insecureRegistries: [registry.host], onRequest: (e) => events.push(e) });
    const target = targetOf(registry);
    oci = await pushImage(target, 'demo/app', 'oci');
    docker = await pushImage(target, 'demo/app', 'docker', { docker: true });
    index = await pushIndex(target, 'demo/app', 'index', [oci, docker]);
    list = await pushIndex(target, 'demo/app', 'list', [docker], true);
  });

  afterAll(async () => {
    await client?.close();
    await registry?.stop();
  });

  const repo = () => parseRepository(`${registry.host}/demo/app`);

  it.each([
    ['oci', OCI_MANIFEST],
    ['docker', DOCKER_MANIFEST],
    ['index', OCI_INDEX],
    ['list', DOCKER_MANIFEST_LIST],
  ])('gets the %s manifest by tag with its exact bytes and digest', async (tag, mediaType) => {
    const pushed = { oci, docker, index, list }[tag as 'oci' | 'docker' | 'index' | 'list'];
    const manifest = await client.getManifest(repo(), tag);
    expect(manifest).not.toBeNull();
    expect(manifest?.mediaType).toBe(mediaType);
    expect(manifest?.digest).toBe(pushed.digest);
    expect(Buffer.from(manifest?.bytes ?? []).equals(pushed.bytes)).toBe(true);
  });

  it('gets a manifest by digest', async () => {
    const manifest = await client.getManifest(repo(), index.digest);
    expect(manifest?.digest).toBe(index.digest);
    expect(manifest?.mediaType).toBe(OCI_INDEX);
  });

  it('resolves tags to digests with HEAD', async () => {
    expect(await client.headManifest(repo(), 'index')).toBe(index.digest);
    expect(await client.headManifest(repo(), 'docker')).toBe(docker.digest);
    expect(await client.headManifest(repo(), oci.digest)).toBe(oci.digest);
  });

  it('returns null for a missing tag, digest or repository', async () => {
    const absent = sha256(randomBytes(32));
    expect(await client.getManifest(repo(), 'no-such-tag')).toBeNull();
    expect(await client.getManifest(repo(), absent)).toBeNull();
    expect(await client.headManifest(repo(), 'no-such-tag')).toBeNull();
    expect(await client.getManifest(parseRepository(`${registry.host}/no/such/repo`), 'v1')).toBeNull();
  });

  it('returns null once a manifest is deleted', async () => {
    const gone = await pushImage(targetOf(registry), 'demo/app', 'doomed');
    await deleteManifest(targetOf(registry), 'demo/app', gone.digest);
    expect(await client.getManifest(repo(), gone.digest)).toBeNull();
  });

  it('fetches a blob and checks its digest', async () => {
    const blob = await client.getBlob(repo(), oci.layer.digest, 1024);
    expect(Buffer.from(blob).equals(oci.layer.bytes)).toBe(true);
  });

  it('refuses a blob larger than the caller allows', async () => {
    expect(await codeOf(client.getBlob(repo(), oci.layer.digest, oci.layer.size - 1))).toBe(
      'REGISTRY_RESPONSE_INVALID',
    );
  });

  it('reports a blob the registry does not have as an invalid answer', async () => {
    expect(await codeOf(client.getBlob(repo(), sha256(randomBytes(8)), 1024))).toBe(
      'REGISTRY_RESPONSE_INVALID',
    );
  });

  it('refuses a manifest larger than the manifest limit', async () => {
    const small = new HttpRegistry({ insecureRegistries: [registry.host], limits: { maxManifestBytes: 64 } });
    try {
      expect(await codeOf(small.getManifest(repo(), 'oci'))).toBe('REGISTRY_RESPONSE_INVALID');
    } finally {
      await small.close();
    }
  });

  it('refuses a manifest longer than the caller allows, and reads one of exactly that size', async () => {
    const exact = await client.getManifest(repo(), oci.digest, { maxBytes: oci.bytes.length });
    expect(exact?.digest).toBe(oci.digest);
    expect(await codeOf(client.getManifest(repo(), oci.digest, { maxBytes: oci.bytes.length - 1 }))).toBe(
      'REGISTRY_RESPONSE_INVALID',
    );
  });

  it('answers null for referrers: distribution 2.8 has no referrers API', async () => {
    expect(await client.getReferrers(repo(), oci.digest)).toBeNull();
  });

  it('rejects references that are neither tag nor digest before any request', async () => {
    const before = events.length;
    expect(await codeOf(client.getManifest(repo(), '../../v2/_catalog'))).toBe('INVALID_REFERENCE');
    expect(await codeOf(client.getManifest(repo(), `sha256:${'A'.repeat(64)}`))).toBe('INVALID_REFERENCE');
    expect(await codeOf(client.getBlob(repo(), 'latest', 10))).toBe('INVALID_REFERENCE');
    expect(await codeOf(client.getManifest({ registry: registry.host, path: 'Demo/../app' }, 'v1'))).toBe(
      'INVALID_REFERENCE',
    );
    expect(events.length).toBe(before);
  });

  it('reports each HTTP exchange to onRequest without URLs or headers', async () => {
    events.length = 0;
    await client.getManifest(repo(), 'oci');
    await client.headManifest(repo(), 'oci');
    await client.getBlob(repo(), oci.layer.digest, 1024);
    expect(events.map((e) => [e.registry, e.method, e.kind, e.status])).toEqual([
      [registry.host, 'GET', 'manifest', 200],
      [registry.host, 'HEAD', 'manifest', 200],
      [registry.host, 'GET', 'blob', 200],
    ]);
    for (const event of events) {
      expect(event.durationMs).toBeGreaterThanOrEqual(0);
      expect(Object.keys(event).sort()).toEqual(['durationMs', 'kind', 'method', 'registry', 'status']);
    }
  });
});
