/** A small HTTPS client for the webhook tests: trusts only the CAs it is given, like the API server. */
import { request, type Agent } from 'node:https';
import type { PeerCertificate } from 'node:tls';

export interface HttpsResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  /** The server certificate's SHA-256 fingerprint. */
  readonly fingerprint: string;
  json<T = Record<string, unknown>>(): T;
}

export interface HttpsRequest {
  readonly url: string;
  readonly ca: string | readonly string[];
  readonly method?: string;
  readonly body?: Buffer | string;
  readonly headers?: Record<string, string>;
  /** The name the certificate must carry when it is not the URL's host (SNI and hostname check). */
  readonly servername?: string;
  /** Connections to reuse, as the API server keeps them; by default each request has its own. */
  readonly agent?: Agent;
}

export function httpsRequest(options: HttpsRequest): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      options.url,
      {
        method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
        ca: typeof options.ca === 'string' ? options.ca : [...options.ca],
        agent: options.agent ?? false,
        ...(options.servername === undefined ? {} : { servername: options.servername }),
        headers: {
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        const peer = (res.socket as { getPeerCertificate?: () => PeerCertificate }).getPeerCertificate?.();
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            fingerprint: peer?.fingerprint256 ?? '',
            json: <T>() => JSON.parse(text) as T,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}
