// Stage 1 of the cluster tier: the image `npm run image` built from the project's Dockerfile (with buildah,
// on stand-in bases; docs/image.md) runs under a real OCI runtime (runc) as a restricted Pod would run it:
// UID 65532, read-only root file system, no capabilities. `provenant serve` answers /healthz and decides
// AdmissionReviews against a real registry and real cosign signatures.
import { chownSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCA } from '../e2e/harness/certs.js';
import { freePort, waitFor } from '../e2e/harness/process.js';
import { httpsRequest } from '../integration/admission/https-client.js';
import { podReview } from '../integration/webhook/reviews.js';
import { cosignSign, generateKeyPair } from '../support/cosign.js';
import { pushRandomImage, type PushedImage } from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { writeKeyPolicy } from '../support/cli.js';
import {
  builtImage,
  exportRootfs,
  imageRuntimeConfig,
  pushBuiltImage,
  type BuiltImage,
  type ImageRuntimeConfig,
} from './support/built-image.js';
import { runContainer, type RuncContainer } from './support/runc.js';

const NONROOT = 65532;
let image: BuiltImage;
let config: ImageRuntimeConfig;
let registry: TestRegistry;
let work: string;
let container: RuncContainer;
let url: string;
let caPem: string;
let signed: PushedImage;
let unsigned: PushedImage;

interface ReviewResponse {
  uid: string;
  allowed: boolean;
  status?: { message?: string; details?: { causes?: { reason: string }[] } };
}

async function review(images: PushedImage[]): Promise<ReviewResponse> {
  const body = podReview(images.map((img, i) => ({ name: `c${i}`, image: img.ref })));
  const res = await httpsRequest({ url: `${url}/validate`, ca: caPem, body: JSON.stringify(body) });
  expect(res.status).toBe(200);
  const response = res.json<{ response: ReviewResponse }>().response;
  expect(response.uid).toBe(body.request.uid);
  return response;
}

beforeAll(async () => {
  image = builtImage();
  config = imageRuntimeConfig(image);
  registry = await startRegistry();
  work = mkdtempSync(join(tmpdir(), 'provenant-image-run-'));

  // The built image goes through a real registry, and the container runs what comes back out of it.
  const digestRef = await pushBuiltImage(image, registry, 'provenant/provenant', 'dev');
  const rootfs = join(work, 'rootfs');
  await exportRootfs(registry, digestRef, rootfs);

  const key = await generateKeyPair('ecdsa-p256');
  signed = await pushRandomImage(registry, 'shop/signed', 'v1');
  unsigned = await pushRandomImage(registry, 'shop/unsigned', 'v1');
  const signing = await cosignSign(3, key, signed.digestRef, registry);
  expect(signing.exitCode, signing.stderr).toBe(0);

  // Configuration the container reads through read-only bind mounts, readable by its user only.
  const policyDir = join(work, 'policies');
  const tlsDir = join(work, 'tls');
  const policyFile = await writeKeyPolicy({
    glob: `${registry.host}/shop/**`,
    keys: { release: key.publicKeyPem },
  });
  mkdirSync(policyDir, { mode: 0o700 });
  copyFileSync(policyFile, join(policyDir, 'policy.yaml'));
  const ca = await createCA('provenant-image-test-ca');
  const serving = await ca.issue({ commonName: '127.0.0.1', hosts: ['127.0.0.1'], usage: 'server' });
  caPem = ca.certPem;
  mkdirSync(tlsDir, { mode: 0o700 });
  writeFileSync(join(tlsDir, 'tls.crt'), serving.certPem);
  writeFileSync(join(tlsDir, 'tls.key'), serving.keyPem, { mode: 0o600 });
  for (const path of [
    policyDir,
    join(policyDir, 'policy.yaml'),
    tlsDir,
    join(tlsDir, 'tls.crt'),
    join(tlsDir, 'tls.key'),
  ]) {
    chownSync(path, NONROOT, NONROOT);
  }

  const port = await freePort();
  url = `https://127.0.0.1:${port}`;
  const [uid, gid] = (config.User ?? '').split(':').map(Number);
  container = await runContainer({
    rootfs,
    args: [
      ...(config.Entrypoint ?? []),
      'serve',
      '--policy',
      '/etc/provenant/policies',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--tls-cert',
      '/etc/provenant/tls/tls.crt',
      '--tls-key',
      '/etc/provenant/tls/tls.key',
      '--insecure-registry',
      registry.host,
    ],
    env: config.Env ?? [],
    cwd: config.WorkingDir ?? '/',
    uid: uid ?? -1,
    gid: gid ?? -1,
    binds: [
      { source: policyDir, destination: '/etc/provenant/policies' },
      { source: tlsDir, destination: '/etc/provenant/tls' },
    ],
  });
  await waitFor(
    async () => {
      if (container.status() !== 'running')
        throw new Error(`container ${container.status()}:\n${container.logs()}`);
      return (await httpsRequest({ url: `${url}/readyz`, ca: caPem }).catch(() => undefined))?.status === 200;
    },
    { timeoutMs: 60_000, intervalMs: 250, description: 'provenant /readyz in the container' },
  );
});

afterAll(async () => {
  container?.remove();
  await registry?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the image built from the Dockerfile', () => {
  it('is configured as the Dockerfile says: UID 65532, node entrypoint, production env', () => {
    expect(config.User).toBe(`${NONROOT}:${NONROOT}`);
    expect(config.Entrypoint).toEqual([
      'node',
      '--max-semi-space-size=4',
      '--heap-growing-percent=20',
      'dist/cli/main.js',
    ]);
    expect(config.WorkingDir).toBe('/app');
    expect(config.Env).toContain('NODE_ENV=production');
    // The report the build printed: sizes are measured, the goal is checked by the build's report only.
    expect(image.compressedMiB).toBeGreaterThan(0);
  });

  it('runs as UID 65532 with no capabilities, no new privileges and a read-only root file system', async () => {
    const probe = await container.exec([
      'node',
      '-e',
      `const fs = require('node:fs');
       const status = fs.readFileSync('/proc/self/status', 'utf8');
       const field = (n) => status.match(new RegExp('^' + n + ':\\\\s*(.*)$', 'm'))[1].trim();
       let write;
       try { fs.writeFileSync('/app/x', 'x'); write = 'ok'; } catch (e) { write = e.code; }
       let shell = fs.existsSync('/bin/sh') ? 'present' : 'absent';
       console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), capEff: field('CapEff'),
         capPrm: field('CapPrm'), capBnd: field('CapBnd'), noNewPrivs: field('NoNewPrivs'), write, shell }));`,
    ]);
    expect(probe.code, probe.stderr).toBe(0);
    expect(JSON.parse(probe.stdout)).toEqual({
      uid: NONROOT,
      gid: NONROOT,
      capEff: '0000000000000000',
      capPrm: '0000000000000000',
      capBnd: '0000000000000000',
      noNewPrivs: '1',
      write: 'EROFS',
      shell: 'absent', // distroless: no shell in the runtime image
    });
  });

  it('answers /healthz', async () => {
    const res = await httpsRequest({ url: `${url}/healthz`, ca: caPem });
    expect(res.status).toBe(200);
  });

  it('admits a Pod whose image is signed by the policy key', async () => {
    const response = await review([signed]);
    expect(response.allowed, response.status?.message).toBe(true);
  });

  it('denies a Pod whose image has no signature, with the reason code', async () => {
    const response = await review([unsigned]);
    expect(response.allowed).toBe(false);
    expect(response.status?.details?.causes?.[0]?.reason).toBe('NO_SIGNATURE');
    expect(response.status?.message).toContain(unsigned.ref);
  });
});
