/**
 * The webhook's HTTP surface. `buildApp` is the express app without a socket (testable, reusable by the
 * bench); `startServer` serves it over HTTPS with reloadable certificates. Anything can reach the port, so
 * every body is bounded and every failure becomes a clear JSON answer, never a crash.
 */
import express, { type ErrorRequestHandler, type Express, type Request, type Response } from 'express';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../observability/logger.js';
import type { ProvenantMetrics } from '../observability/metrics.js';
import type { DecideDeps } from './decide.js';
import { handleAdmissionBody, type HandlerDeps } from './handle.js';
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
}

export const DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024;

export function buildApp(deps: AppDeps): Express {
  const maxBodyBytes = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  // Any content type is read as bytes and judged by our own decoder; compressed bodies are refused, since
  // the API server never compresses and inflating is a way to turn a small body into a large one.
  const body = express.raw({ type: () => true, limit: maxBodyBytes, inflate: false });

  for (const webhook of ['validate', 'mutate'] as const) {
    app.post(`/${webhook}`, body, async (req: Request, res: Response) => {
      const startedAt = performance.now();
      const handlerDeps: HandlerDeps = {
        ...deps,
        timeoutMs: effectiveTimeout(deps.timeoutMs, req.query['timeout']),
      };
      const bytes = Buffer.isBuffer(req.body) ? req.body : undefined;
      const result = await handleAdmissionBody(bytes, webhook, handlerDeps, startedAt);
      res.status(result.httpStatus).json(result.body);
    });
    app.all(`/${webhook}`, (_req, res) => {
      res.set('Allow', 'POST').status(405).json(errorBody(405, 'use POST with an AdmissionReview body'));
    });
  }

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    if (isReadySafely(deps)) res.json({ status: 'ready' });
    else res.status(503).json({ status: 'not ready', reason: 'policies are not loaded yet' });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.contentType).send(await deps.metrics.render());
  });

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found: the webhook serves POST /validate and POST /mutate' });
  });

  const onError: ErrorRequestHandler = (err: unknown, req, res, _next) => {
    const { status, message } = describeHttpError(err, maxBodyBytes);
    if (status >= 500) deps.logger.error({ err, path: req.path }, 'request failed');
    else deps.logger.warn({ path: req.path, status, reason: message }, 'request rejected');
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(status).json(errorBody(status, message));
  };
  app.use(onError);
  return app;
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

function describeHttpError(err: unknown, maxBodyBytes: number): { status: number; message: string } {
  const fields = typeof err === 'object' && err !== null ? (err as { status?: unknown; type?: unknown }) : {};
  switch (fields.type) {
    case 'entity.too.large':
      return { status: 413, message: `request body exceeds the ${maxBodyBytes}-byte limit` };
    case 'encoding.unsupported':
      return { status: 415, message: 'compressed request bodies are not accepted' };
    case 'request.aborted':
      return { status: 400, message: 'request body was not received completely' };
    case 'request.size.invalid':
      return { status: 400, message: 'request body length does not match Content-Length' };
    default:
      break;
  }
  const status =
    typeof fields.status === 'number' && fields.status >= 400 && fields.status < 500 ? fields.status : 500;
  return { status, message: status === 500 ? 'internal error' : 'bad request' };
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
}

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
  const server = createServer({ ...tlsOptions, cert: material.cert, key: material.key }, buildApp(deps));
  // Slow or stuck clients must not hold sockets forever; the API server sends whole requests at once.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  // Longer than the API server's idle connection reuse, so it is the client that closes idle connections.
  server.keepAliveTimeout = 65_000;

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
