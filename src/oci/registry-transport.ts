import type { Dispatcher } from 'undici';
import { request as dispatch } from './undici-parts.js';
import { ProvenantError } from '../errors.js';
import { firstHeader, parseRetryAfter } from './http-headers.js';

export type RegistryRequestKind = 'manifest' | 'blob' | 'referrers' | 'token' | 'ping';

/** One HTTP exchange, for metrics. Carries no URL, header or body, so it can never leak a secret. */
export interface RegistryRequestEvent {
  readonly registry: string;
  readonly method: string;
  readonly kind: RegistryRequestKind;
  readonly status: number | 'error';
  readonly durationMs: number;
}

/** The part of the limits that governs single HTTP exchanges. */
export interface TransportLimits {
  /** Per HTTP exchange, reading the body included. */
  readonly requestTimeoutMs: number;
  /** Further attempts after the first, on 429, 5xx, network errors and per-request timeouts. */
  readonly retries: number;
  /** First backoff step; each retry doubles it, with jitter. `Retry-After` overrides it. */
  readonly retryBaseDelayMs: number;
  readonly maxRedirects: number;
}

// A registry that asks for a longer pause than this is treated as unavailable now rather than waited for.
const MAX_RETRY_AFTER_MS = 30_000;
// Error bodies and redirect bodies are read only to free the connection; nothing in them is used.
export const DISCARDED_BODY_BYTES = 64 * 1024;
const RETRYABLE_STATUSES = new Set([429, 500, 502, 503, 504]);
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** The operation an HTTP exchange belongs to: what errors name and what metrics count. */
export interface Operation {
  readonly registry: string;
  readonly kind: RegistryRequestKind;
  readonly what: string;
  readonly signal: AbortSignal | undefined;
}

export interface HttpRequest {
  readonly url: URL;
  readonly method: 'GET' | 'HEAD' | 'POST';
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Cap on a 2xx body; more is an invalid answer, not a truncated one. */
  readonly maxBytes: number;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: Dispatcher.ResponseData['headers'];
  readonly body: Uint8Array;
  readonly url: URL;
}

/** A failure worth another attempt; turned into a ProvenantError once attempts run out. */
class TransientFailure extends Error {
  constructor(
    readonly reason: 'timeout' | 'network',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

/** Describes a network failure without echoing anything that came from the request. */
function networkSummary(err: unknown): string {
  const codes: string[] = [];
  for (
    let e: unknown = err;
    e !== undefined && e !== null && codes.length < 4;
    e = (e as { cause?: unknown }).cause
  ) {
    const code = errorCode(e);
    if (code !== '') codes.push(code);
  }
  return codes.length > 0 ? codes.join(' ← ') : err instanceof Error ? err.name : 'unknown error';
}

function provenantCause(err: unknown): ProvenantError | undefined {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    if (e instanceof ProvenantError) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

// Certificate problems do not heal by retrying.
function isTlsFailure(err: unknown): boolean {
  for (let e: unknown = err; e !== undefined && e !== null; e = (e as { cause?: unknown }).cause) {
    const code = errorCode(e);
    if (/^ERR_(TLS|SSL)_|CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/.test(code)) return true;
  }
  return false;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Stops reading a body; undici reports the abort as an 'error' event, which is expected here. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

export function timeoutError(op: Operation, cause?: unknown): ProvenantError {
  const message = `registry ${op.registry}: deadline passed while fetching ${op.what}`;
  return new ProvenantError('TIMEOUT', message, { cause });
}

export function invalidResponse(op: Operation, problem: string): ProvenantError {
  return new ProvenantError('REGISTRY_RESPONSE_INVALID', `registry ${op.registry} ${problem} (${op.what})`);
}

/**
 * HTTP exchanges with a registry over an undici dispatcher: timeouts, retries with backoff, redirects
 * followed by hand, bodies read under a cap, and one metrics event per exchange. It knows nothing of
 * manifests or credentials beyond the Authorization value it is handed.
 */
export class RegistryTransport {
  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly limits: TransportLimits,
    private readonly onRequest: ((event: RegistryRequestEvent) => void) | undefined,
  ) {}

  /**
   * Sends with retries: 429 and 5xx (honouring Retry-After), network errors and per-request timeouts are
   * tried again with exponential backoff and jitter, never past the caller's deadline.
   */
  async exchange(
    op: Operation,
    request: HttpRequest,
    authorization: string | undefined,
  ): Promise<HttpResponse> {
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= this.limits.retries;
      let wait: number;
      try {
        const response = await this.follow(op, request, authorization);
        if (!RETRYABLE_STATUSES.has(response.status)) return response;
        const retryAfter = parseRetryAfter(firstHeader(response.headers['retry-after']), Date.now());
        if (last || (retryAfter !== undefined && retryAfter > MAX_RETRY_AFTER_MS)) {
          const pause = retryAfter === undefined ? '' : `, asked to wait ${Math.ceil(retryAfter / 1000)} s`;
          throw new ProvenantError(
            'REGISTRY_UNAVAILABLE',
            `registry ${op.registry} is unavailable: HTTP ${response.status} after ${attempt + 1} attempt(s)${pause} (${op.what})`,
          );
        }
        wait = retryAfter ?? this.backoff(attempt);
      } catch (err) {
        if (!(err instanceof TransientFailure)) throw err;
        if (last) {
          if (err.reason === 'timeout') {
            throw new ProvenantError(
              'TIMEOUT',
              `registry ${op.registry} did not answer within ${this.limits.requestTimeoutMs} ms, ${attempt + 1} attempt(s) (${op.what})`,
              { cause: err.cause },
            );
          }
          throw new ProvenantError(
            'REGISTRY_UNAVAILABLE',
            `registry ${op.registry} is unavailable: ${err.message} after ${attempt + 1} attempt(s) (${op.what})`,
            { cause: err.cause },
          );
        }
        wait = this.backoff(attempt);
      }
      try {
        await sleep(wait, op.signal);
      } catch (err) {
        throw timeoutError(op, err);
      }
    }
  }

  private backoff(attempt: number): number {
    const step = this.limits.retryBaseDelayMs * 2 ** attempt;
    return Math.round(step / 2 + (Math.random() * step) / 2);
  }

  /**
   * Follows redirects by hand: blob downloads often go to another host (a CDN or bucket), which must never
   * receive the registry's Authorization header (nor a request body), and HTTPS is never given up for plain
   * HTTP.
   */
  private async follow(
    op: Operation,
    request: HttpRequest,
    authorization: string | undefined,
  ): Promise<HttpResponse> {
    const origin = request.url.origin;
    let current: HttpRequest = request;
    for (let hop = 0; ; hop++) {
      const headers =
        authorization !== undefined && current.url.origin === origin
          ? { ...current.headers, authorization }
          : current.headers;
      const response = await this.send(op, { ...current, headers });
      const location = firstHeader(response.headers.location);
      if (!REDIRECT_STATUSES.has(response.status) || location === undefined) return response;
      if (hop >= this.limits.maxRedirects) {
        throw invalidResponse(op, `redirected more than ${this.limits.maxRedirects} times`);
      }
      let next: URL;
      try {
        next = new URL(location, current.url);
      } catch {
        throw invalidResponse(op, 'redirected to an unparseable location');
      }
      if (next.protocol !== 'https:' && next.protocol !== 'http:') {
        throw invalidResponse(op, 'redirected to a non-HTTP location');
      }
      if (current.url.protocol === 'https:' && next.protocol === 'http:') {
        throw invalidResponse(op, 'redirected from HTTPS to plain HTTP');
      }
      const keepMethod = response.status === 307 || response.status === 308 || current.method === 'HEAD';
      // A body is only ever a token request's form, refresh token included: like Authorization, it stays
      // with the origin it was meant for.
      if (keepMethod && current.body !== undefined && next.origin !== origin) {
        throw invalidResponse(op, 'redirected a request with a body to another origin');
      }
      current = keepMethod
        ? { ...current, url: next }
        : { url: next, method: 'GET', headers: current.headers, maxBytes: current.maxBytes };
    }
  }

  /** One HTTP exchange, body included, under the per-request timeout and the caller's signal. */
  private async send(op: Operation, request: HttpRequest): Promise<HttpResponse> {
    const perRequest = AbortSignal.timeout(this.limits.requestTimeoutMs);
    const signal = op.signal === undefined ? perRequest : AbortSignal.any([op.signal, perRequest]);
    const started = performance.now();
    let status: number | 'error' = 'error';
    try {
      const response = await dispatch(this.dispatcher, {
        origin: request.url.origin,
        path: `${request.url.pathname}${request.url.search}`,
        method: request.method,
        headers: request.headers,
        body: request.body ?? null,
        signal,
        // undici closes a connection after each HEAD, in case a server sends the body anyway. Every tag
        // resolution is a HEAD, so the next request to that registry had to connect (and over HTTPS/1.1,
        // handshake) again. Registries send no body; one that did would only break the next answer on this
        // connection, which is that same registry's and checked like any other (a retried network error).
        ...(request.method === 'HEAD' ? { reset: false } : {}),
      });
      status = response.statusCode;
      // HEAD answers announce the length of a body they do not carry; 2xx bodies are held to their cap.
      const strict = status >= 200 && status < 300 && request.method !== 'HEAD';
      const body = await this.readBody(
        op,
        response,
        strict ? request.maxBytes : DISCARDED_BODY_BYTES,
        strict,
      );
      return { status, headers: response.headers, body, url: request.url };
    } catch (err) {
      if (err instanceof ProvenantError) throw err;
      // The connector's refusals (REGISTRY_ADDRESS_REFUSED) may come back wrapped: they are final, not retried.
      const refusal = provenantCause(err);
      if (refusal !== undefined) throw refusal;
      if (op.signal?.aborted) throw timeoutError(op, err);
      if (perRequest.aborted) throw new TransientFailure('timeout', 'no answer in time', { cause: err });
      if (errorCode(err) === 'UND_ERR_MAX_ORIGINS_REACHED') {
        // Not retried: an origin's slot frees only once another origin's connections idle out.
        throw new ProvenantError(
          'REGISTRY_UNAVAILABLE',
          `registry ${op.registry} is unavailable: connections to too many registry origins are open at once (${op.what})`,
          { cause: err },
        );
      }
      const summary = networkSummary(err);
      if (isTlsFailure(err)) {
        throw new ProvenantError(
          'REGISTRY_UNAVAILABLE',
          `registry ${op.registry} is unavailable: TLS failure ${summary} (${op.what})`,
          { cause: err },
        );
      }
      throw new TransientFailure('network', `network error ${summary}`, { cause: err });
    } finally {
      this.report(op, request.method, status, performance.now() - started);
    }
  }

  /** Reads at most `max` bytes; beyond that a 2xx answer is invalid and anything else is cut short. */
  private async readBody(
    op: Operation,
    response: Dispatcher.ResponseData,
    max: number,
    strict: boolean,
  ): Promise<Uint8Array> {
    const body = response.body;
    const declared = Number(firstHeader(response.headers['content-length']) ?? NaN);
    if (strict && declared > max) {
      discard(body);
      throw invalidResponse(op, `announced ${declared} bytes, more than the ${max} allowed`);
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of body as AsyncIterable<Uint8Array>) {
      if (total + chunk.byteLength > max) {
        discard(body);
        if (strict) throw invalidResponse(op, `sent more than the ${max} bytes allowed`);
        return concat(chunks, total);
      }
      chunks.push(chunk);
      total += chunk.byteLength;
    }
    return concat(chunks, total);
  }

  private report(op: Operation, method: string, status: number | 'error', durationMs: number): void {
    if (this.onRequest === undefined) return;
    try {
      this.onRequest({ registry: op.registry, method, kind: op.kind, status, durationMs });
    } catch {
      // A metrics hook must never change the outcome of a registry request.
    }
  }
}
