/** Reads the AdmissionReview JSON fixtures in test/fixtures/admission-review/. */
import { readFileSync } from 'node:fs';
import { decodeAdmissionReview, type AdmissionReview } from '../../../src/admission/review.js';

const ROOT = new URL('../../fixtures/admission-review/', import.meta.url);

export function fixtureBytes(name: string): Buffer {
  return readFileSync(new URL(name, ROOT));
}

export function readFixture(name: string): Record<string, unknown> {
  return JSON.parse(fixtureBytes(name).toString('utf8')) as Record<string, unknown>;
}

/** A fixture that must decode; throws with the decoder's message otherwise. */
export function reviewFixture(name: string): AdmissionReview {
  const decoded = decodeAdmissionReview(readFixture(name));
  if (!decoded.ok) throw decoded.error;
  return decoded.review;
}

/** A decoded fixture with parts of its request replaced. */
export function withRequest(
  review: AdmissionReview,
  patch: Partial<AdmissionReview['request']>,
): AdmissionReview {
  return { ...review, request: { ...review.request, ...patch } };
}
