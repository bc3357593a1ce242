/**
 * The webhook's HTTP surface on node:http's own request handler: `createRequestHandler` is the routing and
 * body reading without a socket (reusable by the bench); `startServer` serves it over HTTPS with reloadable
 * certificates. There is no framework in the hot path: an admission is one bounded body read, one decision
 * and one JSON answer. Anything can reach the port, so every body is bounded and every failure becomes a
 * clear JSON answer, never a crash.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { parse as parseQuery } from 'node:querystring';
import type { Logger } from '../observability/logger.js';
import type { ProvenantMetrics } from '../observability/metrics.js';
import type { AdmissionWebhook } from '../observability/metrics.js';
import type { BodyBudget } from './body-budget.js';
import type { DecideDeps } from './decide.js';
import {
  handleReservedBody,
  overloaded,
  reserveBody,
  turnedAway,
  UNBUDGETED_BODY_BYTES,
  type HandlerDeps,
  type TurnedAway,
} from './handle.js';
import { invalidRequestResponse, toReviewResponse } from './response.js';
import {
  generateServingCertificate,
  readKeyMaterial,
  watchCertificateFiles,
  type CertificateFiles,
  type GeneratedCertificate,
} from './tls.js';

export interface AppDeps extends DecideDeps {
  /** True once policies are loaded; until then /readyz answers 503 and the Service sends no traffic. */
  readonly isReady: () => boolean;
  readonly metrics: ProvenantMetrics;
  readonly logger: Logger;
  /** Largest accepted body. Default 3 MiB: the API server's own request limit, so no real object is larger. */
  readonly maxBodyBytes?: number;
  /** Bounds the body bytes being read, decoded and decided at once; default: one budget for the process. */
  readonly bodyBudget?: BodyBudget;
}

export const DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024;

const JSON_TYPE = 'application/json; charset=utf-8';
const NOT_FOUND = { error: 'not found: the webhook serves POST /validate and POST /mutate' };
const NOT_READY: TurnedAway = {
  status: 503,
  code: 'POLICIES_NOT_LOADED',
  message: 'policies are not loaded yet; the request was not decided',
};

/** A request the server refuses before deciding anything, with the status and reason it answers. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export function createRequestHandler(deps: AppDeps): RequestHandler {
  const maxBodyBytes = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const chunkedLimit = Math.min(maxBodyBytes, UNBUDGETED_BODY_BYTES);

  // The API server asks with the same ?timeout= every time: the deps with the deadline it allows are kept for
  // that query rather than parsed and copied for every admission.
  let timed: { readonly query: string | undefined; readonly deps: HandlerDeps } = { query: undefined, deps };
  const depsFor = (query: string | undefined): HandlerDeps => {
    if (query !== timed.query) {
      const timeoutMs = effectiveTimeout(deps.timeoutMs, query && parseQuery(query)['timeout']);
      timed = { query, deps: timeoutMs === deps.timeoutMs ? deps : { ...deps, timeoutMs } };
    }
    return timed.deps;
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    // Matched as routers match: case-insensitively, with or without one trailing slash.
    const path = normalisePath(queryAt === -1 ? url : url.slice(0, queryAt));
    const webhook: AdmissionWebhook | undefined =
      path === '/validate' ? 'validate' : path === '/mutate' ? 'mutate' : undefined;
    if (webhook !== undefined) {
      if (req.method !== 'POST') {
        res.setHeader('Allow', 'POST');
        sendJson(res, 405, errorBody(405, 'use POST with an AdmissionReview body'));
        return;
      }
      await admit(req, res, webhook, queryAt === -1 ? undefined : url.slice(queryAt + 1));
      return;
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      switch (path) {
        case '/healthz':
          sendJson(res, 200, { status: 'ok' });
          return;
        case '/readyz':
          if (isReadySafely(deps)) sendJson(res, 200, { status: 'ready' });
          else sendJson(res, 503, { status: 'not ready', reason: 'policies are not loaded yet' });
          return;
        case '/metrics':
          send(res, 200, deps.metrics.contentType, await deps.metrics.render());
          return;
      }
    }
    sendJson(res, 404, NOT_FOUND);
  };

  /**
   * An admission: room in the body budget is reserved by the declared length before a byte is read, so
   * bodies that are still arriving are bounded too, and the body must arrive within the admission's deadline.
   */
  const admit = async (
    req: IncomingMessage,
    res: ServerResponse,
    webhook: AdmissionWebhook,
    queryString: string | undefined,
  ): Promise<void> => {
    const startedAt = performance.now();
    const handlerDeps = depsFor(queryString);
    // Turned away unread: the body is read off and dropped, then answered.
    const undecided = async (why: TurnedAway): Promise<void> => {
      await discardBody(req, handlerDeps.timeoutMs);
      const result = turnedAway(webhook, handlerDeps, startedAt, why);
      sendJson(res, result.httpStatus, result.body);
    };
    // Until the policies are loaded every image would be decided by --no-match alone, which may allow:
    // readiness keeps a Service's traffic away, but an API server calling a URL directly does not ask.
    if (!isReadySafely(deps)) return undecided(NOT_READY);
    const framing = bodyFraming(req, maxBodyBytes);
    if (framing instanceof HttpError) return refuseBody(req, framing, handlerDeps.timeoutMs);
    const release = await reserveBody(framing?.declared ?? 0, handlerDeps);
    if (release === undefined) return undecided(overloaded(handlerDeps));
    let bytes: Buffer | undefined;
    try {
      bytes =
        framing === undefined
          ? undefined
          : await readBody(req, framing.declared ?? chunkedLimit, handlerDeps.timeoutMs);
    } catch (err: unknown) {
      release();
      throw err;
    }
    const result = await handleReservedBody(bytes, webhook, handlerDeps, startedAt, release);
    sendJson(res, result.httpStatus, result.body);
  };

  return (req, res) => {
    route(req, res).catch((err: unknown) => {
      const { status, message } = describeHttpError(err);
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (status >= 500) deps.logger.error({ err, path }, 'request failed');
      else deps.logger.warn({ path, status, reason: message }, 'request rejected');
      if (res.headersSent) {
        res.end();
        return;
      }
      // A body too slow to arrive is not waited for again on this connection.
      if (status === 408) res.setHeader('Connection', 'close');
      sendJson(res, status, errorBody(status, message));
    });
  };
}

function normalisePath(path: string): string {
  const lower = path.toLowerCase();
  return lower.length > 1 && lower.endsWith('/') ? lower.slice(0, -1) : lower;
}

function send(res: ServerResponse, status: number, contentType: string, text: string): void {
  // Headers as a flat list, merged with any set before (Allow, Connection): Node writes them out as they
  // are, where setHeader() keeps a map for each answer that is read back once.
  res.writeHead(status, ['Content-Type', contentType, 'Content-Length', String(Buffer.byteLength(text))]);
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, JSON_TYPE, JSON.stringify(body));
}

/** How a body is framed: its declared length, if any; undefined when there is no body. */
interface BodyFraming {
  readonly declared?: number;
}

/**
 * Judges the headers before a byte of the body is read. Any content type is read as bytes and judged by our
 * own decoder; compressed bodies are refused, since the API server never compresses and inflating is a way
 * to turn a small body into a large one. A body without Content-Length (chunked) may be at most
 * UNBUDGETED_BODY_BYTES: the API server always declares the length, and a larger body must, so that its room
 * is reserved before it is read.
 */
function bodyFraming(req: IncomingMessage, max: number): BodyFraming | undefined | HttpError {
  const contentEncoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  const declared = req.headers['content-length'];
  if (req.headers['transfer-encoding'] === undefined && declared === undefined) return undefined;
  if (contentEncoding !== 'identity') return new HttpError(415, 'compressed request bodies are not accepted');
  if (declared === undefined) return {};
  // Node's parser has already refused a Content-Length that is not a plain decimal number.
  const length = Number(declared);
  if (length > max) return new HttpError(413, `request body exceeds the ${max}-byte limit`);
  return { declared: length };
}

/**
 * The whole body: exactly `limit` bytes when the length was declared, else at most `limit` (the smaller of
 * the size limit and UNBUDGETED_BODY_BYTES).
 * It must arrive within `deadlineMs`; a sender that is slower gets 408 and its connection closed.
 */
function readBody(req: IncomingMessage, limit: number, deadlineMs: number): Promise<Buffer> {
  const declared = req.headers['content-length'] !== undefined;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const timer = setTimeout(() => {
      stop();
      reject(new HttpError(408, `request body not received within ${deadlineMs}ms`));
    }, deadlineMs);
    function stop(): void {
      clearTimeout(timer);
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      req.removeListener('close', onClose);
    }
    function onData(chunk: Buffer): void {
      received += chunk.length;
      if (received > limit) {
        // Only a chunked body can get here: Node's parser stops at a declared length.
        stop();
        const error =
          limit < UNBUDGETED_BODY_BYTES
            ? new HttpError(413, `request body exceeds the ${limit}-byte limit`)
            : new HttpError(
                411,
                `a request body over ${UNBUDGETED_BODY_BYTES} bytes must declare its Content-Length`,
              );
        refuseBody(req, error, deadlineMs).catch(reject);
        return;
      }
      chunks.push(chunk);
    }
    function onEnd(): void {
      stop();
      if (declared && received !== limit) {
        reject(new HttpError(400, 'request body length does not match Content-Length'));
        return;
      }
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, received));
    }
    function onClose(): void {
      if (req.complete) return;
      stop();
      reject(new HttpError(400, 'request body was not received completely'));
    }
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onClose);
  });
}

/** Reads off and drops the rest of a refused body, then rejects with `error`, so the answer reaches the sender. */
async function refuseBody(req: IncomingMessage, error: HttpError, deadlineMs: number): Promise<never> {
  await discardBody(req, deadlineMs);
  throw error;
}

/**
 * Reads off and drops whatever is left of a body, holding nothing: done when it ends, or when `deadlineMs`
 * passes, after which the connection is closed rather than waited on.
 */
function discardBody(req: IncomingMessage, deadlineMs: number): Promise<void> {
  if (req.complete) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      req.removeListener('end', done);
      req.removeListener('close', done);
      resolve();
    };
    const timer = setTimeout(() => {
      req.socket.destroy();
      done();
    }, deadlineMs);
    req.once('end', done);
    req.once('close', done);
    req.resume();
  });
}

function isReadySafely(deps: AppDeps): boolean {
  try {
    return deps.isReady();
  } catch {
    return false;
  }
}

/** A JSON body shaped like an AdmissionReview answer, so tools reading `response.status` see the reason. */
function errorBody(status: number, message: string) {
  return toReviewResponse(
    invalidRequestResponse('', status, status >= 500 ? 'INTERNAL_ERROR' : 'INVALID_REQUEST', message),
  );
}

function describeHttpError(err: unknown): { status: number; message: string } {
  return err instanceof HttpError
    ? { status: err.status, message: err.message }
    : { status: 500, message: 'internal error' };
}

/**
 * The API server appends `?timeout=<duration>` (its webhook timeout) to each call. If that is shorter than our
 * configured budget, answering within it matters more: otherwise the caller sees only "deadline exceeded".
 * A margin is kept for the network and the API server's own processing.
 */
export function effectiveTimeout(configuredMs: number, query: unknown): number {
  if (typeof query !== 'string') return configuredMs;
  const callerMs = parseGoDuration(query);
  if (callerMs === undefined || callerMs <= 0) return configuredMs;
  const margin = Math.min(1000, callerMs / 5);
  return Math.max(1, Math.min(configuredMs, Math.floor(callerMs - margin)));
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** The subset of Go's time.Duration syntax the API server produces: `10s`, `1m30s`, `500ms`. */
export function parseGoDuration(text: string): number | undefined {
  if (text.length === 0 || text.length > 32) return undefined;
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.map((p) => p[0]).join('') !== text) return undefined;
  return parts.reduce(
    (sum, part) => sum + Number(part[1]) * (DURATION_UNITS[part[2] ?? ''] ?? Number.NaN),
    0,
  );
}

export type TlsSource =
  | { readonly kind: 'files'; readonly certFile: string; readonly keyFile: string }
  /** Generate a throwaway CA and serving certificate into `dir`, with extra SANs `names`. */
  | { readonly kind: 'generate'; readonly dir: string; readonly names?: readonly string[] };

export interface ServerOptions {
  readonly deps: AppDeps;
  readonly port: number;
  readonly host?: string;
  readonly tls: TlsSource;
  /** Open connections at most; a connection beyond them is closed at once (default DEFAULT_MAX_CONNECTIONS). */
  readonly maxConnections?: number;
}

/**
 * Each connection holds TLS state and up to UNBUDGETED_BODY_BYTES of a body being read, and anyone reaching
 * the port can open them: the cap bounds that memory. The API server opens one per admission in flight, so
 * this is far above what a cluster's admission rate times the webhook's latency needs.
 */
export const DEFAULT_MAX_CONNECTIONS = 512;
/** A refused connection is counted every time but logged at most this often, so a flood cannot flood the log. */
const DROP_LOG_INTERVAL_MS = 60_000;

export interface RunningServer {
  readonly server: Server;
  readonly port: number;
  readonly url: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** Set when the certificate was generated: trust this CA to call the server. */
  readonly caFile?: string;
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { deps } = options;
  let generated: GeneratedCertificate | undefined;
  let files: CertificateFiles;
  if (options.tls.kind === 'generate') {
    generated = await generateServingCertificate({
      dir: options.tls.dir,
      ...(options.tls.names === undefined ? {} : { names: options.tls.names }),
    });
    files = generated;
    deps.logger.info(
      { caFile: generated.caFile, certFile: generated.certFile, keyFile: generated.keyFile },
      'generated a self-signed CA and serving certificate',
    );
  } else {
    files = { certFile: options.tls.certFile, keyFile: options.tls.keyFile };
  }
  const material = await readKeyMaterial(files);
  const tlsOptions = { minVersion: 'TLSv1.2' } as const;
  const server = createServer(
    { ...tlsOptions, cert: material.cert, key: material.key },
    createRequestHandler(deps),
  );
  // Slow or stuck clients must not hold sockets forever; the API server sends whole requests at once.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  // Longer than the API server's idle connection reuse, so it is the client that closes idle connections.
  server.keepAliveTimeout = 65_000;
  server.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  let droppedSinceLog = 0;
  let lastDropLogAt = -Infinity;
  server.on('drop', () => {
    deps.metrics.recordDroppedConnection();
    droppedSinceLog++;
    const now = performance.now();
    if (now - lastDropLogAt < DROP_LOG_INTERVAL_MS) return;
    deps.logger.warn(
      { dropped: droppedSinceLog, maxConnections: server.maxConnections },
      'connections refused: the server has as many open as --max-connections allows',
    );
    droppedSinceLog = 0;
    lastDropLogAt = now;
  });

  const watcher = watchCertificateFiles(files, material, {
    onReload: (next) => {
      server.setSecureContext({ ...tlsOptions, cert: next.cert, key: next.key });
      deps.logger.info({ certFile: files.certFile }, 'reloaded serving certificate');
    },
    onError: (err) => {
      deps.logger.warn(
        { err, certFile: files.certFile },
        'serving certificate not reloaded; keeping the previous one',
      );
    },
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const listening = (): void => {
      server.off('error', reject);
      resolve();
    };
    // Without a host, Node listens on every address, IPv4 and IPv6.
    if (options.host === undefined) server.listen(options.port, listening);
    else server.listen(options.port, options.host, listening);
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host ?? 'localhost';
  return {
    server,
    port,
    url: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    certFile: files.certFile,
    keyFile: files.keyFile,
    ...(generated === undefined ? {} : { caFile: generated.caFile }),
    close: () =>
      new Promise<void>((resolve) => {
        watcher.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
