/**
 * Fulcio, Rekor and TSA endpoints for the private Sigstore, each on its own loopback port.
 *
 * Rekor is @sigstore/mock's transparency log (`initializeTLog`); Fulcio and the TSA are the test CA and TSA in
 * sigstore-ca.ts and sigstore-tsa.ts. Request handling is widened so real clients work, not only
 * @sigstore/sign:
 * - Fulcio: the v2 JSON API (@sigstore/sign, cosign 3/sigstore-go) and the legacy v1 API (cosign 2), public
 *   key or CSR.
 * - Rekor: entries are canonicalised the way Rekor stores them before they are logged. The mock logs the
 *   proposed entry verbatim, and a `dsse` proposal has no `signatures`, which is why verifiers report
 *   "signature count mismatch" against the plain mock.
 * - TSA: RFC 3161 DER requests (`application/timestamp-query`, what cosign sends) as well as the JSON form.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { initializeTLog } from '@sigstore/mock';
import { fulcioValidity, type TestCertificateAuthority } from './sigstore-ca.js';
import { certificateProfileFromToken } from './sigstore-identity.js';
import {
  parseTimestampRequest,
  timestampRequestFromJSON,
  type TestTimestampAuthority,
} from './sigstore-tsa.js';

export interface RecordedRequest {
  service: 'fulcio' | 'rekor' | 'tsa';
  method: string;
  path: string;
  status: number;
  /** The error text sent back, for failed requests. */
  error?: string;
}

export interface SigstoreServices {
  fulcioUrl: string;
  rekorUrl: string;
  tsaUrl: string;
  rekor: { publicKey: Buffer; logId: Buffer };
  /** Every request served, in order; a failing cosign run is much easier to read next to this. */
  requests: RecordedRequest[];
  stop(): Promise<void>;
}

interface Reply {
  status: number;
  body: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
}

type Handler = (method: string, path: string, req: IncomingMessage, body: Buffer) => Promise<Reply>;

export async function startSigstoreServices(
  ca: TestCertificateAuthority,
  tsa: TestTimestampAuthority,
): Promise<SigstoreServices> {
  const requests: RecordedRequest[] = [];

  const rekorKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rekorPublicKey = rekorKeys.publicKey.export({ format: 'der', type: 'spki' });

  const fulcio = await listen('fulcio', requests, (method, path, req, body) =>
    fulcioRoute(ca, method, path, req, body),
  );
  // The mock's log takes its URL up front (it names the checkpoint origin), so the server starts first.
  let rekorRoute: Handler = () => Promise.resolve({ status: 503, body: 'starting' });
  const rekor = await listen('rekor', requests, (...args) => rekorRoute(...args));
  const tlog = await initializeTLog(rekor.url, rekorKeys);
  rekorRoute = createRekorRoute(tlog, rekorPublicKey);
  const tsaServer = await listen('tsa', requests, (method, path, _req, body) =>
    tsaRoute(tsa, method, path, body),
  );

  return {
    fulcioUrl: fulcio.url,
    rekorUrl: rekor.url,
    tsaUrl: tsaServer.url,
    rekor: { publicKey: rekorPublicKey, logId: createHash('sha256').update(rekorPublicKey).digest() },
    requests,
    async stop() {
      await Promise.all([close(fulcio.server), close(rekor.server), close(tsaServer.server)]);
    },
  };
}

// ---------------------------------------------------------------------------------------------- Fulcio

async function fulcioRoute(
  ca: TestCertificateAuthority,
  method: string,
  path: string,
  req: IncomingMessage,
  body: Buffer,
): Promise<Reply> {
  if (method === 'GET' && (path === '/api/v2/trustBundle' || path === '/api/v1/rootCert')) {
    const pems = ca.chain.map((der) => toPEM(der, 'CERTIFICATE'));
    return path === '/api/v1/rootCert'
      ? { status: 200, body: pems.join(''), contentType: 'application/pem-certificate-chain' }
      : jsonReply(200, { chains: [{ certificates: pems }] });
  }
  if (method !== 'POST' || (path !== '/api/v2/signingCert' && path !== '/api/v1/signingCert')) {
    return notFound();
  }
  const request = JSON.parse(body.toString('utf8')) as FulcioRequest;
  const v2 = path === '/api/v2/signingCert';
  // @sigstore/sign puts the token in the v2 body, sigstore-go (cosign 3) and the v1 client in the header.
  const token =
    request.credentials?.oidcIdentityToken ?? req.headers.authorization?.replace(/^Bearer\s+/i, '');
  if (!token) return { status: 401, body: 'missing identity token' };

  const publicKey = requestPublicKey(request, v2);
  const profile = certificateProfileFromToken(token);
  const defaults = fulcioValidity(new Date());
  const chain = await ca.issue({
    publicKey,
    subjectAltName: profile.subjectAltName,
    extensions: profile.extensions,
    notBefore: profile.notBefore ?? defaults.notBefore,
    notAfter: profile.notAfter ?? defaults.notAfter,
  });
  const pems = chain.map((der) => toPEM(der, 'CERTIFICATE'));
  // 200 as Fulcio's gRPC gateway answers: sigstore-go (cosign 3) rejects anything else, even 201.
  return v2
    ? jsonReply(200, { signedCertificateEmbeddedSct: { chain: { certificates: pems } } })
    : { status: 201, body: pems.join(''), contentType: 'application/pem-certificate-chain' };
}

interface FulcioRequest {
  credentials?: { oidcIdentityToken?: string };
  // v2: PEM text; v1: base64 of DER or PEM bytes.
  publicKeyRequest?: { publicKey?: { content?: string } };
  publicKey?: { content?: string };
  // base64 of a PEM CSR in both versions.
  certificateSigningRequest?: string;
}

function requestPublicKey(request: FulcioRequest, v2: boolean): Uint8Array {
  if (request.certificateSigningRequest) {
    const csr = new x509.Pkcs10CertificateRequest(
      Buffer.from(request.certificateSigningRequest, 'base64').toString('utf8'),
    );
    return new Uint8Array(csr.publicKey.rawData);
  }
  const content = v2 ? request.publicKeyRequest?.publicKey?.content : request.publicKey?.content;
  if (!content) throw new Error('no public key or CSR in the request');
  const text = v2 ? content : Buffer.from(content, 'base64').toString('latin1');
  if (text.includes('-----BEGIN')) return fromPEM(text);
  return Buffer.from(content, 'base64');
}

// ----------------------------------------------------------------------------------------------- Rekor

interface TLog {
  log(proposedEntry: object): Promise<Record<string, unknown>>;
}

function createRekorRoute(tlog: TLog, publicKey: Buffer): Handler {
  const entries = new Map<string, unknown>();
  return async (method, path, _req, body) => {
    if (method === 'GET' && path === '/api/v1/log/publicKey') {
      return { status: 200, body: toPEM(publicKey, 'PUBLIC KEY'), contentType: 'application/x-pem-file' };
    }
    const entryMatch = /^\/api\/v1\/log\/entries\/([0-9a-f]+)$/.exec(path);
    if (method === 'GET' && entryMatch?.[1] !== undefined) {
      const entry = entries.get(entryMatch[1]);
      return entry === undefined ? notFound() : jsonReply(200, { [entryMatch[1]]: entry });
    }
    if (method !== 'POST' || path !== '/api/v1/log/entries') return notFound();

    const canonical = canonicalizeEntry(JSON.parse(body.toString('utf8')) as ProposedEntry);
    const logged = await tlog.log(canonical);
    const [uuid, entry] = Object.entries(logged)[0] ?? [];
    if (uuid === undefined) throw new Error('mock log returned no entry');
    entries.set(uuid, entry);
    return {
      ...jsonReply(201, logged),
      headers: { Location: `/api/v1/log/entries/${uuid}`, ETag: uuid },
    };
  };
}

interface ProposedEntry {
  kind?: string;
  apiVersion?: string;
  spec?: Record<string, unknown>;
}

/**
 * The body Rekor would store for a proposed entry (sigstore/rekor `pkg/types/<kind>/<version>/entry.go`,
 * `Canonicalize`). Verifiers compare the bundle's signature and digest against this body.
 */
function canonicalizeEntry(entry: ProposedEntry): object {
  const key = `${entry.kind}/${entry.apiVersion}`;
  switch (key) {
    case 'hashedrekord/0.0.1': {
      const spec = entry.spec as {
        data: { hash: { algorithm: string; value: string } };
        signature: { content: string; publicKey: { content: string } };
      };
      return {
        apiVersion: '0.0.1',
        kind: 'hashedrekord',
        spec: {
          data: { hash: { algorithm: spec.data.hash.algorithm, value: spec.data.hash.value } },
          signature: {
            content: spec.signature.content,
            publicKey: { content: spec.signature.publicKey.content },
          },
        },
      };
    }
    case 'dsse/0.0.1': {
      const { envelope, verifiers } = (
        entry.spec as { proposedContent: { envelope: string; verifiers: string[] } }
      ).proposedContent;
      const parsed = JSON.parse(envelope) as { payload: string; signatures: Array<{ sig: string }> };
      const verifier = verifiers[0];
      if (verifier === undefined) throw new Error('dsse entry without verifiers');
      return {
        apiVersion: '0.0.1',
        kind: 'dsse',
        spec: {
          envelopeHash: { algorithm: 'sha256', value: sha256Hex(Buffer.from(envelope, 'utf8')) },
          payloadHash: { algorithm: 'sha256', value: sha256Hex(Buffer.from(parsed.payload, 'base64')) },
          // Rekor pairs each signature with the verifier that checked it.
          signatures: parsed.signatures.map((s) => ({ signature: s.sig, verifier })),
        },
      };
    }
    case 'intoto/0.0.2': {
      const content = (
        entry.spec as { content: { envelope: Record<string, unknown> } & Record<string, unknown> }
      ).content;
      // Rekor keeps the attestation itself out of the log entry.
      const envelope = { ...content.envelope };
      delete envelope['payload'];
      return { apiVersion: '0.0.2', kind: 'intoto', spec: { content: { ...content, envelope } } };
    }
    default:
      throw new HttpError(400, `unsupported entry type ${key}`);
  }
}

// ------------------------------------------------------------------------------------------------- TSA

async function tsaRoute(
  tsa: TestTimestampAuthority,
  method: string,
  path: string,
  body: Buffer,
): Promise<Reply> {
  if (method === 'GET' && path === '/api/v1/timestamp/certchain') {
    return {
      status: 200,
      body: tsa.chain.map((der) => toPEM(der, 'CERTIFICATE')).join(''),
      contentType: 'application/pem-certificate-chain',
    };
  }
  if (method !== 'POST' || path !== '/api/v1/timestamp') return notFound();
  // JSON is what @sigstore/sign sends; everything else is read as an RFC 3161 DER TimeStampReq (cosign).
  const request =
    body[0] === 0x7b
      ? timestampRequestFromJSON(
          JSON.parse(body.toString('utf8')) as Parameters<typeof timestampRequestFromJSON>[0],
        )
      : parseTimestampRequest(body);
  return { status: 201, body: tsa.timestamp(request), contentType: 'application/timestamp-reply' };
}

// -------------------------------------------------------------------------------------------- plumbing

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function listen(
  service: RecordedRequest['service'],
  requests: RecordedRequest[],
  handler: Handler,
): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const method = req.method ?? 'GET';
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      handler(method, path, req, Buffer.concat(chunks))
        .catch((err: unknown): Reply => {
          const status = err instanceof HttpError ? err.status : 400;
          return { status, body: err instanceof Error ? err.message : String(err) };
        })
        .then((reply) => {
          const recorded: RecordedRequest = { service, method, path, status: reply.status };
          if (reply.status >= 400) recorded.error = reply.body.toString();
          requests.push(recorded);
          res.writeHead(reply.status, {
            'Content-Type': reply.contentType ?? 'text/plain',
            ...reply.headers,
          });
          res.end(reply.body);
        })
        .catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}` };
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

function jsonReply(status: number, value: unknown): Reply {
  return { status, body: JSON.stringify(value), contentType: 'application/json' };
}

function notFound(): Reply {
  return { status: 404, body: 'not found' };
}

function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function toPEM(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;
}

function fromPEM(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----(BEGIN|END) [^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}
