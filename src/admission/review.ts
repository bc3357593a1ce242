/**
 * Strict decoding of the `admission.k8s.io/v1` AdmissionReview the API server sends. The body is
 * attacker-controlled (anything that reaches the port can post), so nothing is trusted until checked here,
 * and every problem is reported at once with its field path.
 */
import { ProvenantError } from '../errors.js';
import { ADMISSION_REVIEW_BOUNDS, jsonBoundsProblem } from '../json/bounded-json.js';
import { decodeStrictUtf8 } from '../json/strict-utf8.js';
import { isRecord, own } from '../kube/extract.js';

export const ADMISSION_V1 = 'admission.k8s.io/v1';
/** Never registered by Provenant; recognised only to answer with a clear error in the version the caller speaks. */
export const ADMISSION_V1BETA1 = 'admission.k8s.io/v1beta1';

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
const OPERATIONS: readonly Operation[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];

export interface GroupVersionKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

export interface GroupVersionResource {
  readonly group: string;
  readonly version: string;
  readonly resource: string;
}

export interface AdmissionRequest {
  readonly uid: string;
  readonly kind: GroupVersionKind;
  readonly resource: GroupVersionResource;
  readonly subResource?: string;
  readonly name?: string;
  readonly namespace?: string;
  readonly operation: Operation;
  readonly username?: string;
  /** The object being admitted; null for DELETE. */
  readonly object: Readonly<Record<string, unknown>> | null;
  /** The object before an UPDATE (or the deleted object); null for CREATE, where the API server sends none. */
  readonly oldObject: Readonly<Record<string, unknown>> | null;
  readonly dryRun: boolean;
}

export interface AdmissionReview {
  readonly apiVersion: typeof ADMISSION_V1;
  readonly kind: 'AdmissionReview';
  readonly request: AdmissionRequest;
}

export type DecodedReview =
  | { readonly ok: true; readonly review: AdmissionReview }
  | {
      readonly ok: false;
      readonly error: ProvenantError;
      /** Present when the request carried a usable uid, so the answer can be a regular (denying) response. */
      readonly uid?: string;
      /** The AdmissionReview version to answer in (the API server only accepts its own version back). */
      readonly apiVersion: string;
    };

// UIDs are UUIDs; anything long or unprintable is not from an API server and cannot be echoed safely.
const UID_PATTERN = /^[\x21-\x7e]{1,128}$/;

/**
 * Decodes raw body bytes: nesting and value count within bounds (checked on the bytes, before anything is
 * built), strict UTF-8, then JSON, then the AdmissionReview shape.
 */
export function parseAdmissionReview(body: Uint8Array | undefined): DecodedReview {
  if (body === undefined || body.length === 0) {
    return failure('empty request body: expected an AdmissionReview JSON object');
  }
  const tooComplex = jsonBoundsProblem(body, ADMISSION_REVIEW_BOUNDS);
  if (tooComplex !== undefined) return failure(`request body refused: ${tooComplex}`);
  let text: string;
  try {
    text = decodeStrictUtf8(body);
  } catch {
    return failure('request body is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err: unknown) {
    const detail = err instanceof Error ? err.message.slice(0, 120) : 'syntax error';
    return failure(`request body is not valid JSON: ${detail}`);
  }
  return decodeAdmissionReview(json);
}

export function decodeAdmissionReview(body: unknown): DecodedReview {
  if (!isRecord(body)) return failure('request body must be a JSON object (an AdmissionReview)');
  const problems: string[] = [];

  const apiVersion = own(body, 'apiVersion');
  const answerVersion = apiVersion === ADMISSION_V1BETA1 ? ADMISSION_V1BETA1 : ADMISSION_V1;
  if (apiVersion === ADMISSION_V1BETA1) {
    problems.push(
      `apiVersion ${ADMISSION_V1BETA1} is not supported: register the webhook with admissionReviewVersions: ["v1"]`,
    );
  } else if (apiVersion !== ADMISSION_V1) {
    problems.push(`apiVersion must be "${ADMISSION_V1}", got ${show(apiVersion)}`);
  }
  const kind = own(body, 'kind');
  if (kind !== 'AdmissionReview') problems.push(`kind must be "AdmissionReview", got ${show(kind)}`);

  const request = own(body, 'request');
  if (!isRecord(request)) {
    problems.push('request is required and must be an object');
    return failure(problems, answerVersion);
  }

  const uidValue = own(request, 'uid');
  const uid = typeof uidValue === 'string' && UID_PATTERN.test(uidValue) ? uidValue : undefined;
  if (uid === undefined) {
    problems.push(
      uidValue === undefined
        ? 'request.uid is required'
        : 'request.uid must be 1-128 printable ASCII characters',
    );
  }

  const kindValue = readGroupVersion(request, 'kind', problems);
  const resourceValue = readGroupVersion(request, 'resource', problems);
  const subResource = optionalString(request, 'subResource', problems);
  const name = optionalString(request, 'name', problems);
  const namespace = optionalString(request, 'namespace', problems);

  const operationValue = own(request, 'operation');
  const operation = OPERATIONS.find((op) => op === operationValue);
  if (operation === undefined) {
    problems.push(`request.operation must be one of ${OPERATIONS.join(', ')}, got ${show(operationValue)}`);
  }

  const object = own(request, 'object');
  const oldObject = own(request, 'oldObject');
  if (object !== undefined && object !== null && !isRecord(object))
    problems.push('request.object must be an object');
  if (oldObject !== undefined && oldObject !== null && !isRecord(oldObject)) {
    problems.push('request.oldObject must be an object');
  }
  if ((operation === 'CREATE' || operation === 'UPDATE') && !isRecord(object)) {
    problems.push(`request.object is required for ${operation}`);
  }
  if (operation === 'UPDATE' && !isRecord(oldObject))
    problems.push('request.oldObject is required for UPDATE');

  const dryRunValue = own(request, 'dryRun');
  if (dryRunValue !== undefined && dryRunValue !== null && typeof dryRunValue !== 'boolean') {
    problems.push('request.dryRun must be a boolean');
  }

  const userInfo = own(request, 'userInfo');
  const usernameValue = isRecord(userInfo) ? own(userInfo, 'username') : undefined;
  const username = typeof usernameValue === 'string' ? usernameValue : undefined;

  if (
    problems.length > 0 ||
    uid === undefined ||
    kindValue === undefined ||
    resourceValue === undefined ||
    operation === undefined
  ) {
    return failure(problems, answerVersion, uid);
  }
  return {
    ok: true,
    review: {
      apiVersion: ADMISSION_V1,
      kind: 'AdmissionReview',
      request: {
        uid,
        kind: { group: kindValue.group, version: kindValue.version, kind: kindValue.name },
        resource: {
          group: resourceValue.group,
          version: resourceValue.version,
          resource: resourceValue.name,
        },
        operation,
        object: isRecord(object) ? object : null,
        // A CREATE has no previous object; some clients send `{}`, which must not look like "nothing changed".
        oldObject: operation !== 'CREATE' && isRecord(oldObject) ? oldObject : null,
        dryRun: dryRunValue === true,
        ...(subResource === undefined ? {} : { subResource }),
        ...(name === undefined || name === '' ? {} : { name }),
        ...(namespace === undefined || namespace === '' ? {} : { namespace }),
        ...(username === undefined ? {} : { username }),
      },
    },
  };
}

export interface ManifestReviewOptions {
  readonly uid?: string;
  readonly namespace?: string;
}

/**
 * Wraps a manifest (as `provenant check` reads it) the way the API server wraps a CREATE, so the CLI and the
 * webhook share one decision path. Resource names are the lower-case plural every supported kind uses.
 */
export function reviewForManifest(manifest: unknown, options: ManifestReviewOptions = {}): DecodedReview {
  if (!isRecord(manifest)) return failure('the manifest must be a JSON/YAML object');
  const apiVersion = own(manifest, 'apiVersion');
  const kind = own(manifest, 'kind');
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || kind === '') {
    return failure('the manifest needs string apiVersion and kind fields');
  }
  const slash = apiVersion.indexOf('/');
  const group = slash === -1 ? '' : apiVersion.slice(0, slash);
  const version = slash === -1 ? apiVersion : apiVersion.slice(slash + 1);
  const metadata = own(manifest, 'metadata');
  const meta = isRecord(metadata) ? metadata : {};
  const name = own(meta, 'name');
  const namespace = options.namespace ?? own(meta, 'namespace') ?? 'default';
  return decodeAdmissionReview({
    apiVersion: ADMISSION_V1,
    kind: 'AdmissionReview',
    request: {
      uid: options.uid ?? 'provenant-check',
      kind: { group, version, kind },
      resource: { group, version, resource: `${kind.toLowerCase()}s` },
      ...(typeof name === 'string' ? { name } : {}),
      namespace,
      operation: 'CREATE',
      object: manifest,
      oldObject: null,
      dryRun: true,
    },
  });
}

function readGroupVersion(
  request: Record<string, unknown>,
  field: 'kind' | 'resource',
  problems: string[],
): { group: string; version: string; name: string } | undefined {
  const value = own(request, field);
  if (!isRecord(value)) {
    problems.push(`request.${field} is required and must be an object with group, version and ${field}`);
    return undefined;
  }
  const group = own(value, 'group');
  const version = own(value, 'version');
  const name = own(value, field);
  const before = problems.length;
  if (typeof group !== 'string') problems.push(`request.${field}.group must be a string`);
  if (typeof version !== 'string') problems.push(`request.${field}.version must be a string`);
  if (typeof name !== 'string' || name === '')
    problems.push(`request.${field}.${field} must be a non-empty string`);
  if (problems.length > before || typeof group !== 'string' || typeof version !== 'string') return undefined;
  return typeof name === 'string' ? { group, version, name } : undefined;
}

function optionalString(
  request: Record<string, unknown>,
  key: string,
  problems: string[],
): string | undefined {
  const value = own(request, key);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    problems.push(`request.${key} must be a string`);
    return undefined;
  }
  return value;
}

function failure(
  problems: string | readonly string[],
  apiVersion = ADMISSION_V1,
  uid?: string,
): DecodedReview {
  const list = typeof problems === 'string' ? [problems] : problems;
  const error = new ProvenantError('INVALID_REQUEST', `invalid AdmissionReview: ${list.join('; ')}`);
  return uid === undefined ? { ok: false, error, apiVersion } : { ok: false, error, apiVersion, uid };
}

/** Quotes a foreign value for an error message, bounded so hostile input cannot bloat the answer. */
function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  // Only primitives are quoted: stringifying a deeply nested hostile value could exhaust the stack.
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return text.length > 64 ? `${text.slice(0, 61)}...` : text;
}
