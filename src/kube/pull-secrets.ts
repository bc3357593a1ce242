/**
 * Registry credentials for a workload, found the way the kubelet finds them for a Pod: the Pod's
 * `imagePullSecrets`, then its service account's (`spec.serviceAccountName`, or "default"), plus the
 * `signaturePullSecrets` a policy names for its signature repository. Secrets of type
 * kubernetes.io/dockerconfigjson and kubernetes.io/dockercfg are read; a missing Secret or service account
 * is skipped (the kubelet skips it too) and logged.
 *
 * Matching (k8s.io/kubernetes pkg/credentialprovider keyring.go, go-containerregistry k8schain): a key may
 * carry a scheme and a path (`https://registry.example/v1/` is the host; `/v1/` and `/v2/` are dropped);
 * the key's host must match the registry host part by part (same number of dot-separated parts, `*` and
 * `?` globs inside a part, identical port) and its path must be a string prefix of the repository path
 * (so `ghcr.io/acme` also covers `ghcr.io/acme-tools/x`, as in the kubelet). The most specific key wins:
 * longer keys first, then reverse lexical order (the kubelet's order), then the order of the secrets.
 *
 * RBAC: `get` on secrets and serviceaccounts in every namespace whose workloads are admitted (a
 * ClusterRole), and on secrets in the namespaces signaturePullSecrets point to.
 */
import { systemClock, type Clock } from '../clock.js';
import { mapWithConcurrency } from '../concurrency.js';
import { ProvenantError } from '../errors.js';
import { SingleFlightCache } from '../cache/single-flight-cache.js';
import { JsonBoundsError, parseBoundedJsonBytes, REMOTE_JSON_BOUNDS } from '../json/bounded-json.js';
import { matchGlobTokens, type GlobToken } from '../policy/glob.js';
import {
  canonicalRegistryHost,
  parseDockerConfig,
  type Credentials,
  type CredentialStore,
} from '../oci/auth.js';
import { describeError, type LogSink } from './log.js';

/** A Secret as far as pull credentials go; `data` values are base64, as the API returns them. */
export interface PullSecret {
  readonly type?: string;
  readonly data: Readonly<Record<string, string>>;
}

export interface ServiceAccountPullSecrets {
  readonly imagePullSecrets: readonly { readonly name: string }[];
}

/** Reads Secrets and ServiceAccounts; resolves undefined when the object does not exist. */
export interface KubeSecretsReader {
  readSecret(namespace: string, name: string): Promise<PullSecret | undefined>;
  readServiceAccount(namespace: string, name: string): Promise<ServiceAccountPullSecrets | undefined>;
}

export interface SecretRef {
  readonly namespace: string;
  readonly name: string;
}

/** What a Pod (or a pod template, with the workload's namespace) says about pull credentials. */
export interface PodPullSecrets {
  readonly namespace: string;
  readonly serviceAccountName?: string | undefined;
  readonly imagePullSecrets?: readonly { readonly name?: string | undefined }[] | undefined;
  /** From the matching policies; may live in other namespaces. */
  readonly signaturePullSecrets?: readonly SecretRef[] | undefined;
}

/**
 * A CredentialStore that can also match by repository path. Without `repository` only keys without a path
 * match (a key like `ghcr.io/acme` cannot be decided from the host alone).
 */
export interface Keyring extends CredentialStore {
  lookup(registryHost: string, repository?: string): Credentials | undefined;
  /** Every matching credential, best first: the kubelet tries them in this order until one works. */
  candidates(registryHost: string, repository?: string): readonly Credentials[];
}

export const DOCKER_CONFIG_JSON = 'kubernetes.io/dockerconfigjson';
export const DOCKER_CFG = 'kubernetes.io/dockercfg';

interface KeyringEntry {
  readonly key: string;
  /** One matcher per dot-separated part of the key's host, compiled once. */
  readonly hostParts: readonly HostPartMatcher[];
  readonly port: string;
  readonly path: string;
  readonly credentials: Credentials;
}

interface ParsedLocation {
  readonly host: string;
  readonly port: string;
  readonly path: string;
}

/** `https://Host:5000/v2/a/b` → host `host`, port `5000`, path `/a/b`; Docker Hub aliases fold into docker.io. */
function parseLocation(raw: string): ParsedLocation | undefined {
  const withoutScheme = raw.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = withoutScheme.indexOf('/');
  const authority = slash < 0 ? withoutScheme : withoutScheme.slice(0, slash);
  let path = slash < 0 ? '' : withoutScheme.slice(slash).replace(/[?#].*$/, '');
  if (authority === '' || /[@\s]/.test(authority)) return undefined;
  let host = authority;
  let port = '';
  const bracketed = /^(\[[^\]]*\])(?::(\d+))?$/.exec(authority);
  if (bracketed) {
    host = bracketed[1] ?? '';
    port = bracketed[2] ?? '';
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon >= 0) {
      host = authority.slice(0, colon);
      port = authority.slice(colon + 1);
      if (!/^\d*$/.test(port) || host.includes(':')) return undefined;
    }
  }
  host = canonicalRegistryHost(host);
  if (path.startsWith('/v1/') || path.startsWith('/v2/')) path = path.slice(3);
  if (path === '/') path = '';
  return { host, port, path };
}

/** Go's path.Match for one host part: `*`, `?`, `[...]` classes (`^` negates), `\` escapes. */
export function matchHostPart(pattern: string, name: string): boolean {
  return hostPartMatcher(pattern)(name);
}

type HostPartMatcher = (name: string) => boolean;
const NEVER: HostPartMatcher = () => false;

/**
 * matchHostPart with the pattern compiled once: a keyring's keys are matched on every admission. Keys come
 * from Secrets that anyone who may create one in a namespace writes, and host parts from the images its Pods
 * name, so the match is the policy globs' walk, linear in both (a backtracking RegExp of `*a*a*…` took seconds
 * per lookup, on the event loop every admission shares). Host parts hold no `/`, so the glob's `*` and `?`
 * are path.Match's. A malformed pattern matches nothing.
 */
function hostPartMatcher(pattern: string): HostPartMatcher {
  const tokens: GlobToken[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charAt(i);
    if (c === '*' || c === '?') tokens.push({ kind: c });
    else if (c === '\\') {
      if (i + 1 >= pattern.length) return NEVER;
      tokens.push({ kind: 'literal', char: pattern.charAt(++i) });
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) return NEVER;
      const test = characterClass(pattern.slice(i + 1, end));
      if (test === undefined) return NEVER;
      tokens.push({ kind: 'class', test });
      i = end;
    } else tokens.push({ kind: 'literal', char: c });
  }
  return (name) => matchGlobTokens(tokens, name);
}

/** A `[...]` body (without brackets) as a one-character test: ranges `a-z`, a leading `^` negates. */
function characterClass(body: string): ((char: string) => boolean) | undefined {
  const negated = body.startsWith('^');
  const members = negated ? body.slice(1) : body;
  if (members === '') return undefined;
  // A class tests one character, so a RegExp of one class cannot backtrack; it also judges the ranges.
  let expression: RegExp;
  try {
    expression = new RegExp(`^[${negated ? '^' : ''}${members.replace(/[\]\\^]/g, '\\$&')}]$`, 's');
  } catch {
    return undefined;
  }
  return (char) => expression.test(char);
}

function matches(entry: KeyringEntry, target: ParsedLocation): boolean {
  if (entry.port !== target.port) return false;
  const parts = target.host.split('.');
  if (parts.length !== entry.hostParts.length) return false;
  if (!target.path.startsWith(entry.path)) return false;
  return entry.hostParts.every((matchPart, i) => matchPart(parts[i] ?? ''));
}

/**
 * Why a secret cannot be used, in words of our own: a problem's text is logged, and the secret's bytes must
 * never be. Only these messages (and oci/auth's, which name fields and registry keys) are reported; any
 * other failure is reported as unreadable without its message.
 */
class PullSecretProblem extends Error {}

/** The `auths` map of one secret, or undefined when the secret holds no usable Docker config. */
function authsOf(secret: PullSecret): Record<string, unknown> | undefined {
  const field =
    secret.type === DOCKER_CONFIG_JSON
      ? '.dockerconfigjson'
      : secret.type === DOCKER_CFG
        ? '.dockercfg'
        : undefined;
  const raw = field === undefined ? undefined : secret.data[field];
  if (raw === undefined || raw === '') return undefined;
  if (raw.length > PULL_SECRET_LIMITS.maxConfigChars) {
    throw new PullSecretProblem(
      `its ${field} is larger than ${PULL_SECRET_LIMITS.maxConfigChars} characters (base64)`,
    );
  }
  let document: unknown;
  try {
    document = parseBoundedJsonBytes(Buffer.from(raw, 'base64'), REMOTE_JSON_BOUNDS);
  } catch (err) {
    // JSON.parse's message quotes the text around the mistake (`..."password":hunter2}}" is not valid
    // JSON`), and that text is the secret: name the kind of problem only. (The API server parses both keys
    // as JSON before it stores such a Secret, so this is not expected; the message must not depend on it.)
    throw new PullSecretProblem(
      err instanceof JsonBoundsError
        ? `its ${field} is refused: ${err.message}`
        : `its ${field} is not valid JSON`,
    );
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document))
    throw new PullSecretProblem('not a JSON object');
  const auths = field === '.dockercfg' ? document : (document as Record<string, unknown>)['auths'];
  if (auths === undefined || auths === null) return {};
  if (typeof auths !== 'object' || Array.isArray(auths))
    throw new PullSecretProblem('"auths" is not an object');
  return auths as Record<string, unknown>;
}

/** Credentials of one config entry, parsed by oci/auth so that both readers agree on every field. */
function entryCredentials(key: string, entry: unknown): Credentials | undefined {
  return parseDockerConfig(JSON.stringify({ auths: { [key]: entry } })).lookup(key);
}

export interface NamedPullSecret {
  /** `namespace/name`, for log lines. */
  readonly source: string;
  readonly secret: PullSecret;
}

/**
 * One secret as a keyring reads it: its entries, or why it cannot be used. A secret that cannot be parsed is
 * skipped as a whole: half of a broken secret is worse than none.
 */
interface ParsedPullSecret {
  readonly source: string;
  readonly entries: readonly KeyringEntry[];
  readonly problem?: string;
}

/**
 * Bounds on one pull secret. Whoever may create Secrets in a namespace writes them, and a Pod naming a few
 * is read and parsed before any policy matches: 10,000 long registry keys in each of four 1 MB Secrets held
 * 434 MiB once parsed. A real secret names a few registries.
 */
export const PULL_SECRET_LIMITS = {
  maxConfigChars: 256 * 1024,
  maxRegistries: 64,
  maxKeyChars: 512,
  maxEntryChars: 16 * 1024,
} as const;

function parsePullSecret({ source, secret }: NamedPullSecret): ParsedPullSecret {
  try {
    const entries: KeyringEntry[] = [];
    const auths = Object.entries(authsOf(secret) ?? {});
    if (auths.length > PULL_SECRET_LIMITS.maxRegistries) {
      throw new PullSecretProblem(
        `names ${auths.length} registries; at most ${PULL_SECRET_LIMITS.maxRegistries} are read`,
      );
    }
    for (const [key, raw] of auths) {
      if (key.length > PULL_SECRET_LIMITS.maxKeyChars) {
        throw new PullSecretProblem(
          `a registry key is longer than ${PULL_SECRET_LIMITS.maxKeyChars} characters`,
        );
      }
      if ((JSON.stringify(raw)?.length ?? 0) > PULL_SECRET_LIMITS.maxEntryChars) {
        throw new PullSecretProblem(
          `the entry for a registry is larger than ${PULL_SECRET_LIMITS.maxEntryChars} characters`,
        );
      }
      const location = parseLocation(key);
      if (location === undefined) continue;
      const credentials = entryCredentials(key, raw);
      if (credentials === undefined) continue;
      const normalisedKey = `${location.host}${location.port ? `:${location.port}` : ''}${location.path}`;
      // An IPv6 host (`[::1]`, canonical like the registry it is compared with) is one literal part: its
      // brackets are not a character class (the kubelet strips them with net.SplitHostPort before matching).
      const hostParts = location.host.startsWith('[')
        ? [(name: string) => name === location.host]
        : location.host.split('.').map(hostPartMatcher);
      entries.push({ key: normalisedKey, ...location, hostParts, credentials });
    }
    return { source, entries };
  } catch (err) {
    // oci/auth's messages name a field and the entry's registry key (a key with `user:password@` is
    // skipped before its entry is read); anything else is not ours to quote.
    const ours = err instanceof PullSecretProblem || err instanceof ProvenantError;
    return { source, entries: [], problem: ours ? err.message : 'it cannot be read as a Docker config' };
  }
}

/**
 * Builds the keyring of several secrets, in priority order. A secret that cannot be parsed is skipped as a
 * whole (and reported through `onInvalid`).
 */
export function keyringFromSecrets(
  secrets: readonly NamedPullSecret[],
  onInvalid: (source: string, problem: string) => void = () => {},
): Keyring {
  return keyringFromParsed(secrets.map(parsePullSecret), onInvalid);
}

/** keyringFromSecrets over secrets parsed before (the resolver keeps them parsed while it caches them). */
function keyringFromParsed(
  secrets: readonly ParsedPullSecret[],
  onInvalid: (source: string, problem: string) => void,
): Keyring {
  const entries: KeyringEntry[] = [];
  for (const secret of secrets) {
    if (secret.problem === undefined) entries.push(...secret.entries);
    else onInvalid(secret.source, secret.problem);
  }
  // Stable sort: equal keys keep the order of the secrets.
  entries.sort((a, b) => b.key.length - a.key.length || (a.key < b.key ? 1 : a.key > b.key ? -1 : 0));

  const candidates = (registryHost: string, repository?: string): Credentials[] => {
    // Most workloads bring no pull secrets: their empty keyring is asked for every image of every admission.
    if (entries.length === 0) return [];
    const target = parseLocation(repository === undefined ? registryHost : `${registryHost}/${repository}`);
    if (target === undefined) return [];
    return entries.filter((e) => matches(e, target)).map((e) => e.credentials);
  };
  return {
    candidates,
    lookup: (registryHost, repository) => candidates(registryHost, repository)[0],
  };
}

export interface PullSecretResolverOptions {
  readonly logger: LogSink;
  readonly clock?: Clock;
  /** How long a Secret or ServiceAccount read (found or missing) is reused; default 30 s. */
  readonly ttlMs?: number;
  /** Bound on cached objects; default 1000. */
  readonly maxEntries?: number;
}

type Cached<T> = { readonly found: true; readonly value: T } | { readonly found: false };

/**
 * Pull secrets one workload may name, its service account's and the policies' signature secrets included. A
 * Pod author can list any number of names, each a read of the API server before anything else is decided;
 * real workloads name a handful.
 */
export const MAX_PULL_SECRETS = 32;
/** A DNS subdomain (RFC 1123), what Secret, ServiceAccount and namespace names are. */
const OBJECT_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Secret reads of one workload in flight at once. */
const SECRET_READS_AT_ONCE = 8;

/**
 * Parsed secrets kept at once, by estimated size: within PULL_SECRET_LIMITS one can still be a few MiB (a
 * long key's host matchers, large entries), and the entry count alone would let a thousand of them stay.
 */
const PARSED_SECRETS_MAX_BYTES = 32 * 1024 * 1024;

function parsedSize(secret: ParsedPullSecret): number {
  // A host part's matcher holds a token per character; an entry's credentials are at most maxEntryChars.
  let bytes = 256;
  for (const entry of secret.entries) {
    bytes += 256 + 64 * entry.key.length + JSON.stringify(entry.credentials).length;
  }
  return bytes;
}

/**
 * The log field naming what was read. Not `secret`: the logger masks every field of that name (it would hold a
 * secret's value), which left these lines naming no Secret at all.
 */
const logField = { secret: 'pullSecret', serviceaccount: 'serviceaccount' } as const;

/** Resolves a workload's pull secrets into a Keyring; reads are cached briefly and shared when concurrent. */
export class PullSecretResolver {
  /** Kept parsed: every admission of a workload builds its keyring from them. */
  readonly #secrets: SingleFlightCache<Cached<ParsedPullSecret>>;
  readonly #accounts: SingleFlightCache<Cached<ServiceAccountPullSecrets>>;

  constructor(
    private readonly reader: KubeSecretsReader,
    private readonly options: PullSecretResolverOptions,
  ) {
    const cache = {
      maxEntries: options.maxEntries ?? 1000,
      clock: options.clock ?? systemClock,
      ttlFor: () => options.ttlMs ?? 30_000,
    };
    this.#secrets = new SingleFlightCache({
      ...cache,
      maxWeight: PARSED_SECRETS_MAX_BYTES,
      weigh: (cached) => (cached.found ? parsedSize(cached.value) : 0),
    });
    this.#accounts = new SingleFlightCache(cache);
  }

  async forPod(pod: PodPullSecrets): Promise<Keyring> {
    const refs: SecretRef[] = [];
    for (const r of pod.imagePullSecrets ?? [])
      if (r.name) refs.push({ namespace: pod.namespace, name: r.name });
    const accountName = pod.serviceAccountName || 'default';
    const account = await this.#read(this.#accounts, 'serviceaccount', pod.namespace, accountName, () =>
      this.reader.readServiceAccount(pod.namespace, accountName),
    );
    for (const r of account?.imagePullSecrets ?? []) refs.push({ namespace: pod.namespace, name: r.name });
    refs.push(...(pod.signaturePullSecrets ?? []));

    const unique = [...new Map(refs.map((r) => [`${r.namespace}/${r.name}`, r])).values()];
    if (unique.length > MAX_PULL_SECRETS) {
      throw new ProvenantError(
        'INVALID_REQUEST',
        `the workload and its service account name ${unique.length} pull secrets; at most ${MAX_PULL_SECRETS} are read`,
      );
    }
    const secrets = await mapWithConcurrency(unique, SECRET_READS_AT_ONCE, async (r) => {
      const parsed = await this.#read(this.#secrets, 'secret', r.namespace, r.name, async () => {
        const secret = await this.reader.readSecret(r.namespace, r.name);
        return secret === undefined
          ? undefined
          : parsePullSecret({ source: `${r.namespace}/${r.name}`, secret });
      });
      return parsed === undefined ? [] : [parsed];
    });
    return keyringFromParsed(secrets.flat(), (source, problem) =>
      this.options.logger.warn(
        { pullSecret: source, problem },
        'pull secret ignored: not a valid Docker config',
      ),
    );
  }

  async #read<T>(
    cache: SingleFlightCache<Cached<T>>,
    what: 'secret' | 'serviceaccount',
    namespace: string,
    name: string,
    read: () => Promise<T | undefined>,
  ): Promise<T | undefined> {
    // Names come from the Pod, unvalidated: `..` or `.` in a request path would read the namespace or list
    // its Secrets instead (RBAC refuses both today). Such a name cannot exist, so it is skipped as missing.
    if (!OBJECT_NAME.test(name) || !OBJECT_NAME.test(namespace)) {
      this.options.logger.info(
        { [logField[what]]: `${namespace}/${name}` },
        `${what} name is not valid; skipped`,
      );
      return undefined;
    }
    try {
      const cached = await cache.get(`${namespace}/${name}`, async () => {
        const value = await read();
        if (value === undefined) {
          this.options.logger.info(
            { [logField[what]]: `${namespace}/${name}` },
            `${what} for pull credentials not found; skipped`,
          );
          return { found: false } as const;
        }
        return { found: true, value } as const;
      });
      return cached.found ? cached.value : undefined;
    } catch (err) {
      // The kubelet goes on without a secret it cannot read; so do we (the registry decides what anonymous gets).
      this.options.logger.warn(
        { [logField[what]]: `${namespace}/${name}`, ...describeError(err) },
        `reading ${what} for pull credentials failed; skipped`,
      );
      return undefined;
    }
  }
}
