// Stage 2 of the cluster tier: Provenant signs itself. The image `npm run image` built is signed with cosign
// (a key, and keylessly through the private Sigstore the tests run) and attested with the CycloneDX SBOM
// and the SLSA provenance the build wrote; the shipped example policy
// charts/provenant/examples/clusterimagepolicy-provenant.yaml, which requires all three, admits it under
// `provenant verify` and denies a tampered copy. Only the example's image glob and trust material are
// swapped for the test's registry, private trust root and key; its requirements stay as shipped.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { dump, load } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVerifyJson, provenant } from '../support/cli.js';
import { cosignSign, generateKeyPair, type CosignKeyPair } from '../support/cosign.js';
import { cosignAttest, cosignAttestKeyless } from '../support/cosign-attestation.js';
import { crane } from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { githubActionsIdentity, startPrivateSigstore, type PrivateSigstore } from '../support/sigstore.js';
import { cosignSignKeyless, cosignVerifyKeyless } from '../support/sigstore-cosign.js';
import {
  builtImage,
  exportRootfs,
  IMAGE_DIR,
  pushBuiltImage,
  type BuiltImage,
} from './support/built-image.js';

const ROOT = resolve(import.meta.dirname, '../..');
const EXAMPLE = join(ROOT, 'charts/provenant/examples/clusterimagepolicy-provenant.yaml');
const TRUST_ROOT = 'provenant-release-sigstore';
const RELEASE_REF = 'refs/tags/v0.1.0';
const run = promisify(execFile);

interface Policy {
  metadata: { name: string };
  spec: {
    images: { glob: string }[];
    authorities: ({ name: string } & Record<string, unknown>)[];
    signatures?: Record<string, unknown>;
    attestations: { name: string; predicateType: string; authorities: string[] }[];
  };
}

let image: BuiltImage;
let registry: TestRegistry;
let sigstore: PrivateSigstore;
let key: CosignKeyPair;
let work: string;
let commit: string;
const refs: Record<'keyless' | 'key' | 'noSbom' | 'tampered', string> = {
  keyless: '',
  key: '',
  noSbom: '',
  tampered: '',
};
const policies: Record<'keyless' | 'key', string> = { keyless: '', key: '' };

const releaseIdentity = () =>
  githubActionsIdentity({
    repository: 'provenant-dev/provenant',
    workflow: '.github/workflows/release.yml',
    ref: RELEASE_REF,
    sha: commit,
  });

/** The example with the test's registry glob and one authority of the same name swapped in. */
async function examplePolicy(file: string, authority: Record<string, unknown>): Promise<string> {
  const policy = load(readFileSync(EXAMPLE, 'utf8')) as Policy;
  const [shipped] = policy.spec.authorities;
  if (shipped === undefined) throw new Error('the example names no authority');
  policy.spec.images = [{ glob: `${registry.host}/provenant-dev/**` }];
  policy.spec.authorities = [{ name: shipped.name, ...authority }];
  const path = join(work, file);
  await writeFile(path, dump(policy));
  return path;
}

async function verify(digestRef: string, policy: string) {
  const result = await provenant([
    'verify',
    digestRef,
    '--policy',
    policy,
    '--trust-root',
    `${TRUST_ROOT}=${sigstore.trustedRootPath}`,
    '--insecure-registry',
    registry.host,
    '--output',
    'json',
  ]);
  const verdict = parseVerifyJson(result).results[0];
  if (verdict === undefined) throw new Error(`no verdict: ${result.stderr}`);
  expect(result.code).toBe(verdict.allowed ? 0 : 1);
  return verdict;
}

beforeAll(async () => {
  image = builtImage();
  [registry, sigstore, key] = await Promise.all([
    startRegistry(),
    startPrivateSigstore({ name: 'provenant-release' }),
    generateKeyPair('ecdsa-p256'),
  ]);
  work = mkdtempSync(join(tmpdir(), 'provenant-signing-'));
  commit = (await run('git', ['rev-parse', 'HEAD'], { cwd: ROOT })).stdout.trim();

  // The provenance a release build from the tag writes: the same generator `npm run image` ran, with the
  // source its signing certificate names and, when a workflow signs, that workflow as the builder (a
  // verifier requires them to agree; a key-signed provenance keeps the generator's own builder id).
  const identity = releaseIdentity();
  const provenanceFor = async (file: string, builderId?: string) => {
    const path = join(work, file);
    await run('npx', ['tsx', 'scripts/image/provenance.ts', path], {
      cwd: ROOT,
      env: {
        ...process.env,
        PROVENANT_SOURCE_REF: RELEASE_REF,
        PROVENANT_SOURCE_COMMIT: commit,
        ...(builderId === undefined ? {} : { PROVENANT_BUILDER_ID: builderId }),
      },
    });
    return path;
  };
  const provenance = await provenanceFor('provenance-workflow.json', identity.subject);
  const keyProvenance = await provenanceFor('provenance-key.json');
  const sbom = join(IMAGE_DIR, 'sbom.cdx.json');

  refs.keyless = await pushBuiltImage(image, registry, 'provenant-dev/provenant', '0.1.0');
  refs.key = await pushBuiltImage(image, registry, 'provenant-dev/provenant-key', '0.1.0');
  refs.noSbom = await pushBuiltImage(image, registry, 'provenant-dev/provenant-no-sbom', '0.1.0');

  for (const ref of [refs.keyless, refs.noSbom]) {
    await cosignSignKeyless(3, sigstore, ref, registry, { identity });
    await cosignAttestKeyless(3, sigstore, ref, registry, {
      identity,
      type: 'slsaprovenance1',
      predicate: provenance,
    });
  }
  await cosignAttestKeyless(3, sigstore, refs.keyless, registry, {
    identity,
    type: 'cyclonedx',
    predicate: sbom,
  });
  await cosignSign(3, key, refs.key, registry);
  await cosignAttest(3, key, refs.key, registry, { type: 'slsaprovenance1', predicate: keyProvenance });
  await cosignAttest(3, key, refs.key, registry, { type: 'cyclonedx', predicate: sbom });

  // A tampered copy: the signed image with one more environment variable (as a backdoored rebuild would
  // differ), next to the original in its repository, with the original's signature and attestations
  // copied to its referrers tag, as a registry-side attacker could.
  const tamperedTag = `${registry.host}/provenant-dev/provenant:0.1.0-tampered`;
  const tamperedRef = (
    await crane(registry, [
      'mutate',
      refs.keyless,
      '--env',
      'NODE_OPTIONS=--require=/tmp/x.js',
      '-t',
      tamperedTag,
    ])
  ).trim();
  refs.tampered = tamperedRef;
  const hex = (ref: string) => ref.split('@sha256:')[1] ?? '';
  await crane(registry, [
    'copy',
    `${registry.host}/provenant-dev/provenant:sha256-${hex(refs.keyless)}`,
    `${registry.host}/provenant-dev/provenant:sha256-${hex(tamperedRef)}`,
  ]);

  // The example's own identities and certificate constraints, with the private trust root.
  const shipped = (load(readFileSync(EXAMPLE, 'utf8')) as Policy).spec.authorities[0]?.['keyless'] as Record<
    string,
    unknown
  >;
  policies.keyless = await examplePolicy('keyless.yaml', { keyless: { ...shipped, trustRoot: TRUST_ROOT } });
  policies.key = await examplePolicy('key.yaml', { key: { publicKey: key.publicKeyPem } });
});

afterAll(async () => {
  await Promise.all([registry?.stop(), sigstore?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('Provenant signs itself', () => {
  it('ships an example policy that requires a signature, a CycloneDX SBOM and a SLSA provenance', () => {
    const policy = load(readFileSync(EXAMPLE, 'utf8')) as Policy;
    expect(policy.spec.signatures).toBeDefined();
    expect(policy.spec.attestations.map((a) => a.predicateType).sort()).toEqual([
      'cyclonedx',
      'slsa-provenance',
    ]);
    expect(policy.spec.images).toEqual([{ glob: 'ghcr.io/provenant-dev/provenant' }]);
  });

  it('admits the image signed and attested keylessly by the release workflow', async () => {
    const verdict = await verify(refs.keyless, policies.keyless);
    expect(verdict.reasons, JSON.stringify(verdict.reasons)).toEqual([]);
    expect(verdict.allowed).toBe(true);
    expect(verdict.digest).toBe(image.digest);
    // cosign agrees about the signature.
    const identity = releaseIdentity();
    const cosign = await cosignVerifyKeyless(3, sigstore, refs.keyless, registry, {
      certificateIdentity: identity.subject,
      certificateOidcIssuer: identity.issuer,
    });
    expect(cosign.verified, cosign.error).toBe(true);
  });

  it('admits the image signed and attested with the release key', async () => {
    const verdict = await verify(refs.key, policies.key);
    expect(verdict.reasons, JSON.stringify(verdict.reasons)).toEqual([]);
    expect(verdict.allowed).toBe(true);
  });

  it('denies a copy that is signed but carries no SBOM', async () => {
    const verdict = await verify(refs.noSbom, policies.keyless);
    expect(verdict.allowed).toBe(false);
    expect(verdict.reasons.map((r) => r.code)).toEqual(['ATTESTATION_MISSING']);
  });

  it('denies a tampered copy carrying the original signature and attestations', async () => {
    expect(refs.tampered.split('@')[1]).not.toBe(image.digest);
    const verdict = await verify(refs.tampered, policies.keyless);
    expect(verdict.allowed).toBe(false);
    // The copied signature and attestations name the original digest, not the tampered one.
    expect(new Set(verdict.reasons.map((r) => r.code))).toEqual(new Set(['DIGEST_MISMATCH']));
  });

  it('attests an SBOM that lists exactly the npm packages the image holds', async () => {
    const sbom = JSON.parse(readFileSync(join(IMAGE_DIR, 'sbom.cdx.json'), 'utf8')) as {
      components: { group?: string; name: string; version: string }[];
    };
    const listed = new Set(
      sbom.components.map((c) => `${c.group ? `${c.group}/` : ''}${c.name}@${c.version}`),
    );
    const rootfs = join(work, 'rootfs');
    await exportRootfs(registry, refs.key, rootfs);
    const shipped = new Set<string>();
    const walk = (dir: string) => {
      if (!existsSync(dir)) return;
      for (const entry of readdirSync(dir)) {
        if (entry.startsWith('.')) continue;
        const path = join(dir, entry);
        if (entry.startsWith('@')) {
          walk(path);
          continue;
        }
        const manifest = join(path, 'package.json');
        if (!statSync(path).isDirectory() || !existsSync(manifest)) continue;
        const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { name: string; version: string };
        shipped.add(`${pkg.name}@${pkg.version}`);
        walk(join(path, 'node_modules'));
      }
    };
    walk(join(rootfs, 'app/node_modules'));
    expect(shipped.size).toBeGreaterThan(50);
    expect([...shipped].filter((p) => !listed.has(p))).toEqual([]);
    expect([...listed].filter((p) => !shipped.has(p))).toEqual([]);
  });
});
