/**
 * Keyless signing and verification of images with the real cosign binaries against a private Sigstore, fully
 * offline. Key-based cosign runs live in cosign.ts; this file only adds the keyless flags and trust material.
 *
 * What each cosign needs (all seen working with cosign 3.1.1 and 2.5.0):
 * - cosign 3 `sign`: `--identity-token FILE --signing-config signing_config.json --trusted-root trusted_root.json`.
 *   The signing config names our Fulcio (v2 API), Rekor and TSA; the trusted root makes cosign check its own
 *   output. The trusted root must be media type v0.1: 3.1.1 refuses v0.2.
 *   (`--use-signing-config=false --fulcio-url … --rekor-url … --timestamp-server-url …` works as well.)
 * - cosign 3 `verify`: `--trusted-root` plus identity flags; nothing else, no TUF.
 * - cosign 2 `sign`: `--fulcio-url` (legacy v1 API) `--rekor-url` [`--timestamp-server-url <tsa>/api/v1/timestamp`]
 *   `--identity-token FILE`, with SIGSTORE_ROOT_FILE (Fulcio chain), SIGSTORE_REKOR_PUBLIC_KEY and
 *   SIGSTORE_CT_LOG_PUBLIC_KEY_FILE so nothing comes from TUF. Writes the legacy `sha256-<hex>.sig` tag.
 * - cosign 2 `verify`: the same three variables, plus `--timestamp-certificate-chain` for RFC 3161 timestamps.
 * The token must be given as a file: cosign first tries the value as a path, and a JWT is too long a file name.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool, runToolOrThrow, toolEnv, type ToolResult } from './images.js';
import { toolPath, type TestRegistry } from './registry.js';
import type { PrivateSigstore, SigstoreIdentity } from './sigstore.js';

export type CosignVersion = 2 | 3;

export interface KeylessSignOptions {
  identity: SigstoreIdentity;
  /**
   * Also get an RFC 3161 timestamp from the TSA. Default true for cosign 3 (its signing config lists the
   * TSA, as public good's does), false for cosign 2 (opt-in `--timestamp-server-url` there).
   */
  tsa?: boolean;
  /** `-a key=value`. */
  annotations?: Record<string, string>;
  /** Sign an index and every manifest it lists. */
  recursive?: boolean;
  timeoutMs?: number;
}

export interface KeylessVerifyOptions {
  /** Exact SAN (`--certificate-identity`). One of this or the regexp is required by cosign. */
  certificateIdentity?: string;
  certificateIdentityRegexp?: string;
  certificateOidcIssuer?: string;
  certificateOidcIssuerRegexp?: string;
  /** cosign's `--certificate-github-workflow-*` checks; they read the deprecated v1 OIDs `.2`–`.6`. */
  githubWorkflow?: { repository?: string; ref?: string; sha?: string; name?: string; trigger?: string };
  timeoutMs?: number;
}

export interface KeylessVerifyResult {
  /** True only when cosign exited 0. */
  verified: boolean;
  exitCode: number;
  stdout: string;
  stderr: string;
  /** The `Error: …` line, for assertion messages; empty when verified. */
  error: string;
  /** The command line with the environment that matters, to reproduce a disagreement by hand. */
  command: string;
}

const TIMEOUT_MS = 60_000;

/** Signs `digestRef` (`host/repo@sha256:…`) keylessly as `options.identity`. Throws with cosign's stderr. */
export async function cosignSignKeyless(
  version: CosignVersion,
  sigstore: PrivateSigstore,
  digestRef: string,
  reg: TestRegistry,
  options: KeylessSignOptions,
): Promise<ToolResult> {
  if (!/@sha256:[0-9a-f]{64}$/.test(digestRef)) throw new Error(`need a digest reference, got ${digestRef}`);
  const tokenFile = join(sigstore.dir, `token-${randomBytes(6).toString('hex')}.jwt`);
  await writeFile(tokenFile, sigstore.identityToken(options.identity), { mode: 0o600 });

  const args = ['sign', '--yes', '--identity-token', tokenFile, ...registryArgs(reg)];
  if (version === 3) {
    const signingConfig =
      options.tsa === false ? await signingConfigWithoutTsa(sigstore) : sigstore.files.signingConfig;
    args.push('--signing-config', signingConfig, '--trusted-root', sigstore.trustedRootPath);
  } else {
    args.push('--fulcio-url', sigstore.fulcioUrl, '--rekor-url', sigstore.rekorUrl);
    if (options.tsa === true) args.push('--timestamp-server-url', `${sigstore.tsaUrl}/api/v1/timestamp`);
  }
  if (options.recursive === true) args.push('--recursive');
  for (const [key, value] of Object.entries(options.annotations ?? {})) args.push('-a', `${key}=${value}`);
  args.push(digestRef);
  return runToolOrThrow(toolPath(version === 2 ? 'cosign2' : 'cosign3'), args, {
    env: toolEnv(reg, trustEnv(version, sigstore)),
    timeoutMs: options.timeoutMs ?? TIMEOUT_MS,
  });
}

/**
 * `cosign verify` of `digestRef` against `sigstore`'s trust root, offline. A refusal of any kind is
 * `verified: false`; only a failure to run cosign at all throws.
 */
export async function cosignVerifyKeyless(
  version: CosignVersion,
  sigstore: PrivateSigstore,
  digestRef: string,
  reg: TestRegistry,
  options: KeylessVerifyOptions,
): Promise<KeylessVerifyResult> {
  const args = ['verify', ...registryArgs(reg)];
  if (version === 3) args.push('--trusted-root', sigstore.trustedRootPath);
  else args.push('--timestamp-certificate-chain', sigstore.files.tsaChain);
  const flag = (name: string, value: string | undefined): void => {
    if (value !== undefined) args.push(`--${name}`, value);
  };
  flag('certificate-identity', options.certificateIdentity);
  flag('certificate-identity-regexp', options.certificateIdentityRegexp);
  flag('certificate-oidc-issuer', options.certificateOidcIssuer);
  flag('certificate-oidc-issuer-regexp', options.certificateOidcIssuerRegexp);
  flag('certificate-github-workflow-repository', options.githubWorkflow?.repository);
  flag('certificate-github-workflow-ref', options.githubWorkflow?.ref);
  flag('certificate-github-workflow-sha', options.githubWorkflow?.sha);
  flag('certificate-github-workflow-name', options.githubWorkflow?.name);
  flag('certificate-github-workflow-trigger', options.githubWorkflow?.trigger);
  args.push(digestRef);

  const extra = trustEnv(version, sigstore);
  const result = await runTool(toolPath(version === 2 ? 'cosign2' : 'cosign3'), args, {
    env: toolEnv(reg, extra),
    timeoutMs: options.timeoutMs ?? TIMEOUT_MS,
  });
  const errorLine = result.stderr.split('\n').find((line) => line.startsWith('Error: ')) ?? '';
  const envPrefix = Object.entries(extra)
    .map(([k, v]) => `${k}=${v} `)
    .join('');
  return {
    verified: result.exitCode === 0,
    exitCode: result.exitCode,
    stdout: result.stdout,
    stderr: result.stderr,
    error: result.exitCode === 0 ? '' : errorLine.slice('Error: '.length) || result.stderr.trim(),
    command: `${envPrefix}cosign${version} ${args.join(' ')}`,
  };
}

// cosign 2 takes trust piecewise from the environment; without these it would fetch public good over TUF.
function trustEnv(version: CosignVersion, sigstore: PrivateSigstore): Record<string, string> {
  if (version === 3) return {};
  return {
    SIGSTORE_ROOT_FILE: sigstore.files.fulcioChain,
    SIGSTORE_REKOR_PUBLIC_KEY: sigstore.files.rekorPublicKey,
    SIGSTORE_CT_LOG_PUBLIC_KEY_FILE: sigstore.files.ctLogPublicKey,
  };
}

// Plain-HTTP registries need `--allow-insecure-registry`; TLS ones are trusted through SSL_CERT_FILE (toolEnv).
function registryArgs(reg: TestRegistry): string[] {
  return reg.tls ? [] : ['--allow-insecure-registry'];
}

async function signingConfigWithoutTsa(sigstore: PrivateSigstore): Promise<string> {
  const file = join(sigstore.dir, 'signing_config_no_tsa.json');
  await writeFile(file, JSON.stringify({ ...sigstore.signingConfig, tsaUrls: [] }, null, 2));
  return file;
}
