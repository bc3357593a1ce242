import { describe, expect, it } from 'vitest';
import { byteLength, runeLength } from './text.js';
import {
  allowResponse,
  auditAnnotationsFor,
  boundWarnings,
  denyResponse,
  MAX_AUDIT_ANNOTATIONS,
  MAX_WARNING_RUNES,
  MAX_WARNINGS_TOTAL_RUNES,
  toReviewResponse,
} from './response.js';
import { ADMISSION_V1, ADMISSION_V1BETA1 } from './review.js';

const uid = '705ab4f5-6393-11e8-b7cc-42010a800002';
// The API server prefixes keys with the webhook name and validates `<name>/<key>` as a qualified name.
const QUALIFIED_KEY = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

describe('responses', () => {
  it('allow echoes the uid and carries nothing else by default', () => {
    expect(toReviewResponse(allowResponse(uid))).toEqual({
      apiVersion: ADMISSION_V1,
      kind: 'AdmissionReview',
      response: { uid, allowed: true },
    });
  });

  it('deny is a 403 with the reason code', () => {
    const response = denyResponse(uid, 'NO_SIGNATURE', 'Pod a/b: 1 of 1 image failed verification');
    expect(response).toMatchObject({
      uid,
      allowed: false,
      status: { code: 403, details: { causes: [{ reason: 'NO_SIGNATURE' }] } },
    });
  });

  it('deny bounds and sanitises its message but keeps its lines', () => {
    const response = denyResponse(uid, 'NO_SIGNATURE', `first\u0007\nsecond ${'x'.repeat(10_000)}`);
    const message = response.status?.message ?? '';
    expect(byteLength(message)).toBeLessThanOrEqual(4096);
    expect(message.split('\n')[0]).toBe('first');
  });

  it('a JSONPatch is sent as patchType JSONPatch with a base64 body', () => {
    const patch = [{ op: 'replace' as const, path: '/spec/containers/0/image', value: 'nginx:1@sha256:00' }];
    const response = allowResponse(uid, { patch });
    expect(response.patchType).toBe('JSONPatch');
    expect(JSON.parse(Buffer.from(response.patch ?? '', 'base64').toString('utf8'))).toEqual(patch);
  });

  it('an empty patch sends no patch fields', () => {
    expect(allowResponse(uid, { patch: [], warnings: [], auditAnnotations: {} })).toEqual({
      uid,
      allowed: true,
    });
  });

  it('keeps the request version, e.g. to answer v1beta1', () => {
    expect(toReviewResponse(allowResponse(uid), ADMISSION_V1BETA1).apiVersion).toBe(ADMISSION_V1BETA1);
  });
});

describe('boundWarnings', () => {
  it('keeps each warning within 256 runes and without control characters', () => {
    const [warning] = boundWarnings([`container "a": ${'é'.repeat(1000)}\nsecond line`]);
    expect(runeLength(warning ?? '')).toBeLessThanOrEqual(MAX_WARNING_RUNES);
    expect(warning).not.toMatch(/\p{Cc}/u);
  });

  it('deduplicates and drops empty warnings', () => {
    expect(boundWarnings(['same', 'same', '', '  '])).toEqual(['same']);
  });

  it('keeps the total within 4096 runes and says how many were left out', () => {
    const warnings = Array.from({ length: 100 }, (_, i) => `warning ${i} ${'w'.repeat(200)}`);
    const out = boundWarnings(warnings);
    expect(out.reduce((sum, w) => sum + runeLength(w), 0)).toBeLessThanOrEqual(MAX_WARNINGS_TOTAL_RUNES);
    const match = /^\.\.\. and (\d+) more warnings$/.exec(out.at(-1) ?? '');
    expect(Number(match?.[1])).toBe(100 - (out.length - 1));
  });
});

describe('auditAnnotationsFor', () => {
  it('makes numbered keys that are valid after the API server adds the webhook name', () => {
    const annotations = auditAnnotationsFor('audit', ['a', 'b']);
    expect(annotations).toEqual({ 'audit-1': 'a', 'audit-2': 'b' });
    for (const key of Object.keys(annotations)) expect(key).toMatch(QUALIFIED_KEY);
  });

  it('bounds the number of annotations and their values', () => {
    const values = Array.from({ length: 50 }, (_, i) => `${i} ${'v'.repeat(5000)}`);
    const annotations = auditAnnotationsFor('audit', values);
    expect(Object.keys(annotations)).toHaveLength(MAX_AUDIT_ANNOTATIONS + 1);
    expect(annotations['audit-omitted']).toBe(String(50 - MAX_AUDIT_ANNOTATIONS));
    for (const value of Object.values(annotations)) expect(runeLength(value)).toBeLessThanOrEqual(1024);
  });

  it('invalid keys are dropped from a response rather than sent to be rejected', () => {
    const response = allowResponse(uid, { auditAnnotations: { 'provenant.dev/x': 'v', ok: 'v' } });
    expect(response.auditAnnotations).toEqual({ ok: 'v' });
  });
});
