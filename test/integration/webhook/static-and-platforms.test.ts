/**
 * Static policies and spec.platforms through `provenant serve` (a subprocess), against a real registry:
 * AdmissionReviews are POSTed over HTTPS and the answers read as the API server reads them. Registry traffic
 * is counted with the server's own provenant_registry_requests_total metric.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosignSign, generateKeyPair, type CosignKeyPair } from '../../support/cosign.js';
import {
  pushMultiArchIndex,
  pushRandomImage,
  type PushedImage,
  type PushedIndex,
} from '../../support/images.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { decodePatch, literal, podReview } from './reviews.js';
import { startServe, type ServeProcess } from './serve-process.js';

let registry: TestRegistry;
let server: ServeProcess;
let key: CosignKeyPair;
let mirror: PushedImage;
let hub: PushedImage;
let legacy: PushedImage;
let indexOnly: PushedIndex;
let recursive: PushedIndex;

function cip(name: string, spec: object) {
  return { apiVersion: 'provenant.dev/v1alpha1', kind: 'ClusterImagePolicy', metadata: { name }, spec };
}

beforeAll(async () => {
  registry = await startRegistry();
  key = await generateKeyPair('ecdsa-p256');
  mirror = await pushRandomImage(registry, 'mirror/app', 'v1');
  hub = await pushRandomImage(registry, 'hub/nginx', 'v1');
  legacy = await pushRandomImage(registry, 'legacy/app', 'v1');
  indexOnly = await pushMultiArchIndex(registry, 'multi/app', 'v1', ['linux/amd64', 'linux/arm64/v8']);
  await cosignSign(3, key, indexOnly.digestRef, registry);
  recursive = await pushMultiArchIndex(registry, 'multi/recursive', 'v1', ['linux/amd64', 'linux/arm64/v8']);
  await cosignSign(3, key, recursive.digestRef, registry, { recursive: true });
  const policies = [
    cip('mirror', { images: [{ glob: `${registry.host}/mirror/**` }], static: { action: 'Allow' } }),
    cip('no-hub', {
      images: [{ glob: `${registry.host}/hub/**` }],
      static: { action: 'Deny', message: 'use the mirror' },
    }),
    cip('legacy', {
      mode: 'Warn',
      images: [{ glob: `${registry.host}/legacy/**` }],
      static: { action: 'Deny', message: 'legacy is going away' },
    }),
    cip('multi', {
      images: [{ glob: `${registry.host}/multi/**` }],
      platforms: ['all'],
      authorities: [{ name: 'release', key: { publicKey: key.publicKeyPem } }],
      signatures: {},
    }),
  ];
  const dir = await mkdtemp(join(tmpdir(), 'provenant-webhook-static-'));
  await writeFile(join(dir, 'policies.yaml'), policies.map((p) => dump(p)).join('---\n'));
  server = await startServe(['--policy', join(dir, 'policies.yaml'), '--insecure-registry', registry.host]);
});

afterAll(async () => {
  await server?.stop('SIGKILL');
  await registry?.stop();
});

describe('static policies in the webhook', () => {
  it('denies a statically denied image with IMAGE_NOT_ALLOWED and the policy message, without a registry request', async () => {
    const before = await server.registryRequests();
    const response = await server.review('/validate', podReview([{ name: 'web', image: hub.ref }]));
    expect(response).toMatchObject({
      allowed: false,
      status: { code: 403, details: { causes: [{ reason: 'IMAGE_NOT_ALLOWED' }] } },
    });
    expect(response.status?.message.split('\n')[1]).toBe(
      `Pod shop/web: container "web" image ${hub.ref}: policy no-hub: IMAGE_NOT_ALLOWED: use the mirror`,
    );
    expect(await server.registryRequests()).toBe(before);
  });

  it('admits a statically allowed image without a request, and the mutating webhook does not pin it', async () => {
    const before = await server.registryRequests();
    const review = podReview([{ name: 'web', image: mirror.ref }]);
    expect((await server.review('/validate', review)).allowed).toBe(true);
    const mutated = await server.review('/mutate', review);
    expect(mutated.allowed).toBe(true);
    expect(decodePatch(mutated.patch)).toEqual([]);
    expect(await server.registryRequests()).toBe(before);
  });

  it('admits a Warn-mode static Deny with a kubectl warning', async () => {
    const response = await server.review('/validate', podReview([{ name: 'web', image: legacy.ref }]));
    expect(response.allowed).toBe(true);
    expect(response.warnings).toEqual([
      expect.stringMatching(
        new RegExp(
          `^container "web" image ${literal(legacy.ref)}: policy legacy: IMAGE_NOT_ALLOWED: legacy is going away`,
        ),
      ),
    ]);
  });
});

describe('spec.platforms in the webhook', () => {
  it('platforms [all] denies an index signed alone, naming each unsigned platform', async () => {
    const response = await server.review('/validate', podReview([{ name: 'web', image: indexOnly.ref }]));
    expect(response.allowed).toBe(false);
    const message = response.status?.message ?? '';
    for (const child of indexOnly.children) {
      const platform = child.platform === 'linux/arm64/v8' ? 'linux/arm64' : child.platform;
      expect(message).toContain(`platform ${platform} (${child.digest}): no signature is attached`);
    }
  });

  it('admits an index signed with cosign sign --recursive, and pins it to the index digest', async () => {
    const response = await server.review('/mutate', podReview([{ name: 'web', image: recursive.ref }]));
    expect(response.allowed).toBe(true);
    expect(decodePatch(response.patch)).toEqual([
      { op: 'replace', path: '/spec/containers/0/image', value: `${recursive.ref}@${recursive.digest}` },
    ]);
  });
});
