// A tiny admission webhook over HTTPS on 127.0.0.1, with its own CA, for tests of the harness and of
// webhook configurations: kube-apiserver reaches it through clientConfig.url + caBundle.
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCA } from './certs.js';

/** The `request` of an admission.k8s.io/v1 AdmissionReview (the fields tests look at). */
export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  resource: { group: string; version: string; resource: string };
  operation: string;
  namespace?: string;
  name?: string;
  dryRun?: boolean;
  object?: unknown;
  [key: string]: unknown;
}

/** The `response` to send, less `uid` (filled in). */
export interface AdmissionDecision {
  allowed: boolean;
  status?: { code?: number; message?: string; reason?: string };
  warnings?: string[];
  patch?: string;
  patchType?: 'JSONPatch';
}

export interface WebhookServer {
  /** https://127.0.0.1:<port> (append a path for clientConfig.url). */
  url: string;
  port: number;
  /** PEM of the CA that signed the server's certificate. */
  caPem: string;
  /** caPem in base64, for clientConfig.caBundle. */
  caBundle: string;
  /** Every AdmissionReview request received, in order. */
  requests: AdmissionRequest[];
  close(): Promise<void>;
}

/** Starts an HTTPS server that answers each AdmissionReview with decide(request). */
export async function startWebhookServer(
  decide: (req: AdmissionRequest) => AdmissionDecision | Promise<AdmissionDecision>,
): Promise<WebhookServer> {
  const ca = await createCA('provenant-e2e-webhook-ca');
  const leaf = await ca.issue({
    commonName: '127.0.0.1',
    hosts: ['127.0.0.1', 'localhost'],
    usage: 'server',
  });
  const requests: AdmissionRequest[] = [];
  const server = createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        try {
          const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request: AdmissionRequest };
          requests.push(review.request);
          const decision = await decide(review.request);
          const body = JSON.stringify({
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            response: { uid: review.request.uid, ...decision },
          });
          res.writeHead(200, { 'content-type': 'application/json' }).end(body);
        } catch (e) {
          res.writeHead(500, { 'content-type': 'text/plain' }).end(String(e));
        }
      })();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    caPem: ca.certPem,
    caBundle: Buffer.from(ca.certPem).toString('base64'),
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
