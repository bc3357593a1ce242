/**
 * A real OCI registry for integration tests: Debian's `docker-registry` (distribution 2.8) on a free
 * loopback port, optionally behind TLS from a private CA, htpasswd Basic auth, or Bearer tokens from a
 * small token server of our own. Every suite that needs a registry starts one here.
 *
 * The token server runs inside the test process: run cosign or crane against a token registry with an
 * asynchronous child (execFile, spawn), never execFileSync, or the token request can never be answered.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID, sign, timingSafeEqual, X509Certificate } from 'node:crypto';
import { accessSync, constants, openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import {
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import bcrypt from 'bcryptjs';

export interface RegistryOptions {
  tls?: boolean;
  auth?: 'none' | 'htpasswd' | 'token';
  /**
   * Address to listen on (default 127.0.0.1), for a plain registry that Pods reach on a node address
   * (test/cluster). The TLS certificates and the token server name 127.0.0.1 only.
   */
  address?: string;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  tls: boolean;
  /** PEM file of the private CA that issued the registry's (and token server's) certificate. */
  caFile?: string;
  caPem?: string;
  username?: string;
  password?: string;
  /** Folder holding a config.json with the right credentials, usable as DOCKER_CONFIG for cosign and crane. */
  dockerConfigDir?: string;
  /** Token auth only: how many token requests the token server has answered (cache checks). */
  tokenRequests?: () => number;
  stop(): Promise<void>;
}

const run = promisify(execFile);

/**
 * Absolute path of an external tool: $PROVENANT_TOOLS/bin, then ~/.cache/provenant-tools/bin (where
 * test/tools/install.sh puts them), then PATH.
 */
export function toolPath(name: string): string {
  const dirs = [
    ...(process.env['PROVENANT_TOOLS'] ? [join(process.env['PROVENANT_TOOLS'], 'bin')] : []),
    join(homedir(), '.cache', 'provenant-tools', 'bin'),
    ...(process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== ''),
  ];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  throw new Error(`tool "${name}" not found in ${dirs.join(', ')}; run test/tools/install.sh`);
}

export async function freePort(): Promise<number> {
  const server: Server = createNetServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// Registries left running when a test process dies would hold ports and temp dirs; kill them on exit.
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
}

interface Pki {
  readonly caFile: string;
  readonly caPem: string;
  readonly certFile: string;
  readonly keyFile: string;
}

async function openssl(args: string[]): Promise<void> {
  await run('/usr/bin/openssl', args, { timeout: 30_000 });
}

/** A private CA and a server certificate for 127.0.0.1 (IP SAN) and localhost, valid for two days. */
async function makePki(dir: string): Promise<Pki> {
  const caKey = join(dir, 'ca.key');
  const caFile = join(dir, 'ca.crt');
  const keyFile = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const certFile = join(dir, 'server.crt');
  const ext = join(dir, 'server.ext');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await openssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    caKey,
    '-out',
    caFile,
    '-days',
    '2',
    '-subj',
    '/CN=Provenant Test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await openssl(['req', '-new', ...ec, '-keyout', keyFile, '-out', csr, '-subj', '/CN=127.0.0.1']);
  await writeFile(
    ext,
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' +
      'subjectAltName=IP:127.0.0.1,DNS:localhost\n',
  );
  await openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    caFile,
    '-CAkey',
    caKey,
    '-CAcreateserial',
    '-out',
    certFile,
    '-days',
    '2',
    '-extfile',
    ext,
  ]);
  return { caFile, caPem: await readFile(caFile, 'utf8'), certFile, keyFile };
}

interface TokenServer {
  readonly realm: string;
  readonly requests: () => number;
  close(): Promise<void>;
}

const SERVICE = 'provenant-test-registry';
const ISSUER = 'provenant-test-token-issuer';
const GRANTABLE = new Set(['pull', 'push', 'delete']);

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

interface Access {
  type: string;
  name: string;
  actions: string[];
}

function parseScopes(scopes: string[]): Access[] {
  const out: Access[] = [];
  for (const scope of scopes.flatMap((s) => s.split(' ')).filter((s) => s !== '')) {
    const first = scope.indexOf(':');
    const last = scope.lastIndexOf(':');
    if (first < 0 || last <= first) continue;
    out.push({
      type: scope.slice(0, first),
      name: scope.slice(first + 1, last),
      actions: scope.slice(last + 1).split(','),
    });
  }
  return out;
}

/**
 * A token service as distribution's `auth.token` expects: ES256 JWTs whose `x5c` header carries the
 * signing certificate, which is also the registry's `rootcertbundle`. Valid Basic credentials get the
 * pull/push/delete actions they ask for; anonymous callers get a token with no access (as Docker Hub gives
 * for private repositories), and wrong credentials get 401. Also answers the OAuth2 POST form, with
 * refresh tokens handed out for `offline_token=true` / `access_type=offline`.
 */
async function startTokenServer(
  dir: string,
  pki: Pki | undefined,
  username: string,
  password: string,
): Promise<TokenServer> {
  const signingKey = join(dir, 'token-signing.key');
  const signingCert = join(dir, 'token-signing.crt');
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    signingKey,
    '-out',
    signingCert,
    '-days',
    '2',
    '-subj',
    '/CN=Provenant Test Token Signer',
  ]);
  const keyPem = await readFile(signingKey, 'utf8');
  const certDer = new X509Certificate(await readFile(signingCert)).raw;
  const refreshToken = randomBytes(24).toString('hex');
  let requests = 0;

  const issue = (subject: string, access: Access[], offline: boolean) => {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] };
    const claims = {
      iss: ISSUER,
      sub: subject,
      aud: SERVICE,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(input), { key: keyPem, dsaEncoding: 'ieee-p1363' });
    const token = `${input}.${base64url(signature)}`;
    return {
      token,
      access_token: token,
      expires_in: 300,
      issued_at: new Date(now * 1000).toISOString(),
      ...(offline ? { refresh_token: refreshToken } : {}),
    };
  };

  const reply = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    requests++;
    const url = new URL(req.url ?? '/', 'http://token');
    if (url.pathname !== '/token') return reply(res, 404, { errors: [{ code: 'NOT_FOUND' }] });
    let form = new URLSearchParams();
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    } else if (req.method !== 'GET') {
      return reply(res, 405, { errors: [{ code: 'UNSUPPORTED' }] });
    }
    const params = req.method === 'POST' ? form : url.searchParams;
    if (params.get('service') !== SERVICE) return reply(res, 400, { errors: [{ code: 'INVALID_SERVICE' }] });
    const access = parseScopes(params.getAll('scope'));

    let subject: string | undefined;
    if (req.method === 'POST') {
      const grant = form.get('grant_type');
      const refreshed = grant === 'refresh_token' && safeEqual(form.get('refresh_token') ?? '', refreshToken);
      const loggedIn =
        grant === 'password' &&
        form.get('username') === username &&
        safeEqual(form.get('password') ?? '', password);
      if (!refreshed && !loggedIn) return reply(res, 401, { errors: [{ code: 'UNAUTHORIZED' }] });
      subject = username;
    } else {
      const header = req.headers.authorization;
      if (header !== undefined) {
        const decoded = header.startsWith('Basic ')
          ? Buffer.from(header.slice(6), 'base64').toString('utf8')
          : '';
        const colon = decoded.indexOf(':');
        if (
          colon < 0 ||
          decoded.slice(0, colon) !== username ||
          !safeEqual(decoded.slice(colon + 1), password)
        ) {
          res.setHeader('www-authenticate', 'Basic realm="provenant-test-token"');
          return reply(res, 401, { errors: [{ code: 'UNAUTHORIZED' }] });
        }
        subject = username;
      }
    }
    const granted =
      subject === undefined
        ? []
        : access
            .filter((a) => a.type === 'repository')
            .map((a) => ({ ...a, actions: a.actions.filter((x) => GRANTABLE.has(x)) }));
    const offline =
      subject !== undefined &&
      (params.get('offline_token') === 'true' || params.get('access_type') === 'offline');
    return reply(res, 200, issue(subject ?? '', granted, offline));
  };

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) reply(res, 500, { errors: [{ code: 'INTERNAL' }] });
      else res.destroy();
    });
  };
  const server =
    pki === undefined
      ? createHttpServer(listener)
      : createHttpsServer({ cert: readFileSync(pki.certFile), key: readFileSync(pki.keyFile) }, listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    realm: `${pki === undefined ? 'http' : 'https'}://127.0.0.1:${port}/token`,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function registryConfig(
  root: string,
  port: number,
  pki: Pki | undefined,
  authYaml: string,
  address: string,
): string {
  const q = (s: string) => JSON.stringify(s);
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${q(join(root, 'data'))}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${q(`${address}:${port}`)}`,
    `  secret: ${q(randomBytes(16).toString('hex'))}`,
    ...(pki === undefined
      ? []
      : ['  tls:', `    certificate: ${q(pki.certFile)}`, `    key: ${q(pki.keyFile)}`]),
    authYaml,
    '',
  ].join('\n');
}

/** Resolves once the registry answers /v2/ (200, or 401 when it wants auth). */
function probe(host: string, pki: Pki | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const [address, port] = host.split(':');
    const options = { host: address, port: Number(port), path: '/v2/', timeout: 1000 };
    const req = pki === undefined ? httpRequest(options) : httpsRequest({ ...options, ca: pki.caPem });
    req.once('response', (res) => {
      res.resume();
      resolve(res.statusCode === 200 || res.statusCode === 401);
    });
    req.once('error', () => resolve(false));
    req.once('timeout', () => req.destroy());
    req.end();
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

async function launch(
  configFile: string,
  logFile: string,
  host: string,
  pki: Pki | undefined,
): Promise<ChildProcess> {
  const log = openSync(logFile, 'a');
  const child = spawn(toolPath('docker-registry'), ['serve', configFile], { stdio: ['ignore', log, log] });
  closeSync(log);
  track(child);
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    if (await probe(host, pki)) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  await stopChild(child);
  const output = await readFile(logFile, 'utf8').catch(() => '');
  throw new Error(`docker-registry did not start on ${host}:\n${output.slice(-2000)}`);
}

/** Starts a registry; `stop()` kills it (and its token server) and deletes its files. */
export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const tls = options.tls ?? false;
  const auth = options.auth ?? 'none';
  const address = options.address ?? '127.0.0.1';
  if (address !== '127.0.0.1' && (tls || auth !== 'none'))
    throw new Error('a registry on another address than 127.0.0.1 is plain and open');
  const root = await mkdtemp(join(tmpdir(), 'provenant-registry-'));
  let tokenServer: TokenServer | undefined;
  try {
    const pki = tls ? await makePki(root) : undefined;
    const username = auth === 'none' ? undefined : 'provenant';
    const password = auth === 'none' ? undefined : randomBytes(12).toString('hex');
    let authYaml = '';
    if (auth === 'htpasswd' && username !== undefined && password !== undefined) {
      const htpasswd = join(root, 'htpasswd');
      // Cost 5 keeps each request cheap; Go's bcrypt accepts bcryptjs's $2b$ hashes.
      await writeFile(htpasswd, `${username}:${bcrypt.hashSync(password, 5)}\n`);
      authYaml = [
        'auth:',
        '  htpasswd:',
        '    realm: provenant-test',
        `    path: ${JSON.stringify(htpasswd)}`,
      ].join('\n');
    } else if (auth === 'token' && username !== undefined && password !== undefined) {
      tokenServer = await startTokenServer(root, pki, username, password);
      authYaml = [
        'auth:',
        '  token:',
        `    realm: ${JSON.stringify(tokenServer.realm)}`,
        `    service: ${SERVICE}`,
        `    issuer: ${ISSUER}`,
        `    rootcertbundle: ${JSON.stringify(join(root, 'token-signing.crt'))}`,
      ].join('\n');
    }

    const dockerConfigDir = join(root, 'docker-config');
    await mkdir(dockerConfigDir);

    let child: ChildProcess | undefined;
    let host = '';
    for (let attempt = 0; child === undefined; attempt++) {
      // A port found free can be taken before the registry binds it; try another then.
      const port = await freePort();
      host = `${address}:${port}`;
      const configFile = join(root, 'config.yml');
      await writeFile(configFile, registryConfig(root, port, pki, authYaml, address));
      try {
        child = await launch(configFile, join(root, 'registry.log'), host, pki);
      } catch (err) {
        if (attempt >= 2) throw err;
      }
    }
    const auths =
      username === undefined || password === undefined
        ? {}
        : { [host]: { auth: Buffer.from(`${username}:${password}`).toString('base64') } };
    await writeFile(join(dockerConfigDir, 'config.json'), `${JSON.stringify({ auths }, null, 2)}\n`);

    const running = child;
    const server = tokenServer;
    let stopped: Promise<void> | undefined;
    return {
      host,
      tls,
      ...(pki === undefined ? {} : { caFile: pki.caFile, caPem: pki.caPem }),
      ...(username === undefined || password === undefined ? {} : { username, password }),
      dockerConfigDir,
      ...(server === undefined ? {} : { tokenRequests: server.requests }),
      stop: () => {
        stopped ??= (async () => {
          await stopChild(running);
          await server?.close();
          await rm(root, { recursive: true, force: true });
        })();
        return stopped;
      },
    };
  } catch (err) {
    await tokenServer?.close();
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}
