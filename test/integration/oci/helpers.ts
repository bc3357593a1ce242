/**
 * Puts test content into a real registry over the distribution push API (blob upload, manifest PUT),
 * authenticating the way the registry asks, and starts go-containerregistry's registry where a suite
 * needs the OCI 1.1 referrers API, which distribution 2.8 lacks.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { access, readFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  OCI_INDEX,
  OCI_MANIFEST,
} from '../../../src/oci/media-types.js';
import { freePort, toolPath, type TestRegistry } from '../../support/registry.js';

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
}

export interface Pushed extends Descriptor {
  readonly bytes: Buffer;
}

/** Where to push: a test registry, or any host:port reached with the same TLS and credentials. */
export interface Target {
  readonly host: string;
  readonly registry: Pick<TestRegistry, 'tls' | 'caPem' | 'username' | 'password'>;
}

export function targetOf(registry: TestRegistry): Target {
  return { host: registry.host, registry };
}

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

const agents = new WeakMap<object, Agent>();
function agentFor(target: Target): Agent {
  let agent = agents.get(target.registry);
  if (agent === undefined) {
    agent = new Agent(target.registry.caPem === undefined ? {} : { connect: { ca: target.registry.caPem } });
    agents.set(target.registry, agent);
  }
  return agent;
}

async function authorizationFor(
  target: Target,
  challenge: string,
  repo: string,
): Promise<string | undefined> {
  const { username, password } = target.registry;
  if (username === undefined || password === undefined) return undefined;
  const basic = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  if (/^basic/i.test(challenge)) return basic;
  const realm = /realm="([^"]+)"/.exec(challenge)?.[1];
  const service = /service="([^"]+)"/.exec(challenge)?.[1];
  if (realm === undefined) return undefined;
  const url = new URL(realm);
  if (service !== undefined) url.searchParams.set('service', service);
  url.searchParams.set('scope', `repository:${repo}:pull,push,delete`);
  const res = await request(url, { headers: { authorization: basic }, dispatcher: agentFor(target) });
  const body = (await res.body.json()) as { token: string };
  return `Bearer ${body.token}`;
}

async function call(
  target: Target,
  repo: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  headers: Record<string, string> = {},
  body?: Buffer,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const scheme = target.registry.tls ? 'https' : 'http';
  const url = path.startsWith('http') ? path : `${scheme}://${target.host}${path}`;
  const send = async (authorization?: string) => {
    const res = await request(url, {
      method,
      headers: { ...headers, ...(authorization === undefined ? {} : { authorization }) },
      body: body ?? null,
      dispatcher: agentFor(target),
    });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  };
  let res = await send();
  if (res.status === 401) {
    const challenge = String(res.headers['www-authenticate'] ?? '');
    res = await send(await authorizationFor(target, challenge, repo));
  }
  return res;
}

export async function pushBlob(
  target: Target,
  repo: string,
  bytes: Buffer,
  mediaType = 'application/octet-stream',
): Promise<Pushed> {
  const digest = sha256(bytes);
  const start = await call(target, repo, 'POST', `/v2/${repo}/blobs/uploads/`);
  if (start.status !== 202) throw new Error(`blob upload start: HTTP ${start.status} ${start.text}`);
  const location = new URL(
    String(start.headers['location']),
    `${target.registry.tls ? 'https' : 'http'}://${target.host}`,
  );
  location.searchParams.set('digest', digest);
  const done = await call(
    target,
    repo,
    'PUT',
    location.href,
    { 'content-type': 'application/octet-stream' },
    bytes,
  );
  if (done.status !== 201) throw new Error(`blob upload: HTTP ${done.status} ${done.text}`);
  return { mediaType, digest, size: bytes.length, bytes };
}

export async function pushManifest(
  target: Target,
  repo: string,
  reference: string,
  mediaType: string,
  bytes: Buffer,
): Promise<Pushed> {
  const res = await call(
    target,
    repo,
    'PUT',
    `/v2/${repo}/manifests/${reference}`,
    { 'content-type': mediaType },
    bytes,
  );
  if (res.status !== 201)
    throw new Error(`manifest PUT ${repo}:${reference}: HTTP ${res.status} ${res.text}`);
  return { mediaType, digest: sha256(bytes), size: bytes.length, bytes };
}

export async function deleteManifest(target: Target, repo: string, digest: string): Promise<void> {
  const res = await call(target, repo, 'DELETE', `/v2/${repo}/manifests/${digest}`);
  if (res.status !== 202) throw new Error(`manifest DELETE: HTTP ${res.status} ${res.text}`);
}

export interface ImageOptions {
  readonly docker?: boolean;
  readonly artifactType?: string;
  readonly subject?: Descriptor;
  readonly layerBytes?: Buffer;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A one-layer image (OCI by default, Docker schema2 with `docker`) with random content, pushed under `tag`. */
export async function pushImage(
  target: Target,
  repo: string,
  tag: string,
  options: ImageOptions = {},
): Promise<Pushed & { layer: Pushed }> {
  const docker = options.docker ?? false;
  const config = await pushBlob(
    target,
    repo,
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [] },
        nonce: randomBytes(8).toString('hex'),
      }),
    ),
    // Artifacts carry their type in the config media type too, which is where registries without the
    // manifest `artifactType` field (go-containerregistry's) read it from.
    options.artifactType ??
      (docker
        ? 'application/vnd.docker.container.image.v1+json'
        : 'application/vnd.oci.image.config.v1+json'),
  );
  const layer = await pushBlob(
    target,
    repo,
    options.layerBytes ?? randomBytes(512),
    docker ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : 'application/vnd.oci.image.layer.v1.tar',
  );
  const mediaType = docker ? DOCKER_MANIFEST : OCI_MANIFEST;
  const strip = ({ mediaType: m, digest, size }: Descriptor) => ({ mediaType: m, digest, size });
  const manifest = {
    schemaVersion: 2,
    mediaType,
    ...(options.artifactType === undefined ? {} : { artifactType: options.artifactType }),
    config: strip(config),
    layers: [strip(layer)],
    ...(options.subject === undefined ? {} : { subject: strip(options.subject) }),
    ...(options.annotations === undefined ? {} : { annotations: options.annotations }),
  };
  const pushed = await pushManifest(
    target,
    repo,
    tag,
    mediaType,
    Buffer.from(JSON.stringify(manifest, null, 2)),
  );
  return {
    ...pushed,
    ...(options.artifactType === undefined ? {} : { artifactType: options.artifactType }),
    layer,
  };
}

/** An OCI index or Docker manifest list over `children`, pushed under `tag`. */
export async function pushIndex(
  target: Target,
  repo: string,
  tag: string,
  children: readonly Descriptor[],
  docker = false,
): Promise<Pushed> {
  const mediaType = docker ? DOCKER_MANIFEST_LIST : OCI_INDEX;
  const arches = ['amd64', 'arm64', 's390x', 'riscv64'];
  const index = {
    schemaVersion: 2,
    mediaType,
    manifests: children.map((c, i) => ({
      mediaType: c.mediaType,
      digest: c.digest,
      size: c.size,
      platform: { os: 'linux', architecture: arches[i % arches.length] },
    })),
  };
  return pushManifest(target, repo, tag, mediaType, Buffer.from(JSON.stringify(index)));
}

export interface ReferrersRegistry {
  readonly host: string;
  stop(): Promise<void>;
}

const run = promisify(execFile);
const SOURCE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'referrers-registry');

function goBinary(): string {
  try {
    return toolPath('go');
  } catch {
    return '/usr/local/go/bin/go';
  }
}

/** Builds the Go program once per source version; the Go module cache makes rebuilds cheap. */
async function referrersRegistryBinary(): Promise<string> {
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum', 'main.go']) hash.update(await readFile(join(SOURCE_DIR, file)));
  const binary = join(tmpdir(), `provenant-referrers-registry-${hash.digest('hex').slice(0, 16)}`);
  try {
    await access(binary);
    return binary;
  } catch {
    const partial = `${binary}.${process.pid}`;
    await run(goBinary(), ['build', '-o', partial, '.'], {
      cwd: SOURCE_DIR,
      env: { ...process.env, GOFLAGS: '-mod=readonly', GOTOOLCHAIN: 'local' },
      timeout: 240_000,
    });
    await rename(partial, binary);
    return binary;
  }
}

/**
 * go-containerregistry's in-memory registry with the OCI 1.1 referrers API on (see referrers-registry/):
 * the real implementation the referrers tests run against, since distribution 2.8 lacks the API.
 */
export async function startReferrersRegistry(): Promise<ReferrersRegistry> {
  const binary = await referrersRegistryBinary();
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const child: ChildProcess = spawn(binary, ['--address', host], { stdio: 'ignore' });
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const res = await request(`http://${host}/v2/`);
      await res.body.dump();
      if (res.statusCode === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`referrers registry did not start on ${host}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
