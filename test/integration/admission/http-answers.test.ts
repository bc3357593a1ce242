/**
 * Pins what the webhook answers, byte for byte, and the decision log line and metrics it records: the HTTP
 * layer may be made faster, but none of this may change. Times and latencies are the only values masked.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../../src/admission/server.js';
import { createLogger } from '../../../src/observability/logger.js';
import { createMetrics, type ProvenantMetrics } from '../../../src/observability/metrics.js';
import { denying, fakeVerifier } from './fake-verifier.js';
import { fixtureBytes } from './fixtures.js';
import { httpsRequest } from './https-client.js';

let dir: string;
let server: RunningServer;
let ca: string;
let ready = true;
let metrics: ProvenantMetrics;
const lines: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'provenant-answers-'));
  metrics = createMetrics();
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(
        ...chunk
          .toString('utf8')
          .split('\n')
          .filter((l) => l !== ''),
      );
      done();
    },
  });
  const denied = denying({ code: 'NO_SIGNATURE', message: 'no signature is attached' });
  server = await startServer({
    deps: {
      // Images whose name contains "unsigned" are denied; everything else is allowed.
      verifier: fakeVerifier((image) => (image.includes('unsigned') ? denied(image) : {})),
      timeoutMs: 3000,
      excludedNamespaces: ['kube-system'],
      isReady: () => ready,
      metrics,
      logger: createLogger({ destination }),
      maxBodyBytes: 64 * 1024,
    },
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

async function exchange(
  path: string,
  init: { method?: string; body?: Buffer | string; headers?: Record<string, string> } = {},
) {
  const response = await httpsRequest({ url: `${server.url}${path}`, ca, ...init });
  return {
    status: response.status,
    contentType: response.headers['content-type'],
    ...(response.headers['allow'] === undefined ? {} : { allow: response.headers['allow'] }),
    body: response.text,
  };
}

const mask = (line: string) =>
  line.replace(/"time":"[^"]+"/, '"time":"T"').replace(/"latencyMs":[\d.]+/, '"latencyMs":0');

describe('the webhook answers exactly as pinned', () => {
  it('allows a Pod and logs one line', async () => {
    lines.length = 0;
    const pod = fixtureBytes('rendered/pod-create.json');
    expect(await exchange('/validate', { body: pod })).toMatchInlineSnapshot(`
      {
        "body": "{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"7d3f6a52-0b8e-4a0e-9c1a-000000000001","allowed":true}}",
        "contentType": "application/json; charset=utf-8",
        "status": 200,
      }
    `);
    expect(lines.map(mask)).toMatchInlineSnapshot(`
      [
        "{"level":30,"time":"T","service":"provenant","webhook":"validate","uid":"7d3f6a52-0b8e-4a0e-9c1a-000000000001","operation":"CREATE","kind":"Pod","namespace":"shop","name":"web","dryRun":false,"images":["ghcr.io/acme/web:1.4.2","docker.io/fluent/fluent-bit:3.1","ghcr.io/acme/migrate:1.4.2"],"decision":"allow","codes":[],"latencyMs":0,"msg":"admission allowed"}",
      ]
    `);
  });

  it('denies a Pod with an unsigned image and logs why', async () => {
    lines.length = 0;
    const review = JSON.parse(fixtureBytes('rendered/pod-create.json').toString('utf8'));
    review.request.object.spec.containers[0].image = 'registry.example.com/shop/unsigned:1';
    expect(await exchange('/validate', { body: JSON.stringify(review) })).toMatchInlineSnapshot(`
      {
        "body": "{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"7d3f6a52-0b8e-4a0e-9c1a-000000000001","allowed":false,"status":{"code":403,"reason":"Forbidden","message":"Pod shop/web: 1 of 3 images failed verification (NO_SIGNATURE)\\nPod shop/web: container \\"web\\" image registry.example.com/shop/unsigned:1: NO_SIGNATURE: no signature is attached","details":{"causes":[{"reason":"NO_SIGNATURE"}]}}}}",
        "contentType": "application/json; charset=utf-8",
        "status": 200,
      }
    `);
    expect(lines.map(mask)).toMatchInlineSnapshot(`
      [
        "{"level":30,"time":"T","service":"provenant","webhook":"validate","uid":"7d3f6a52-0b8e-4a0e-9c1a-000000000001","operation":"CREATE","kind":"Pod","namespace":"shop","name":"web","dryRun":false,"images":["registry.example.com/shop/unsigned:1","docker.io/fluent/fluent-bit:3.1","ghcr.io/acme/migrate:1.4.2"],"decision":"deny","codes":["NO_SIGNATURE"],"latencyMs":0,"msg":"admission denied"}",
      ]
    `);
  });

  it('pins digests through /mutate', async () => {
    lines.length = 0;
    expect(await exchange('/mutate', { body: fixtureBytes('rendered/pod-create.json') }))
      .toMatchInlineSnapshot(`
      {
        "body": "{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"7d3f6a52-0b8e-4a0e-9c1a-000000000001","allowed":true,"patchType":"JSONPatch","patch":"W3sib3AiOiJyZXBsYWNlIiwicGF0aCI6Ii9zcGVjL2NvbnRhaW5lcnMvMC9pbWFnZSIsInZhbHVlIjoiZ2hjci5pby9hY21lL3dlYjoxLjQuMkBzaGEyNTY6YjI1YzkzODQ5ZGZiZGIzZDEwMDVlZTU0YmFkMmY1Yzc0NjMzYWJmYTQzMTVjMDQwMjAwZDJlY2I5MDQxYjE0OSJ9LHsib3AiOiJyZXBsYWNlIiwicGF0aCI6Ii9zcGVjL2NvbnRhaW5lcnMvMS9pbWFnZSIsInZhbHVlIjoiZG9ja2VyLmlvL2ZsdWVudC9mbHVlbnQtYml0OjMuMUBzaGEyNTY6ZmZjNzdhZjlmNDRlNjhlNmRkNTg0NmU5ZmFiZTE4OGZiOGFiZTJhZmU3Y2IxYzVhZmViODFlOGJmZjI4ZWNiNyJ9LHsib3AiOiJyZXBsYWNlIiwicGF0aCI6Ii9zcGVjL2luaXRDb250YWluZXJzLzAvaW1hZ2UiLCJ2YWx1ZSI6ImdoY3IuaW8vYWNtZS9taWdyYXRlOjEuNC4yQHNoYTI1Njo2ZDRjMzgxMzJmZTgxYmU2OTFmZDE3OTg4NmIwYTM4MzQ4YTNmOTc2MWZkMzQxZDg3MWFlNmMyNzMyMzQ2OTdiIn1d"}}",
        "contentType": "application/json; charset=utf-8",
        "status": 200,
      }
    `);
    expect(lines.map(mask)).toMatchInlineSnapshot(`
      [
        "{"level":30,"time":"T","service":"provenant","webhook":"mutate","uid":"7d3f6a52-0b8e-4a0e-9c1a-000000000001","operation":"CREATE","kind":"Pod","namespace":"shop","name":"web","dryRun":false,"images":["ghcr.io/acme/web:1.4.2","docker.io/fluent/fluent-bit:3.1","ghcr.io/acme/migrate:1.4.2"],"patched":3,"decision":"allow","codes":[],"latencyMs":0,"msg":"admission allowed"}",
      ]
    `);
  });

  it('answers broken requests', async () => {
    lines.length = 0;
    expect(await exchange('/validate', { body: '' })).toMatchInlineSnapshot(`
      {
        "body": "{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"","allowed":false,"status":{"code":400,"reason":"BadRequest","message":"invalid AdmissionReview: empty request body: expected an AdmissionReview JSON object","details":{"causes":[{"reason":"INVALID_REQUEST"}]}}}}",
        "contentType": "application/json; charset=utf-8",
        "status": 400,
      }
    `);
    expect(await exchange('/validate', { body: 'not json' })).toMatchInlineSnapshot(`
      {
        "body": "{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"","allowed":false,"status":{"code":400,"reason":"BadRequest","message":"invalid AdmissionReview: request body is not valid JSON: Unexpected token 'o', \\"not json\\" is not valid JSON","details":{"causes":[{"reason":"INVALID_REQUEST"}]}}}}",
        "contentType": "application/json; charset=utf-8",
        "status": 400,
      }
    `);
    expect(await exchange('/validate', { body: Buffer.alloc(65 * 1024, 0x20) })).toMatchInlineSnapshot(`
      {
        "body": "{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"","allowed":false,"status":{"code":413,"reason":"BadRequest","message":"request body exceeds the 65536-byte limit","details":{"causes":[{"reason":"INVALID_REQUEST"}]}}}}",
        "contentType": "application/json; charset=utf-8",
        "status": 413,
      }
    `);
    expect(
      await exchange('/validate', {
        body: gzipSync(fixtureBytes('rendered/pod-create.json')),
        headers: { 'content-encoding': 'gzip' },
      }),
    ).toMatchInlineSnapshot(`
      {
        "body": "{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"","allowed":false,"status":{"code":415,"reason":"BadRequest","message":"compressed request bodies are not accepted","details":{"causes":[{"reason":"INVALID_REQUEST"}]}}}}",
        "contentType": "application/json; charset=utf-8",
        "status": 415,
      }
    `);
    expect(await exchange('/validate?timeout=10s', { method: 'GET' })).toMatchInlineSnapshot(`
      {
        "allow": "POST",
        "body": "{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"","allowed":false,"status":{"code":405,"reason":"BadRequest","message":"use POST with an AdmissionReview body","details":{"causes":[{"reason":"INVALID_REQUEST"}]}}}}",
        "contentType": "application/json; charset=utf-8",
        "status": 405,
      }
    `);
    expect(await exchange('/mutate', { method: 'PUT', body: '{}' })).toMatchInlineSnapshot(`
      {
        "allow": "POST",
        "body": "{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"","allowed":false,"status":{"code":405,"reason":"BadRequest","message":"use POST with an AdmissionReview body","details":{"causes":[{"reason":"INVALID_REQUEST"}]}}}}",
        "contentType": "application/json; charset=utf-8",
        "status": 405,
      }
    `);
    expect(await exchange('/nowhere')).toMatchInlineSnapshot(`
      {
        "body": "{"error":"not found: the webhook serves POST /validate and POST /mutate"}",
        "contentType": "application/json; charset=utf-8",
        "status": 404,
      }
    `);
    expect(await exchange('/validate/extra', { body: '{}' })).toMatchInlineSnapshot(`
      {
        "body": "{"error":"not found: the webhook serves POST /validate and POST /mutate"}",
        "contentType": "application/json; charset=utf-8",
        "status": 404,
      }
    `);
    expect(lines.map(mask)).toMatchInlineSnapshot(`
      [
        "{"level":30,"time":"T","service":"provenant","webhook":"validate","uid":"","images":[],"decision":"deny","codes":["INVALID_REQUEST"],"latencyMs":0,"msg":"admission denied"}",
        "{"level":30,"time":"T","service":"provenant","webhook":"validate","uid":"","images":[],"decision":"deny","codes":["INVALID_REQUEST"],"latencyMs":0,"msg":"admission denied"}",
        "{"level":40,"time":"T","service":"provenant","path":"/validate","status":413,"reason":"request body exceeds the 65536-byte limit","msg":"request rejected"}",
        "{"level":40,"time":"T","service":"provenant","path":"/validate","status":415,"reason":"compressed request bodies are not accepted","msg":"request rejected"}",
      ]
    `);
  });

  it('answers health, readiness and metrics', async () => {
    expect(await exchange('/healthz')).toMatchInlineSnapshot(`
      {
        "body": "{"status":"ok"}",
        "contentType": "application/json; charset=utf-8",
        "status": 200,
      }
    `);
    ready = false;
    expect(await exchange('/readyz')).toMatchInlineSnapshot(`
      {
        "body": "{"status":"not ready","reason":"policies are not loaded yet"}",
        "contentType": "application/json; charset=utf-8",
        "status": 503,
      }
    `);
    ready = true;
    expect(await exchange('/readyz')).toMatchInlineSnapshot(`
      {
        "body": "{"status":"ready"}",
        "contentType": "application/json; charset=utf-8",
        "status": 200,
      }
    `);
    const scraped = await exchange('/metrics');
    expect(scraped.contentType).toMatchInlineSnapshot(`"text/plain; version=0.0.4; charset=utf-8"`);
    expect(
      scraped.body.split('\n').filter((l) => /^provenant_admission(s_total|_duration_seconds_count)/.test(l)),
    ).toMatchInlineSnapshot(`
      [
        "provenant_admissions_total{webhook="validate",decision="allow",code="none"} 1",
        "provenant_admissions_total{webhook="validate",decision="deny",code="NO_SIGNATURE"} 1",
        "provenant_admissions_total{webhook="mutate",decision="allow",code="none"} 1",
        "provenant_admissions_total{webhook="validate",decision="deny",code="INVALID_REQUEST"} 2",
        "provenant_admission_duration_seconds_count{webhook="validate"} 4",
        "provenant_admission_duration_seconds_count{webhook="mutate"} 1",
      ]
    `);
  });
});
