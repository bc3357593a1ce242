import { createHash, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { runTool, runToolOrThrow, toolEnv, toolSandbox, type ToolResult } from './images.js';
import { toolPath, type TestRegistry } from './registry.js';

// Drives the real cosign binaries, fully offline, to produce and cross-check signatures:
//   cosign 2 (Debian trixie, 2.5) writes legacy `sha256-<hex>.sig` tags;
//   cosign 3 (Debian sid, 3.1.1) writes Sigstore bundles as OCI referrers, which on a registry without the
//   referrers API (distribution 2.8) land in an index under the fallback tag `sha256-<hex>`.
// Both read HOME/TUF_ROOT from toolSandbox(), so no TUF refresh is ever attempted.

export type CosignVersion = 2 | 3;
export type KeyKind = 'ecdsa-p256' | 'ecdsa-p384' | 'rsa-2048' | 'ed25519';
export type DigestAlgorithm = 'sha256' | 'sha384' | 'sha512';

export interface CosignKeyPair {
  readonly kind: KeyKind;
  /** Folder holding the key files (inside the per-process tool sandbox). */
  readonly dir: string;
  /** cosign's encrypted private key (`ENCRYPTED SIGSTORE PRIVATE KEY`), usable by cosign 2 and 3. */
  readonly privateKeyPath: string;
  /** PKIX `PUBLIC KEY` PEM */
  readonly publicKeyPath: string;
  readonly publicKeyPem: string;
  /** COSIGN_PASSWORD for the private key */
  readonly password: string;
  /** base64(sha256(SPKI DER)): what cosign 3 writes into a bundle's `verificationMaterial.publicKey.hint`. */
  readonly keyHint: string;
}

export interface CosignSignOptions {
  /** Sign an index and every manifest it lists. */
  readonly recursive?: boolean;
  /** `-a key=value`: legacy payload `optional`; cosign 3 puts them in the statement subject's annotations. */
  readonly annotations?: Readonly<Record<string, string>>;
  /** `host/repo` to store signatures in (COSIGN_REPOSITORY). */
  readonly signatureRepository?: string;
  readonly timeoutMs?: number;
}

export interface CosignVerifyOptions {
  readonly signatureRepository?: string;
  /** `-a key=value` claims the signature must carry. */
  readonly annotations?: Readonly<Record<string, string>>;
  /**
   * cosign's deprecated `--signature-digest-algorithm`. cosign 3 signs P-384 bundles with SHA-384 but
   * verifies `--key` with SHA-256 unless told otherwise, so a P-384 bundle needs `sha384` here.
   */
  readonly signatureDigestAlgorithm?: DigestAlgorithm;
  readonly timeoutMs?: number;
}

export interface CosignVerifyResult {
  /** True only when cosign exited 0. */
  readonly verified: boolean;
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  /** The `Error: …` line cosign printed, for assertion messages; empty when verified. */
  readonly error: string;
  /** The full command line, for reproducing a disagreement by hand. */
  readonly command: string;
}

const SIGN_TIMEOUT_MS = 60_000;
const VERIFY_TIMEOUT_MS = 60_000;

export function cosignBinary(version: CosignVersion): string {
  return toolPath(version === 2 ? 'cosign2' : 'cosign3');
}

/**
 * Offline configuration for cosign 3: a signing config with no Fulcio, Rekor or TSA (so keyed signing needs
 * no service; `--tlog-upload=false` is refused next to a signing config), and a trusted root with no
 * authorities (so cosign 3 does not fetch the public-good root over TUF just to self-check its output).
 */
export function cosign3OfflineFiles(): { signingConfig: string; trustedRoot: string } {
  const root = toolSandbox().root;
  const signingConfig = join(root, 'cosign3-signing-config.json');
  const trustedRoot = join(root, 'cosign3-trusted-root.json');
  if (!existsSync(signingConfig)) {
    writeFileSync(
      signingConfig,
      JSON.stringify({
        mediaType: 'application/vnd.dev.sigstore.signingconfig.v0.2+json',
        rekorTlogConfig: {},
        tsaConfig: {},
      }),
    );
  }
  if (!existsSync(trustedRoot)) {
    writeFileSync(
      trustedRoot,
      JSON.stringify({ mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1' }),
    );
  }
  return { signingConfig, trustedRoot };
}

function annotationArgs(annotations: Readonly<Record<string, string>> | undefined): string[] {
  return Object.entries(annotations ?? {}).flatMap(([key, value]) => ['-a', `${key}=${value}`]);
}

/** Registry flags: plain-HTTP registries need `--allow-insecure-registry`; TLS ones are trusted via SSL_CERT_FILE. */
export function registryArgs(reg: TestRegistry): string[] {
  return reg.tls ? [] : ['--allow-insecure-registry'];
}

export function keyHintOf(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64');
}

/**
 * A fresh key pair in cosign's format. P-256 comes from `cosign generate-key-pair` (its default); the other
 * kinds are generated as PKCS#8 PEM and converted with cosign 3's `import-key-pair`, because cosign 2.5's
 * import rejects every ECDSA and RSA key ("unsupported public key type") and only accepts Ed25519.
 * The encrypted key file is the same format for both versions, so either cosign can sign with the result.
 */
export async function generateKeyPair(kind: KeyKind): Promise<CosignKeyPair> {
  const dir = await mkdtemp(join(toolSandbox().root, `key-${kind}-`));
  const password = randomBytes(12).toString('hex');
  const env = toolEnv(undefined, { COSIGN_PASSWORD: password });
  const prefix = join(dir, 'cosign');
  if (kind === 'ecdsa-p256') {
    await runToolOrThrow(cosignBinary(3), ['generate-key-pair', '--output-key-prefix', prefix], { env });
  } else {
    const source = join(dir, 'source.pem');
    await writeFile(source, pkcs8Pem(kind), { mode: 0o600 });
    await runToolOrThrow(
      cosignBinary(3),
      ['import-key-pair', '--key', source, '--output-key-prefix', prefix, '--yes'],
      {
        env,
      },
    );
  }
  const publicKeyPath = `${prefix}.pub`;
  const publicKeyPem = await readFile(publicKeyPath, 'utf8');
  return {
    kind,
    dir,
    privateKeyPath: `${prefix}.key`,
    publicKeyPath,
    publicKeyPem,
    password,
    keyHint: keyHintOf(publicKeyPem),
  };
}

function pkcs8Pem(kind: Exclude<KeyKind, 'ecdsa-p256'>): string {
  const pkcs8 = { type: 'pkcs8', format: 'pem' } as const;
  const spki = { type: 'spki', format: 'pem' } as const;
  switch (kind) {
    case 'ecdsa-p384':
      return generateKeyPairSync('ec', {
        namedCurve: 'P-384',
        privateKeyEncoding: pkcs8,
        publicKeyEncoding: spki,
      }).privateKey;
    case 'rsa-2048':
      return generateKeyPairSync('rsa', {
        modulusLength: 2048,
        privateKeyEncoding: pkcs8,
        publicKeyEncoding: spki,
      }).privateKey;
    case 'ed25519':
      return generateKeyPairSync('ed25519', { privateKeyEncoding: pkcs8, publicKeyEncoding: spki })
        .privateKey;
  }
}

/**
 * Signs `digestRef` (`host/repo@sha256:…`) with `key`, offline: no Rekor upload, no Fulcio, no TUF.
 * cosign 2 writes/extends the legacy `.sig` manifest; cosign 3 pushes a bundle referrer and updates the
 * fallback tag. Signing the same digest concurrently races (cosign read-modify-writes one tag), so callers
 * must serialise signatures of one image.
 */
export async function cosignSign(
  version: CosignVersion,
  key: CosignKeyPair,
  digestRef: string,
  reg: TestRegistry,
  options: CosignSignOptions = {},
): Promise<ToolResult> {
  if (!/@sha256:[0-9a-f]{64}$/.test(digestRef))
    throw new Error(`cosignSign needs a digest reference, got ${digestRef}`);
  if (version === 3 && key.kind === 'ed25519') {
    // cosign 3.1.1 signs Ed25519 bundles with one scheme and verifies with another: its own post-signing
    // check fails, and without that check the bundle verifies neither with cosign nor as pure Ed25519
    // (sigstore/cosign#5074). Refuse rather than seed a signature nothing can check.
    throw new Error('cosign 3.1.1 cannot produce a verifiable Ed25519 bundle (sigstore/cosign#5074)');
  }
  const args = ['sign', '--key', key.privateKeyPath, '--yes', ...registryArgs(reg)];
  if (version === 2) {
    args.push('--tlog-upload=false');
  } else {
    const offline = cosign3OfflineFiles();
    args.push('--signing-config', offline.signingConfig, '--trusted-root', offline.trustedRoot);
  }
  if (options.recursive === true) args.push('--recursive');
  args.push(...annotationArgs(options.annotations), digestRef);
  const extra: Record<string, string> = { COSIGN_PASSWORD: key.password };
  if (options.signatureRepository !== undefined) extra['COSIGN_REPOSITORY'] = options.signatureRepository;
  return runToolOrThrow(cosignBinary(version), args, {
    env: toolEnv(reg, extra),
    timeoutMs: options.timeoutMs ?? SIGN_TIMEOUT_MS,
  });
}

/**
 * Runs `cosign verify --key` offline and reports whether cosign accepted `digestRef`. A refusal of any kind
 * (no signatures, bad signature, wrong digest in the claim) is `verified: false`; only a failure to run
 * cosign at all (timeout, missing binary) throws, since that says nothing about the signature.
 *
 * Flags: `--insecure-ignore-tlog` because the signatures were made without Rekor; for cosign 3 an empty
 * `--trusted-root` so it never fetches the public-good root (a key needs no root to verify a bundle).
 */
export async function cosignVerify(
  version: CosignVersion,
  publicKeyPath: string,
  digestRef: string,
  reg: TestRegistry,
  options: CosignVerifyOptions = {},
): Promise<CosignVerifyResult> {
  const args = ['verify', '--key', publicKeyPath, '--insecure-ignore-tlog', ...registryArgs(reg)];
  if (version === 3) args.push('--trusted-root', cosign3OfflineFiles().trustedRoot);
  if (options.signatureDigestAlgorithm !== undefined) {
    args.push('--signature-digest-algorithm', options.signatureDigestAlgorithm);
  }
  args.push(...annotationArgs(options.annotations), digestRef);
  const extra: Record<string, string> = {};
  if (options.signatureRepository !== undefined) extra['COSIGN_REPOSITORY'] = options.signatureRepository;
  const binary = cosignBinary(version);
  const result = await runTool(binary, args, {
    env: toolEnv(reg, extra),
    timeoutMs: options.timeoutMs ?? VERIFY_TIMEOUT_MS,
  });
  const errorLine = result.stderr.split('\n').find((line) => line.startsWith('Error: ')) ?? '';
  const envPrefix =
    options.signatureRepository === undefined ? '' : `COSIGN_REPOSITORY=${options.signatureRepository} `;
  return {
    verified: result.exitCode === 0,
    exitCode: result.exitCode,
    stdout: result.stdout,
    stderr: result.stderr,
    error: result.exitCode === 0 ? '' : errorLine.slice('Error: '.length) || result.stderr.trim(),
    command: `${envPrefix}cosign${version} ${args.join(' ')}`,
  };
}
