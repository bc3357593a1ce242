import { quoted } from '../errors.js';
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
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE) return `DSSE payloadType is ${quoted(payloadType)}, not in-toto`;
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
    return `statement _type ${quoted(type)} is unknown`;
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

/** Digest algorithms a subject can be matched by: the ones an artifact can be hashed with here. */
export const SUBJECT_DIGEST_ALGORITHMS = ['sha256', 'sha384', 'sha512'] as const;
export type SubjectDigestAlgorithm = (typeof SUBJECT_DIGEST_ALGORITHMS)[number];

/**
 * The artifact's digests that may be compared with subjects: the bytes can be hashed with any supported
 * algorithm (computed only for the algorithms the statement lists), a given digest only with its own.
 */
export type ArtifactDigests = (algorithm: SubjectDigestAlgorithm) => string | undefined;

export type SubjectMatch =
  | { readonly matched: true; readonly algorithm: SubjectDigestAlgorithm; readonly hex: string }
  | { readonly matched: false; readonly message: string };

/**
 * Finds a subject that names the artifact under any supported algorithm the statement lists (in-toto
 * digests are lowercase hex; compared case-insensitively). The failure message names every algorithm and
 * digest that was compared, and says so when the subjects only carry algorithms the artifact cannot be
 * hashed with or was not given in.
 */
export function matchSubject(
  statement: Statement,
  artifact: ArtifactDigests,
  label: 'artifact' | 'image' = 'artifact',
): SubjectMatch {
  const compared: string[] = [];
  for (const algorithm of SUBJECT_DIGEST_ALGORITHMS) {
    const listed = statement.subjects.filter((s) => s.digest[algorithm] !== undefined);
    if (listed.length === 0) continue;
    const hex = artifact(algorithm);
    if (hex === undefined) continue;
    if (listed.some((s) => s.digest[algorithm]?.toLowerCase() === hex)) {
      return { matched: true, algorithm, hex };
    }
    compared.push(`${label} ${algorithm}:${hex}`);
  }
  const subjects = describeSubjects(statement);
  if (compared.length > 0) {
    return { matched: false, message: `statement subjects ${subjects}; ${compared.join(', ')} matches none` };
  }
  const given = SUBJECT_DIGEST_ALGORITHMS.flatMap((a) => {
    const hex = artifact(a);
    return hex === undefined ? [] : [{ a, text: `${a}:${hex}` }];
  });
  const reason =
    given.length === 1
      ? `no subject has a ${given[0]?.a} digest to compare with ${label} ${given[0]?.text}`
      : `no subject has a sha256, sha384 or sha512 digest to compare the ${label} with`;
  return { matched: false, message: `statement subjects ${subjects}; ${reason}` };
}

/** Subjects a message lists: a statement may have thousands, each digest as long as its signer liked. */
const DESCRIBED_SUBJECT_DIGESTS = 4;

/** The first subject digests as `algorithm:hex` (subjects without any digest are rejected when parsing). */
function describeSubjects(statement: Statement): string {
  const all = statement.subjects.flatMap((s) =>
    Object.entries(s.digest).map(([algorithm, hex]) => `${algorithm}:${hex}`),
  );
  if (all.length === 0) return '(no digests)';
  const shown = all.slice(0, DESCRIBED_SUBJECT_DIGESTS).map((d) => (d.length <= 140 ? d : quoted(d)));
  const more = all.length - shown.length;
  return more > 0 ? `${shown.join(', ')} and ${more} more` : shown.join(', ');
}
