import { describe, expect, it } from 'vitest';
import { fixtureBytes, readFixture } from '../../test/integration/admission/fixtures.js';
import {
  ADMISSION_V1,
  ADMISSION_V1BETA1,
  decodeAdmissionReview,
  parseAdmissionReview,
  reviewForManifest,
  type DecodedReview,
} from './review.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function failed(decoded: DecodedReview): Extract<DecodedReview, { ok: false }> {
  if (decoded.ok) throw new Error('expected a decoding failure');
  return decoded;
}

function pod(): Record<string, unknown> {
  return readFixture('rendered/pod-create.json');
}

function withRequestField(field: string, value: unknown): Record<string, unknown> {
  const review = pod();
  const request = { ...(review['request'] as Record<string, unknown>) };
  if (value === undefined) delete request[field];
  else request[field] = value;
  return { ...review, request };
}

describe('parseAdmissionReview', () => {
  it('decodes every well-formed v1 fixture', () => {
    for (const name of [
      'connaisseur/02_pod.json',
      'connaisseur/10_update.json',
      'connaisseur/19_pod_initcontainer.json',
      'connaisseur/20_pod_ephemeralcontainer.json',
      'rendered/pod-create.json',
      'rendered/deployment-update-image.json',
      'rendered/pod-ephemeralcontainers.json',
      'rendered/pod-delete.json',
    ]) {
      const decoded = parseAdmissionReview(fixtureBytes(name));
      expect(decoded.ok, name).toBe(true);
    }
  });

  it('keeps the fields decide() needs', () => {
    const decoded = parseAdmissionReview(fixtureBytes('rendered/pod-ephemeralcontainers.json'));
    if (!decoded.ok) throw decoded.error;
    const { request } = decoded.review;
    expect(request).toMatchObject({
      uid: '7d3f6a52-0b8e-4a0e-9c1a-000000000011',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      subResource: 'ephemeralcontainers',
      name: 'web',
      namespace: 'shop',
      operation: 'UPDATE',
      username: 'kubernetes-admin',
      dryRun: false,
    });
    expect(request.oldObject).not.toBeNull();
  });

  it('drops the `{}` oldObject some clients send with CREATE (19_pod_initcontainer)', () => {
    const decoded = parseAdmissionReview(fixtureBytes('connaisseur/19_pod_initcontainer.json'));
    if (!decoded.ok) throw decoded.error;
    expect(decoded.review.request.oldObject).toBeNull();
  });

  it('accepts a DELETE with a null object', () => {
    const decoded = parseAdmissionReview(fixtureBytes('rendered/pod-delete.json'));
    if (!decoded.ok) throw decoded.error;
    expect(decoded.review.request.object).toBeNull();
  });

  describe('rejects with INVALID_REQUEST', () => {
    const cases: [string, Uint8Array | undefined, boolean][] = [
      ['no body', undefined, false],
      ['empty body', bytes(''), false],
      ['non-JSON', bytes('hello, webhook'), false],
      ['truncated JSON', bytes('{"apiVersion":"admission.k8s.io/v1","kind":'), false],
      ['invalid UTF-8', Uint8Array.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), false],
      // The API server never sends one; Go's JSON decoder and JSON.parse both refuse it.
      [
        'a byte order mark before the JSON',
        Uint8Array.from([0xef, 0xbb, 0xbf, ...fixtureBytes('rendered/pod-create.json')]),
        false,
      ],
      ['a JSON array', bytes('[]'), false],
      ['a JSON string', bytes('"AdmissionReview"'), false],
      [
        'the broken connaisseur sample (21)',
        fixtureBytes('connaisseur/21_broken_admission_request.json'),
        false,
      ],
      [
        'a deeply nested value',
        bytes('{"apiVersion":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}'),
        false,
      ],
    ];
    it.each(cases)('%s', (_name, body, hasUid) => {
      const decoded = failed(parseAdmissionReview(body));
      expect(decoded.error.code).toBe('INVALID_REQUEST');
      expect(decoded.uid !== undefined).toBe(hasUid);
      expect(decoded.apiVersion).toBe(ADMISSION_V1);
    });
  });

  it('refuses deep or value-heavy bodies before parsing them, naming the bound', () => {
    const pod = JSON.parse(new TextDecoder().decode(fixtureBytes('rendered/pod-create.json'))) as {
      request: { object: Record<string, unknown> };
    };
    const withExtra = (extra: string) =>
      bytes(JSON.stringify(pod).replace('"metadata":{', `"metadata":{"x":${extra},`));
    // 3 MB of nesting, and a million empty objects: the shapes that cost hundreds of MiB to parse.
    const deep = failed(parseAdmissionReview(withExtra('['.repeat(1_000_000) + ']'.repeat(1_000_000))));
    expect(deep.error.message).toContain('request body refused: JSON nests deeper than 100 levels');
    const wide = failed(parseAdmissionReview(withExtra(`[${'{},'.repeat(1_000_000)}{}]`)));
    expect(wide.error.message).toContain('JSON has more than 200000 values');
    // A real object nested a little deeper than usual is still fine.
    const ok = parseAdmissionReview(withExtra('['.repeat(60) + ']'.repeat(60)));
    expect(ok.ok).toBe(true);
  });

  it('reports every problem of the broken sample at once', () => {
    const decoded = failed(
      parseAdmissionReview(fixtureBytes('connaisseur/21_broken_admission_request.json')),
    );
    for (const field of ['request.uid', 'request.kind', 'request.resource', 'request.object']) {
      expect(decoded.error.message).toContain(field);
    }
  });

  describe('field by field', () => {
    it.each([
      ['apiVersion', { apiVersion: 'admission.k8s.io/v2' }],
      ['kind', { kind: 'AdmissionRequest' }],
    ])('wrong %s keeps the uid so the answer can be a regular denial', (_field, patch) => {
      const decoded = failed(decodeAdmissionReview({ ...pod(), ...patch }));
      expect(decoded.error.code).toBe('INVALID_REQUEST');
      expect(decoded.uid).toBe('7d3f6a52-0b8e-4a0e-9c1a-000000000001');
    });

    it.each([
      ['uid', undefined],
      ['uid', ''],
      ['uid', 'x'.repeat(129)],
      ['uid', 'line\nbreak'],
      ['uid', 7],
    ])('bad %s %j -> no uid to answer with', (field, value) => {
      const decoded = failed(decodeAdmissionReview(withRequestField(field, value)));
      expect(decoded.error.code).toBe('INVALID_REQUEST');
      expect(decoded.uid).toBeUndefined();
    });

    it.each([
      ['kind', undefined],
      ['kind', { group: '', version: 'v1' }],
      ['kind', 'Pod'],
      ['resource', undefined],
      ['resource', { group: 1, version: 'v1', resource: 'pods' }],
      ['operation', undefined],
      ['operation', 'PATCH'],
      ['object', undefined],
      ['object', 'a pod'],
      ['namespace', 5],
      ['dryRun', 'yes'],
    ])('bad request.%s %j', (field, value) => {
      const decoded = failed(decodeAdmissionReview(withRequestField(field, value)));
      expect(decoded.error.code).toBe('INVALID_REQUEST');
      expect(decoded.error.message).toContain(`request.${field}`);
      expect(decoded.uid).toBe('7d3f6a52-0b8e-4a0e-9c1a-000000000001');
    });

    it('UPDATE needs an oldObject', () => {
      const review = readFixture('rendered/deployment-update-image.json');
      const request = { ...(review['request'] as Record<string, unknown>), oldObject: null };
      const decoded = failed(decodeAdmissionReview({ ...review, request }));
      expect(decoded.error.message).toContain('request.oldObject');
    });
  });

  it('answers admission.k8s.io/v1beta1 (01_deployment) in v1beta1 with a clear error', () => {
    const decoded = failed(parseAdmissionReview(fixtureBytes('connaisseur/01_deployment.json')));
    expect(decoded.error.code).toBe('INVALID_REQUEST');
    expect(decoded.apiVersion).toBe(ADMISSION_V1BETA1);
    expect(decoded.uid).toBe('3a3a7b38-5512-4a85-94bb-3562269e0a6a');
    expect(decoded.error.message).toContain('admissionReviewVersions');
  });

  it('bounds foreign values quoted in messages', () => {
    const decoded = failed(decodeAdmissionReview({ ...pod(), apiVersion: 'v'.repeat(10_000) }));
    expect(decoded.error.message.length).toBeLessThan(400);
  });
});

describe('reviewForManifest', () => {
  it('wraps a manifest the way the API server wraps a CREATE', () => {
    const object = (readFixture('rendered/cronjob-create.json')['request'] as { object: unknown }).object;
    const decoded = reviewForManifest(object);
    if (!decoded.ok) throw decoded.error;
    expect(decoded.review.request).toMatchObject({
      kind: { group: 'batch', version: 'v1', kind: 'CronJob' },
      resource: { group: 'batch', version: 'v1', resource: 'cronjobs' },
      namespace: 'shop',
      name: 'nightly-report',
      operation: 'CREATE',
      dryRun: true,
    });
  });

  it('rejects what is not a manifest', () => {
    expect(failed(reviewForManifest('nginx')).error.code).toBe('INVALID_REQUEST');
    expect(failed(reviewForManifest({ kind: 'Pod' })).error.code).toBe('INVALID_REQUEST');
  });
});
