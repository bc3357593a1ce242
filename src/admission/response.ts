/**
 * AdmissionReview responses. The API server rejects a response whose uid differs from the request's, drops
 * warnings that contain control characters and truncates them past 256 runes each / 4096 in total, and
 * validates audit annotation keys after prefixing them with the webhook name: we respect all of that here
 * so nothing we say is silently lost.
 */
import type { ReasonCode } from '../errors.js';
import { ADMISSION_V1 } from './review.js';
import { MAX_MESSAGE_BYTES } from './message.js';
import { runeLength, sanitizeText, truncateBytes, truncateRunes } from './text.js';

export interface AdmissionStatus {
  readonly code: number;
  /** The Kubernetes status reason (kubectl prints `Error from server (<reason>)`): Forbidden or BadRequest. */
  readonly reason: string;
  readonly message: string;
  /** Provenant's reason code, machine-readable; it also leads the message lines. */
  readonly details: { readonly causes: readonly { readonly reason: ReasonCode }[] };
}

export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly status?: AdmissionStatus;
  readonly warnings?: readonly string[];
  readonly auditAnnotations?: Readonly<Record<string, string>>;
  readonly patchType?: 'JSONPatch';
  /** Base64 of the JSON array of RFC 6902 operations. */
  readonly patch?: string;
}

export interface AdmissionReviewResponse {
  readonly apiVersion: string;
  readonly kind: 'AdmissionReview';
  readonly response: AdmissionResponse;
}

/** The only operation Provenant needs: pin an image field to the digest that was verified. */
export interface JsonPatchReplace {
  readonly op: 'replace';
  readonly path: string;
  readonly value: string;
}

export interface ResponseExtras {
  readonly warnings?: readonly string[];
  readonly auditAnnotations?: Readonly<Record<string, string>>;
  readonly patch?: readonly JsonPatchReplace[];
}

// k8s.io/apiserver pkg/endpoints/filters/warning.go: truncateItemRunes, truncateAtTotalRunes.
export const MAX_WARNING_RUNES = 256;
export const MAX_WARNINGS_TOTAL_RUNES = 4096;
export const MAX_AUDIT_ANNOTATIONS = 20;
export const MAX_AUDIT_VALUE_RUNES = 1024;
// The API server stores `<webhook name>/<key>` and requires a qualified name: the key part is at most 63
// characters of [A-Za-z0-9-_.], starting and ending alphanumeric, with no further '/'.
const AUDIT_KEY = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

export function allowResponse(uid: string, extras: ResponseExtras = {}): AdmissionResponse {
  return { uid, allowed: true, ...encodeExtras(extras) };
}

/**
 * A denial: 403 Forbidden, as kubectl users expect (`Error from server (Forbidden): ...`), with Provenant's
 * first reason code in `status.details.causes` for clients and at the start of each message line for people.
 */
export function denyResponse(
  uid: string,
  code: ReasonCode,
  message: string,
  extras: Omit<ResponseExtras, 'patch'> = {},
): AdmissionResponse {
  return {
    uid,
    allowed: false,
    status: {
      code: 403,
      reason: 'Forbidden',
      message: boundMessage(message),
      details: { causes: [{ reason: code }] },
    },
    ...encodeExtras(extras),
  };
}

// metav1.StatusReason for the statuses Provenant answers with; any other 4xx is a BadRequest.
const STATUS_REASONS: Readonly<Record<number, string>> = {
  403: 'Forbidden',
  429: 'TooManyRequests',
  503: 'ServiceUnavailable',
};

/**
 * An answer for a body that is not a usable AdmissionReview. With a uid the API server shows our message;
 * without one it treats the call as failed and applies the webhook's failurePolicy.
 */
export function invalidRequestResponse(uid: string, httpCode: number, code: ReasonCode, message: string) {
  return {
    uid,
    allowed: false,
    status: {
      code: httpCode,
      reason: STATUS_REASONS[httpCode] ?? 'BadRequest',
      message: boundMessage(message),
      details: { causes: [{ reason: code }] },
    },
  } satisfies AdmissionResponse;
}

export function toReviewResponse(
  response: AdmissionResponse,
  apiVersion: string = ADMISSION_V1,
): AdmissionReviewResponse {
  return { apiVersion, kind: 'AdmissionReview', response };
}

/** Sanitised, deduplicated, each within 256 runes and all within 4096, with a count of what did not fit. */
export function boundWarnings(warnings: readonly string[]): string[] {
  const candidates = [
    ...new Set(warnings.map((w) => truncateRunes(sanitizeText(w).trim(), MAX_WARNING_RUNES))),
  ].filter((w) => w !== '');
  const out: string[] = [];
  let total = 0;
  for (const [i, warning] of candidates.entries()) {
    const later = candidates.length - i - 1;
    // Keep room for the "... and N more" line unless this is the last warning.
    const reserve = later > 0 ? runeLength(moreWarnings(later)) : 0;
    if (total + runeLength(warning) + reserve > MAX_WARNINGS_TOTAL_RUNES) {
      out.push(moreWarnings(candidates.length - i));
      break;
    }
    out.push(warning);
    total += runeLength(warning);
  }
  return out;
}

/**
 * Numbered annotations (`<prefix>-1`, `<prefix>-2`, …) with bounded values, plus `<prefix>-omitted` when there
 * are more than fit. The API server stores them as `<webhook name>/<key>`.
 */
export function auditAnnotationsFor(prefix: string, values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const distinct = [
    ...new Set(values.map((v) => truncateRunes(sanitizeText(v).trim(), MAX_AUDIT_VALUE_RUNES))),
  ];
  const kept = distinct.slice(0, MAX_AUDIT_ANNOTATIONS);
  kept.forEach((value, i) => {
    out[auditKey(`${prefix}-${i + 1}`)] = value;
  });
  if (distinct.length > kept.length)
    out[auditKey(`${prefix}-omitted`)] = String(distinct.length - kept.length);
  return out;
}

export function encodePatch(ops: readonly JsonPatchReplace[]): string {
  return Buffer.from(JSON.stringify(ops), 'utf8').toString('base64');
}

function encodeExtras(extras: ResponseExtras): Partial<AdmissionResponse> {
  const warnings = extras.warnings === undefined ? [] : boundWarnings(extras.warnings);
  const annotations = Object.entries(extras.auditAnnotations ?? {}).filter(([key]) => AUDIT_KEY.test(key));
  return {
    ...(warnings.length > 0 ? { warnings } : {}),
    ...(annotations.length > 0
      ? {
          auditAnnotations: Object.fromEntries(
            annotations.map(([k, v]) => [k, truncateRunes(sanitizeText(v), MAX_AUDIT_VALUE_RUNES)]),
          ),
        }
      : {}),
    ...(extras.patch !== undefined && extras.patch.length > 0
      ? { patchType: 'JSONPatch' as const, patch: encodePatch(extras.patch) }
      : {}),
  };
}

function auditKey(key: string): string {
  if (!AUDIT_KEY.test(key)) throw new TypeError(`invalid audit annotation key ${JSON.stringify(key)}`);
  return key;
}

function moreWarnings(n: number): string {
  return `... and ${n} more warnings`;
}

/** Lines are kept (they were sanitised per field by message.ts); only the byte bound is enforced again here. */
function boundMessage(message: string): string {
  const lines = message.split('\n').map((line) => sanitizeText(line));
  return truncateBytes(lines.join('\n'), MAX_MESSAGE_BYTES);
}
