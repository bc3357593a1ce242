import { globMatcher } from '../policy/glob.js';
import type { UriGlob } from './types.js';

/**
 * Globs over URIs, builder ids and git refs: `*` matches within one `/`-separated segment, `**` across
 * segments, `?` one character other than `/`; everything else is literal (no regex metacharacters leak).
 * Segment-bounded `*` keeps `https://github.com/acme/*` from matching `https://github.com/acme/x/evil`.
 */
export function compileUriGlob(glob: string): UriGlob {
  if (glob.length === 0 || glob.length > 1024) throw new Error('must be 1 to 1024 characters');
  // Whitespace and control characters never occur in the URIs and refs these globs match: a typo.
  if (/[\s\p{Cc}]/u.test(glob)) throw new Error('must not contain whitespace or control characters');
  if (/\*{3,}/.test(glob)) throw new Error('*** is not a valid wildcard (use * or **)');
  return { source: glob, test: globMatcher(glob) };
}

export function hasWildcard(glob: string): boolean {
  return /[*?]/.test(glob);
}
