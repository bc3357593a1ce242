/**
 * Source repositories are named many ways: `git+https://github.com/o/r@refs/heads/main` (provenance),
 * `https://github.com/o/r` (Fulcio .12), `o/r` (the deprecated .5 extension), `github.com/o/r` (slsa-verifier's
 * --source-uri). Everything is compared in one normal form: `https://github.com/o/r`.
 */
export function normaliseRepository(uri: string): string | undefined {
  let text = uri.trim().replace(/^git\+/, '');
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    if (!/^[^/\s]+\.[^/\s]+\//.test(text)) return undefined;
    text = `https://${text}`;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.search || url.hash || url.username || url.password) return undefined;
  let path = url.pathname.replace(/\/+$/, '').replace(/\.git$/, '');
  // GitHub owner and repository names are case-insensitive; comparing them exactly would deny on a typo's case.
  if (url.host === 'github.com') path = path.toLowerCase();
  if (path === '') return undefined;
  return `${url.protocol}//${url.host}${path}`;
}

/** Splits `git+https://github.com/o/r@refs/heads/main` into repository and ref (either may be missing). */
export function parseGitUri(uri: string): { repository?: string; ref?: string } {
  const text = uri.trim();
  // The ref follows the last '@' of the path; an '@' before the path would be userinfo, not a ref.
  const scheme = text.indexOf('://');
  const pathStart = scheme === -1 ? 0 : text.indexOf('/', scheme + 3);
  const at = pathStart === -1 ? -1 : text.lastIndexOf('@');
  const hasRef = at > pathStart && pathStart !== -1;
  const repository = normaliseRepository(hasRef ? text.slice(0, at) : text);
  const ref = hasRef ? text.slice(at + 1) : undefined;
  return {
    ...(repository !== undefined ? { repository } : {}),
    ...(ref !== undefined && ref !== '' ? { ref } : {}),
  };
}

/**
 * Repository named by the deprecated Fulcio .5 extension (`owner/repo`, GitHub only), on the GitHub instance at
 * `origin` (github.com unless the certificate comes from a GitHub Enterprise instance).
 */
export function githubRepositoryFromSlug(slug: string, origin = 'https://github.com'): string | undefined {
  return /^[^/\s]+\/[^/\s]+$/.test(slug) ? normaliseRepository(`${origin}/${slug}`) : undefined;
}

/** `https://host[:port]` of a URL, or undefined when it is not an https URL. */
export function httpsOrigin(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' ? url.origin : undefined;
  } catch {
    return undefined;
  }
}
