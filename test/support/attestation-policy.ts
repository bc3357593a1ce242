/**
 * Policies with attestation requirements for `provenant verify` tests, written as users write them (YAML), and
 * the parts of the JSON output that carry attestation results.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import type { AttestationRequirementSpec } from '../../src/attestation/types.js';
import type { AuthoritySpec, ClusterImagePolicySpec } from '../../src/policy/types.js';
import { parseVerifyJson, provenant, type CliResult, type VerifyJson } from './cli.js';

export interface AttestationPolicyOptions {
  readonly name?: string;
  readonly glob: string;
  readonly authorities: readonly AuthoritySpec[];
  readonly attestations?: readonly AttestationRequirementSpec[];
  /** Omitted: the policy requires attestations only. */
  readonly signatures?: { readonly threshold?: number };
  readonly mode?: 'Enforce' | 'Warn' | 'Audit';
  readonly signatureRepository?: string;
}

/** Writes one ClusterImagePolicy to a temp file and returns its path. */
export async function writeAttestationPolicy(options: AttestationPolicyOptions): Promise<string> {
  const spec: ClusterImagePolicySpec = {
    mode: options.mode ?? 'Enforce',
    images: [{ glob: options.glob }],
    authorities: options.authorities,
    ...(options.signatures !== undefined ? { signatures: options.signatures } : {}),
    ...(options.attestations !== undefined ? { attestations: options.attestations } : {}),
    ...(options.signatureRepository !== undefined
      ? { signatureRepository: options.signatureRepository }
      : {}),
  };
  const policy = {
    apiVersion: 'provenant.dev/v1alpha1',
    kind: 'ClusterImagePolicy',
    metadata: { name: options.name ?? 'attested' },
    spec,
  };
  const dir = await mkdtemp(join(tmpdir(), 'provenant-policy-'));
  const path = join(dir, 'policy.yaml');
  await writeFile(path, dump(policy, { lineWidth: -1 }));
  return path;
}

/** One entry of a result's `attestations` in `verify -o json` (README: fields are added, never renamed). */
export interface AttestationJson {
  readonly policy: string;
  readonly name: string;
  readonly satisfied: boolean;
  readonly predicateType: string | null;
  readonly source: string | null;
  readonly authority: string | null;
  readonly signer: string | null;
  readonly signedAt: string | null;
  readonly slsa: {
    readonly via: 'provenance' | 'vsa';
    readonly level: number;
    readonly levelBasis: string;
    readonly builder: string | null;
    readonly buildType: string | null;
    readonly repository: string | null;
    readonly ref: string | null;
    readonly commit: string | null;
  } | null;
}

export type AttestationVerifyJson = VerifyJson & {
  results: (VerifyJson['results'][number] & { attestations: AttestationJson[] })[];
};

export interface AttestedVerdict {
  readonly code: number;
  readonly result: AttestationVerifyJson['results'][number];
  readonly codes: string[];
  readonly raw: CliResult;
}

/** `provenant verify IMAGE --policy POLICY -o json` against a plain-HTTP registry; one image, its verdict. */
export async function verifyAttested(
  image: string,
  policy: string,
  registryHost: string,
  flags: readonly string[] = [],
): Promise<AttestedVerdict> {
  const raw = await provenant([
    'verify',
    image,
    '--policy',
    policy,
    '--insecure-registry',
    registryHost,
    '--output',
    'json',
    ...flags,
  ]);
  const json = parseVerifyJson(raw) as AttestationVerifyJson;
  const result = json.results[0];
  if (result === undefined) throw new Error(`no verdict: ${raw.stdout}${raw.stderr}`);
  if (raw.code !== (result.allowed ? 0 : 1)) {
    throw new Error(`exit ${raw.code} for allowed=${String(result.allowed)}: ${raw.stderr}`);
  }
  return { code: raw.code, result, codes: result.reasons.map((r) => r.code), raw };
}
