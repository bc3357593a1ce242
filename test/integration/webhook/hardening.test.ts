/**
 * Issue #15's fail-open paths, against `provenant serve` with a real registry and real cosign signatures,
 * under `--no-match allow` (where a path that escapes policy matching is admitted unverified):
 * image volumes (item 1), registry spellings (item 2) and the metrics label bound (item 7).
 * The registry is reached as `localhost:PORT`, a name whose spelling can vary (`LOCALHOST:PORT`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeKeyPolicy } from '../../support/cli.js';
import { cosignSign, generateKeyPair, type CosignKeyPair } from '../../support/cosign.js';
import { pushRandomImage, type PushedImage } from '../../support/images.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { applyPatch, decodePatch, podReview, reviewWithImages } from './reviews.js';
import { startServe, type ServeProcess } from './serve-process.js';

let registry: TestRegistry;
let key: CosignKeyPair;
let signed: PushedImage;
let unsigned: PushedImage;
let server: ServeProcess;
/** `localhost:PORT`: the registry under a host name. */
let host: string;

/** The image's reference with its registry spelled `spelling` instead of `127.0.0.1:PORT`. */
function spelled(image: string, spelling: string): string {
  return image.replace(registry.host, spelling);
}

beforeAll(async () => {
  registry = await startRegistry();
  host = registry.host.replace('127.0.0.1', 'localhost');
  key = await generateKeyPair('ecdsa-p256');
  signed = await pushRandomImage(registry, 'hard/signed', 'v1');
  unsigned = await pushRandomImage(registry, 'hard/unsigned', 'v1');
  await cosignSign(2, key, signed.digestRef, registry);
  const policies = await Promise.all([
    writeKeyPolicy({ name: 'local', glob: `${host}/hard/**`, keys: { release: key.publicKeyPem } }),
    writeKeyPolicy({ name: 'acme', glob: 'ghcr.io/acme/**', keys: { release: key.publicKeyPem } }),
    // A policy covering a metadata address, as `**` would: the address guard still refuses it.
    writeKeyPolicy({ name: 'metadata', glob: '[fd00:ec2::254]/**', keys: { release: key.publicKeyPem } }),
  ]);
  server = await startServe([
    ...policies.flatMap((p) => ['--policy', p]),
    '--no-match',
    'allow',
    '--insecure-registry',
    host,
  ]);
});

afterAll(async () => {
  await server?.stop('SIGKILL');
  await registry?.stop();
});

describe('image volumes (spec.volumes[].image.reference)', () => {
  const images = (volume: string) => ({
    'ghcr.io/acme/web:1.4.2': spelled(signed.digestRef, host),
    'ghcr.io/acme/models:2026.1': volume,
  });

  it('an unsigned image volume beside a signed container is denied, and the message names the volume', async () => {
    const review = reviewWithImages('pod-image-volume-create.json', images(spelled(unsigned.ref, host)));
    const response = await server.review('/validate', review);
    expect(response.allowed).toBe(false);
    expect(response.status?.details.causes[0]?.reason).toBe('NO_SIGNATURE');
    const lines = (response.status?.message ?? '').split('\n');
    expect(lines[0]).toBe('Pod shop/infer: 1 of 2 images failed verification (NO_SIGNATURE)');
    expect(lines[1]).toContain(`volume "models" image ${spelled(unsigned.ref, host)}: policy local`);
  });

  it('in a pod template too; a signed one is admitted and pinned by /mutate', async () => {
    const denied = await server.review(
      '/validate',
      reviewWithImages('statefulset-image-volume-create.json', images(spelled(unsigned.ref, host))),
    );
    expect(denied.allowed).toBe(false);

    const review = reviewWithImages(
      'statefulset-image-volume-create.json',
      images(spelled(signed.ref, host)),
    );
    const response = await server.review('/mutate', review);
    expect(response.allowed).toBe(true);
    const patched = applyPatch(review.request.object, decodePatch(response.patch)) as {
      spec: { template: { spec: { volumes: { image: { reference: string } }[] } } };
    };
    expect(patched.spec.template.spec.volumes[0]?.image.reference).toBe(
      `${spelled(signed.ref, host)}@${signed.digest}`,
    );
  });

  it('kubectl debug on such a Pod checks the new ephemeral container, not the admitted volume', async () => {
    const review = reviewWithImages('pod-image-volume-ephemeralcontainers.json', {
      ...images(spelled(unsigned.ref, host)),
      'busybox:1.36': spelled(unsigned.digestRef, host),
    });
    const response = await server.review('/validate', review);
    expect(response.allowed).toBe(false);
    const lines = (response.status?.message ?? '').split('\n');
    expect(lines[0]).toBe('Pod shop/infer: 1 of 1 image failed verification (NO_SIGNATURE)');
    expect(lines[1]).toContain('container "debugger-q9w4z"');
  });
});

describe('registry spellings under --no-match allow', () => {
  it.each([(h: string) => h.toUpperCase(), (h: string) => h.replace('localhost', 'LocalHost')])(
    'an unsigned image under another spelling of a policy’s registry is denied (%#)',
    async (spell) => {
      const image = spelled(unsigned.ref, spell(host));
      expect(image).not.toContain(host);
      const response = await server.review('/validate', podReview([{ name: 'app', image }]));
      expect(response.allowed).toBe(false);
      expect(response.status?.details.causes[0]?.reason).toBe('NO_SIGNATURE');
    },
  );

  it('a signed image under another spelling is verified at the registry and admitted', async () => {
    const image = spelled(signed.digestRef, host.toUpperCase());
    const response = await server.review('/validate', podReview([{ name: 'app', image }]));
    expect(response.allowed).toBe(true);
    expect(response.warnings).toBeUndefined();
  });

  it('GHCR.IO/acme/x is governed by the ghcr.io/acme/** Enforce policy, not admitted unverified', async () => {
    const response = await server.review(
      '/validate',
      podReview([
        { name: 'app', image: 'GHCR.IO/acme/x:1' },
        { name: 'b', image: 'ghcr.io:443/acme/y:1' },
      ]),
    );
    // ghcr.io cannot be reached from the test machine: what matters is that it was not admitted.
    expect(response.allowed).toBe(false);
    const lines = (response.status?.message ?? '').split('\n');
    expect(lines.filter((l) => l.includes('policy acme'))).toHaveLength(2);
  });

  it('an image no policy matches is admitted without any registry request (--no-match allow)', async () => {
    const before = await server.registryRequests();
    const response = await server.review(
      '/validate',
      podReview([
        { name: 'a', image: '169.254.169.254/latest/meta-data:x' },
        { name: 'b', image: `${registry.host}/hard/unsigned:v1` },
      ]),
    );
    expect(response.allowed).toBe(true);
    expect(await server.registryRequests()).toBe(before);
  });
});

describe('SSRF', () => {
  it('a registry on a cloud metadata address is refused even when a policy covers it', async () => {
    const response = await server.review(
      '/validate',
      podReview([{ name: 'app', image: '[fd00:ec2::254]/latest/meta-data:x' }]),
    );
    expect(response.allowed).toBe(false);
    expect(response.status?.details.causes[0]?.reason).toBe('REGISTRY_ADDRESS_REFUSED');
  });
});

describe('/metrics', () => {
  it('labels the registry a policy names, in its canonical spelling', async () => {
    const text = (await server.get('/metrics')).text;
    expect(text).toMatch(new RegExp(`provenant_registry_requests_total\\{registry="${host}",`));
    expect(text).not.toMatch(/registry="(LOCALHOST|LocalHost)/);
  });
});
