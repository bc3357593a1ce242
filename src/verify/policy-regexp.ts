import type { RE2JS } from 're2js';
import { ProvenantError } from '../errors.js';
import { lazyRequire } from '../lazy-require.js';

// Loaded with the first policy RegExp, not with the verifier: key-only policies never need it, and it is
// ~270 KB of code that every `provenant verify` would otherwise load.
const re2js = lazyRequire<typeof import('re2js')>('re2js');

/**
 * Compiles a policy RegExp in RE2 syntax, the one dialect of policy files and CRDs alike: the API server
 * validates `*RegExp` fields with CEL's `matches()`, which is Go's regexp, so a file may use exactly what an
 * object may (flags such as `(?i)` anywhere, `\pL`, `[[:alpha:]]`, `\z`) and is refused what it is refused
 * (lookaround, backreferences, possessive quantifiers, JavaScript escapes). RE2 also matches in linear time,
 * so no policy can make an admission backtrack.
 *
 * Callers match with `matches(value)`: the whole value, as if anchored `^(?:…)$` (@sigstore/verify's SAN
 * match is unanchored, and `acme/app` would also admit `evil/acme/app-fork`).
 *
 * re2js is a port of RE2/J, which follows C++ RE2; Go differs from both in one place: it allows two groups
 * with the same name. Names play no part in matching, so such a pattern is compiled with the repeated names
 * made unique. Throws ProvenantError('INVALID_POLICY') naming the field and RE2's reason.
 */
export function policyRegExp(source: string, where: string): RE2JS {
  if (typeof source !== 'string' || source === '')
    throw new ProvenantError('INVALID_POLICY', `${where}RegExp is empty`);
  try {
    return compileRe2(source);
  } catch (err) {
    throw new ProvenantError(
      'INVALID_POLICY',
      `${where}RegExp is not a valid regular expression (RE2 syntax): ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** Compiles `source` with Go's reading of RE2 (see policyRegExp); throws re2js's own syntax error. */
export function compileRe2(source: string): RE2JS {
  const { RE2JS, RE2JSSyntaxException } = re2js();
  try {
    return RE2JS.compile(source);
  } catch (err) {
    if (!(err instanceof RE2JSSyntaxException) || err.error !== DUPLICATE_NAME) throw err;
    return RE2JS.compile(withUniqueGroupNames(source));
  }
}

const DUPLICATE_NAME = 'duplicate capture group name';
const GROUP_NAME = /^\(\?P?<([^>]*)>/;

/**
 * The pattern with every repeated group name (`(?P<n>…)`, `(?<n>…)`) replaced by an unused one. Group
 * openings are found as RE2's parser finds them: not after a backslash, not inside `\Q…\E`, not inside a
 * character class (where `]` right after `[` or `[^` is a literal).
 */
export function withUniqueGroupNames(source: string): string {
  const seen = new Set<string>();
  let out = '';
  let i = 0;
  while (i < source.length) {
    const ch = source[i];
    if (ch === '\\') {
      const end = source[i + 1] === 'Q' ? quotedEnd(source, i + 2) : i + 2;
      out += source.slice(i, end);
      i = end;
    } else if (ch === '[') {
      const end = classEnd(source, i);
      out += source.slice(i, end);
      i = end;
    } else if (ch === '(' && GROUP_NAME.test(source.slice(i))) {
      const [opening, name = ''] = GROUP_NAME.exec(source.slice(i)) ?? [''];
      let unique = name;
      for (let n = 2; seen.has(unique) || (unique !== name && source.includes(unique)); n++) {
        unique = `${name}_${n}`;
      }
      seen.add(unique);
      out += opening.replace(`<${name}>`, `<${unique}>`);
      i += opening.length;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

/** Where `\Q…` ends: after its `\E`, or at the end of the pattern. */
function quotedEnd(source: string, from: number): number {
  const end = source.indexOf('\\E', from);
  return end < 0 ? source.length : end + 2;
}

/** Where the class opening at `start` ends (after its `]`), or the end of the pattern when it never does. */
function classEnd(source: string, start: number): number {
  let i = start + 1;
  if (source[i] === '^') i++;
  if (source[i] === ']') i++;
  while (i < source.length) {
    if (source[i] === '\\') i += 2;
    else if (source.startsWith('[:', i) && source.indexOf(':]', i + 2) > 0)
      i = source.indexOf(':]', i + 2) + 2;
    else if (source[i] === ']') return i + 1;
    else i++;
  }
  return source.length;
}
