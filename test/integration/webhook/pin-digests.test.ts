/**
 * `--pin-digests`: which admitted objects /mutate pins to the verified digest. `pods` pins Pods and leaves
 * controllers' templates as their owners wrote them (GitOps drift, immutable Job templates); `off` pins
 * nothing and still denies what fails. One image signed with real cosign by the policy's key, one unsigned.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provenant, writeKeyPolicy } from '../../support/cli.js';
import { cosignSign, generateKeyPair } from '../../support/cosign.js';
import { pushRandomImage, type PushedImage } from '../../support/images.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { decodePatch, podReview, reviewWithImages } from './reviews.js';
import { startServe, type ServeProcess } from './serve-process.js';

let registry: TestRegistry;
let signed: PushedImage;
let unsigned: PushedImage;
let policy: string;
const servers: ServeProcess[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  const key = await generateKeyPair('ecdsa-p256');
  signed = await pushRandomImage(registry, 'pin/app', 'v1');
  unsigned = await pushRandomImage(registry, 'pin/other', 'v1');
  await cosignSign(2, key, signed.digestRef, registry);
  policy = await writeKeyPolicy({ glob: `${registry.host}/pin/**`, keys: { k: key.publicKeyPem } });
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop('SIGKILL')));
  await registry?.stop();
});

async function serve(mode: string): Promise<ServeProcess> {
  const server = await startServe([
    '--policy',
    policy,
    '--insecure-registry',
    registry.host,
    '--pin-digests',
    mode,
  ]);
  servers.push(server);
  return server;
}

const deployment = (image: string) =>
  reviewWithImages('deployment-create.json', {
    'ghcr.io/acme/web:1.4.2': image,
    'docker.io/library/redis:7.2': image,
    'ghcr.io/acme/agent@sha256:4f6e2d7c3b1a09e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4': image,
  });
const pod = (image: string) => podReview([{ name: 'app', image }]);

describe('--pin-digests', () => {
  it('pods: pins a Pod, admits a Deployment without touching its template', async () => {
    const server = await serve('pods');
    const pinnedPod = await server.review('/mutate', pod(signed.ref));
    expect(pinnedPod.allowed).toBe(true);
    expect(decodePatch(pinnedPod.patch)).toEqual([
      { op: 'replace', path: '/spec/containers/0/image', value: `${signed.ref}@${signed.digest}` },
    ]);
    const controller = await server.review('/mutate', deployment(signed.ref));
    expect(controller.allowed).toBe(true);
    expect(controller.patch).toBeUndefined();
    expect(controller.patchType).toBeUndefined();
    const listening = server.listening;
    expect(listening['pinDigests']).toBe('pods');
  });

  it('off: never patches, and still denies an unsigned image on /mutate', async () => {
    const server = await serve('off');
    for (const review of [pod(signed.ref), deployment(signed.ref)]) {
      const response = await server.review('/mutate', review);
      expect(response.allowed).toBe(true);
      expect(response.patch).toBeUndefined();
    }
    const denied = await server.review('/mutate', pod(unsigned.ref));
    expect(denied.allowed).toBe(false);
    expect(denied.status?.details.causes.map((c) => c.reason)).toEqual(['NO_SIGNATURE']);
  });

  it('refuses an unknown mode with exit status 2', async () => {
    const result = await provenant(['serve', '--policy', policy, '--pin-digests', 'deployments']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--pin-digests must be all, pods or off');
  });
});
