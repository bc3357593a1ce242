/**
 * The real slsa-github-generator container image and its cosign `.att` (test/fixtures/real/SOURCES.md §4a and
 * the addendum), served from a local registry with every digest preserved: the image index `sha256:234e2c83…`
 * with its two manifests and their blobs, and the attestation manifest `sha256:21454caf…` under the tag
 * `sha256-234e2c83….att`. The attestation was made by slsa-github-generator v2.1.0 on 2025-02-25 with
 * public-good Fulcio and Rekor (a `dsse` 0.0.1 entry), so it verifies with nothing but the public-good root.
 */
import { readdirSync } from 'node:fs';
import { fixtureBytes, fixtureJson } from './fixtures.js';
import { pushManifest, sha256Digest } from './images.js';
import type { TestRegistry } from './registry.js';

const LAYOUT = 'real/slsa/slsa-github-generator-container-v2.1.0/oci-layout/';

export const SLSA_GENERATOR_IMAGE = {
  /** The image index the attestation's subject names. */
  digest: 'sha256:234e2c830c2fb31ac5671789d22adfe44d30c3ee831d01beae5e237841a13122',
  /** The cosign attestation manifest (one DSSE layer). */
  attestationDigest: 'sha256:21454caf3a160dfbe6359f0501aa8401c6c0f2c7a8b71380ea21f8c4b48b64fe',
  issuer: 'https://token.actions.githubusercontent.com',
  /** The certificate SAN, which is also the provenance builder.id. */
  signer:
    'https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.1.0',
  /** What slsa-github-generator's README tells users to require (anchored here, as Provenant anchors). */
  subjectRegExp:
    '^https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v[0-9]+.[0-9]+.[0-9]+$',
  sourceRepository: 'https://github.com/slsa-framework/example-package',
  sourceRef: 'refs/heads/main',
  sourceCommit: '4d329c75e7ec1725f7c9ce917a8799d408d06be3',
  /** Rekor integrated time of the attestation. */
  signedAt: '2025-02-25T21:58:07.000Z',
} as const;

export interface ServedSlsaImage {
  /** `host/<repo>`. */
  readonly repository: string;
  /** `host/<repo>@sha256:234e2c83…`. */
  readonly digestRef: string;
  /** `host/<repo>:sha256-234e2c83….att`. */
  readonly attestationTagRef: string;
}

/** Every blob of the layout, by digest. */
function layoutBlobs(): Map<string, Buffer> {
  const blobs = new Map<string, Buffer>();
  const dir = new URL(`../fixtures/${LAYOUT}blobs/sha256/`, import.meta.url);
  for (const name of readdirSync(dir)) {
    const bytes = fixtureBytes(`${LAYOUT}blobs/sha256/${name}`);
    if (sha256Digest(bytes) !== `sha256:${name}`) throw new Error(`${LAYOUT}blobs/sha256/${name} is corrupt`);
    blobs.set(`sha256:${name}`, bytes);
  }
  return blobs;
}

/**
 * Pushes the image index (tagged `main`) and the `.att` manifest to `repo` on `reg`, byte for byte. Pass
 * another repository to model cosign's COSIGN_REPOSITORY: `attestationRepo` receives the `.att` tag only.
 */
export async function pushSlsaGeneratorImage(
  reg: TestRegistry,
  repo = 'slsa-framework/example-package',
  attestationRepo = repo,
): Promise<ServedSlsaImage> {
  const blobs = layoutBlobs();
  const index = fixtureJson<{ manifests: { digest: string; annotations?: Record<string, string> }[] }>(
    `${LAYOUT}index.json`,
  );
  const entry = (kind: string): Buffer => {
    const digest = index.manifests.find((m) => m.annotations?.['kind'] === kind)?.digest;
    const bytes = digest === undefined ? undefined : blobs.get(digest);
    if (bytes === undefined) throw new Error(`${LAYOUT}index.json lists no ${kind}`);
    return bytes;
  };
  const imageIndex = entry('dev.cosignproject.cosign/imageIndex');
  const attestation = entry('dev.cosignproject.cosign/atts');
  const others = (manifest: Buffer) => [...blobs.values()].filter((b) => b !== manifest);

  const repository = `${reg.host}/${repo}`;
  const pushed = await pushManifest(reg, `${repository}:main`, imageIndex, others(imageIndex));
  const attestationTagRef = `${reg.host}/${attestationRepo}:${SLSA_GENERATOR_IMAGE.digest.replace(':', '-')}.att`;
  const att = await pushManifest(reg, attestationTagRef, attestation, others(attestation));
  if (pushed !== SLSA_GENERATOR_IMAGE.digest || att !== SLSA_GENERATOR_IMAGE.attestationDigest) {
    throw new Error(`pushed ${pushed} and ${att}: digests not preserved`);
  }
  return { repository, digestRef: `${repository}@${pushed}`, attestationTagRef };
}
