// The image that `npm run image` (scripts/image/build.sh) built: an OCI image layout in .tmp/image/oci and
// its report .tmp/image/image.json. The cluster tier pushes it to its own loopback registry with crane and
// unpacks its root file system with `crane export` (which applies the layers and their whiteouts in order).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { crane, craneFlags, toolEnv } from '../../support/images.js';
import { toolPath, type TestRegistry } from '../../support/registry.js';

const ROOT = resolve(import.meta.dirname, '../../..');
export const IMAGE_DIR = resolve(ROOT, process.env['PROVENANT_IMAGE_OUT'] ?? '.tmp/image');

export interface BuiltImage {
  /** The OCI image layout `npm run image` wrote. */
  readonly layout: string;
  /** `sha256:…` of the image manifest. */
  readonly digest: string;
  readonly compressedMiB: number;
  readonly uncompressedMiB: number;
}

/** The built image's report; throws with the command to run when there is none. */
export function builtImage(): BuiltImage {
  const report = join(IMAGE_DIR, 'image.json');
  if (!existsSync(report)) {
    throw new Error(
      `no built image in ${IMAGE_DIR}: run \`npm run image\` first (npm run test:cluster does)`,
    );
  }
  const r = JSON.parse(readFileSync(report, 'utf8')) as Omit<BuiltImage, 'layout'>;
  return { layout: join(IMAGE_DIR, 'oci'), ...r };
}

/** The image config's runtime part (`config` of the OCI image configuration). */
export interface ImageRuntimeConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  ExposedPorts?: Record<string, unknown>;
}

/** Reads the runtime config of the layout's image. */
export function imageRuntimeConfig(image: BuiltImage): ImageRuntimeConfig {
  const blob = (digest: string) =>
    JSON.parse(readFileSync(join(image.layout, 'blobs', ...digest.split(':')), 'utf8')) as Record<
      string,
      unknown
    >;
  const manifest = blob(image.digest) as { config: { digest: string } };
  return (blob(manifest.config.digest) as { config: ImageRuntimeConfig }).config;
}

/** Pushes the layout to `reg` as `repo:tag`; returns `host/repo@digest` (the digest must survive the push). */
export async function pushBuiltImage(
  image: BuiltImage,
  reg: TestRegistry,
  repo: string,
  tag: string,
): Promise<string> {
  const ref = `${reg.host}/${repo}:${tag}`;
  await crane(reg, ['push', image.layout, ref], 180_000);
  const digest = (await crane(reg, ['digest', ref])).trim();
  if (digest !== image.digest) throw new Error(`pushed ${ref} has digest ${digest}, built ${image.digest}`);
  return `${reg.host}/${repo}@${digest}`;
}

/** Unpacks the image's flattened root file system into `dir` (as root: owners and modes kept). */
export async function exportRootfs(reg: TestRegistry, digestRef: string, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const exporter = spawn(toolPath('crane'), ['export', ...craneFlags(reg), digestRef, '-'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: toolEnv(reg),
  });
  const tar = spawn('tar', ['-C', dir, '--numeric-owner', '--same-owner', '-xpf', '-'], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  exporter.stdout.pipe(tar.stdin);
  let stderr = '';
  exporter.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  tar.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = (p: typeof exporter | typeof tar) =>
    new Promise<number | null>((res) => p.once('close', (code) => res(code)));
  const [c, t] = await Promise.all([exit(exporter), exit(tar)]);
  if (c !== 0 || t !== 0) throw new Error(`crane export | tar failed (${c}, ${t}): ${stderr}`);
}
