import { createHmac, randomBytes } from 'node:crypto';
import { ProvenantError } from '../errors.js';
import {
  JsonBoundsError,
  parseBoundedJson,
  parseBoundedJsonBytes,
  REMOTE_JSON_BOUNDS,
} from '../json/bounded-json.js';
import { canonicalRegistry } from './registry-host.js';
import { SharedFlights } from '../cache/shared-flights.js';

/**
 * Registry credentials. Values are secrets: they go into Authorization headers and nowhere else (no logs,
 * no error messages, no metrics labels).
 */
export type Credentials =
  | { readonly kind: 'basic'; readonly username: string; readonly password: string }
  /** An OAuth2 refresh token (`identitytoken` from `docker login`), traded at the realm for access tokens. */
  | { readonly kind: 'identity-token'; readonly token: string }
  /** A bearer token (`registrytoken`) sent to the registry as is. */
  | { readonly kind: 'registry-token'; readonly token: string };

export interface CredentialStore {
  /**
   * Credentials for a registry host (`ghcr.io`, `127.0.0.1:5000`, `docker.io`), or undefined for anonymous.
   * `repository` (`acme/api`) lets a store with path-scoped keys (`ghcr.io/acme`, as pull secrets may
   * have) pick the most specific one; a store keyed by host alone ignores it.
   */
  lookup(registryHost: string, repository?: string): Credentials | undefined;
  /**
   * Every credential that matches, best first (`lookup`'s is the first), for a store that may hold several
   * (a workload's pull secrets): the kubelet tries each in turn until the registry accepts one, so a
   * rotated-out secret listed before the current one does not stop a pull. Without it, a store has one.
   */
  candidates?(registryHost: string, repository?: string): readonly Credentials[];
}

/**
 * Tried per registry request at most: a Pod may list any number of pull secrets, and each refused one costs
 * requests to the registry and its token service. Rotations keep two or three in play.
 */
export const MAX_CREDENTIAL_TRIES = 4;

/** The credentials to try, in order, for `repository` on `registryHost`: none when the store has none. */
export function credentialsToTry(
  store: CredentialStore | undefined,
  registryHost: string,
  repository?: string,
): readonly Credentials[] {
  if (store === undefined) return NONE;
  if (store.candidates !== undefined) {
    const all = store.candidates(registryHost, repository);
    return all.length > MAX_CREDENTIAL_TRIES ? all.slice(0, MAX_CREDENTIAL_TRIES) : all;
  }
  const best = store.lookup(registryHost, repository);
  return best === undefined ? NONE : [best];
}
// Most admissions carry no pull secrets; each of their images asks for this on every cached admission.
const NONE: readonly Credentials[] = Object.freeze([]);

/**
 * The host a credential key or registry name stands for: scheme and path dropped (`https://x/v1/` → `x`),
 * then spelled as references spell registries (canonicalRegistry: lowercase, no `:443`, Docker Hub aliases
 * folded into `docker.io`).
 */
export function canonicalRegistryHost(key: string): string {
  const withoutScheme = key.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const host = withoutScheme.split('/', 1)[0] ?? '';
  return host === '' ? '' : canonicalRegistry(host);
}

/**
 * A store over fixed entries; keys are canonicalised, and the first entry for a host wins. Its credentials
 * are frozen, so what is looked up is what was read (and a namer may remember their names).
 */
export function credentialStoreFrom(entries: Iterable<readonly [string, Credentials]>): CredentialStore {
  const byHost = new Map<string, Credentials>();
  for (const [key, credentials] of entries) {
    const host = canonicalRegistryHost(key);
    if (host !== '' && !byHost.has(host)) byHost.set(host, Object.freeze({ ...credentials }));
  }
  return { lookup: (registryHost) => byHost.get(canonicalRegistryHost(registryHost)) };
}

export const anonymous: CredentialStore = { lookup: () => undefined };

/**
 * Names credentials without revealing them: a keyed hash, with a key random per call of this function, so
 * keys built from it (token and verdict caches) tell nothing about the secrets even to someone who sees them.
 * Equal credentials get equal names from one namer; `undefined` is `none`.
 *
 * The name of a frozen object is remembered (weakly): it cannot change, and every cached admission needs the
 * name of the same store's credentials for each image, where a keyed hash costs more than the rest of the
 * cache lookup.
 */
export function credentialIdentity(): (credentials: Credentials | undefined) => string {
  const key = randomBytes(32);
  const names = new WeakMap<Credentials, string>();
  return (credentials) => {
    if (credentials === undefined) return 'none';
    const known = names.get(credentials);
    if (known !== undefined) return known;
    const fields =
      credentials.kind === 'basic'
        ? [credentials.kind, credentials.username, credentials.password]
        : [credentials.kind, credentials.token];
    const name = createHmac('sha256', key).update(JSON.stringify(fields)).digest('base64url');
    if (Object.isFrozen(credentials)) names.set(credentials, name);
    return name;
  };
}

function configError(problem: string): ProvenantError {
  // Config problems are reported by position and field name only: the values are secrets.
  return new ProvenantError('REGISTRY_AUTH_FAILED', `docker config: ${problem}`);
}

function optionalString(entry: Record<string, unknown>, field: string, key: string): string | undefined {
  const value = entry[field];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw configError(`field "${field}" of entry "${key}" is not a string`);
  return value;
}

// Tokens end up in HTTP headers, where anything but visible ASCII is refused or dangerous.
function headerSafe(token: string | undefined, field: string, key: string): string | undefined {
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token)) {
    throw configError(`field "${field}" of entry "${key}" contains characters not allowed in a header`);
  }
  return token;
}

function decodeAuthField(value: string, key: string): Credentials {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value)) {
    throw configError(`field "auth" of entry "${key}" is not base64`);
  }
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw configError(`field "auth" of entry "${key}" does not decode to user:password`);
  return { kind: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function entryCredentials(key: string, raw: unknown): Credentials | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw configError(`entry "${key}" is not an object`);
  }
  const entry = raw as Record<string, unknown>;
  const identityToken = headerSafe(optionalString(entry, 'identitytoken', key), 'identitytoken', key);
  if (identityToken !== undefined) return { kind: 'identity-token', token: identityToken };
  const registryToken = headerSafe(optionalString(entry, 'registrytoken', key), 'registrytoken', key);
  if (registryToken !== undefined) return { kind: 'registry-token', token: registryToken };
  // Docker prefers `auth` over separate username/password when both are present.
  const auth = optionalString(entry, 'auth', key);
  if (auth !== undefined) return decodeAuthField(auth, key);
  const username = optionalString(entry, 'username', key);
  const password = optionalString(entry, 'password', key);
  if (username !== undefined && password !== undefined) return { kind: 'basic', username, password };
  // An empty entry is what `docker login` leaves when a credential helper holds the secret.
  return undefined;
}

/**
 * Reads a Docker `config.json` (or a `kubernetes.io/dockerconfigjson` secret's payload). Only `auths` is
 * used: `credsStore` and `credHelpers` run external programs, which an admission webhook must not do, so
 * they are ignored. Throws REGISTRY_AUTH_FAILED when the document is malformed.
 */
export function parseDockerConfig(json: string): CredentialStore {
  let document: unknown;
  try {
    document = parseBoundedJson(json, REMOTE_JSON_BOUNDS);
  } catch {
    throw configError('not valid JSON (or nested too deeply)');
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw configError('the document is not a JSON object');
  }
  const auths = (document as Record<string, unknown>)['auths'];
  if (auths === undefined || auths === null) return anonymous;
  if (typeof auths !== 'object' || Array.isArray(auths)) throw configError('"auths" is not an object');
  const entries: [string, Credentials][] = [];
  for (const [key, raw] of Object.entries(auths)) {
    const credentials = entryCredentials(key, raw);
    if (credentials !== undefined) entries.push([key, credentials]);
  }
  return credentialStoreFrom(entries);
}

export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

/** One challenge from a `WWW-Authenticate` header; scheme and parameter names are lowercased. */
export interface Challenge {
  readonly scheme: string;
  readonly params: ReadonlyMap<string, string>;
}

const TOKEN_CHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;

class ChallengeReader {
  private i = 0;
  constructor(private readonly text: string) {}

  get done(): boolean {
    return this.i >= this.text.length;
  }

  skip(chars: string): void {
    while (!this.done && chars.includes(this.text.charAt(this.i))) this.i++;
  }

  token(): string {
    const start = this.i;
    while (!this.done && TOKEN_CHAR.test(this.text.charAt(this.i))) this.i++;
    return this.text.slice(start, this.i);
  }

  peek(): string {
    return this.text.charAt(this.i);
  }

  mark(): number {
    return this.i;
  }

  reset(to: number): void {
    this.i = to;
  }

  /**
   * A quoted-string (RFC 9110 §5.6.4), or else everything up to the next comma or space: some servers
   * leave URLs unquoted although ':' and '/' are not token characters. Undefined when empty.
   */
  value(): string | undefined {
    if (this.peek() !== '"') {
      const start = this.i;
      while (!this.done && !/[,\s]/.test(this.text.charAt(this.i))) this.i++;
      return this.i > start ? this.text.slice(start, this.i) : undefined;
    }
    let out = '';
    this.i++;
    while (!this.done) {
      const c = this.text.charAt(this.i++);
      if (c === '"') return out;
      if (c === '\\' && !this.done) out += this.text.charAt(this.i++);
      else out += c;
    }
    return undefined;
  }
}

function readParams(reader: ChallengeReader, params: Map<string, string>): void {
  for (;;) {
    const start = reader.mark();
    reader.skip(' \t,');
    const name = reader.token();
    reader.skip(' \t');
    if (name === '' || reader.peek() !== '=') {
      // Not a parameter: either the end or the scheme of the next challenge.
      reader.reset(start);
      return;
    }
    reader.skip('=');
    reader.skip(' \t');
    const value = reader.value();
    if (value === undefined) return;
    const key = name.toLowerCase();
    if (!params.has(key)) params.set(key, value);
  }
}

/**
 * Parses `WWW-Authenticate` values (several headers, or several challenges in one). The header is
 * attacker-controlled: anything unparseable ends the parse instead of throwing.
 */
export function parseChallenges(header: string | readonly string[] | undefined): Challenge[] {
  const values = header === undefined ? [] : typeof header === 'string' ? [header] : header;
  const challenges: Challenge[] = [];
  for (const value of values) {
    const reader = new ChallengeReader(value);
    for (;;) {
      reader.skip(' \t,');
      if (reader.done) break;
      const scheme = reader.token();
      if (scheme === '') break;
      const params = new Map<string, string>();
      readParams(reader, params);
      challenges.push({ scheme: scheme.toLowerCase(), params });
    }
  }
  return challenges;
}

export interface TokenHttpRequest {
  readonly url: URL;
  readonly method: 'GET' | 'POST';
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

export interface TokenHttpResponse {
  readonly status: number;
  readonly body: Uint8Array;
}

/**
 * Sends a token request. The registry client supplies it, with its own TLS, timeouts and retries; it
 * throws for network failures and answers only with final statuses. `signal` aborts it, retries included.
 */
export type TokenTransport = (
  request: TokenHttpRequest,
  registry: string,
  signal: AbortSignal,
) => Promise<TokenHttpResponse>;

export interface TokenRequest {
  /** The registry host the token is for; used in the cache key and in messages. */
  readonly registry: string;
  readonly challenge: Challenge;
  /** e.g. `repository:library/nginx:pull`. */
  readonly scope: string;
  readonly credentials?: Credentials | undefined;
}

const MIN_TOKEN_LIFETIME_S = 60;
// Tokens are renewed this long before they expire, so one is never sent just as it runs out.
const EXPIRY_MARGIN_MS = 10_000;
const MAX_CACHED_TOKENS = 1000;
const MAX_TOKEN_RESPONSE_CHARS = 1 << 20;
/**
 * Registries' tokens are JWTs of a few KiB, and HTTP servers refuse larger request headers anyway (8–16 KiB).
 * Without this bound a token service could fill the cache's entries with 1 MiB each.
 */
export const MAX_TOKEN_CHARS = 16 * 1024;

interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

function describeRealm(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

function parseTokenResponse(
  body: Uint8Array,
  registry: string,
  url: URL,
): { token: string; lifetimeS: number } {
  const invalid = (problem: string) =>
    new ProvenantError(
      'REGISTRY_RESPONSE_INVALID',
      `registry ${registry}: token service ${describeRealm(url)} answered ${problem}`,
    );
  if (body.byteLength > MAX_TOKEN_RESPONSE_CHARS) throw invalid('with an oversized body');
  let document: unknown;
  try {
    document = parseBoundedJsonBytes(body, REMOTE_JSON_BOUNDS);
  } catch (err) {
    if (err instanceof JsonBoundsError) throw invalid(`with refused JSON: ${err.message}`);
    throw invalid('with something that is not JSON');
  }
  if (typeof document !== 'object' || document === null) {
    throw invalid('with something that is not an object');
  }
  const fields = document as Record<string, unknown>;
  // Some services fill only `token`, others only `access_token`; both mean the same.
  const token = [fields['token'], fields['access_token']].find((t) => typeof t === 'string' && t !== '');
  if (typeof token !== 'string') throw invalid('without a token');
  if (token.length > MAX_TOKEN_CHARS) throw invalid(`with a token longer than ${MAX_TOKEN_CHARS} characters`);
  if (/[^\x21-\x7e]/.test(token)) throw invalid('with a token that cannot be sent in a header');
  const expiresIn = fields['expires_in'];
  const lifetimeS =
    typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > MIN_TOKEN_LIFETIME_S
      ? expiresIn
      : MIN_TOKEN_LIFETIME_S;
  return { token, lifetimeS };
}

/**
 * Builds the request that trades credentials for a bearer token (distribution token spec): GET with Basic
 * credentials or anonymously, or the OAuth2 POST when all we hold is a refresh token.
 */
export function tokenHttpRequest(url: URL, request: TokenRequest): TokenHttpRequest {
  const service = request.challenge.params.get('service');
  const credentials = request.credentials;
  if (credentials?.kind === 'identity-token') {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: credentials.token });
    if (service !== undefined) form.set('service', service);
    form.set('scope', request.scope);
    form.set('client_id', 'provenant');
    return {
      url,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    };
  }
  const query = new URL(url);
  if (service !== undefined) query.searchParams.set('service', service);
  query.searchParams.append('scope', request.scope);
  const headers: Record<string, string> =
    credentials?.kind === 'basic'
      ? { authorization: basicAuthorization(credentials.username, credentials.password) }
      : {};
  return { url: query, method: 'GET', headers };
}

/**
 * Bearer tokens per registry, credentials, realm and scope, cached until shortly before `expires_in` runs
 * out. Concurrent requests for the same token share one exchange.
 */
export class BearerTokens {
  private readonly cache = new Map<string, CachedToken>();
  private readonly inFlight = new SharedFlights<CachedToken>();
  /**
   * Which credentials a token was traded for: once credentials come per request (each workload's pull
   * secrets), a token one namespace's credentials obtained must never be sent for another's request, even
   * for the same scope.
   */
  private readonly identity = credentialIdentity();

  constructor(
    private readonly transport: TokenTransport,
    private readonly now: () => number = Date.now,
  ) {}

  /** The realm as a URL; throws REGISTRY_RESPONSE_INVALID when the challenge carries none that is usable. */
  static realmOf(challenge: Challenge, registry: string): URL {
    const realm = challenge.params.get('realm');
    let url: URL | undefined;
    try {
      url = realm === undefined ? undefined : new URL(realm);
    } catch {
      url = undefined;
    }
    if (
      url === undefined ||
      !['http:', 'https:'].includes(url.protocol) ||
      url.username !== '' ||
      url.password !== ''
    ) {
      throw new ProvenantError(
        'REGISTRY_RESPONSE_INVALID',
        `registry ${registry} sent a Bearer challenge without a usable realm URL`,
      );
    }
    return url;
  }

  async token(request: TokenRequest, signal?: AbortSignal): Promise<string> {
    const url = BearerTokens.realmOf(request.challenge, request.registry);
    const key = [
      request.registry,
      this.identity(request.credentials),
      url.href,
      request.challenge.params.get('service') ?? '',
      request.scope,
    ].join('\n');
    const cached = this.cache.get(key);
    if (cached !== undefined && cached.expiresAt > this.now()) return cached.token;

    // One exchange per key, shared by concurrent callers and aborted when the last of them gives up: a
    // token request never outlives every admission that waited for it.
    const fresh = await this.inFlight.run(key, (shared) => this.exchange(key, url, request, shared), signal);
    return fresh.token;
  }

  /** Forgets the tokens `credentials` (or anonymous access) got from `registry`, to trade again next time. */
  forget(registry: string, credentials?: Credentials): void {
    const prefix = `${registry}\n${this.identity(credentials)}\n`;
    for (const key of this.cache.keys()) if (key.startsWith(prefix)) this.cache.delete(key);
  }

  private async exchange(
    key: string,
    url: URL,
    request: TokenRequest,
    signal: AbortSignal,
  ): Promise<CachedToken> {
    const started = this.now();
    const response = await this.transport(tokenHttpRequest(url, request), request.registry, signal);
    if (response.status !== 200) {
      const who = request.credentials === undefined ? 'anonymous access' : 'the configured credentials';
      throw new ProvenantError(
        'REGISTRY_AUTH_FAILED',
        `registry ${request.registry}: token service ${describeRealm(url)} refused ${who} for ${request.scope} (HTTP ${response.status})`,
      );
    }
    const { token, lifetimeS } = parseTokenResponse(response.body, request.registry, url);
    const entry = { token, expiresAt: started + lifetimeS * 1000 - EXPIRY_MARGIN_MS };
    this.cache.delete(key);
    this.cache.set(key, entry);
    if (this.cache.size > MAX_CACHED_TOKENS) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    return entry;
  }
}
