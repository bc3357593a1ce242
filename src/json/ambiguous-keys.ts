/**
 * Finds JSON objects that Go's encoding/json and JSON.parse read differently. Go (containerd, containers/image,
 * the kubelet, registries) matches an object's keys to struct fields case-insensitively (`Platform`, `DIGEST`,
 * even `oſ` for `os`, by Unicode simple folding) and lets each later match overwrite an earlier one, decoding a
 * repeated object into the one already there; JSON.parse keeps the last key spelled exactly. So `"digest": A,
 * "Digest": B` is A to Provenant and B to a node. A document in which no object has two keys that fold alike
 * reads the same to both.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const COMMA = 0x2c;

/**
 * Go folds a key rune by rune (simple case folding: `ſ` is `S`, the Kelvin sign `\u212a` is `K`).
 * toUpperCase does the same but leaves the Kelvin sign alone, and uses the full mapping, which folds a few
 * more keys together (`ß` and `SS`, `ı` and `I`): those documents are refused too.
 */
function fold(key: string): string {
  return key.replace(/\u212a/g, 'k').toUpperCase();
}

/**
 * The first key of `record` that Go would read as one of `fields` but JSON.parse does not (`Platform` for
 * `platform`), with the field Go reads it as; undefined when there is none, or when `record` is no object.
 * Keys repeated in one object are ambiguousKeyProblem's to find.
 */
export function misspelledKey(
  record: unknown,
  fields: readonly string[],
): { readonly key: string; readonly field: string } | undefined {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return undefined;
  const wanted = new Map(fields.map((f) => [fold(f), f]));
  for (const key of Object.keys(record)) {
    const field = wanted.get(fold(key));
    if (field !== undefined && field !== key) return { key, field };
  }
  return undefined;
}

/**
 * Describes the first object of `text` with two keys that fold alike (an exact repeat included), or returns
 * undefined when there is none. `text` must be well-formed JSON (parse it first): a linear scan, one set of
 * keys per object on the path being read.
 */
export function ambiguousKeyProblem(text: string): string | undefined {
  const open: (Set<string> | undefined)[] = [];
  let keyNext = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      let end = i + 1;
      while (end < text.length && text.charCodeAt(end) !== QUOTE) {
        end += text.charCodeAt(end) === BACKSLASH ? 2 : 1;
      }
      const keys = open[open.length - 1];
      if (keyNext && keys !== undefined) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        const folded = fold(key);
        if (keys.has(folded)) {
          return `an object has the key ${JSON.stringify(key.slice(0, 64))} more than once (letter case aside), which other JSON readers take differently`;
        }
        keys.add(folded);
        keyNext = false;
      }
      i = end;
      continue;
    }
    switch (c) {
      case OPEN_OBJECT:
        open.push(new Set());
        keyNext = true;
        break;
      case OPEN_ARRAY:
        open.push(undefined);
        keyNext = false;
        break;
      case CLOSE_OBJECT:
      case CLOSE_ARRAY:
        open.pop();
        keyNext = false;
        break;
      case COMMA:
        keyNext = open[open.length - 1] !== undefined;
        break;
      default:
        break;
    }
  }
  return undefined;
}
