/**
 * One spelling per registry. The kubelet pulls `GHCR.IO/acme/x`, `ghcr.io:443/acme/x` and `ghcr.io/acme/x`
 * from the same place, and `index.docker.io`, `registry-1.docker.io` and `docker.io` are all Docker Hub; a
 * policy written for one spelling must govern every other, or `--no-match allow|warn` admits the others
 * unverified. Image references, policy globs, signature repositories, credential keys and the plain-HTTP
 * registry list are all folded with these functions before anything compares them.
 */

export const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set([
  DOCKER_HUB,
  'index.docker.io',
  'registry-1.docker.io',
]);
const HTTPS_PORT = 443;
/** A bracketed IP literal as references may write it (distribution's grammar, plus IPv4-embedded forms). */
const BRACKETED = /^\[[0-9a-f:.]+\]$/;
const HTTP_PORT = 80;

/** `host[:port]` split at the port colon (IPv6 literals keep their brackets). */
function splitPort(registry: string): { host: string; port: string | undefined } {
  const colon = registry.lastIndexOf(':');
  if (colon < 0 || colon < registry.lastIndexOf(']')) return { host: registry, port: undefined };
  return { host: registry.slice(0, colon), port: registry.slice(colon + 1) };
}

/** Leading zeros dropped (`0443` is 443); a port that is not all digits (a glob's `*`) is kept as written. */
function normalisePort(port: string): string {
  return /^[0-9]+$/.test(port) ? String(Number(port)) : port;
}

/**
 * The one spelling of a bracketed IPv6 host: `[0::1]`, `[0:0:0:0:0:0:0:1]` and `[::1]` are one address, and
 * `[FD00::1]` is `[fd00::1]`. The WHATWG URL parser serialises IPv6 literals the RFC 5952 way (lowercase,
 * leading zeros dropped, the longest run of zero groups compressed), so the platform does the folding. A host
 * that is not bracketed is returned lowercased; a bracketed one that is not an IPv6 address is undefined.
 */
function canonicalHost(host: string): string | undefined {
  const lower = host.toLowerCase();
  if (!lower.startsWith('[')) return lower;
  if (!BRACKETED.test(lower) || !URL.canParse(`http://${lower}/`)) return undefined;
  return new URL(`http://${lower}/`).hostname;
}

/**
 * The canonical spelling of `host[:port]` as references and globs name registries: the host lowercased
 * (DNS names are case-insensitive) and an IPv6 literal in its one spelling (canonicalHost), HTTPS's default
 * port 443 dropped, and every Docker Hub alias folded into
 * `docker.io`. Port 80 is not dropped here: only a registry reached over plain HTTP has it as its default
 * (see PlainHttpRegistries); for an HTTPS registry `host:80` is another place than `host`. Whatever the
 * spelling, the result still reads as a registry when written before a path (never as a Docker Hub name).
 * A bracketed host that is no IPv6 address is only lowercased: this spells, it does not judge; references
 * and globs refuse such a host (registryHostProblem), and a credential key or plain-HTTP entry naming it
 * then names no registry an image can be on.
 */
export function canonicalRegistry(registry: string): string {
  const { host, port } = splitPort(registry);
  const lower = canonicalHost(host) ?? host.toLowerCase();
  const normalisedPort = port === undefined ? undefined : normalisePort(port);
  // A single-label host (`Registry/x`, `registry:443/x`) is a registry to Docker only because of its
  // capitals or its port; lowercased and without a port it would be read back as a Docker Hub repository.
  // Such a host is spelled with its port, HTTPS's if none was written: `Registry` and `REGISTRY:443` are
  // both `registry:443`.
  if (!readsAsRegistry(lower)) return `${lower}:${normalisedPort ?? HTTPS_PORT}`;
  if (normalisedPort === undefined || normalisedPort === String(HTTPS_PORT)) {
    return DOCKER_HUB_ALIASES.has(lower) ? DOCKER_HUB : lower;
  }
  return `${lower}:${normalisedPort}`;
}

/** Why `host[:port]` names no registry, or undefined: a bracketed host must be an IPv6 address. */
export function registryHostProblem(registry: string): string | undefined {
  return canonicalHost(splitPort(registry).host) === undefined ? 'is not a valid IPv6 address' : undefined;
}

/** The port number a canonical registry names, or undefined when none (or a non-numeric glob port). */
export function registryPort(registry: string): number | undefined {
  const { port } = splitPort(registry);
  return port !== undefined && /^[0-9]+$/.test(port) ? Number(port) : undefined;
}

/**
 * The registries reached over plain HTTP (`--insecure-registry`). On those port 80 is the default, so
 * `host:80` and `host` are one registry; on every other it is not. Entries are canonicalised like references.
 */
export class PlainHttpRegistries {
  readonly #hosts: ReadonlySet<string>;

  constructor(entries: Iterable<string> = []) {
    // A port-less entry is plain HTTP's port 80 (which canonicalRegistry would otherwise give HTTPS's 443,
    // for a single-label host).
    const withPort = (entry: string) =>
      splitPort(entry).port === undefined ? `${entry}:${HTTP_PORT}` : entry;
    this.#hosts = new Set([...entries].map((entry) => withoutHttpPort(canonicalRegistry(withPort(entry)))));
  }

  /** Whether `registry` (any spelling) is reached over plain HTTP. */
  has(registry: string): boolean {
    return this.#hosts.has(withoutHttpPort(canonicalRegistry(registry)));
  }

  /** canonicalRegistry, and `:80` dropped for a plain-HTTP registry. */
  canonical(registry: string): string {
    const canonical = canonicalRegistry(registry);
    const portless = withoutHttpPort(canonical);
    return portless !== canonical && this.#hosts.has(portless) ? portless : canonical;
  }

  /**
   * Every spelling a policy glob may use for `registry` (canonical): a plain-HTTP registry on port 80 is
   * matched with and without `:80`.
   */
  spellings(registry: string): string[] {
    const canonical = this.canonical(registry);
    return this.#hosts.has(canonical) && registryPort(canonical) === undefined
      ? [canonical, `${canonical}:${HTTP_PORT}`]
      : [canonical];
  }
}

/** `host:80` → `host`, unless `host` alone would read as a Docker Hub name (a single-label host). */
function withoutHttpPort(registry: string): string {
  const { host } = splitPort(registry);
  return registryPort(registry) === HTTP_PORT && readsAsRegistry(host) ? host : registry;
}

/** Whether Docker reads `host/…` as a registry without help from capitals or a port. */
function readsAsRegistry(lowercaseHost: string): boolean {
  return lowercaseHost.includes('.') || lowercaseHost.includes(':') || lowercaseHost === 'localhost';
}
