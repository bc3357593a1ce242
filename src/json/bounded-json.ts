/**
 * JSON.parse with bounds on what the parse may build. Every JSON Provenant reads from outside (AdmissionReview
 * bodies, registry manifests, referrers lists, bundles, DSSE envelopes and payloads, token responses, TUF
 * metadata) is size-capped already, but size alone is not enough: 3 MB of `[[[[…` or `[{},{},…]` makes V8
 * build a million objects (hundreds of MiB, a blocked event loop for most of a second). So the bytes are first
 * scanned once, linearly and without allocating, counting nesting depth and values outside strings; only a
 * document within both bounds is handed to JSON.parse.
 */

import { decodeStrictUtf8 } from './strict-utf8.js';

export interface JsonBounds {
  /** Deepest nesting of arrays and objects; the top-level value is depth 1. */
  readonly maxDepth: number;
  /**
   * Most values: each array or object opened plus each `,` separator plus one, an upper estimate of the number
   * of values (and object members) the parse would build. It bounds memory at roughly 70 bytes per value.
   */
  readonly maxValues: number;
}

/**
 * AdmissionReview bodies (at most 3 MiB). Kubernetes objects nest about 20 levels deep at most (managedFields
 * of a CronJob's containers), and a pod with 100 containers of 50 environment variables each has ~40,000
 * values; anything far beyond that is not an object a real API server sends.
 */
export const ADMISSION_REVIEW_BOUNDS: JsonBounds = { maxDepth: 100, maxValues: 200_000 };

/**
 * Everything read from a registry or TUF repository. OCI documents nest under 10 levels; in-toto predicates
 * (SLSA provenance, SBOMs) are deeper and larger, so the value bound leaves room for an SBOM of tens of
 * thousands of packages while keeping one parse under ~20 MiB.
 */
export const REMOTE_JSON_BOUNDS: JsonBounds = { maxDepth: 64, maxValues: 250_000 };

/** A document refused by its bounds (a SyntaxError, so callers that map parse failures handle it alike). */
export class JsonBoundsError extends SyntaxError {
  override readonly name = 'JsonBoundsError';
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const COMMA = 0x2c;

/**
 * Describes why `input` exceeds `bounds`, or returns undefined when it is within them. Works on UTF-8 bytes
 * (multi-byte sequences never contain ASCII bytes, so structure is found the same way) or on decoded text.
 * Malformed JSON is not judged here: JSON.parse reports it.
 */
export function jsonBoundsProblem(input: Uint8Array | string, bounds: JsonBounds): string | undefined {
  // One loop, over bytes: JSON's structure is ASCII, so UTF-8 bytes count exactly as the text does. Text
  // arrives only from cold paths (token responses, trusted roots), where the copy costs nothing that matters.
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const length = bytes.length;
  let depth = 0;
  let values = 1;
  for (let i = 0; i < length; i++) {
    const c = bytes[i] as number;
    if (c === QUOTE) {
      // Most of a document's bytes are inside strings: skip to the closing quote in a loop of its own
      // (2x faster over admission bodies than one state machine for every byte). An escape skips a byte.
      for (i++; i < length; i++) {
        const s = bytes[i] as number;
        if (s === QUOTE) break;
        if (s === BACKSLASH) i++;
      }
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      depth++;
      values++;
      if (depth > bounds.maxDepth) return `JSON nests deeper than ${bounds.maxDepth} levels`;
      if (values > bounds.maxValues) return `JSON has more than ${bounds.maxValues} values`;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
    } else if (c === COMMA) {
      values++;
      if (values > bounds.maxValues) return `JSON has more than ${bounds.maxValues} values`;
    }
  }
  return undefined;
}

/** JSON.parse of text within `bounds`; throws JsonBoundsError beyond them and SyntaxError for bad JSON. */
export function parseBoundedJson(text: string, bounds: JsonBounds): unknown {
  const problem = jsonBoundsProblem(text, bounds);
  if (problem !== undefined) throw new JsonBoundsError(problem);
  return JSON.parse(text);
}

/**
 * Strict UTF-8 JSON bytes within `bounds`. The scan runs on the bytes before they are decoded, so a refused
 * document costs no string either. Throws JsonBoundsError, a TypeError for invalid UTF-8, or a SyntaxError.
 */
export function parseBoundedJsonBytes(bytes: Uint8Array, bounds: JsonBounds): unknown {
  const problem = jsonBoundsProblem(bytes, bounds);
  if (problem !== undefined) throw new JsonBoundsError(problem);
  return JSON.parse(decodeStrictUtf8(bytes));
}
