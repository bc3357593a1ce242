import { JsonBoundsError, parseBoundedJsonBytes, REMOTE_JSON_BOUNDS } from '../json/bounded-json.js';

/** An in-toto Statement (v0.1 or v1): what signature binding needs, and the predicate for attestations. */
export interface Statement {
  /** `_type`: `https://in-toto.io/Statement/v1` or `…/v0.1`. */
  readonly type: string;
  readonly predicateType: string;
  readonly subjects: readonly { readonly name?: string; readonly digest: Readonly<Record<string, string>> }[];
  /** As signed; its shape is the predicate type's business (attestation/ reads it defensively). */
  readonly predicate?: unknown;
}

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
/** What cosign 3 `sign` writes for an image signature (cosign pkg/types/predicate.go). */
export const COSIGN_SIGN_PREDICATE_TYPE = 'https://sigstore.dev/cosign/sign/v1';

const STATEMENT_TYPES = new Set(['https://in-toto.io/Statement/v1', 'https://in-toto.io/Statement/v0.1']);

/** Parses a DSSE payload as an in-toto statement; returns a reason string when it is not one. */
export function parseStatement(payloadType: string, payload: Uint8Array): Statement | string {
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE)
    return `DSSE payloadType is ${JSON.stringify(payloadType)}, not in-toto`;
  let doc: unknown;
  try {
    doc = parseBoundedJsonBytes(payload, REMOTE_JSON_BOUNDS);
  } catch (err) {
    if (err instanceof JsonBoundsError) return `in-toto statement refused: ${err.message}`;
    return 'in-toto statement is not UTF-8 JSON';
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    return 'in-toto statement is not an object';
  const { _type: type, predicateType, subject, predicate } = doc as Record<string, unknown>;
  if (typeof type !== 'string' || !STATEMENT_TYPES.has(type))
    return `statement _type ${JSON.stringify(type)} is unknown`;
  if (typeof predicateType !== 'string' || predicateType === '') return 'statement has no predicateType';
  if (!Array.isArray(subject) || subject.length === 0) return 'statement has no subject';
  const subjects: { name?: string; digest: Record<string, string> }[] = [];
  for (const s of subject) {
    const digest = (s as { digest?: unknown } | null)?.digest;
    if (typeof digest !== 'object' || digest === null || Array.isArray(digest))
      return 'statement subject has no digest';
    const entries = Object.entries(digest).filter((e): e is [string, string] => typeof e[1] === 'string');
    const name = (s as { name?: unknown }).name;
    subjects.push(
      typeof name === 'string'
        ? { name, digest: Object.fromEntries(entries) }
        : { digest: Object.fromEntries(entries) },
    );
  }
  return { type, predicateType, subjects, ...(predicate !== undefined ? { predicate } : {}) };
}

/** True when some subject carries `hex` under `algorithm` (in-toto digests are bare lowercase hex). */
export function hasSubjectDigest(statement: Statement, algorithm: string, hex: string): boolean {
  return statement.subjects.some((s) => s.digest[algorithm]?.toLowerCase() === hex);
}

/** `sha256:<hex>` of every subject, for messages. */
export function subjectDigests(statement: Statement, algorithm: string): string[] {
  return statement.subjects.flatMap((s) =>
    s.digest[algorithm] === undefined ? [] : [`${algorithm}:${s.digest[algorithm]}`],
  );
}
