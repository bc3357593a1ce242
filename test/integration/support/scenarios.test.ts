import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cosignSign, cosignVerify, generateKeyPair, type CosignKeyPair } from '../../support/cosign.js';
import {
  craneFlags,
  digestTag,
  fetchBlob,
  fetchManifest,
  listTags,
  MEDIA_TYPES,
  pushMultiArchIndex,
  pushRandomImage,
  runTool,
  toolEnv,
} from '../../support/images.js';
import { startRegistry, toolPath, type RegistryOptions, type TestRegistry } from '../../support/registry.js';
import {
  allCases,
  cosignDisagreements,
  legacySignatureTag,
  seedSignatureScenarios,
  type SignatureCase,
  type SignatureScenarios,
} from '../../support/scenarios.js';

// Proves the harness builds what it claims: real cosign must accept the positive cases and refuse the
// negative ones, and the registry must hold exactly the storage layout the verification suites rely on.

const BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const SIMPLE_SIGNING_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { os: string; architecture: string };
}

interface Manifest {
  mediaType: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
  manifests?: Descriptor[];
}

async function manifestOf(reg: TestRegistry, ref: string): Promise<Manifest> {
  const bytes = await fetchManifest(reg, ref);
  if (bytes === null) throw new Error(`${ref} not found`);
  return JSON.parse(bytes.toString('utf8')) as Manifest;
}

async function jsonBlob<T>(reg: TestRegistry, repository: string, digest: string): Promise<T> {
  return JSON.parse((await fetchBlob(reg, repository, digest)).toString('utf8')) as T;
}

async function verifyWithA(s: SignatureScenarios, reg: TestRegistry, c: SignatureCase, version: 2 | 3) {
  return cosignVerify(version, s.keys.a.publicKeyPath, c.image.digestRef, reg);
}

describe('signature scenarios on a plain-HTTP registry', () => {
  let reg: TestRegistry;
  let s: SignatureScenarios;

  beforeAll(async () => {
    reg = await startRegistry();
    s = await seedSignatureScenarios(reg);
    console.log(`seeded ${allCases(s).length} signature cases in ${s.timings.totalMs} ms`, s.timings);
  });

  afterAll(async () => {
    await reg?.stop();
  });

  it('cosign answered every recorded observation as the harness says it should', () => {
    expect(cosignDisagreements(s)).toEqual([]);
  });

  it('records ground truth consistent with each case', () => {
    for (const c of allCases(s)) {
      expect(c.cosign.length, c.id).toBeGreaterThan(0);
      for (const o of c.cosign) {
        const repositoryKnown =
          c.signatureRepository === c.image.repository || o.signatureRepository !== undefined;
        expect(o.expected, `${c.id} ${o.command}`).toBe(c.validSigners.includes(o.key) && repositoryKnown);
      }
      const expectedTags = {
        'legacy-sig-tag': [legacySignatureTag(c.image.digest)],
        'bundle-referrer': [digestTag(c.image.digest)],
        mixed: [digestTag(c.image.digest), legacySignatureTag(c.image.digest)],
        none: [],
      }[c.storage];
      expect(c.signatureTags, c.id).toEqual(expectedTags);
    }
  });

  it('real cosign, run again now, accepts the positive cases with key A', async () => {
    for (const [c, version] of [
      [s.legacy2Signed, 2],
      [s.legacy2Signed, 3],
      [s.bundle3Signed, 3],
      [s.copiedSig.legacy2.source, 2],
    ] as const) {
      const image = 'image' in c ? c.image : c;
      const result = await cosignVerify(version, s.keys.a.publicKeyPath, image.digestRef, reg);
      expect(result.verified, `${result.command}\n${result.stderr}`).toBe(true);
    }
  });

  it('real cosign, run again now, refuses unsigned, other-key, copied and tampered images with key A', async () => {
    const negatives: Array<[SignatureCase, 2 | 3]> = [
      [s.unsigned, 2],
      [s.unsigned, 3],
      [s.otherKey.legacy2, 2],
      [s.otherKey.bundle3, 3],
      [s.copiedSig.legacy2, 2],
      [s.copiedSig.legacy2, 3],
      [s.copiedSig.bundle3, 3],
      [s.copiedSig.bundle3SubjectRewritten, 3],
      [s.tampered.legacy2, 2],
      [s.tampered.legacy2, 3],
      [s.tampered.bundle3, 3],
    ];
    for (const [c, version] of negatives) {
      const result = await verifyWithA(s, reg, c, version);
      expect(result.verified, `${c.id}: ${result.command}`).toBe(false);
      expect(result.exitCode, c.id).not.toBe(0);
      expect(result.error, c.id).not.toBe('');
    }
  });

  it('cosign 2 stores a legacy .sig manifest with one simple-signing layer per signature', async () => {
    const c = s.legacy2Signed;
    const sig = await manifestOf(reg, `${c.image.repository}:${legacySignatureTag(c.image.digest)}`);
    expect(sig.mediaType).toBe(MEDIA_TYPES.ociManifest);
    expect(sig.config.mediaType).toBe(MEDIA_TYPES.ociConfig);
    expect(sig.layers).toHaveLength(1);
    const layer = sig.layers[0]!;
    expect(layer.mediaType).toBe(SIMPLE_SIGNING_TYPE);
    expect(Object.keys(layer.annotations ?? {})).toEqual([SIGNATURE_ANNOTATION]);
    const payload = await jsonBlob<{
      critical: { identity: Record<string, string>; image: Record<string, string> };
    }>(reg, c.image.repository, layer.digest);
    expect(payload.critical.image['docker-manifest-digest']).toBe(c.image.digest);
    expect(payload.critical.identity['docker-reference']).toBe(c.image.repository);

    const three = s.threshold.legacy2AllThree;
    const threeSig = await manifestOf(
      reg,
      `${three.image.repository}:${legacySignatureTag(three.image.digest)}`,
    );
    expect(threeSig.layers.map((l) => l.mediaType)).toEqual([
      SIMPLE_SIGNING_TYPE,
      SIMPLE_SIGNING_TYPE,
      SIMPLE_SIGNING_TYPE,
    ]);
  });

  it('cosign 3 stores a bundle referrer listed in the fallback index, with a key hint', async () => {
    const c = s.bundle3Signed;
    const index = await manifestOf(reg, `${c.image.repository}:${digestTag(c.image.digest)}`);
    expect(index.mediaType).toBe(MEDIA_TYPES.ociIndex);
    expect(index.manifests).toHaveLength(1);
    const entry = index.manifests![0]!;
    // go-containerregistry copies the config media type, not the manifest's artifactType, into the
    // fallback index: discovery must open each manifest instead of filtering on this field.
    expect(entry.artifactType).toBe('application/vnd.oci.empty.v1+json');
    expect(entry.annotations).toBeUndefined();
    const referrer = await manifestOf(reg, `${c.image.repository}@${entry.digest}`);
    expect(referrer.artifactType).toBe(BUNDLE_TYPE);
    expect(referrer.config.mediaType).toBe('application/vnd.oci.empty.v1+json');
    expect(referrer.layers.map((l) => l.mediaType)).toEqual([BUNDLE_TYPE]);
    expect(referrer.subject).toEqual({
      mediaType: MEDIA_TYPES.ociManifest,
      size: expect.any(Number),
      digest: c.image.digest,
    });
    expect(referrer.annotations).toMatchObject({
      'dev.sigstore.bundle.content': 'dsse-envelope',
      'dev.sigstore.bundle.predicateType': 'https://sigstore.dev/cosign/sign/v1',
    });
    const bundle = await jsonBlob<{
      mediaType: string;
      verificationMaterial: { publicKey?: { hint: string }; tlogEntries?: unknown[] };
      dsseEnvelope: { payload: string; payloadType: string; signatures: unknown[] };
    }>(reg, c.image.repository, referrer.layers[0]!.digest);
    expect(bundle.mediaType).toBe(BUNDLE_TYPE);
    expect(bundle.verificationMaterial).toEqual({ publicKey: { hint: s.keys.a.keyHint } });
    expect(bundle.dsseEnvelope.payloadType).toBe('application/vnd.in-toto+json');
    expect(bundle.dsseEnvelope.signatures).toHaveLength(1);
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8')) as {
      subject: Array<{ digest: { sha256: string } }>;
      predicateType: string;
    };
    expect(statement.predicateType).toBe('https://sigstore.dev/cosign/sign/v1');
    expect(statement.subject.map((x) => `sha256:${x.digest.sha256}`)).toEqual([c.image.digest]);

    const three = s.threshold.bundle3AllThree;
    const threeIndex = await manifestOf(reg, `${three.image.repository}:${digestTag(three.image.digest)}`);
    expect(threeIndex.manifests).toHaveLength(3);
  });

  it('the copied signatures are valid signatures of another digest', async () => {
    const legacy = s.copiedSig.legacy2;
    const copied = await fetchManifest(
      reg,
      `${legacy.image.repository}:${legacySignatureTag(legacy.image.digest)}`,
    );
    const original = await fetchManifest(
      reg,
      `${legacy.source.repository}:${legacySignatureTag(legacy.source.digest)}`,
    );
    expect(copied).toEqual(original);

    const rewritten = s.copiedSig.bundle3SubjectRewritten;
    const index = await manifestOf(reg, `${rewritten.image.repository}:${digestTag(rewritten.image.digest)}`);
    const forged = await manifestOf(reg, `${rewritten.image.repository}@${index.manifests![0]!.digest}`);
    expect(forged.subject?.digest).toBe(rewritten.image.digest);
    const bundle = await jsonBlob<{ dsseEnvelope: { payload: string } }>(
      reg,
      rewritten.image.repository,
      forged.layers[0]!.digest,
    );
    expect(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8')).toContain(
      rewritten.source.digest.slice('sha256:'.length),
    );
    const source = await cosignVerify(3, s.keys.a.publicKeyPath, rewritten.source.digestRef, reg);
    expect(source.verified, source.stderr).toBe(true);
  });

  it('the tampered signatures are well-formed and still name the image digest', async () => {
    const legacy = s.tampered.legacy2;
    const sig = await manifestOf(
      reg,
      `${legacy.image.repository}:${legacySignatureTag(legacy.image.digest)}`,
    );
    expect(sig.layers[0]!.annotations?.[SIGNATURE_ANNOTATION]).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const payload = await jsonBlob<{ critical: { image: Record<string, string> }; optional: unknown }>(
      reg,
      legacy.image.repository,
      sig.layers[0]!.digest,
    );
    expect(payload.critical.image['docker-manifest-digest']).toBe(legacy.image.digest);
    expect(payload.optional).toEqual({ tampered: 'true' });

    const bundleCase = s.tampered.bundle3;
    const index = await manifestOf(
      reg,
      `${bundleCase.image.repository}:${digestTag(bundleCase.image.digest)}`,
    );
    expect(index.manifests).toHaveLength(1);
    const referrer = await manifestOf(reg, `${bundleCase.image.repository}@${index.manifests![0]!.digest}`);
    const bundle = await jsonBlob<{ dsseEnvelope: { payload: string } }>(
      reg,
      bundleCase.image.repository,
      referrer.layers[0]!.digest,
    );
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8')) as {
      subject: Array<{ digest: { sha256: string } }>;
      predicate: unknown;
    };
    expect(statement.subject[0]?.digest.sha256).toBe(bundleCase.image.digest.slice('sha256:'.length));
    expect(statement.predicate).toEqual({ tampered: true });
  });

  it('multi-arch indexes list their platforms, and only --recursive signs the children', async () => {
    for (const m of Object.values(s.multiArch)) {
      const index = await manifestOf(reg, m.pushed.digestRef);
      expect(index.mediaType).toBe(MEDIA_TYPES.ociIndex);
      expect(index.manifests?.map((d) => `${d.platform?.os}/${d.platform?.architecture}`)).toEqual([
        'linux/amd64',
        'linux/arm64',
      ]);
      expect(index.manifests?.map((d) => d.digest)).toEqual(m.children.map((c) => c.image.digest));
    }
    expect(s.multiArch.recursive2.children.every((c) => c.storage === 'legacy-sig-tag')).toBe(true);
    expect(s.multiArch.recursive3.children.every((c) => c.storage === 'bundle-referrer')).toBe(true);
    expect(s.multiArch.indexOnly2.children.every((c) => c.signatureTags.length === 0)).toBe(true);
    expect(s.multiArch.indexOnly3.children.every((c) => c.signatureTags.length === 0)).toBe(true);
  });

  it('keeps COSIGN_REPOSITORY signatures out of the image repository', async () => {
    for (const c of [s.signatureRepository.legacy2, s.signatureRepository.bundle3]) {
      expect(c.signatureRepository).toBe(s.signatureRepository.repository);
      expect(await listTags(reg, c.image.repository)).toEqual(['v1']);
    }
  });

  it('reports the key types cosign cannot handle, and refuses to sign with them', async () => {
    expect(s.unsupported.map((u) => u.id)).toEqual(['keyTypes.ed25519.bundle3']);
    await expect(cosignSign(3, s.keys.ed25519, s.unsigned.image.digestRef, reg)).rejects.toThrow(
      /cosign#5074/,
    );
  });
});

// The same tools against a TLS registry (CA trusted through SSL_CERT_FILE, no --insecure flags) and an
// authenticated one (credentials through DOCKER_CONFIG).
describe.each<[string, RegistryOptions]>([
  ['TLS', { tls: true }],
  ['htpasswd', { auth: 'htpasswd' }],
  ['token-auth TLS', { tls: true, auth: 'token' }],
])('images and cosign on a %s registry', (_name, options) => {
  let reg: TestRegistry;
  let keyA: CosignKeyPair;
  let keyB: CosignKeyPair;

  beforeAll(async () => {
    reg = await startRegistry(options);
    [keyA, keyB] = await Promise.all([generateKeyPair('ecdsa-p256'), generateKeyPair('ecdsa-p256')]);
  });

  afterAll(async () => {
    await reg?.stop();
  });

  it('pushes images and indexes, and cosign 2 and 3 sign and verify them', async () => {
    const image = await pushRandomImage(reg, 'harness/app', 'v1');
    const index = await pushMultiArchIndex(reg, 'harness/multi', 'v1', ['linux/amd64', 'linux/arm64/v8']);
    expect((await manifestOf(reg, index.digestRef)).manifests).toHaveLength(2);

    await cosignSign(2, keyA, image.digestRef, reg);
    await cosignSign(3, keyA, index.digestRef, reg, { recursive: true });

    for (const [version, ref] of [
      [2, image.digestRef],
      [3, image.digestRef],
      [3, index.digestRef],
      [3, index.children[1]!.digestRef],
    ] as const) {
      const ok = await cosignVerify(version, keyA.publicKeyPath, ref, reg);
      expect(ok.verified, `${ok.command}\n${ok.stderr}`).toBe(true);
      const wrong = await cosignVerify(version, keyB.publicKeyPath, ref, reg);
      expect(wrong.verified, wrong.command).toBe(false);
    }
    expect(await listTags(reg, image.repository)).toEqual(
      expect.arrayContaining(['v1', legacySignatureTag(image.digest)]),
    );
  });

  it('really needs the CA or the credentials it was given', async () => {
    // Same host, but neither the CA nor the credentials: the tools must fail.
    const bare: TestRegistry = { host: reg.host, tls: reg.tls, stop: reg.stop };
    const result = await runTool(toolPath('crane'), ['ls', `${reg.host}/harness/app`, ...craneFlags(reg)], {
      env: toolEnv(bare),
    });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(options.tls === true ? /certificate/i : /UNAUTHORIZED|401/);
    if (options.auth !== undefined && options.auth !== 'none') {
      // With the CA but without credentials the failure must be an auth failure.
      const withoutCredentials: TestRegistry = {
        ...bare,
        ...(reg.caFile === undefined ? {} : { caFile: reg.caFile }),
      };
      const anonymous = await runTool(
        toolPath('crane'),
        ['ls', `${reg.host}/harness/app`, ...craneFlags(reg)],
        {
          env: toolEnv(withoutCredentials),
        },
      );
      expect(anonymous.exitCode).not.toBe(0);
      expect(anonymous.stderr).toMatch(/UNAUTHORIZED|401|DENIED/);
    }
  });
});
