import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { runCommand } from '../../src/cli/commands.js';
import type { KeylessAuthoritySpec } from '../../src/policy/types.js';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `provenant ARGS` in-process (same code path as the binary, minus process start-up). */
export async function provenant(args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await runCommand(args, {
    stdout: (t) => (stdout += `${t}\n`),
    stderr: (t) => (stderr += `${t}\n`),
  });
  return { code, stdout, stderr };
}

/** JSON output of `verify`/`check`, as documented in the README. */
export interface VerifyJson {
  allowed: boolean;
  results: {
    image: string;
    digest: string | null;
    allowed: boolean;
    warnings: string[];
    reasons: { policy: string | null; authority: string | null; code: string; message: string }[];
  }[];
}

export function parseVerifyJson(result: CliResult): VerifyJson {
  try {
    return JSON.parse(result.stdout) as VerifyJson;
  } catch {
    throw new Error(`not JSON (exit ${result.code}): ${result.stdout}\n${result.stderr}`);
  }
}

export interface KeyPolicyOptions {
  name?: string;
  glob: string;
  keys: Record<string, string>;
  threshold?: number;
  mode?: 'Enforce' | 'Warn' | 'Audit';
  signatureRepository?: string;
}

/** Writes a ClusterImagePolicy with key authorities to a temp file and returns its path. */
export async function writeKeyPolicy(options: KeyPolicyOptions): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'provenant-policy-'));
  const authorities = Object.entries(options.keys)
    .map(([name, pem]) => `    - name: ${name}\n      key:\n        publicKey: |\n${indent(pem, 10)}`)
    .join('\n');
  const yaml = `apiVersion: provenant.dev/v1alpha1
kind: ClusterImagePolicy
metadata:
  name: ${options.name ?? 'test-policy'}
spec:
  mode: ${options.mode ?? 'Enforce'}
  images:
    - glob: "${options.glob}"
  authorities:
${authorities}
  signatures:
    threshold: ${options.threshold ?? 1}
${options.signatureRepository ? `  signatureRepository: ${options.signatureRepository}\n` : ''}`;
  const path = join(dir, 'policy.yaml');
  await writeFile(path, yaml);
  return path;
}

export interface KeylessPolicyOptions {
  name?: string;
  glob: string;
  /** Authority name → its `keyless` block, written as a user would (trustRoot defaults to public-good). */
  authorities: Record<string, KeylessAuthoritySpec>;
  threshold?: number;
  mode?: 'Enforce' | 'Warn' | 'Audit';
}

/** Writes a ClusterImagePolicy with keyless authorities to a temp file and returns its path. */
export async function writeKeylessPolicy(options: KeylessPolicyOptions): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'provenant-policy-'));
  const policy = {
    apiVersion: 'provenant.dev/v1alpha1',
    kind: 'ClusterImagePolicy',
    metadata: { name: options.name ?? 'test-policy' },
    spec: {
      mode: options.mode ?? 'Enforce',
      images: [{ glob: options.glob }],
      authorities: Object.entries(options.authorities).map(([name, keyless]) => ({ name, keyless })),
      signatures: { threshold: options.threshold ?? 1 },
    },
  };
  const path = join(dir, 'policy.yaml');
  await writeFile(path, dump(policy, { lineWidth: -1 }));
  return path;
}

function indent(text: string, spaces: number): string {
  return text
    .trim()
    .split('\n')
    .map((l) => ' '.repeat(spaces) + l)
    .join('\n');
}

/** A folder of manifest files, and `provenant check` of them against one policy, the registry on plain HTTP. */
export interface CheckWorkspace {
  readonly dir: string;
  /** Writes `text` to a new file in `dir` and gives its path. */
  manifest(text: string, extension?: string): Promise<string>;
  check(file: string, ...flags: string[]): Promise<CliResult>;
}

export async function checkWorkspace(options: {
  readonly prefix: string;
  readonly policy: string;
  readonly insecureRegistry: string;
}): Promise<CheckWorkspace> {
  const dir = await mkdtemp(join(tmpdir(), options.prefix));
  let files = 0;
  return {
    dir,
    manifest: async (text, extension = 'yaml') => {
      const path = join(dir, `manifest-${++files}.${extension}`);
      await writeFile(path, text);
      return path;
    },
    check: (file, ...flags) =>
      provenant([
        'check',
        '-f',
        file,
        '--policy',
        options.policy,
        '--insecure-registry',
        options.insecureRegistry,
        ...flags,
      ]),
  };
}
