/**
 * The one real keyless cosign signature in the fixtures (test/fixtures/real/SOURCES.md §3a): a legacy `.sig`
 * made on 2024-05-30 by philipp.belitz@securesystems.de (issuer https://github.com/login/oauth) on public
 * good, for docker.io/phbelitz/rekor-test@sha256:31dc72a1…. Its certificate expired ten minutes after
 * signing, so it only verifies at the Rekor-attested time, with the embedded public-good root.
 *
 * Served from a local registry with every digest preserved: the `.sig` manifest is pushed byte for byte at
 * `sha256-<hex>.sig`, with its two blobs. The payload is in the fixtures. The config blob is not, but cosign
 * writes the same config for every signature image (go-containerregistry's empty image plus one layer:
 * zero times, empty os/architecture, the payload digest as the only diff_id), so it is rebuilt here and
 * must hash to the digest the manifest names.
 *
 * The image manifest itself is not pushed. distribution 2.8 refuses a manifest whose config or layers it
 * does not hold ("manifest blob unknown"; its `validation` options only govern foreign-layer URLs), and the
 * image's 607-byte config and 423 kB layer are not in the fixtures. Nothing needs it: the image is named by
 * digest, and Provenant, like cosign, only reads what is attached to that digest.
 */
import { fixtureBytes, fixtureJson } from '../../support/fixtures.js';
import { pushManifest, runTool, sha256Digest, toolEnv, type ToolResult } from '../../support/images.js';
import { toolPath, type TestRegistry } from '../../support/registry.js';

const DIR = 'real/cosign-legacy/keyless-docker.io-phbelitz-rekor-test/';
const IMAGE_DIGEST = 'sha256:31dc72a13a0c34b40eb95419d2b2fd67320c856baf3b72da518023ee8d370aee';
const PAYLOAD_DIGEST = 'sha256:897d9e862b4599b723442f36ed7b4cfd1628bb7656643c56855988cac161d065';
const HEX = (digest: string): string => digest.slice('sha256:'.length);

/** The public-good trusted_root.json the fixture verifies under (the same root Provenant embeds). */
export const PUBLIC_GOOD_TRUSTED_ROOT = new URL(
  '../../fixtures/real/trusted-root/public-good/trusted_root.json',
  import.meta.url,
).pathname;

export const REAL_SIGNER = {
  subject: 'philipp.belitz@securesystems.de',
  issuer: 'https://github.com/login/oauth',
} as const;

export interface ServedSignature {
  /** `host/phbelitz/rekor-test@sha256:31dc72a1…`: the reference to verify. */
  readonly digestRef: string;
  readonly imageDigest: string;
  /** `host/phbelitz/rekor-test:sha256-31dc72a1….sig`. */
  readonly sigTagRef: string;
  /** Digest of the `.sig` manifest as the registry serves it: the fixture file's own digest. */
  readonly sigDigest: string;
}

interface Descriptor {
  readonly digest: string;
  readonly size: number;
}

/** Pushes the real `.sig` manifest and its blobs to `reg` under `repo` (default `phbelitz/rekor-test`). */
export async function pushRealKeylessSignature(
  reg: TestRegistry,
  repo = 'phbelitz/rekor-test',
): Promise<ServedSignature> {
  const manifestFile = `${DIR}sig-manifest.sha256-${HEX(IMAGE_DIGEST)}.sig.json`;
  const manifest = fixtureBytes(manifestFile);
  const parsed = fixtureJson<{ config: Descriptor; layers: Descriptor[] }>(manifestFile);
  const payload = fixtureBytes(`${DIR}simplesigning-payload.sha256-${HEX(PAYLOAD_DIGEST)}.json`);
  if (parsed.layers.length !== 1 || parsed.layers[0]?.digest !== sha256Digest(payload)) {
    throw new Error(`${manifestFile} does not have the payload as its only layer`);
  }
  const config = cosignSignatureConfig(sha256Digest(payload));
  if (sha256Digest(config) !== parsed.config.digest || config.length !== parsed.config.size) {
    throw new Error(`rebuilt cosign config ${sha256Digest(config)} is not ${parsed.config.digest}`);
  }
  const repository = `${reg.host}/${repo}`;
  const sigTagRef = `${repository}:${IMAGE_DIGEST.replace(':', '-')}.sig`;
  const sigDigest = await pushManifest(reg, sigTagRef, manifest, [config, payload]);
  return { digestRef: `${repository}@${IMAGE_DIGEST}`, imageDigest: IMAGE_DIGEST, sigTagRef, sigDigest };
}

/** The config cosign (go-containerregistry `empty.Image` + `mutate.Append`) writes for a one-layer `.sig`. */
function cosignSignatureConfig(payloadDigest: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: '',
      created: '0001-01-01T00:00:00Z',
      history: [{ created: '0001-01-01T00:00:00Z' }],
      os: '',
      rootfs: { type: 'layers', diff_ids: [payloadDigest] },
      config: {},
    }),
  );
}

export interface CosignIdentityFlags {
  readonly certificateIdentity?: string;
  readonly certificateIdentityRegexp?: string;
  readonly certificateOidcIssuer?: string;
  readonly certificateOidcIssuerRegexp?: string;
}

/** `cosign verify` (cosign 3) under the public-good trusted root file: offline, no TUF. */
export async function cosign3VerifyPublicGood(
  reg: TestRegistry,
  digestRef: string,
  flags: CosignIdentityFlags,
): Promise<ToolResult & { readonly verified: boolean }> {
  const args = ['verify', '--trusted-root', PUBLIC_GOOD_TRUSTED_ROOT];
  if (!reg.tls) args.push('--allow-insecure-registry');
  const add = (name: string, value: string | undefined): void => {
    if (value !== undefined) args.push(`--${name}`, value);
  };
  add('certificate-identity', flags.certificateIdentity);
  add('certificate-identity-regexp', flags.certificateIdentityRegexp);
  add('certificate-oidc-issuer', flags.certificateOidcIssuer);
  add('certificate-oidc-issuer-regexp', flags.certificateOidcIssuerRegexp);
  const result = await runTool(toolPath('cosign3'), [...args, digestRef], {
    env: toolEnv(reg),
    timeoutMs: 60_000,
  });
  return { ...result, verified: result.exitCode === 0 };
}
