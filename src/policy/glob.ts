import { canonicalRegistry, DOCKER_HUB, registryHostProblem } from '../oci/registry-host.js';

/**
 * Image globs: `*` matches within one path segment, `**` across segments, `?` one character.
 * A glob is written against the normalised reference (`docker.io/library/nginx`); a glob is normalised the
 * way Docker normalises a reference, so `nginx` and `library/*` work as users expect, and its registry is
 * spelled canonically like a reference's (canonicalRegistry), so `GHCR.IO:443/acme/**`, `ghcr.io/acme/**`
 * and the images the kubelet pulls from there all meet in one spelling.
 */
export interface ImageGlob {
  readonly source: string;
  readonly normalised: string;
  readonly test: (candidate: string) => boolean;
}

const GLOB_CHARS = /^[A-Za-z0-9._\-/:@*?[\]]+$/;

export function compileGlob(glob: string): ImageGlob {
  if (glob.length === 0 || glob.length > 512) throw new Error('must be 1 to 512 characters');
  if (!GLOB_CHARS.test(glob)) throw new Error('may only contain reference characters and * ? wildcards');
  if (/\*{3,}/.test(glob)) throw new Error('*** is not a valid wildcard (use * or **)');
  const normalised = normaliseGlob(glob);
  // References are refused with capitals in their repository path, so such a glob matches nothing: a typo
  // that silently leaves its images to other policies or to --no-match. The registry host is lowercased
  // with the references' (normaliseGlob), and tags may have capitals: only the path is refused.
  const path = repositoryPath(normalised);
  if (path.toLowerCase() !== path) {
    throw new Error(
      `repository path "${path}" must be lowercase (image references are): as written it matches no image`,
    );
  }
  return { source: glob, normalised, test: globMatcher(normalised) };
}

/** A normalised glob's repository path: after its registry, before its tag (`:` past the last `/`) or digest. */
function repositoryPath(normalised: string): string {
  const at = normalised.indexOf('@');
  const name = at === -1 ? normalised : normalised.slice(0, at);
  const colon = name.lastIndexOf(':');
  const withoutTag = colon > name.lastIndexOf('/') ? name.slice(0, colon) : name;
  return withoutTag.slice(withoutTag.indexOf('/') + 1);
}

function normaliseGlob(glob: string): string {
  const slash = glob.indexOf('/');
  const first = slash === -1 ? glob : glob.slice(0, slash);
  // `**`, `*/app`: the wildcard may stand for the registry itself, so there is nothing to normalise.
  if (/^\*+$/.test(first)) return glob;
  // The rule of Docker's splitDockerDomain, as parseReference applies it.
  const hasRegistry =
    slash !== -1 &&
    (first.includes('.') || first.includes(':') || first === 'localhost' || first.toLowerCase() !== first);
  if (!hasRegistry) return slash === -1 ? `${DOCKER_HUB}/library/${glob}` : `${DOCKER_HUB}/${glob}`;
  // A literal bracketed host must be an IPv6 address, as in a reference; one with wildcards is matched as
  // written against the canonical spelling (`[fd00::*]`).
  const hostProblem = /[*?]/.test(first) ? undefined : registryHostProblem(first);
  if (hostProblem !== undefined) throw new Error(`registry host "${first}" ${hostProblem}`);
  const registry = canonicalRegistry(first);
  let path = glob.slice(slash + 1);
  // `docker.io/nginx` is `docker.io/library/nginx` to Docker; `docker.io/**` still means all of Docker Hub.
  if (registry === DOCKER_HUB && !path.includes('/') && !path.includes('**')) path = `library/${path}`;
  return `${registry}/${path}`;
}

/**
 * One step of a glob: a literal character, `?`, `*`, `**`, or a character class (for Go's `path.Match`
 * patterns, which pull-secret keys use; image globs have none).
 */
export type GlobToken =
  | { readonly kind: 'literal'; readonly char: string }
  | { readonly kind: 'class'; readonly test: (char: string) => boolean }
  | { readonly kind: '?' | '*' | '**' };

const SLASH = '/';

/**
 * A matcher for a glob: `*` within one `/`-separated segment, `**` across segments, `?` one character other
 * than `/`; everything else literal. Not a regular expression: a backtracking regex for a glob with several
 * wildcards (`app-*-*-*-x`) takes polynomial or worse time on a long candidate that does not match, and the
 * candidate (an image reference, a URI in an attestation) comes from whoever creates the workload. This walks
 * the glob once over the set of candidate positions still possible: O(glob length × candidate length).
 */
export function globMatcher(glob: string): (candidate: string) => boolean {
  const tokens: GlobToken[] = [];
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*' && glob[i + 1] === '*') {
      tokens.push({ kind: '**' });
      i++;
    } else if (c === '*' || c === '?') {
      tokens.push({ kind: c });
    } else {
      tokens.push({ kind: 'literal', char: c });
    }
  }
  if (tokens.every((t) => t.kind === 'literal')) return (candidate) => candidate === glob;
  // Most globs are a literal registry and path before their first wildcard (`ghcr.io/acme/**`): that prefix
  // is compared as a string, and only the rest is walked. A rest of `**` alone matches whatever follows.
  const prefixLength = tokens.findIndex((t) => t.kind !== 'literal');
  // Each leading literal token is one character of the glob, so the prefix is the glob's first characters.
  const prefix = glob.slice(0, prefixLength);
  const rest = tokens.slice(prefixLength);
  if (rest.length === 1 && rest[0]?.kind === '**') return (candidate) => candidate.startsWith(prefix);
  return (candidate) => candidate.startsWith(prefix) && matchGlobTokens(rest, candidate.slice(prefix.length));
}

/** Whether a one-character token takes `c`: `?` any character but `/`. */
function takesOne(token: Exclude<GlobToken, { readonly kind: '*' | '**' }>, c: string): boolean {
  if (token.kind === 'literal') return c === token.char;
  return token.kind === 'class' ? token.test(c) : c !== SLASH;
}

/** Whether `tokens` match all of `candidate`, in O(tokens × candidate) (see globMatcher). */
export function matchGlobTokens(tokens: readonly GlobToken[], candidate: string): boolean {
  const n = candidate.length;
  // reachable[j]: the tokens so far can match exactly the first j characters.
  let reachable = new Uint8Array(n + 1);
  let next = new Uint8Array(n + 1);
  reachable[0] = 1;
  for (const token of tokens) {
    next.fill(0);
    let any = false;
    switch (token.kind) {
      case 'literal':
      case 'class':
      case '?': {
        for (let j = 0; j < n; j++) {
          if (reachable[j] === 1 && takesOne(token, candidate[j] as string)) {
            next[j + 1] = 1;
            any = true;
          }
        }
        break;
      }
      case '*':
      case '**':
        for (let j = 0; j <= n; j++) {
          const extend = j > 0 && next[j - 1] === 1 && (token.kind === '**' || candidate[j - 1] !== SLASH);
          if (reachable[j] === 1 || extend) {
            next[j] = 1;
            any = true;
          }
        }
        break;
    }
    if (!any) return false;
    [reachable, next] = [next, reachable];
  }
  return reachable[n] === 1;
}
