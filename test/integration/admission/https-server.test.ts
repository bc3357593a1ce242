/**
 * The webhook over real HTTPS on loopback, with the generated CA: hostile and broken bodies each get a clear
 * answer and the server stays healthy; deadlines, readiness, metrics and certificate rotation work end to end.
 */
import { mkdtemp, readFile, rm, writeFile, copyFile, mkdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type AppDeps, type RunningServer } from '../../../src/admission/server.js';
import { generateServingCertificate } from '../../../src/admission/tls.js';
import { createLogger } from '../../../src/observability/logger.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import type { ImageVerifier } from '../../../src/verdict.js';
import { fakeVerifier, hangingVerifier, type FakeVerifier } from './fake-verifier.js';
import { fixtureBytes, readFixture } from './fixtures.js';
import { httpsRequest, type HttpsResponse } from './https-client.js';

interface ReviewBody {
  apiVersion: string;
  kind: string;
  response: {
    uid: string;
    allowed: boolean;
    status?: { code: number; reason: string; message: string; details: { causes: { reason: string }[] } };
    patchType?: string;
    patch?: string;
    warnings?: string[];
  };
}

let dir: string;
let server: RunningServer;
let ca: string;
let ready = true;
// Each test picks the verifier behaviour it needs; the server delegates to whatever is current.
let current: FakeVerifier = fakeVerifier();
const verifier: ImageVerifier = { verifyImages: (images, options) => current.verifyImages(images, options) };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'provenant-https-'));
  const deps: AppDeps = {
    verifier,
    timeoutMs: 3000,
    excludedNamespaces: ['kube-system'],
    isReady: () => ready,
    metrics: createMetrics(),
    logger: createLogger({ level: 'silent' }),
  };
  server = await startServer({
    deps,
    port: 0,
    host: '127.0.0.1',
    tls: { kind: 'generate', dir: join(dir, 'tls') },
  });
  ca = await readFile(server.caFile ?? '', 'utf8');
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

function post(
  path: string,
  body: Buffer | string,
  headers: Record<string, string> = {},
): Promise<HttpsResponse> {
  return httpsRequest({ url: `${server.url}${path}`, ca, body, headers });
}

function get(path: string): Promise<HttpsResponse> {
  return httpsRequest({ url: `${server.url}${path}`, ca });
}

async function expectHealthy(): Promise<void> {
  const health = await get('/healthz');
  expect(health.status).toBe(200);
}

function podReview(containers: { name: string; image: string }[]): string {
  const review = readFixture('rendered/pod-create.json') as {
    request: { object: { spec: Record<string, unknown> } };
  };
  review.request.object.spec['containers'] = containers;
  delete review.request.object.spec['initContainers'];
  return JSON.stringify(review);
}

describe('POST /validate with broken or hostile bodies', () => {
  const cases: [string, () => Buffer | string, Record<string, string>, number, string | null][] = [
    ['an empty body', () => '', {}, 400, 'INVALID_REQUEST'],
    ['non-JSON', () => 'kind: AdmissionReview', {}, 400, 'INVALID_REQUEST'],
    ['invalid UTF-8', () => Buffer.from([0x7b, 0xff, 0x7d]), {}, 400, 'INVALID_REQUEST'],
    [
      'a wrong apiVersion',
      () => JSON.stringify({ ...readFixture('rendered/pod-create.json'), apiVersion: 'admission.k8s.io/v2' }),
      {},
      200,
      'INVALID_REQUEST',
    ],
    [
      'a wrong kind',
      () => JSON.stringify({ ...readFixture('rendered/pod-create.json'), kind: 'Pod' }),
      {},
      200,
      'INVALID_REQUEST',
    ],
    [
      'a missing uid',
      () => {
        const review = readFixture('rendered/pod-create.json') as { request: Record<string, unknown> };
        delete review.request['uid'];
        return JSON.stringify(review);
      },
      {},
      400,
      'INVALID_REQUEST',
    ],
    [
      'the broken connaisseur sample',
      () => fixtureBytes('connaisseur/21_broken_admission_request.json'),
      {},
      400,
      'INVALID_REQUEST',
    ],
    ['a v1beta1 review', () => fixtureBytes('connaisseur/01_deployment.json'), {}, 200, 'INVALID_REQUEST'],
    ['a 10 MB body', () => Buffer.alloc(10 * 1024 * 1024, 0x20), {}, 413, 'INVALID_REQUEST'],
    [
      'a gzip-compressed body',
      () => gzipSync(fixtureBytes('rendered/pod-create.json')),
      { 'content-encoding': 'gzip' },
      415,
      'INVALID_REQUEST',
    ],
    [
      'deeply nested JSON',
      () => '{"kind":' + '['.repeat(200_000) + ']'.repeat(200_000) + '}',
      {},
      400,
      'INVALID_REQUEST',
    ],
    [
      'text/plain content type with a valid review',
      () => fixtureBytes('connaisseur/02_pod.json'),
      { 'content-type': 'text/plain' },
      200,
      null,
    ],
  ];

  it.each(cases)('%s', async (_name, body, headers, status, reason) => {
    current = fakeVerifier();
    const response = await post('/validate', body(), headers);
    expect(response.status).toBe(status);
    const review = response.json<ReviewBody>();
    expect(review.kind).toBe('AdmissionReview');
    if (reason === null) expect(review.response.allowed).toBe(true);
    else
      expect(review.response).toMatchObject({
        allowed: false,
        status: { details: { causes: [{ reason }] } },
      });
    await expectHealthy();
  });

  it('answers v1beta1 in v1beta1 and echoes its uid', async () => {
    const review = (
      await post('/validate', fixtureBytes('connaisseur/01_deployment.json'))
    ).json<ReviewBody>();
    expect(review.apiVersion).toBe('admission.k8s.io/v1beta1');
    expect(review.response.uid).toBe('3a3a7b38-5512-4a85-94bb-3562269e0a6a');
  });

  it('verifies a Pod with 200 containers, each distinct image once', async () => {
    current = fakeVerifier();
    const containers = Array.from({ length: 200 }, (_, i) => ({
      name: `c${i}`,
      image: `registry.local/app:${i % 9}`,
    }));
    const response = await post('/validate', podReview(containers));
    expect(response.status).toBe(200);
    expect(response.json<ReviewBody>().response.allowed).toBe(true);
    expect(current.calls).toEqual([Array.from({ length: 9 }, (_, i) => `registry.local/app:${i}`)]);
    await expectHealthy();
  });

  it('denies unicode and very long image names with a bounded, single-line-per-container message', async () => {
    current = fakeVerifier((image) => ({
      allowed: false,
      reasons: [
        { policy: 'release', code: image.length > 1000 ? 'INVALID_REFERENCE' : 'NO_SIGNATURE', message: 'x' },
      ],
    }));
    const response = await post(
      '/validate',
      podReview([
        { name: 'unicode', image: 'registry.local/イメージ:最新\u202E' },
        { name: 'long', image: `registry.local/${'a'.repeat(100_000)}:1` },
      ]),
    );
    expect(response.status).toBe(200);
    const status = response.json<ReviewBody>().response.status;
    expect(status?.details.causes[0]?.reason).toBe('NO_SIGNATURE');
    expect(Buffer.byteLength(status?.message ?? '')).toBeLessThanOrEqual(4096);
    expect(status?.message.split('\n')).toHaveLength(3);
    expect(status?.message).not.toContain('\u202E');
    await expectHealthy();
  });

  it('survives a client that stops mid-body', async () => {
    await new Promise<void>((resolve) => {
      // Plain TCP to the TLS port: garbage, then a hang-up.
      const socket = connect(server.port, '127.0.0.1', () => {
        socket.write('POST /validate HTTP/1.1\r\nContent-Length: 1000\r\n\r\n{"a":');
        socket.destroy();
        resolve();
      });
      socket.on('error', () => resolve());
    });
    await expectHealthy();
  });
});

describe('HTTP surface', () => {
  it('GET /validate is 405, unknown paths 404, both JSON', async () => {
    const wrongMethod = await get('/validate');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers['allow']).toBe('POST');
    const missing = await get('/nope');
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toContain('application/json');
  });

  it('/readyz follows isReady()', async () => {
    ready = false;
    expect((await get('/readyz')).status).toBe(503);
    ready = true;
    expect((await get('/readyz')).status).toBe(200);
  });

  it('decides nothing before the policies are loaded: 503 POLICIES_NOT_LOADED, the verifier never asked', async () => {
    current = fakeVerifier();
    ready = false;
    try {
      for (const path of ['/validate', '/mutate']) {
        const answer = await post(path, fixtureBytes('connaisseur/02_pod.json'));
        expect(answer.status).toBe(503);
        expect(answer.json<ReviewBody>().response).toEqual({
          uid: '',
          allowed: false,
          status: {
            code: 503,
            reason: 'ServiceUnavailable',
            message: 'policies are not loaded yet; the request was not decided',
            details: { causes: [{ reason: 'POLICIES_NOT_LOADED' }] },
          },
        });
      }
      expect(current.calls).toEqual([]);
    } finally {
      ready = true;
    }
    const decided = await post('/validate', fixtureBytes('connaisseur/02_pod.json'));
    expect(decided.status).toBe(200);
    expect(current.calls.length).toBe(1);
  });

  it('/metrics exposes admission counters', async () => {
    current = fakeVerifier();
    await post('/validate', fixtureBytes('connaisseur/02_pod.json'));
    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(
      /provenant_admissions_total\{webhook="validate",decision="allow",code="none"\} \d+/,
    );
    expect(metrics.text).toContain('provenant_admission_duration_seconds_bucket');
  });

  it('refuses clients that do not trust its CA', async () => {
    const other = await generateServingCertificate({ dir: join(dir, 'untrusted') });
    await expect(httpsRequest({ url: `${server.url}/healthz`, ca: other.caPem })).rejects.toThrow();
    await expectHealthy();
  });
});

describe('POST /mutate', () => {
  it('returns a JSONPatch pinning the verified digests', async () => {
    current = fakeVerifier();
    const response = await post('/mutate', fixtureBytes('rendered/deployment-create.json'));
    const review = response.json<ReviewBody>();
    expect(review.response.allowed).toBe(true);
    expect(review.response.patchType).toBe('JSONPatch');
    const ops = JSON.parse(Buffer.from(review.response.patch ?? '', 'base64').toString('utf8')) as {
      path: string;
    }[];
    expect(ops.map((op) => op.path)).toEqual([
      '/spec/template/spec/containers/0/image',
      '/spec/template/spec/containers/1/image',
    ]);
  });
});

describe('deadline', () => {
  it('answers TIMEOUT within the API server timeout when the verifier never resolves', async () => {
    current = hangingVerifier();
    const started = Date.now();
    // The API server appends its webhook timeout; we must answer before it, not at our own 3 s budget.
    const response = await post('/validate?timeout=1s', fixtureBytes('connaisseur/02_pod.json'));
    const elapsed = Date.now() - started;
    expect(response.status).toBe(200);
    const review = response.json<ReviewBody>();
    expect(review.response).toMatchObject({
      allowed: false,
      status: { code: 403, details: { causes: [{ reason: 'TIMEOUT' }] } },
    });
    expect(elapsed).toBeLessThan(2900);
    await expectHealthy();
  });

  it('holds each request to its own ?timeout=, however the requests before it asked', async () => {
    current = hangingVerifier();
    const deadlineOf = async (path: string): Promise<number> => {
      const review = (await post(path, fixtureBytes('connaisseur/02_pod.json'))).json<ReviewBody>();
      expect(review.response.status?.details.causes[0]?.reason).toBe('TIMEOUT');
      return Number(/within (\d+)ms/.exec(review.response.status?.message ?? '')?.[1]);
    };
    const short = await deadlineOf('/validate?timeout=500ms');
    const longer = await deadlineOf('/validate?timeout=1s');
    const shortAgain = await deadlineOf('/validate?timeout=500ms');
    expect(short).toBeGreaterThan(0);
    expect(longer).toBeGreaterThan(short);
    expect(shortAgain).toBe(short);
  });
});

describe('certificate rotation', () => {
  it('serves a rotated certificate without a restart', async () => {
    const tlsDir = join(dir, 'mounted');
    await mkdir(tlsDir, { recursive: true });
    const first = await generateServingCertificate({ dir: join(dir, 'gen-1') });
    await copyFile(first.certFile, join(tlsDir, 'tls.crt'));
    await copyFile(first.keyFile, join(tlsDir, 'tls.key'));
    const rotating = await startServer({
      deps: {
        verifier,
        timeoutMs: 1000,
        excludedNamespaces: [],
        isReady: () => true,
        metrics: createMetrics(),
        logger: createLogger({ level: 'silent' }),
      },
      port: 0,
      host: '127.0.0.1',
      tls: { kind: 'files', certFile: join(tlsDir, 'tls.crt'), keyFile: join(tlsDir, 'tls.key') },
    });
    try {
      const second = await generateServingCertificate({ dir: join(dir, 'gen-2') });
      const cas = [first.caPem, second.caPem];
      const before = await httpsRequest({ url: `${rotating.url}/healthz`, ca: cas });
      await writeFile(join(tlsDir, 'tls.key'), await readFile(second.keyFile));
      await writeFile(join(tlsDir, 'tls.crt'), await readFile(second.certFile));
      await expect
        .poll(async () => (await httpsRequest({ url: `${rotating.url}/healthz`, ca: cas })).fingerprint, {
          timeout: 10_000,
          interval: 100,
        })
        .not.toBe(before.fingerprint);
      // And the new certificate is the one from the second CA.
      const after = await httpsRequest({ url: `${rotating.url}/healthz`, ca: second.caPem });
      expect(after.status).toBe(200);
    } finally {
      await rotating.close();
    }
  });
});
