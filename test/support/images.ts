import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import { toolPath, type TestRegistry } from './registry.js';

// Test-side image plumbing without a Docker engine. Images are written as a tiny OCI layout on disk and
// pushed with `crane push`, so every byte (and therefore every digest) is known before the push and the
// registry protocol, TLS and credentials are handled by a real Go registry client rather than by us.

export const MEDIA_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** OCI image-spec types (the default) or Docker schema 2 types, which registries and clients still see. */
export type ImageFormat = 'oci' | 'docker';

export interface PushedImage {
  /** `host/repo:tag` */
  readonly ref: string;
  /** `sha256:<hex>` of the manifest bytes */
  readonly digest: string;
  /** `host/repo@sha256:<hex>` */
  readonly digestRef: string;
  /** `host/repo` */
  readonly repository: string;
  /** Empty for a manifest pushed by digest only (an index's platform manifests). */
  readonly tag: string;
  readonly mediaType: string;
}

export interface PushedPlatformImage {
  /** `os/arch[/variant]` as given */
  readonly platform: string;
  readonly digest: string;
  readonly digestRef: string;
  readonly mediaType: string;
}

export interface PushedIndex extends PushedImage {
  readonly children: readonly PushedPlatformImage[];
}

export interface ImageOptions {
  readonly format?: ImageFormat;
}

export interface IndexOptions extends ImageOptions {
  /** Annotations of each index entry, in the order of `platforms` (none where undefined). */
  readonly annotations?: readonly (Readonly<Record<string, string>> | undefined)[];
}

export interface ToolResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout exactly as written, for manifests and blobs whose digests must be preserved */
  readonly stdoutBytes: Buffer;
}

export interface RunOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/**
 * Runs a tool and always resolves with its exit code and output, so callers can treat a refusal (non-zero
 * exit) as data. Only a failure to run at all (spawn error, timeout) rejects, because that is not an answer.
 */
export function runTool(command: string, args: readonly string[], options: RunOptions): Promise<ToolResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let size = 0;
    let timedOut = false;
    let overflowed = false;
    const collect = (sink: Buffer[]) => (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_OUTPUT_BYTES) {
        sink.push(chunk);
      } else if (!overflowed) {
        // Truncated output would silently corrupt a manifest or blob; stop and fail instead.
        overflowed = true;
        child.kill('SIGKILL');
      }
    };
    child.stdout.on('data', collect(stdout));
    child.stderr.on('data', collect(stderr));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${command} could not be started: ${error.message}`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(stdout);
      const result = {
        exitCode: code ?? -1,
        stdoutBytes,
        stdout: stdoutBytes.toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      };
      if (timedOut) {
        reject(new Error(`${describe(command, args)} timed out after ${timeoutMs} ms\n${result.stderr}`));
      } else if (overflowed) {
        reject(new Error(`${describe(command, args)} wrote more than ${MAX_OUTPUT_BYTES} bytes`));
      } else if (signal !== null) {
        reject(new Error(`${describe(command, args)} was killed by ${signal}\n${result.stderr}`));
      } else {
        resolve(result);
      }
    });
  });
}

/** Like runTool, but a non-zero exit is an error carrying the tool's stderr. */
export async function runToolOrThrow(
  command: string,
  args: readonly string[],
  options: RunOptions,
): Promise<ToolResult> {
  const result = await runTool(command, args, options);
  if (result.exitCode !== 0) {
    throw new Error(`${describe(command, args)} exited with ${result.exitCode}:\n${result.stderr.trim()}`);
  }
  return result;
}

function describe(command: string, args: readonly string[]): string {
  const name = command.split('/').pop() ?? command;
  return [name, ...args].join(' ');
}

interface Sandbox {
  readonly root: string;
  readonly home: string;
  readonly tufRoot: string;
  readonly emptyDockerConfig: string;
}

let sandbox: Sandbox | undefined;

const SANDBOX_PREFIX = 'provenant-tools-';
const OWNER_FILE = 'owner.pid';

/**
 * One throw-away HOME/TUF_ROOT/DOCKER_CONFIG per test process: the Go tools must never read the developer's
 * ~/.docker credentials or ~/.sigstore TUF cache, and must never try to refresh TUF over the network.
 * Test workers are often killed rather than exited, so the 'exit' hook is not enough: each sandbox records
 * its owner's pid, and sandboxes whose owner is gone are removed when the next one is created.
 */
export function toolSandbox(): Sandbox {
  if (sandbox === undefined) {
    removeOrphanedSandboxes();
    const root = mkdtempSync(join(tmpdir(), SANDBOX_PREFIX));
    writeFileSync(join(root, OWNER_FILE), String(process.pid));
    const created: Sandbox = {
      root,
      home: join(root, 'home'),
      tufRoot: join(root, 'tuf'),
      emptyDockerConfig: join(root, 'docker'),
    };
    for (const dir of [created.home, created.tufRoot, created.emptyDockerConfig]) mkdirSync(dir);
    writeFileSync(join(created.emptyDockerConfig, 'config.json'), '{"auths":{}}\n');
    process.once('exit', () => rmSync(root, { recursive: true, force: true }));
    sandbox = created;
  }
  return sandbox;
}

function removeOrphanedSandboxes(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(SANDBOX_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    let owner: number;
    try {
      owner = Number(readFileSync(join(dir, OWNER_FILE), 'utf8'));
    } catch {
      continue; // not ours to judge, or being created right now
    }
    if (Number.isInteger(owner) && owner > 0 && !isAlive(owner))
      rmSync(dir, { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM means the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const caFiles = new WeakMap<TestRegistry, string>();

function caFileFor(reg: TestRegistry): string | undefined {
  if (!reg.tls) return undefined;
  if (reg.caFile !== undefined) return reg.caFile;
  if (reg.caPem === undefined) return undefined;
  let file = caFiles.get(reg);
  if (file === undefined) {
    file = join(toolSandbox().root, `ca-${reg.host.replace(/[^0-9A-Za-z]/g, '-')}.pem`);
    writeFileSync(file, reg.caPem);
    caFiles.set(reg, file);
  }
  return file;
}

/**
 * A minimal environment for crane and cosign talking to `reg` (none for offline commands): nothing inherited except PATH and locale, so
 * a stray COSIGN_REPOSITORY, DOCKER_CONFIG or proxy setting on the developer's machine cannot change results.
 * Go reads SSL_CERT_FILE as the whole trust store on Linux, which is how the test CA gets trusted.
 */
export function toolEnv(
  reg: TestRegistry | undefined,
  extra: Readonly<Record<string, string>> = {},
): NodeJS.ProcessEnv {
  const box = toolSandbox();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    LANG: 'C.UTF-8',
    HOME: box.home,
    TUF_ROOT: box.tufRoot,
    DOCKER_CONFIG: reg?.dockerConfigDir ?? box.emptyDockerConfig,
    TMPDIR: tmpdir(),
  };
  const ca = reg === undefined ? undefined : caFileFor(reg);
  if (ca !== undefined) env['SSL_CERT_FILE'] = ca;
  return { ...env, ...extra };
}

/** Global crane flags for `reg`: `--insecure` lets crane speak plain HTTP, and only for plain registries. */
export function craneFlags(reg: TestRegistry): string[] {
  return reg.tls ? [] : ['--insecure'];
}

/** Runs crane against `reg` and returns stdout; throws with crane's stderr on failure. */
export async function crane(reg: TestRegistry, args: readonly string[], timeoutMs?: number): Promise<string> {
  const options: RunOptions =
    timeoutMs === undefined ? { env: toolEnv(reg) } : { env: toolEnv(reg), timeoutMs };
  const result = await runToolOrThrow(toolPath('crane'), [...args, ...craneFlags(reg)], options);
  return result.stdout;
}

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** `sha256:<hex>` → `sha256-<hex>`, the prefix of cosign's legacy tags and the OCI referrers fallback tag. */
export function digestTag(digest: string): string {
  return digest.replace(':', '-');
}

/**
 * The exact manifest bytes a registry serves for `ref` (crane sends every manifest type in Accept, so an
 * index comes back as an index). Null when the registry answers MANIFEST_UNKNOWN / NAME_UNKNOWN.
 */
export async function fetchManifest(reg: TestRegistry, ref: string): Promise<Buffer | null> {
  const result = await runTool(toolPath('crane'), ['manifest', ref, ...craneFlags(reg)], {
    env: toolEnv(reg),
  });
  if (result.exitCode !== 0) {
    if (/MANIFEST_UNKNOWN|NAME_UNKNOWN|404 Not Found/.test(result.stderr)) return null;
    throw new Error(`crane manifest ${ref} exited with ${result.exitCode}:\n${result.stderr.trim()}`);
  }
  return result.stdoutBytes;
}

export async function fetchBlob(reg: TestRegistry, repository: string, digest: string): Promise<Buffer> {
  const out = await runToolOrThrow(
    toolPath('crane'),
    ['blob', `${repository}@${digest}`, ...craneFlags(reg)],
    {
      env: toolEnv(reg),
    },
  );
  const bytes = out.stdoutBytes;
  // crane checks the digest too, but a silent truncation by our output cap must not pass unnoticed.
  if (sha256Digest(bytes) !== digest)
    throw new Error(`blob ${repository}@${digest} came back with another digest`);
  return bytes;
}

export async function listTags(reg: TestRegistry, repository: string): Promise<string[]> {
  const out = await runTool(toolPath('crane'), ['ls', repository, ...craneFlags(reg)], { env: toolEnv(reg) });
  if (out.exitCode !== 0) {
    if (/NAME_UNKNOWN|404/.test(out.stderr)) return [];
    throw new Error(`crane ls ${repository} exited with ${out.exitCode}:\n${out.stderr.trim()}`);
  }
  return out.stdout.split('\n').filter((line) => line.length > 0);
}

/** Points `newTag` in the same repository at the manifest `sourceRef` resolves to, byte for byte. */
export async function tagManifest(reg: TestRegistry, sourceRef: string, newTag: string): Promise<void> {
  await crane(reg, ['tag', sourceRef, newTag]);
}

/**
 * Pushes one manifest (image manifest, artifact manifest or index) with exactly these bytes to `targetRef`
 * (`host/repo:tag` or `host/repo@sha256:…`). `blobs` must hold everything crane reads from the layout: an image
 * manifest's config and layers, an index's child manifests (crane skips the upload of anything the registry
 * already has, but reads the layout first).
 *
 * Note: go-containerregistry, like cosign, adds a pushed manifest that has a `subject` to the subject's
 * referrers fallback index `sha256-<hex>` itself, because distribution 2.8 has no referrers API.
 */
export async function pushManifest(
  reg: TestRegistry,
  targetRef: string,
  manifest: Uint8Array,
  blobs: readonly Uint8Array[],
): Promise<string> {
  const parsed = JSON.parse(Buffer.from(manifest).toString('utf8')) as { mediaType?: unknown };
  if (typeof parsed.mediaType !== 'string') throw new Error('pushManifest needs a manifest with a mediaType');
  const dir = await mkdtemp(join(toolSandbox().root, 'layout-'));
  try {
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    for (const blob of [...blobs, manifest]) {
      await writeFile(join(dir, 'blobs', 'sha256', sha256Digest(blob).slice('sha256:'.length)), blob);
    }
    const digest = sha256Digest(manifest);
    await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(
      join(dir, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociIndex,
        manifests: [{ mediaType: parsed.mediaType, digest, size: manifest.length }],
      }),
    );
    await crane(reg, ['push', dir, targetRef]);
    return digest;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface BuiltImage {
  readonly manifest: Buffer;
  readonly blobs: Buffer[];
  readonly mediaType: string;
}

interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

function parsePlatform(platform: string): Platform {
  const [os, architecture, variant, ...rest] = platform.split('/');
  if (os === undefined || architecture === undefined || os === '' || architecture === '' || rest.length > 0) {
    throw new Error(`platform must be os/arch[/variant], got ${JSON.stringify(platform)}`);
  }
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

/** A ustar archive holding one regular file; enough for a valid, unique layer without a tar binary. */
function tarWithOneFile(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${content.length.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.fill(' ', 148, 156);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let checksum = 0;
  for (const byte of header) checksum += byte;
  header.write(`${checksum.toString(8).padStart(6, '0')}\0 `, 148);
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, padding, Buffer.alloc(1024)]);
}

function buildRandomImage(platform: Platform, format: ImageFormat): BuiltImage {
  const types =
    format === 'oci'
      ? { manifest: MEDIA_TYPES.ociManifest, config: MEDIA_TYPES.ociConfig, layer: MEDIA_TYPES.ociLayerGzip }
      : {
          manifest: MEDIA_TYPES.dockerManifest,
          config: MEDIA_TYPES.dockerConfig,
          layer: MEDIA_TYPES.dockerLayerGzip,
        };
  // 32 random bytes make every image (and so every digest) unique, even across parallel test runs.
  const tar = tarWithOneFile('provenant-test-nonce', Buffer.from(randomBytes(32).toString('hex') + '\n'));
  const layer = gzipSync(tar);
  const config = Buffer.from(
    JSON.stringify({
      ...platform,
      rootfs: { type: 'layers', diff_ids: [sha256Digest(tar)] },
      config: {},
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: types.manifest,
      config: { mediaType: types.config, digest: sha256Digest(config), size: config.length },
      layers: [{ mediaType: types.layer, digest: sha256Digest(layer), size: layer.length }],
    }),
  );
  return { manifest, blobs: [config, layer], mediaType: types.manifest };
}

function checkName(repo: string, tag: string): void {
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repo)) {
    throw new Error(`invalid repository name ${JSON.stringify(repo)}`);
  }
  if (!/^[\w][\w.-]{0,127}$/.test(tag)) throw new Error(`invalid tag ${JSON.stringify(tag)}`);
}

/** Pushes a new single-platform (linux/amd64) image with unique content to `host/repo:tag`. */
export async function pushRandomImage(
  reg: TestRegistry,
  repo: string,
  tag: string,
  options: ImageOptions = {},
): Promise<PushedImage> {
  checkName(repo, tag);
  const repository = `${reg.host}/${repo}`;
  const image = buildRandomImage({ os: 'linux', architecture: 'amd64' }, options.format ?? 'oci');
  const digest = await pushManifest(reg, `${repository}:${tag}`, image.manifest, image.blobs);
  return {
    ref: `${repository}:${tag}`,
    digest,
    digestRef: `${repository}@${digest}`,
    repository,
    tag,
    mediaType: image.mediaType,
  };
}

/**
 * Pushes one unique image per platform and an index (OCI image index, or Docker manifest list with
 * `format: 'docker'`) listing them with their `platform` entries, tagged `host/repo:tag`. The children are
 * pushed by digest only, as a real multi-arch build does.
 */
export async function pushMultiArchIndex(
  reg: TestRegistry,
  repo: string,
  tag: string,
  platforms: readonly string[],
  options: IndexOptions = {},
): Promise<PushedIndex> {
  checkName(repo, tag);
  if (platforms.length === 0) throw new Error('pushMultiArchIndex needs at least one platform');
  const format = options.format ?? 'oci';
  const repository = `${reg.host}/${repo}`;
  const children: PushedPlatformImage[] = [];
  const descriptors: object[] = [];
  const blobs: Buffer[] = [];
  for (const [i, platform] of platforms.entries()) {
    const parsed = parsePlatform(platform);
    const image = buildRandomImage(parsed, format);
    const digest = sha256Digest(image.manifest);
    const annotations = options.annotations?.[i];
    children.push({ platform, digest, digestRef: `${repository}@${digest}`, mediaType: image.mediaType });
    descriptors.push({
      mediaType: image.mediaType,
      digest,
      size: image.manifest.length,
      platform: parsed,
      ...(annotations === undefined ? {} : { annotations }),
    });
    // Child manifests go into the layout as blobs: crane pushes an index's children (by digest) before it.
    blobs.push(image.manifest, ...image.blobs);
  }
  const mediaType = format === 'oci' ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.dockerManifestList;
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, manifests: descriptors }));
  const digest = await pushManifest(reg, `${repository}:${tag}`, index, blobs);
  return {
    ref: `${repository}:${tag}`,
    digest,
    digestRef: `${repository}@${digest}`,
    repository,
    tag,
    mediaType,
    children,
  };
}
