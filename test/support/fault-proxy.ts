/**
 * A plain-HTTP proxy on loopback in front of a real test registry. It forwards everything unchanged
 * until a test injects a fault for matching requests: an error status (with Retry-After), a hang, an
 * oversized body, a wrong Docker-Content-Digest, another path's answer, a 307 redirect to a second loopback origin (which
 * records whether an Authorization header reached it), referrers listings split into linked pages, hostile
 * JSON (deeply nested or millions of values) in place of a manifest, another auth challenge, or a body
 * written after a HEAD answer.
 * With `frontTokenService` it also stands in front of the registry's token service (the Bearer realm in
 * every challenge is rewritten to the proxy's `/__token__`), so token requests can be counted and faulted.
 * The registry behind it stays real; the proxy only bends its answers.
 */
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { TestRegistry } from './registry.js';

export type Fault =
  /** Answer with this status instead of forwarding; `retryAfter` becomes the Retry-After header. */
  | { readonly kind: 'status'; readonly status: number; readonly retryAfter?: string }
  /** Accept the request and never answer. */
  | { readonly kind: 'hang' }
  /** Forward, but replace the body with `bytes` bytes; announced in Content-Length or sent chunked. */
  | { readonly kind: 'oversize'; readonly bytes: number; readonly announce: boolean }
  /** Forward, but announce another (well-formed) Docker-Content-Digest. */
  | { readonly kind: 'wrong-digest' }
  /** Answer 307 to the same path on the redirect origin, which serves the upstream content. */
  | { readonly kind: 'redirect' }
  /** Answer with the registry's (well-formed, self-consistent) answer for another path. */
  | { readonly kind: 'substitute'; readonly path: string }
  /** Serve a referrers index in pages of `pageSize`, linked with `Link: <…>; rel="next"`. */
  | { readonly kind: 'paginate'; readonly pageSize: number }
  /**
   * Forward, but replace a 2xx body with a JSON object of about `bytes` bytes that keeps the upstream
   * schemaVersion and mediaType and adds either one array nested `bytes/2` deep or a flat list of empty
   * objects; Content-Length and Docker-Content-Digest match the new body.
   */
  | { readonly kind: 'hostile-json'; readonly shape: 'deep' | 'wide'; readonly bytes: number }
  /** Answer 401 with this WWW-Authenticate value (another scheme or realm than the registry's). */
  | { readonly kind: 'challenge'; readonly header: string }
  /** Forward unchanged, but only once `until` resolves: keeps a request in flight for as long as a test needs. */
  | { readonly kind: 'hold'; readonly until: Promise<void> }
  /**
   * Answer a HEAD as the registry does, then write on the connection the body a GET would have carried, as
   * a server ignoring HEAD's rules would: those bytes are what the client reads next on that connection.
   */
  | { readonly kind: 'body-on-head' };

export interface FaultRule {
  readonly method?: string;
  /** Substring of, or pattern for, the request path (query included). */
  readonly path?: string | RegExp;
  /** Matching requests that get the fault; unlimited when absent. */
  readonly times?: number;
  readonly fault: Fault;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
}

export interface FaultProxy {
  /** `127.0.0.1:PORT`, plain HTTP. */
  readonly host: string;
  /** Every request the proxy received, in order. */
  readonly requests: RecordedRequest[];
  /** Hung requests whose client has since closed the connection (gave up), in order. */
  readonly abandoned: RecordedRequest[];
  /** TCP connections clients opened to the proxy since it started or was last reset. */
  connections(): number;
  /** The second origin that redirected requests land on. */
  readonly redirectTarget: { readonly origin: string; readonly requests: RecordedRequest[] };
  inject(rule: FaultRule): void;
  /** Drops every rule and record. */
  reset(): void;
  stop(): Promise<void>;
}

export interface FaultProxyOptions {
  /** Authorization the redirect origin uses to fetch from the upstream registry; Basic from the registry's user by default. */
  readonly upstreamAuthorization?: string;
  /** Route Bearer token requests through the proxy (path `/__token__`), where rules can match them. */
  readonly frontTokenService?: boolean;
  /**
   * How long the proxy keeps an idle connection open, as Node's server also announces in each answer's
   * `Keep-Alive: timeout=…` hint (Node's default: 5 s).
   */
  readonly keepAliveSeconds?: number;
}

/** The path token requests take through the proxy when it fronts the token service. */
export const TOKEN_PATH = '/__token__';

interface Upstream {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

const WRONG_DIGEST = `sha256:${'0'.repeat(64)}`;
const HOP_HEADERS = ['connection', 'keep-alive', 'transfer-encoding', 'host', 'content-length'];

function forward(
  registry: TestRegistry,
  method: string,
  path: string,
  headers: IncomingHttpHeaders,
  body: Buffer,
  to: URL = new URL(`${registry.tls ? 'https' : 'http'}://${registry.host}`),
): Promise<Upstream> {
  const outgoing: IncomingHttpHeaders = { ...headers };
  for (const name of HOP_HEADERS) delete outgoing[name];
  if (body.length > 0) outgoing['content-length'] = String(body.length);
  const options = { hostname: to.hostname, port: Number(to.port), method, path, headers: outgoing };
  return new Promise((resolve, reject) => {
    const req =
      to.protocol === 'https:' ? httpsRequest({ ...options, ca: registry.caPem }) : httpRequest(options);
    req.once('error', reject);
    req.once('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('error', reject);
      res.once('end', () =>
        resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.end(body);
  });
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function passHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_HEADERS.includes(name)) out[name] = value;
  }
  return out;
}

function send(res: ServerResponse, upstream: Upstream, method: string): void {
  res.writeHead(upstream.status, {
    ...passHeaders(upstream.headers),
    'content-length': String(upstream.body.length),
  });
  res.end(method === 'HEAD' ? undefined : upstream.body);
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

function matches(rule: FaultRule, method: string, path: string): boolean {
  if (rule.method !== undefined && rule.method !== method) return false;
  if (rule.path === undefined) return true;
  return typeof rule.path === 'string' ? path.includes(rule.path) : rule.path.test(path);
}

function paginate(res: ServerResponse, upstream: Upstream, path: string, pageSize: number): void {
  const url = new URL(path, 'http://proxy');
  const page = Number(url.searchParams.get('page') ?? '0');
  const index = JSON.parse(upstream.body.toString('utf8')) as { manifests?: { digest?: string }[] };
  // Each page re-reads the whole listing upstream, so the order must not change between reads.
  const all = [...(index.manifests ?? [])].sort((a, b) => String(a.digest).localeCompare(String(b.digest)));
  const body = Buffer.from(
    JSON.stringify({ ...index, manifests: all.slice(page * pageSize, (page + 1) * pageSize) }),
  );
  const headers: Record<string, string | string[]> = {
    ...passHeaders(upstream.headers),
    'content-length': String(body.length),
  };
  if ((page + 1) * pageSize < all.length) {
    url.searchParams.set('page', String(page + 1));
    headers['link'] = `<${url.pathname}${url.search}>; rel="next"`;
  }
  res.writeHead(upstream.status, headers);
  res.end(body);
}

/** A JSON object shaped like `upstream` (schemaVersion, mediaType) that is expensive to parse. */
function hostileJson(upstream: Buffer, shape: 'deep' | 'wide', bytes: number): Buffer {
  let head: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(upstream.toString('utf8')) as Record<string, unknown>;
    head = { schemaVersion: parsed['schemaVersion'], mediaType: parsed['mediaType'] };
  } catch {
    // not JSON upstream: the hostile body stands alone
  }
  const filler =
    shape === 'deep'
      ? '['.repeat(bytes / 2) + ']'.repeat(bytes / 2)
      : `[${'{},'.repeat(Math.max(0, bytes / 3 - 1))}{}]`;
  return Buffer.from(`${JSON.stringify(head).slice(0, -1)},"layers":${filler}}`);
}

export async function startFaultProxy(
  registry: TestRegistry,
  options: FaultProxyOptions = {},
): Promise<FaultProxy> {
  const rules: { rule: FaultRule; left: number }[] = [];
  const requests: RecordedRequest[] = [];
  const abandoned: RecordedRequest[] = [];
  const redirected: RecordedRequest[] = [];
  const upstreamAuthorization =
    options.upstreamAuthorization ??
    (registry.username !== undefined && registry.password !== undefined
      ? `Basic ${Buffer.from(`${registry.username}:${registry.password}`).toString('base64')}`
      : undefined);

  const side = createServer((req, res) => {
    const path = req.url ?? '/';
    redirected.push({ method: req.method ?? 'GET', path, authorization: req.headers.authorization });
    const headers: IncomingHttpHeaders = { ...req.headers };
    delete headers.authorization;
    if (upstreamAuthorization !== undefined) headers.authorization = upstreamAuthorization;
    forward(registry, req.method ?? 'GET', path, headers, Buffer.alloc(0)).then(
      (upstream) => send(res, upstream, req.method ?? 'GET'),
      () => res.writeHead(502).end(),
    );
  });
  const sideHost = await listen(side);

  let proxyHost = '';
  // The registry's own token realm, learned from the first challenge the proxy rewrote.
  let realm: URL | undefined;
  const frontRealm = (upstream: Upstream): Upstream => {
    const header = upstream.headers['www-authenticate'];
    if (options.frontTokenService !== true || typeof header !== 'string') return upstream;
    const rewritten = header.replace(/realm="([^"]+)"/i, (whole, url: string) => {
      if (!/^bearer/i.test(header.trim())) return whole;
      realm = new URL(url);
      return `realm="http://${proxyHost}${TOKEN_PATH}"`;
    });
    return { ...upstream, headers: { ...upstream.headers, 'www-authenticate': rewritten } };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    requests.push({ method, path, authorization: req.headers.authorization });
    const body = await readAll(req);
    const entry = rules.find((r) => r.left > 0 && matches(r.rule, method, path));
    if (entry !== undefined) entry.left--;
    const fault = entry?.rule.fault;

    switch (fault?.kind) {
      case 'hang':
        // Recorded as settled once the client gives up and closes the connection.
        req.socket.once('close', () => abandoned.push({ method, path, authorization: undefined }));
        return;
      case 'challenge':
        res.writeHead(401, { 'www-authenticate': fault.header, 'content-type': 'application/json' });
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"injected challenge"}]}');
        return;
      case 'hold':
        await fault.until;
        break;
      case 'status':
        res.writeHead(fault.status, {
          'content-type': 'application/json',
          ...(fault.retryAfter === undefined ? {} : { 'retry-after': fault.retryAfter }),
        });
        res.end('{"errors":[{"code":"UNAVAILABLE","message":"injected fault"}]}');
        return;
      case 'redirect':
        res.writeHead(307, { location: `http://${sideHost}${path}`, 'content-length': '0' });
        res.end();
        return;
      default:
        break;
    }

    if (path.startsWith(TOKEN_PATH) && realm !== undefined) {
      const query = new URL(path, 'http://proxy').search;
      const tokenHeaders = { ...req.headers, host: realm.host };
      send(
        res,
        await forward(registry, method, `${realm.pathname}${query}`, tokenHeaders, body, realm),
        method,
      );
      return;
    }
    const upstreamPath =
      fault?.kind === 'paginate'
        ? path.replace(/[?&]page=\d+/, '')
        : fault?.kind === 'substitute'
          ? fault.path
          : path;
    const upstream = frontRealm(await forward(registry, method, upstreamPath, req.headers, body));
    switch (fault?.kind) {
      case 'hostile-json': {
        if (upstream.status < 200 || upstream.status >= 300) return send(res, upstream, method);
        const hostile = hostileJson(upstream.body, fault.shape, fault.bytes);
        const digest = `sha256:${createHash('sha256').update(hostile).digest('hex')}`;
        const headers = { ...upstream.headers, 'docker-content-digest': digest };
        send(res, { ...upstream, headers, body: hostile }, method);
        return;
      }
      case 'wrong-digest':
        send(
          res,
          { ...upstream, headers: { ...upstream.headers, 'docker-content-digest': WRONG_DIGEST } },
          method,
        );
        return;
      case 'oversize': {
        const headers = passHeaders(upstream.headers);
        if (fault.announce) headers['content-length'] = String(fault.bytes);
        res.writeHead(200, headers);
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        let left = fault.bytes;
        const pump = () => {
          while (left > 0) {
            const piece = chunk.subarray(0, Math.min(left, chunk.length));
            left -= piece.length;
            if (!res.write(piece)) {
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        res.once('close', () => (left = 0));
        pump();
        return;
      }
      case 'paginate':
        if (upstream.status === 200) return paginate(res, upstream, path, fault.pageSize);
        return send(res, upstream, method);
      case 'body-on-head': {
        if (method !== 'HEAD') return send(res, upstream, method);
        const full = await forward(registry, 'GET', upstreamPath, req.headers, body);
        send(res, upstream, method);
        // After the answer, on the same connection (the response lets go of its socket once it finishes).
        req.socket.write(full.body);
        return;
      }
      default:
        send(res, upstream, method);
    }
  };

  const proxy = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
  });
  let connections = 0;
  proxy.on('connection', () => connections++);
  if (options.keepAliveSeconds !== undefined) proxy.keepAliveTimeout = options.keepAliveSeconds * 1000;
  const host = await listen(proxy);
  proxyHost = host;

  const close = (server: Server) =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });

  return {
    host,
    requests,
    abandoned,
    redirectTarget: { origin: `http://${sideHost}`, requests: redirected },
    connections: () => connections,
    inject: (rule) => rules.push({ rule, left: rule.times ?? Number.POSITIVE_INFINITY }),
    reset: () => {
      rules.length = 0;
      requests.length = 0;
      redirected.length = 0;
      abandoned.length = 0;
      connections = 0;
    },
    stop: async () => {
      await Promise.all([close(proxy), close(side)]);
    },
  };
}
