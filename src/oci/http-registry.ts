import { createSecureContext, getCACertificates } from 'node:tls';
import type { Dispatcher } from 'undici';
import { Agent } from './undici-parts.js';
import { ProvenantError } from '../errors.js';
import { JsonBoundsError, parseBoundedJsonBytes, REMOTE_JSON_BOUNDS } from '../json/bounded-json.js';
import {
  anonymous,
  basicAuthorization,
  BearerTokens,
  credentialsToTry,
  parseChallenges,
  type Challenge,
  type CredentialStore,
  type Credentials,
  type TokenHttpRequest,
  type TokenHttpResponse,
} from './auth.js';
import { digestOf, digestProblem, parseDigest, type ParsedDigest } from './digest.js';
import { firstHeader, parseNextLink } from './http-headers.js';
import {
  baseMediaType,
  isIndexMediaType,
  isManifestMediaType,
  MANIFEST_MEDIA_TYPES,
  OCI_INDEX,
} from './media-types.js';
import { DOCKER_HUB, isTag, parseRepository, repositoryName, type Repository } from './reference.js';
import { PlainHttpRegistries } from './registry-host.js';
import { guardedConnector, RegistryAddressPolicy } from './address-guard.js';
import {
  DISCARDED_BODY_BYTES,
  invalidResponse,
  RegistryTransport,
  timeoutError,
  type HttpRequest,
  type HttpResponse,
  type Operation,
  type RegistryRequestEvent,
  type RegistryRequestKind,
  type TransportLimits,
} from './registry-transport.js';
import type {
  FetchedManifest,
  ManifestRequestOptions,
  ReferrerDescriptor,
  ReferrersSupport,
  Registry,
  RequestOptions,
} from './registry.js';
import { SharedFlights } from '../cache/shared-flights.js';

export type { RegistryRequestEvent, RegistryRequestKind } from './registry-transport.js';

export interface HttpRegistryLimits extends TransportLimits {
  readonly maxManifestBytes: number;
  /** Budget for a whole referrers listing, all pages together. */
  readonly maxReferrersBytes: number;
  readonly maxReferrersPages: number;
}

export const DEFAULT_LIMITS: HttpRegistryLimits = {
  maxManifestBytes: 4 * 1024 * 1024,
  maxReferrersBytes: 4 * 1024 * 1024,
  maxReferrersPages: 16,
  requestTimeoutMs: 10_000,
  retries: 3,
  retryBaseDelayMs: 200,
  maxRedirects: 5,
};

export interface HttpRegistryOptions {
  readonly credentials?: CredentialStore;
  /** PEM certificates of private CAs, trusted in addition to the system roots. */
  readonly caCertificates?: readonly string[];
  /**
   * `host:port` entries reached over plain HTTP; every other registry is HTTPS only. Spelled like references
   * (any case; `host` and `host:80` are one plain-HTTP registry).
   */
  readonly insecureRegistries?: readonly string[];
  readonly limits?: Partial<HttpRegistryLimits>;
  readonly onRequest?: (event: RegistryRequestEvent) => void;
  /**
   * Address ranges (CIDR) connected to although they are link-local or cloud metadata addresses, which are
   * refused otherwise (`--allow-registry-address`).
   */
  readonly allowedRegistryAddresses?: readonly string[];
  /**
   * Replaces the undici Agent this client would build (tests, proxies); it is not closed by `close()`, and
   * the address guard (which lives in the Agent's connector) is then the dispatcher's business.
   */
  readonly dispatcher?: Dispatcher;
}

const MAX_TOKEN_BYTES = 1024 * 1024;
/** Registries whose auth scheme is remembered; a forgotten one is learned again from its next 401. */
export const MAX_AUTH_STATES = 1024;
/**
 * How long a repository's answer about the referrers API is remembered. Bounded, so that a registry upgraded
 * to support the API (or a repository that did not exist yet) is asked again; until then its referrers
 * are read from the fallback tag, which cosign 3 and oras also write on such registries.
 */
const REFERRERS_SUPPORT_TTL_MS = 5 * 60_000;
const MAX_REFERRERS_SUPPORT_ENTRIES = 10_000;
const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
/**
 * Origins (scheme, host, port) the client holds connection pools for at once. A cluster's images come from a
 * handful of registries, each with perhaps a token service and a blob CDN: tens of origins. Under a
 * registry-wide policy glob, Pod authors name the hosts, and each fresh one would cost sockets and memory
 * for as long as its connection idles; past this many, a new origin is refused (REGISTRY_UNAVAILABLE, so
 * the image is denied under Enforce) until idle ones close, which MAX_KEEP_ALIVE_MS keeps to seconds.
 */
export const MAX_REGISTRY_ORIGINS = 256;
/**
 * The longest a registry's `Keep-Alive: timeout=…` hint keeps an idle connection, and with it its origin,
 * open. undici caps hints at 600 s only, so a registry could hold each origin it is named under for ten
 * minutes. Registries sending no hint (distribution, most) get undici's 4 s; admissions of one rollout
 * arrive within seconds, so a longer idle connection would save little.
 */
export const MAX_KEEP_ALIVE_MS = 10_000;
/**
 * How long after the per-request timeout undici itself gives up on requests still waiting for headers. Our
 * own timeout (an abort) always comes first; this is for what an abort leaves behind. Over HTTP/2 a registry
 * may allow no streams at all (SETTINGS_MAX_CONCURRENT_STREAMS = 0): each request, finding the sessions it
 * has busy, opens another TLS connection, and once aborted stays queued on it (~17 KiB of heap with the
 * connection) until undici's headers timeout fails it and drops the session: 300 s by default, so an
 * attacker's admission rate held connections and memory for five minutes (docs/security.md, "HTTP/2").
 */
const HEADERS_TIMEOUT_MARGIN_MS = 1_000;

type AuthState =
  | { readonly kind: 'none' }
  | { readonly kind: 'basic' }
  | { readonly kind: 'bearer'; readonly challenge: Challenge };

/** A JSON object within the remote-JSON bounds, or why the bytes are not one. */
function parseJsonObject(bytes: Uint8Array): Record<string, unknown> | string {
  let value: unknown;
  try {
    value = parseBoundedJsonBytes(bytes, REMOTE_JSON_BOUNDS);
  } catch (err) {
    return err instanceof JsonBoundsError ? err.message : 'is not JSON';
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : 'is not a JSON object';
}

/** A registry (or its token service) turning the credentials down: the next candidate may fare better. */
function isRefusal(err: unknown): err is ProvenantError {
  return err instanceof ProvenantError && err.code === 'REGISTRY_AUTH_FAILED';
}

/**
 * Whether a failure to obtain credentials for a learned scheme may be cured by learning the scheme again:
 * the token service refused, failed or answered nonsense. Not once the deadline has passed.
 */
function isStaleSchemeFailure(err: unknown, op: Operation): boolean {
  if (op.signal?.aborted || !(err instanceof ProvenantError)) return false;
  return ['REGISTRY_AUTH_FAILED', 'REGISTRY_UNAVAILABLE', 'REGISTRY_RESPONSE_INVALID'].includes(err.code);
}

/** `is not JSON` stays as is; a bound ("JSON nests deeper than …") reads as a refusal. */
function describe(problem: string): string {
  return problem.startsWith('is ') ? problem : `was refused: ${problem}`;
}

/**
 * The Registry port over HTTP (OCI distribution API) with undici. One instance keeps one connection pool,
 * one auth state per registry and one bearer-token cache; share it across requests and `close()` it on
 * shutdown.
 */
export class HttpRegistry implements Registry {
  private readonly limits: HttpRegistryLimits;
  private readonly credentials: CredentialStore;
  /** The plain-HTTP registries; the verifier spells references with it too. */
  readonly plainHttp: PlainHttpRegistries;
  private readonly dispatcher: Dispatcher;
  /** The Agent this client built, absent when a dispatcher was passed in. */
  private readonly agent: Agent | undefined;
  private readonly transport: RegistryTransport;
  private readonly authStates = new Map<string, AuthState>();
  private readonly pings = new SharedFlights<AuthState>();
  private readonly referrersApi = new Map<string, { supported: boolean; until: number }>();
  private readonly tokens: BearerTokens;

  constructor(options: HttpRegistryOptions = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.credentials = options.credentials ?? anonymous;
    this.plainHttp = new PlainHttpRegistries(options.insecureRegistries ?? []);
    if (options.dispatcher !== undefined) {
      this.dispatcher = options.dispatcher;
      this.agent = undefined;
    } else {
      const ca = options.caCertificates ?? [];
      // One context for every connection: given `ca` instead, each TLS connection would build its own,
      // parsing Node's ~260 root certificates again (~9 ms of CPU on the event loop per connection).
      const secureContext =
        ca.length > 0 ? createSecureContext({ ca: [...getCACertificates('default'), ...ca] }) : undefined;
      this.agent = new Agent({
        maxOrigins: MAX_REGISTRY_ORIGINS,
        keepAliveMaxTimeout: MAX_KEEP_ALIVE_MS,
        headersTimeout: this.limits.requestTimeoutMs + HEADERS_TIMEOUT_MARGIN_MS,
        connect: guardedConnector(
          new RegistryAddressPolicy(options.allowedRegistryAddresses ?? []),
          secureContext === undefined ? {} : { secureContext },
        ),
      });
      this.dispatcher = this.agent;
    }
    this.transport = new RegistryTransport(this.dispatcher, this.limits, options.onRequest);
    this.tokens = new BearerTokens((request, registry, signal) =>
      this.tokenTransport(request, registry, signal),
    );
  }

  async close(): Promise<void> {
    await this.agent?.close();
  }

  /**
   * How many origins (scheme, host and port) this client's own Agent holds a connection pool for, open or
   * connecting; `undefined` with a dispatcher passed in. Pod authors choose registry hosts, so this is what
   * a policy with a registry-wide glob lets them grow (docs/security.md, fifth review, "Registry origins").
   */
  openOrigins(): number | undefined {
    return this.agent === undefined ? undefined : Object.keys(this.agent.stats).length;
  }

  async getManifest(
    repo: Repository,
    reference: string,
    options?: ManifestRequestOptions,
  ): Promise<FetchedManifest | null> {
    const target = this.target(repo, reference);
    const op = this.operation(target.repo, 'manifest', `manifest ${target.name}`, options);
    const candidates = this.credentialsFor(target.repo, options);
    return this.guard(op, async () => {
      const response = await this.authorized(
        op,
        target.repo,
        {
          url: this.url(target.repo, `manifests/${reference}`),
          method: 'GET',
          headers: { accept: MANIFEST_MEDIA_TYPES.join(', ') },
          maxBytes: Math.min(this.limits.maxManifestBytes, options?.maxBytes ?? Infinity),
        },
        candidates,
      );
      if (response.status === 404) return null;
      this.expectOk(op, response);
      return this.checkManifest(op, reference, response);
    });
  }

  async headManifest(repo: Repository, reference: string, options?: RequestOptions): Promise<string | null> {
    const target = this.target(repo, reference);
    const op = this.operation(target.repo, 'manifest', `manifest ${target.name}`, options);
    const candidates = this.credentialsFor(target.repo, options);
    const answer = await this.guard(op, async () => {
      const response = await this.authorized(
        op,
        target.repo,
        {
          url: this.url(target.repo, `manifests/${reference}`),
          method: 'HEAD',
          headers: { accept: MANIFEST_MEDIA_TYPES.join(', ') },
          maxBytes: 0,
        },
        candidates,
      );
      if (response.status === 404) return null;
      this.expectOk(op, response);
      const contentType = baseMediaType(firstHeader(response.headers['content-type']));
      if (contentType !== '' && !isManifestMediaType(contentType)) {
        throw this.invalid(
          op,
          `answered with unsupported manifest type ${JSON.stringify(contentType.slice(0, 100))}`,
        );
      }
      const announced = firstHeader(response.headers['docker-content-digest']);
      if (announced !== undefined && digestProblem(announced) !== undefined) {
        throw this.invalid(op, 'sent a malformed Docker-Content-Digest');
      }
      if (parseDigest(reference) !== undefined) {
        if (announced !== undefined && announced !== reference) {
          throw this.invalid(op, `announced digest ${announced} for a request by digest ${reference}`);
        }
        return reference;
      }
      return announced;
    });
    // Registries need not send Docker-Content-Digest; then the digest can only come from the bytes.
    if (answer === undefined) return (await this.getManifest(repo, reference, options))?.digest ?? null;
    return answer;
  }

  async getBlob(
    repo: Repository,
    digest: string,
    maxBytes: number,
    options?: RequestOptions,
  ): Promise<Uint8Array> {
    const target = this.target(repo, digest, 'digest');
    const op = this.operation(target.repo, 'blob', `blob ${target.name}`, options);
    const candidates = this.credentialsFor(target.repo, options);
    return this.guard(op, async () => {
      const response = await this.authorized(
        op,
        target.repo,
        {
          url: this.url(target.repo, `blobs/${digest}`),
          method: 'GET',
          headers: {},
          maxBytes,
        },
        candidates,
      );
      if (response.status === 404) {
        throw this.invalid(op, 'does not have a blob that a manifest refers to (HTTP 404)');
      }
      this.expectOk(op, response);
      if (digestOf(response.body, target.digest?.algorithm) !== digest) {
        throw this.invalid(op, 'served blob content whose digest differs from the one requested');
      }
      return response.body;
    });
  }

  referrersSupport(repo: Repository): ReferrersSupport {
    const key = repositoryName(repo);
    const known = this.referrersApi.get(key);
    if (known === undefined) return 'unknown';
    if (known.until <= Date.now()) {
      this.referrersApi.delete(key);
      return 'unknown';
    }
    return known.supported ? 'supported' : 'unsupported';
  }

  private rememberReferrersSupport(repo: Repository, supported: boolean): void {
    const key = repositoryName(repo);
    this.referrersApi.delete(key);
    this.referrersApi.set(key, { supported, until: Date.now() + REFERRERS_SUPPORT_TTL_MS });
    if (this.referrersApi.size > MAX_REFERRERS_SUPPORT_ENTRIES) {
      this.referrersApi.delete(this.referrersApi.keys().next().value as string);
    }
  }

  async getReferrers(
    repo: Repository,
    digest: string,
    options?: RequestOptions,
  ): Promise<ReferrerDescriptor[] | null> {
    const target = this.target(repo, digest, 'digest');
    const op = this.operation(target.repo, 'referrers', `referrers of ${target.name}`, options);
    const candidates = this.credentialsFor(target.repo, options);
    return this.guard(op, async () => {
      const descriptors: ReferrerDescriptor[] = [];
      let url: URL | undefined = this.url(target.repo, `referrers/${digest}`);
      const registryOrigin = url.origin;
      let budget = this.limits.maxReferrersBytes;
      for (let page = 0; url !== undefined; page++) {
        if (page >= this.limits.maxReferrersPages) {
          throw this.invalid(op, `listed referrers over more than ${this.limits.maxReferrersPages} pages`);
        }
        const response = await this.authorized(
          op,
          target.repo,
          {
            url,
            method: 'GET',
            headers: { accept: OCI_INDEX },
            maxBytes: budget,
          },
          candidates,
        );
        const contentType = baseMediaType(firstHeader(response.headers['content-type']));
        // Registries without the API answer 404 (distribution 2.8), 400 or 406, or serve something else.
        const unsupported =
          [400, 404, 406].includes(response.status) || (response.status === 200 && contentType !== OCI_INDEX);
        if (unsupported && page === 0) {
          this.rememberReferrersSupport(target.repo, false);
          return null;
        }
        this.expectOk(op, response);
        if (page === 0) this.rememberReferrersSupport(target.repo, true);
        if (contentType !== OCI_INDEX) {
          throw this.invalid(op, 'switched content type between referrers pages');
        }
        budget -= response.body.byteLength;
        descriptors.push(...this.referrerDescriptors(op, response.body));
        url = parseNextLink(response.headers.link, response.url);
        // Against the registry's origin, not the page's: a page served after a redirect may name its own
        // host, and the next request carries the registry's credentials.
        if (url !== undefined && url.origin !== registryOrigin) {
          throw this.invalid(op, 'pointed the next referrers page at another origin');
        }
      }
      return descriptors;
    });
  }

  /**
   * Validates what goes into the URL path: the repository (re-parsed, which also spells its registry
   * canonically, so `GHCR.IO:443` and `index.docker.io` are contacted as `ghcr.io` and Docker Hub's API host)
   * and the reference.
   */
  private target(
    repo: Repository,
    reference: string,
    accept: 'tag-or-digest' | 'digest' = 'tag-or-digest',
  ): { repo: Repository; name: string; digest: ParsedDigest | undefined } {
    const parsed = parseRepository(repositoryName(repo));
    const normalised = { ...parsed, registry: this.plainHttp.canonical(parsed.registry) };
    const digest = parseDigest(reference);
    if (digest === undefined && (accept === 'digest' || !isTag(reference))) {
      const expected = accept === 'digest' ? 'a digest' : 'a tag or digest';
      throw new ProvenantError(
        'INVALID_REFERENCE',
        `${JSON.stringify(reference.slice(0, 150))} is not ${expected}`,
      );
    }
    const separator = digest === undefined ? ':' : '@';
    return { repo: normalised, name: `${normalised.path}${separator}${reference}`, digest };
  }

  private operation(
    repo: Repository,
    kind: RegistryRequestKind,
    what: string,
    options: RequestOptions | undefined,
  ): Operation {
    return { registry: repo.registry, kind, what, signal: options?.signal };
  }

  /**
   * The credentials to try, in order: the request's own (a workload's pull secrets, every one that matches,
   * as the kubelet tries them); a registry they do not cover gets this client's (`--registry-config`), as
   * the kubelet adds the node's credentials to the pod's. Kept out of the Operation, which travels into
   * errors and metrics events.
   */
  private credentialsFor(
    repo: Repository,
    options: RequestOptions | undefined,
  ): readonly (Credentials | undefined)[] {
    const own = credentialsToTry(options?.credentials, repo.registry, repo.path);
    return own.length > 0 ? own : [this.credentials.lookup(repo.registry, repo.path)];
  }

  private origin(registry: string): string {
    const scheme = this.plainHttp.has(registry) ? 'http' : 'https';
    return `${scheme}://${registry === DOCKER_HUB ? DOCKER_HUB_API_HOST : registry}`;
  }

  private url(repo: Repository, rest: string): URL {
    return new URL(`${this.origin(repo.registry)}/v2/${repo.path}/${rest}`);
  }

  private invalid(op: Operation, problem: string): ProvenantError {
    return invalidResponse(op, problem);
  }

  private expectOk(op: Operation, response: HttpResponse): void {
    if (response.status === 200) return;
    if (response.status >= 500) {
      throw new ProvenantError(
        'REGISTRY_UNAVAILABLE',
        `registry ${op.registry} is unavailable: HTTP ${response.status} (${op.what})`,
      );
    }
    throw this.invalid(op, `answered HTTP ${response.status}`);
  }

  /** Runs an operation so that nothing escapes without a reason code, and a passed deadline reads as one. */
  private async guard<T>(op: Operation, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof ProvenantError) throw err;
      if (op.signal?.aborted) throw timeoutError(op, err);
      throw new ProvenantError('INTERNAL_ERROR', `registry ${op.registry}: unexpected failure (${op.what})`, {
        cause: err,
      });
    }
  }

  private checkManifest(op: Operation, reference: string, response: HttpResponse): FetchedManifest {
    const body = response.body;
    const requested = parseDigest(reference);
    if (requested !== undefined && digestOf(body, requested.algorithm) !== reference) {
      throw this.invalid(op, 'served a manifest whose digest differs from the one requested');
    }
    const announced = firstHeader(response.headers['docker-content-digest']);
    if (announced !== undefined) {
      const parsed = parseDigest(announced);
      if (parsed === undefined) throw this.invalid(op, 'sent a malformed Docker-Content-Digest');
      if (digestOf(body, parsed.algorithm) !== announced) {
        throw this.invalid(op, 'sent a Docker-Content-Digest that does not match the manifest bytes');
      }
    }
    const document = parseJsonObject(body);
    if (typeof document === 'string') throw this.invalid(op, `served a manifest that ${describe(document)}`);
    if (document['schemaVersion'] !== 2) {
      throw this.invalid(op, 'served a manifest whose schemaVersion is not 2');
    }
    const contentType = baseMediaType(firstHeader(response.headers['content-type']));
    const declared = document['mediaType'];
    if (declared !== undefined && typeof declared !== 'string') {
      throw this.invalid(op, 'served a manifest whose mediaType is not a string');
    }
    if (declared !== undefined && isManifestMediaType(contentType) && declared !== contentType) {
      throw this.invalid(op, `served a ${declared} manifest as ${contentType}`);
    }
    const mediaType = declared ?? contentType;
    if (!isManifestMediaType(mediaType)) {
      throw this.invalid(op, `served unsupported manifest type ${JSON.stringify(mediaType.slice(0, 100))}`);
    }
    // Without a mediaType field the type comes from a header no digest covers: it must agree with the bytes,
    // or an index served as an image would have its platform manifests go unread.
    if (declared === undefined && Array.isArray(document['manifests']) !== isIndexMediaType(mediaType)) {
      throw this.invalid(op, `served a manifest whose content is not a ${mediaType}`);
    }
    return { digest: requested === undefined ? digestOf(body) : reference, mediaType, bytes: body };
  }

  private referrerDescriptors(op: Operation, body: Uint8Array): ReferrerDescriptor[] {
    const index = parseJsonObject(body);
    if (typeof index === 'string') {
      throw this.invalid(op, `listed referrers in a document that ${describe(index)}`);
    }
    const manifests = index['manifests'] ?? [];
    if (!Array.isArray(manifests)) throw this.invalid(op, 'listed referrers without a manifests array');
    return manifests.map((raw: unknown) => {
      const entry = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
      const { mediaType, digest, size, artifactType, annotations } = entry;
      if (
        typeof mediaType !== 'string' ||
        typeof digest !== 'string' ||
        parseDigest(digest) === undefined ||
        typeof size !== 'number' ||
        !Number.isSafeInteger(size) ||
        size < 0 ||
        (artifactType !== undefined && typeof artifactType !== 'string')
      ) {
        throw this.invalid(op, 'listed a malformed referrer descriptor');
      }
      let notes: Record<string, string> | undefined;
      if (annotations !== undefined) {
        if (typeof annotations !== 'object' || annotations === null || Array.isArray(annotations)) {
          throw this.invalid(op, 'listed referrer annotations that are not an object');
        }
        notes = Object.create(null) as Record<string, string>;
        for (const [key, value] of Object.entries(annotations)) {
          if (typeof value !== 'string') {
            throw this.invalid(op, 'listed a referrer annotation that is not a string');
          }
          notes[key] = value;
        }
      }
      return {
        mediaType,
        digest,
        size,
        ...(artifactType === undefined ? {} : { artifactType }),
        ...(notes === undefined ? {} : { annotations: notes }),
      };
    });
  }

  /**
   * Sends a registry request with each candidate's credentials in turn until the registry accepts one, as
   * the kubelet pulls; anything but a refusal (an unreachable registry, a bad answer) ends the attempt.
   */
  private async authorized(
    op: Operation,
    repo: Repository,
    request: HttpRequest,
    candidates: readonly (Credentials | undefined)[],
  ): Promise<HttpResponse> {
    let refused = 0;
    for (const credentials of candidates.slice(0, -1)) {
      try {
        return await this.authorizedAs(op, repo, request, credentials);
      } catch (err) {
        if (!isRefusal(err)) throw err;
        refused++;
      }
    }
    try {
      return await this.authorizedAs(op, repo, request, candidates.at(-1));
    } catch (err) {
      if (refused === 0 || !isRefusal(err)) throw err;
      throw new ProvenantError(
        'REGISTRY_AUTH_FAILED',
        `${err.message}; the ${refused} other matching credentials were refused too`,
        { cause: err },
      );
    }
  }

  /**
   * Sends a registry request with the credentials the registry asks for: learns the scheme from a ping
   * (when we hold credentials) or from the first 401, then answers it once. A refusal after that is final.
   */
  private async authorizedAs(
    op: Operation,
    repo: Repository,
    request: HttpRequest,
    credentials: Credentials | undefined,
  ): Promise<HttpResponse> {
    const scope = `repository:${repo.path}:pull`;
    const learned = this.authStates.get(repo.registry);
    let state = learned;
    if (state === undefined && credentials !== undefined) state = await this.ping(op, repo.registry);
    let authorization: string | undefined;
    try {
      authorization =
        state === undefined ? undefined : await this.authorization(op, state, credentials, scope);
    } catch (err) {
      if (learned === undefined || !isStaleSchemeFailure(err, op)) throw err;
      // The token service of a scheme learned from an earlier answer failed. The registry may have changed
      // its challenge or dropped auth since: forget the scheme and learn it again from the registry now
      // (a ping, or this request's own 401), so a changed registry works without a restart.
      if (this.authStates.get(repo.registry) === learned) this.authStates.delete(repo.registry);
      state = credentials === undefined ? undefined : await this.ping(op, repo.registry);
      authorization =
        state === undefined ? undefined : await this.authorization(op, state, credentials, scope);
    }

    let response = this.answeredByRegistry(
      op,
      request,
      await this.transport.exchange(op, request, authorization),
    );
    if (response.status === 401) {
      const previous = state;
      state = this.learn(op, response);
      if (authorization !== undefined) {
        // Refused Basic credentials stay refused; a refused token may just have expired, so trade once more.
        if (state.kind !== 'bearer' && previous?.kind === state.kind) {
          throw this.refused(op, repo, credentials, 401);
        }
        if (state.kind === 'bearer') this.tokens.forget(repo.registry, credentials);
      }
      authorization = await this.authorization(op, state, credentials, scope);
      if (authorization === undefined) throw this.refused(op, repo, credentials, 401);
      response = this.answeredByRegistry(
        op,
        request,
        await this.transport.exchange(op, request, authorization),
      );
    }
    if (response.status === 401 || response.status === 403) {
      throw this.refused(op, repo, credentials, response.status);
    }
    return response;
  }

  private refused(
    op: Operation,
    repo: Repository,
    credentials: Credentials | undefined,
    status: number,
  ): ProvenantError {
    const who =
      credentials === undefined
        ? 'anonymous access (no credentials configured)'
        : 'the configured credentials';
    return new ProvenantError(
      'REGISTRY_AUTH_FAILED',
      `registry ${op.registry} refused ${who} for repository ${repo.path} (HTTP ${status}, ${op.what})`,
    );
  }

  /**
   * A 401 or 403 is the registry's to give: only its own answers teach an auth scheme or refuse our
   * credentials. One from a host the registry redirected to (a CDN, a bucket) would otherwise name a token
   * realm that then receives the registry's credentials, for this request and every later one.
   */
  private answeredByRegistry(op: Operation, request: HttpRequest, response: HttpResponse): HttpResponse {
    if ((response.status === 401 || response.status === 403) && response.url.origin !== request.url.origin) {
      throw this.invalid(
        op,
        `redirected to ${response.url.origin}, which answered HTTP ${response.status} (credentials go to the registry only)`,
      );
    }
    return response;
  }

  /** Records how a registry wants to be authenticated, from a 401's challenges. */
  private learn(op: Operation, response: HttpResponse): AuthState {
    const challenges = parseChallenges(response.headers['www-authenticate']);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    let state: AuthState;
    if (bearer !== undefined) {
      BearerTokens.realmOf(bearer, op.registry);
      state = { kind: 'bearer', challenge: bearer };
    } else if (basic !== undefined) {
      state = { kind: 'basic' };
    } else {
      throw this.invalid(op, 'answered 401 without a Basic or Bearer challenge');
    }
    this.rememberAuthState(op.registry, state);
    return state;
  }

  /**
   * Keeps what a registry asked for, for the most recent MAX_AUTH_STATES registries: a glob such as `**`
   * lets workloads name any host, and each state holds a challenge of up to 16 KiB.
   */
  private rememberAuthState(registry: string, state: AuthState): void {
    this.authStates.delete(registry);
    this.authStates.set(registry, state);
    if (this.authStates.size > MAX_AUTH_STATES) {
      this.authStates.delete(this.authStates.keys().next().value as string);
    }
  }

  /** Learns the scheme from `/v2/`; concurrent callers share one ping, which ends when the last gives up. */
  private ping(op: Operation, registry: string): Promise<AuthState> {
    return this.pings.run(
      registry,
      async (signal) => {
        const pingOp: Operation = { registry, kind: 'ping', what: 'the API root /v2/', signal };
        const request: HttpRequest = {
          url: new URL(`${this.origin(registry)}/v2/`),
          method: 'GET',
          headers: {},
          maxBytes: DISCARDED_BODY_BYTES,
        };
        const response = this.answeredByRegistry(
          pingOp,
          request,
          await this.transport.exchange(pingOp, request, undefined),
        );
        const state: AuthState = response.status === 401 ? this.learn(pingOp, response) : { kind: 'none' };
        this.rememberAuthState(registry, state);
        return state;
      },
      op.signal,
    );
  }

  private async authorization(
    op: Operation,
    state: AuthState,
    credentials: Credentials | undefined,
    scope: string,
  ): Promise<string | undefined> {
    switch (state.kind) {
      case 'none':
        return undefined;
      case 'basic':
        if (credentials?.kind === 'basic') {
          return basicAuthorization(credentials.username, credentials.password);
        }
        if (credentials?.kind === 'registry-token') return `Bearer ${credentials.token}`;
        return undefined;
      case 'bearer': {
        if (credentials?.kind === 'registry-token') return `Bearer ${credentials.token}`;
        const token = await this.tokens.token(
          { registry: op.registry, challenge: state.challenge, scope, credentials },
          op.signal,
        );
        return `Bearer ${token}`;
      }
    }
  }

  private async tokenTransport(
    request: TokenHttpRequest,
    registry: string,
    signal: AbortSignal,
  ): Promise<TokenHttpResponse> {
    const url = request.url;
    const op: Operation = {
      registry,
      kind: 'token',
      what: `a token from ${url.origin}${url.pathname}`,
      signal,
    };
    // Credentials go out in clear text only where the operator accepted plain HTTP.
    const plainAllowed = this.plainHttp.has(url.host) || this.plainHttp.has(registry);
    if (url.protocol !== 'https:' && !plainAllowed) {
      throw this.invalid(op, 'named a token service on plain HTTP');
    }
    const { authorization, ...headers } = request.headers;
    const response = await this.transport.exchange(
      op,
      { ...request, headers, maxBytes: MAX_TOKEN_BYTES },
      authorization,
    );
    return { status: response.status, body: response.body };
  }
}
