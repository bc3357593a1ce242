import { canonicalRegistry, DOCKER_HUB } from '../oci/registry-host.js';

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
  const regex = globRegExp(normalised);
  return { source: glob, normalised, test: (candidate) => regex.test(candidate) };
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
  const registry = canonicalRegistry(first);
  let path = glob.slice(slash + 1);
  // `docker.io/nginx` is `docker.io/library/nginx` to Docker; `docker.io/**` still means all of Docker Hub.
  if (registry === DOCKER_HUB && !path.includes('/') && !path.includes('**')) path = `library/${path}`;
  return `${registry}/${path}`;
}

/**
 * The anchored regular expression for a glob: `*` within one `/`-separated segment, `**` across segments,
 * `?` one character other than `/`; everything else literal, so no regex metacharacter leaks through.
 */
export function globRegExp(glob: string): RegExp {
  return new RegExp(`^${translate(glob)}$`);
}

function translate(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*' && glob[i + 1] === '*') {
      out += '.*';
      i++;
    } else if (c === '*') {
      out += '[^/]*';
    } else if (c === '?') {
      out += '[^/]';
    } else {
      out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  return out;
}
