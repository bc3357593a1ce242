/**
 * `provenant serve` as a subprocess against a real registry holding images signed by real cosign 2 and 3:
 * AdmissionReviews rendered by kubectl, with their images swapped for the seeded ones, are POSTed over HTTPS
 * and the answers checked as the API server would read them.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeKeyPolicy } from '../../support/cli.js';
import { pushRandomImage, type PushedImage } from '../../support/images.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { seedSignatureScenarios, type SignatureScenarios } from '../../support/scenarios.js';
import {
  applyPatch,
  containerImages,
  decodePatch,
  literal,
  podReview,
  reviewWithImages,
  updateReview,
} from './reviews.js';
import { startServe, type ServeProcess } from './serve-process.js';

let registry: TestRegistry;
let s: SignatureScenarios;
let server: ServeProcess;
let warnImage: PushedImage;
let auditImage: PushedImage;

beforeAll(async () => {
  registry = await startRegistry();
  s = await seedSignatureScenarios(registry);
  // Unsigned images under the Warn and Audit policies' globs.
  warnImage = await pushRandomImage(registry, 'warn/app', 'v1');
  auditImage = await pushRandomImage(registry, 'audit/app', 'v1');
  const keys = { 'key-a': s.keys.a.publicKeyPem };
  const policies = await Promise.all([
    writeKeyPolicy({ name: 'release', glob: `${registry.host}/scenarios/**`, keys }),
    writeKeyPolicy({ name: 'advisory', glob: `${registry.host}/warn/**`, keys, mode: 'Warn' }),
    writeKeyPolicy({ name: 'observe', glob: `${registry.host}/audit/**`, keys, mode: 'Audit' }),
  ]);
  server = await startServe([
    ...policies.flatMap((p) => ['--policy', p]),
    '--insecure-registry',
    registry.host,
  ]);
});

afterAll(async () => {
  await server?.stop('SIGKILL');
  await registry?.stop();
});

/** The documented deny format: a summary line, then one line per failing container. */
function denyLines(message: string | undefined): string[] {
  return (message ?? '').split('\n');
}

describe('POST /validate', () => {
  it('admits a Pod whose images are all signed by the policy key (tag, legacy .sig and bundle)', async () => {
    const review = reviewWithImages('pod-create.json', {
      'ghcr.io/acme/web:1.4.2': s.legacy2Signed.image.ref,
      'docker.io/fluent/fluent-bit:3.1': s.bundle3Signed.image.digestRef,
      'ghcr.io/acme/migrate:1.4.2': s.threshold.mixedALegacyBBundle.image.digestRef,
    });
    const response = await server.review('/validate', review);
    expect(response).toMatchObject({ uid: review.request.uid, allowed: true });
    expect(response.status).toBeUndefined();
    const log = await server.waitForLog((l) => l['uid'] === review.request.uid);
    expect(log).toMatchObject({
      msg: 'admission allowed',
      decision: 'allow',
      kind: 'Pod',
      namespace: 'shop',
    });
    expect(log['images']).toHaveLength(3);
  });

  it.each([
    ['NO_SIGNATURE', () => s.unsigned.image.ref, 'policy release: (authority key-a: )?NO_SIGNATURE: '],
    [
      'UNTRUSTED_SIGNER',
      () => s.otherKey.legacy2.image.digestRef,
      'policy release: authority key-a: UNTRUSTED_SIGNER: ',
    ],
    [
      'DIGEST_MISMATCH',
      () => s.copiedSig.legacy2.image.digestRef,
      'policy release: (authority key-a: )?DIGEST_MISMATCH: ',
    ],
  ] as const)('denies with %s in the documented message format', async (code, image, detail) => {
    const review = podReview([
      { name: 'app', image: image() },
      { name: 'sidecar', image: s.legacy2Signed.image.digestRef },
    ]);
    const response = await server.review('/validate', review);
    expect(response).toMatchObject({
      allowed: false,
      status: { code: 403, details: { causes: [{ reason: code }] } },
    });
    const lines = denyLines(response.status?.message);
    expect(lines[0]).toBe(`Pod shop/web: 1 of 2 images failed verification (${code})`);
    expect(lines.slice(1)).toHaveLength(1);
    expect(lines[1]).toMatch(
      new RegExp(`^Pod shop/web: container "app" image ${literal(image())}: ${detail}\\S`),
    );
    // One log line per decision, carrying the code.
    await server.waitForLog((l) => l['uid'] === review.request.uid);
    const entries = server.logs.filter((l) => l['uid'] === review.request.uid);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ decision: 'deny', codes: [code] });
  });

  it('lists every failing container, one line each, with the codes in the summary', async () => {
    const response = await server.review(
      '/validate',
      podReview([
        { name: 'a', image: s.unsigned.image.digestRef },
        { name: 'b', image: s.otherKey.bundle3.image.digestRef },
        { name: 'c', image: s.copiedSig.bundle3.image.digestRef },
        { name: 'd', image: s.bundle3Signed.image.digestRef },
      ]),
    );
    expect(response.status?.details.causes[0]?.reason).toBe('NO_SIGNATURE');
    const lines = denyLines(response.status?.message);
    expect(lines[0]).toBe(
      'Pod shop/web: 3 of 4 images failed verification (NO_SIGNATURE, UNTRUSTED_SIGNER, DIGEST_MISMATCH)',
    );
    expect(lines.slice(1).map((l) => /container "(\w)"/.exec(l)?.[1])).toEqual(['a', 'b', 'c']);
  });

  it('admits under a Warn policy with a warning naming the container, policy and code', async () => {
    const response = await server.review('/validate', podReview([{ name: 'app', image: warnImage.ref }]));
    expect(response.allowed).toBe(true);
    expect(response.warnings).toHaveLength(1);
    expect(response.warnings?.[0]).toMatch(
      new RegExp(`^container "app" image ${literal(warnImage.ref)}: policy advisory: .*NO_SIGNATURE: `),
    );
    expect(response.auditAnnotations).toBeUndefined();
  });

  it('admits under an Audit policy with an audit annotation and no warning', async () => {
    const response = await server.review('/validate', podReview([{ name: 'app', image: auditImage.ref }]));
    expect(response.allowed).toBe(true);
    expect(response.warnings).toBeUndefined();
    expect(Object.keys(response.auditAnnotations ?? {})).toEqual(['audit-1']);
    expect(response.auditAnnotations?.['audit-1']).toMatch(/policy observe: .*NO_SIGNATURE: /);
  });

  it('checks an ephemeral container added through pods/ephemeralcontainers, and only that one', async () => {
    const images = {
      'ghcr.io/acme/web:1.4.2': s.legacy2Signed.image.ref,
      'docker.io/fluent/fluent-bit:3.1': s.bundle3Signed.image.ref,
      'ghcr.io/acme/migrate:1.4.2': s.unsigned.image.ref,
    };
    const denied = await server.review(
      '/validate',
      reviewWithImages('pod-ephemeralcontainers.json', {
        ...images,
        'busybox:1.36': s.unsigned.image.digestRef,
      }),
    );
    expect(denied.status?.details.causes[0]?.reason).toBe('NO_SIGNATURE');
    const lines = denyLines(denied.status?.message);
    expect(lines[0]).toBe('Pod shop/web: 1 of 1 image failed verification (NO_SIGNATURE)');
    expect(lines[1]).toContain('container "debugger-x7k2p"');

    // The unsigned init container was admitted before; only the new debugger image is judged.
    const allowed = await server.review(
      '/validate',
      reviewWithImages('pod-ephemeralcontainers.json', {
        ...images,
        'busybox:1.36': s.bundle3Signed.image.digestRef,
      }),
    );
    expect(allowed.allowed).toBe(true);
  });
});

describe('registry traffic', () => {
  const images = () => ({
    'ghcr.io/acme/web:1.4.2': s.legacy2Signed.image.ref,
    'docker.io/library/redis:7.2': s.bundle3Signed.image.ref,
    'ghcr.io/acme/agent@sha256:4f6e2d7c3b1a09e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4':
      s.threshold.legacy2AllThree.image.digestRef,
  });

  it('an UPDATE that changes no image (kubectl scale) makes no registry request', async () => {
    // Control: the same tags on CREATE do reach the registry (tags move, so they are always resolved).
    const before = await server.registryRequests();
    expect(
      (await server.review('/validate', reviewWithImages('deployment-create.json', images()))).allowed,
    ).toBe(true);
    const afterCreate = await server.registryRequests();
    expect(afterCreate).toBeGreaterThan(before);

    const scale = reviewWithImages('deployment-update-scale.json', images());
    expect((await server.review('/validate', scale)).allowed).toBe(true);
    expect((await server.review('/mutate', scale)).patch).toBeUndefined();
    expect(await server.registryRequests()).toBe(afterCreate);
    const log = await server.waitForLog((l) => l['uid'] === scale.request.uid);
    expect(log).toMatchObject({ decision: 'allow', skipped: 'no-new-images', images: [] });
  });

  it('/mutate pins tags to the verified digests; the pinned object then validates from cache alone', async () => {
    const create = reviewWithImages('deployment-create.json', images());
    const response = await server.review('/mutate', create);
    expect(response).toMatchObject({ allowed: true, patchType: 'JSONPatch' });
    const ops = decodePatch(response.patch);
    expect(ops.map((op) => op.path)).toEqual([
      '/spec/template/spec/containers/0/image',
      '/spec/template/spec/containers/1/image',
    ]);
    const pinned = applyPatch(create.request.object, ops);
    expect(containerImages(pinned, ['spec', 'template', 'spec'])).toEqual({
      web: `${s.legacy2Signed.image.ref}@${s.legacy2Signed.image.digest}`,
      redis: `${s.bundle3Signed.image.ref}@${s.bundle3Signed.image.digest}`,
      agent: s.threshold.legacy2AllThree.image.digestRef,
    });

    // The API server calls the validating webhook with the mutated object: digests, already verified.
    const before = await server.registryRequests();
    const validated = await server.review('/validate', {
      ...create,
      request: { ...create.request, object: pinned },
    });
    expect(validated.allowed).toBe(true);
    expect(await server.registryRequests()).toBe(before);
    // And a later rollout of the pinned template (ReplicaSet, Pods) stays off the registry too.
    const rollout = updateReview(create, pinned as Record<string, unknown>);
    expect((await server.review('/validate', rollout)).allowed).toBe(true);
    expect(await server.registryRequests()).toBe(before);
  });

  it('counts cache hits and decisions in /metrics', async () => {
    const text = (await server.get('/metrics')).text;
    expect(text).toMatch(/^provenant_verification_cache_total\{result="hit"\} [1-9]/m);
    expect(text).toMatch(/^provenant_verification_cache_total\{result="miss"\} [1-9]/m);
    expect(text).toMatch(
      /^provenant_admissions_total\{webhook="validate",decision="deny",code="NO_SIGNATURE"\} [1-9]/m,
    );
    expect(text).toMatch(
      new RegExp(
        `^provenant_registry_requests_total\\{registry="${literal(registry.host)}",kind="manifest",status="200"\\} [1-9]`,
        'm',
      ),
    );
    // The registry client's open origins, read at the scrape (how many depends on what has idled out since).
    expect(text).toMatch(/^provenant_registry_origins \d+$/m);
  });
});

describe('hostile input', () => {
  it('answers broken and oversized bodies and keeps deciding', async () => {
    const nested = await server.post(
      '/validate',
      '{"kind":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}',
    );
    expect(nested.status).toBe(400);
    const huge = await server.post('/validate', Buffer.alloc(4 * 1024 * 1024, 0x20));
    expect(huge.status).toBe(413);
    const garbage = await server.post('/mutate', Buffer.from([0xff, 0xfe, 0x00]));
    expect(garbage.status).toBe(400);
    expect((await server.get('/healthz')).status).toBe(200);
    const review = podReview([{ name: 'app', image: s.unsigned.image.digestRef }]);
    expect((await server.review('/validate', review)).status?.details.causes[0]?.reason).toBe('NO_SIGNATURE');
  });
});

describe('shutdown', () => {
  it('stops on SIGTERM with exit status 0 and removes its generated certificate', async () => {
    const caFile = String(server.listening['caFile']);
    expect(existsSync(caFile)).toBe(true);
    const exit = await server.stop('SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(server.logs.map((l) => l['msg'])).toEqual(expect.arrayContaining(['shutting down', 'stopped']));
    expect(existsSync(caFile)).toBe(false);
  });
});
