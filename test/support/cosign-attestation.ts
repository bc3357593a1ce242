/**
 * Real cosign 2 and 3 making and checking attestations, fully offline, for the attestation suites:
 *   cosign 2 `attest` writes a legacy `sha256-<hex>.att` tag (one DSSE layer per attestation);
 *   cosign 3 `attest` writes a Sigstore bundle (DSSE) as an OCI referrer, which on distribution 2.8 lands in
 *   the referrers fallback index `sha256-<hex>`.
 * Key-based runs use the offline flags of cosign.ts; keyless runs the private Sigstore flags of
 * sigstore-cosign.ts. `verify-attestation` is the cross-check: cosign's own judgement of the same bytes.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  cosign3OfflineFiles,
  cosignBinary,
  registryArgs,
  type CosignKeyPair,
  type CosignVersion,
} from './cosign.js';
import { runTool, runToolOrThrow, toolEnv, type ToolResult } from './images.js';
import type { TestRegistry } from './registry.js';
import type { PrivateSigstore, SigstoreIdentity } from './sigstore.js';

/** cosign's `--type` short names (cosign `pkg/cosign/attestation`), or a predicate type URI. */
export type CosignPredicateType =
  | 'slsaprovenance'
  | 'slsaprovenance02'
  | 'slsaprovenance1'
  | 'spdx'
  | 'spdxjson'
  | 'cyclonedx'
  | 'vuln'
  | 'openvex'
  | 'custom'
  | (string & {});

/** The predicate type URI cosign writes for each `--type` (cosign `pkg/cosign/attestation/attestation.go`). */
export const COSIGN_PREDICATE_URIS: Readonly<Record<string, string>> = {
  slsaprovenance: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance02: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance1: 'https://slsa.dev/provenance/v1',
  spdx: 'https://spdx.dev/Document',
  spdxjson: 'https://spdx.dev/Document',
  cyclonedx: 'https://cyclonedx.org/bom',
  vuln: 'https://cosign.sigstore.dev/attestation/vuln/v1',
  openvex: 'https://openvex.dev/ns',
  custom: 'https://cosign.sigstore.dev/attestation/v1',
};

export interface AttestOptions {
  readonly type: CosignPredicateType;
  /** Path of the predicate JSON file. */
  readonly predicate: string;
  /** `host/repo` to store attestations in (COSIGN_REPOSITORY). */
  readonly signatureRepository?: string;
  readonly timeoutMs?: number;
}

export interface KeylessAttestOptions extends AttestOptions {
  readonly identity: SigstoreIdentity;
  /** Also get an RFC 3161 timestamp (cosign 3 default true, cosign 2 default false). */
  readonly tsa?: boolean;
}

const TIMEOUT_MS = 60_000;

function repositoryEnv(signatureRepository: string | undefined): Record<string, string> {
  return signatureRepository === undefined ? {} : { COSIGN_REPOSITORY: signatureRepository };
}

/** `cosign attest --key` of `digestRef`, offline (no Rekor, no TSA). Throws with cosign's stderr. */
export async function cosignAttest(
  version: CosignVersion,
  key: CosignKeyPair,
  digestRef: string,
  reg: TestRegistry,
  options: AttestOptions,
): Promise<ToolResult> {
  const args = ['attest', '--key', key.privateKeyPath, '--yes', ...registryArgs(reg)];
  if (version === 2) {
    args.push('--tlog-upload=false');
  } else {
    const offline = cosign3OfflineFiles();
    args.push('--signing-config', offline.signingConfig, '--trusted-root', offline.trustedRoot);
  }
  args.push('--type', options.type, '--predicate', options.predicate, digestRef);
  return runToolOrThrow(cosignBinary(version), args, {
    env: toolEnv(reg, { COSIGN_PASSWORD: key.password, ...repositoryEnv(options.signatureRepository) }),
    timeoutMs: options.timeoutMs ?? TIMEOUT_MS,
  });
}

/** `cosign attest` keylessly as `options.identity` against the private Sigstore. Throws with cosign's stderr. */
export async function cosignAttestKeyless(
  version: CosignVersion,
  sigstore: PrivateSigstore,
  digestRef: string,
  reg: TestRegistry,
  options: KeylessAttestOptions,
): Promise<ToolResult> {
  const tokenFile = join(sigstore.dir, `token-${randomBytes(6).toString('hex')}.jwt`);
  await writeFile(tokenFile, sigstore.identityToken(options.identity), { mode: 0o600 });
  const args = ['attest', '--yes', '--identity-token', tokenFile, ...registryArgs(reg)];
  if (version === 3) {
    let signingConfig = sigstore.files.signingConfig;
    if (options.tsa === false) {
      signingConfig = join(sigstore.dir, 'signing_config_no_tsa.json');
      await writeFile(signingConfig, JSON.stringify({ ...sigstore.signingConfig, tsaUrls: [] }));
    }
    args.push('--signing-config', signingConfig, '--trusted-root', sigstore.trustedRootPath);
  } else {
    args.push('--fulcio-url', sigstore.fulcioUrl, '--rekor-url', sigstore.rekorUrl);
    if (options.tsa === true) args.push('--timestamp-server-url', `${sigstore.tsaUrl}/api/v1/timestamp`);
  }
  args.push('--type', options.type, '--predicate', options.predicate, digestRef);
  return runToolOrThrow(cosignBinary(version), args, {
    env: toolEnv(reg, { ...trustEnv(version, sigstore), ...repositoryEnv(options.signatureRepository) }),
    timeoutMs: options.timeoutMs ?? TIMEOUT_MS,
  });
}

export type AttestationTrust =
  | { readonly key: string }
  | {
      /** A trusted_root.json (cosign 3 only). */
      readonly trustedRoot: string;
      readonly identity: CosignIdentityFlags;
    }
  | { readonly sigstore: PrivateSigstore; readonly identity: CosignIdentityFlags };

export interface CosignIdentityFlags {
  readonly certificateIdentity?: string;
  readonly certificateIdentityRegexp?: string;
  readonly certificateOidcIssuer?: string;
  readonly certificateOidcIssuerRegexp?: string;
}

export interface VerifyAttestationOptions {
  readonly type: CosignPredicateType;
  readonly signatureRepository?: string;
  readonly timeoutMs?: number;
}

export interface VerifyAttestationResult extends ToolResult {
  /** True only when cosign exited 0. */
  readonly verified: boolean;
  /** The full command line, to reproduce a disagreement by hand. */
  readonly command: string;
}

/**
 * `cosign verify-attestation --type TYPE` of `digestRef`, offline. Any refusal is `verified: false`; only a
 * failure to run cosign at all throws. Key-signed attestations were made without Rekor, so key runs pass
 * `--insecure-ignore-tlog` (and, for cosign 3, an empty trusted root so nothing is fetched).
 */
export async function cosignVerifyAttestation(
  version: CosignVersion,
  trust: AttestationTrust,
  digestRef: string,
  reg: TestRegistry,
  options: VerifyAttestationOptions,
): Promise<VerifyAttestationResult> {
  const args = ['verify-attestation', '--type', options.type, ...registryArgs(reg)];
  let env: Record<string, string> = {};
  if ('key' in trust) {
    args.push('--key', trust.key, '--insecure-ignore-tlog');
    if (version === 3) args.push('--trusted-root', cosign3OfflineFiles().trustedRoot);
  } else {
    if ('trustedRoot' in trust) {
      if (version !== 3) throw new Error('cosign 2 cannot take a trusted_root.json offline');
      args.push('--trusted-root', trust.trustedRoot);
    } else if (version === 3) {
      args.push('--trusted-root', trust.sigstore.trustedRootPath);
    } else {
      args.push('--timestamp-certificate-chain', trust.sigstore.files.tsaChain);
      env = trustEnv(2, trust.sigstore);
    }
    const flag = (name: string, value: string | undefined): void => {
      if (value !== undefined) args.push(`--${name}`, value);
    };
    flag('certificate-identity', trust.identity.certificateIdentity);
    flag('certificate-identity-regexp', trust.identity.certificateIdentityRegexp);
    flag('certificate-oidc-issuer', trust.identity.certificateOidcIssuer);
    flag('certificate-oidc-issuer-regexp', trust.identity.certificateOidcIssuerRegexp);
  }
  args.push(digestRef);
  env = { ...env, ...repositoryEnv(options.signatureRepository) };
  const result = await runTool(cosignBinary(version), args, {
    env: toolEnv(reg, env),
    timeoutMs: options.timeoutMs ?? TIMEOUT_MS,
  });
  const prefix = Object.entries(env)
    .map(([k, v]) => `${k}=${v} `)
    .join('');
  return {
    ...result,
    verified: result.exitCode === 0,
    command: `${prefix}cosign${version} ${args.join(' ')}`,
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
