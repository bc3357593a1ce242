import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVerifyJson, provenant } from '../../support/cli.js';
import {
  cosignSign,
  cosignVerify,
  generateKeyPair,
  type CosignKeyPair,
  type CosignVersion,
} from '../../support/cosign.js';
import { crane, pushMultiArchIndex, pushRandomImage, type PushedIndex } from '../../support/images.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';

// spec.platforms against real multi-arch indexes built with crane (`crane mutate --set-platform`,
// `crane index append`) and signed by real cosign 2 and 3, with and without --recursive. Every platform
// verdict is cross-checked with `cosign verify` on that platform's digest.

interface MultiArch {
  readonly ref: string;
  readonly digest: string;
  /** Platform as the index spells it → manifest digest. */
  readonly platforms: Readonly<Record<'linux/amd64' | 'linux/arm64/v8', string>>;
}

let registry: TestRegistry;
let key: CosignKeyPair;
const indexes = {} as Record<'recursive2' | 'recursive3' | 'indexOnly3' | 'amd64Only3', MultiArch>;
/** An attacker's index: an unsigned `linux/x86-64` entry first, then a signed `linux/amd64` one. */
let aliasFirst: PushedIndex;
/**
 * An attacker's index, itself unsigned: an unsigned `linux/amd64` entry annotated as a BuildKit attestation
 * manifest first, then a signed `linux/amd64` one.
 */
let annotatedFirst: PushedIndex;
/**
 * Attackers' indexes (unsigned) that a node reads otherwise than Provenant did: Go's JSON decoder (containerd,
 * containers/image) matches keys case-insensitively, the last one winning, and containerd's platform
 * normalisation takes an empty os for the node's own. Each shows Provenant a signed linux/amd64 manifest and
 * a node an unsigned one first. Name → `host/multi/keys:<name>`.
 */
const goReadsOtherwise: Record<string, string> = {};

/** Two single-platform images, an index of both built by crane, tagged `repo:multi`. */
async function buildIndex(repo: string): Promise<MultiArch> {
  const amd = await pushRandomImage(registry, repo, 'amd64');
  const arm = await pushRandomImage(registry, repo, 'arm64-src');
  const armRef = `${registry.host}/${repo}:arm64`;
  await crane(registry, ['mutate', arm.ref, '--set-platform', 'linux/arm64/v8', '-t', armRef]);
  const ref = `${registry.host}/${repo}:multi`;
  await crane(registry, ['index', 'append', '-m', amd.ref, '-m', armRef, '-t', ref]);
  const index = JSON.parse(await crane(registry, ['manifest', ref])) as {
    manifests: { digest: string; platform: { os: string; architecture: string; variant?: string } }[];
  };
  const platforms = Object.fromEntries(
    index.manifests.map((m) => [
      [m.platform.os, m.platform.architecture, m.platform.variant].filter(Boolean).join('/'),
      m.digest,
    ]),
  ) as MultiArch['platforms'];
  expect(Object.keys(platforms).sort()).toEqual(['linux/amd64', 'linux/arm64/v8']);
  const digest = (await crane(registry, ['digest', ref])).trim();
  return { ref, digest, platforms };
}

async function sign(version: CosignVersion, digestRef: string, recursive = false) {
  await cosignSign(version, key, digestRef, registry, { recursive });
}

async function policy(platforms: string[] | undefined): Promise<string> {
  const doc = {
    apiVersion: 'provenant.dev/v1alpha1',
    kind: 'ClusterImagePolicy',
    metadata: { name: 'multi-arch' },
    spec: {
      images: [{ glob: `${registry.host}/**` }],
      authorities: [{ name: 'release', key: { publicKey: key.publicKeyPem } }],
      signatures: {},
      ...(platforms ? { platforms } : {}),
    },
  };
  const dir = await mkdtemp(join(tmpdir(), 'provenant-platforms-'));
  await writeFile(join(dir, 'policy.yaml'), dump(doc));
  return join(dir, 'policy.yaml');
}

async function verify(image: string, platforms: string[] | undefined) {
  const result = await provenant([
    'verify',
    image,
    '--policy',
    await policy(platforms),
    '--insecure-registry',
    registry.host,
    '--output',
    'json',
  ]);
  return { ...result, json: parseVerifyJson(result) };
}

async function cosignVerifies(version: CosignVersion, digest: string, repo: string): Promise<boolean> {
  return (await cosignVerify(version, key.publicKeyPath, `${registry.host}/${repo}@${digest}`, registry))
    .verified;
}

beforeAll(async () => {
  registry = await startRegistry();
  key = await generateKeyPair('ecdsa-p256');
  const built = await Promise.all([
    buildIndex('multi/recursive2'),
    buildIndex('multi/recursive3'),
    buildIndex('multi/index-only3'),
    buildIndex('multi/amd64-only3'),
  ]);
  [indexes.recursive2, indexes.recursive3, indexes.indexOnly3, indexes.amd64Only3] = built;
  await sign(2, `${registry.host}/multi/recursive2@${indexes.recursive2.digest}`, true);
  await sign(3, `${registry.host}/multi/recursive3@${indexes.recursive3.digest}`, true);
  await sign(3, `${registry.host}/multi/index-only3@${indexes.indexOnly3.digest}`);
  await sign(3, `${registry.host}/multi/amd64-only3@${indexes.amd64Only3.digest}`);
  await sign(3, `${registry.host}/multi/amd64-only3@${indexes.amd64Only3.platforms['linux/amd64']}`);
  // The index and its amd64 entry are signed, so the unsigned alias entry is the only thing wrong with it.
  aliasFirst = await pushMultiArchIndex(registry, 'multi/alias-first', 'multi', [
    'linux/x86-64',
    'linux/amd64',
  ]);
  await sign(3, aliasFirst.digestRef);
  await sign(3, aliasFirst.children[1]?.digestRef ?? '');
  annotatedFirst = await pushMultiArchIndex(
    registry,
    'multi/annotated-first',
    'multi',
    ['linux/amd64', 'linux/amd64'],
    { annotations: [{ 'vnd.docker.reference.type': 'attestation-manifest' }, undefined] },
  );
  await sign(3, annotatedFirst.children[1]?.digestRef ?? '');
  const keys = await pushMultiArchIndex(registry, 'multi/keys', 'base', ['linux/amd64', 'linux/amd64']);
  const [unsigned, signed] = keys.children;
  if (unsigned === undefined || signed === undefined) throw new Error('two children expected');
  await sign(3, signed.digestRef);
  const size = async (digestRef: string) => (await crane(registry, ['manifest', digestRef])).length;
  const [u, s] = [
    { digest: unsigned.digest, size: await size(unsigned.digestRef) },
    { digest: signed.digest, size: await size(signed.digestRef) },
  ];
  const entry = (m: typeof u, platformKey = 'platform') =>
    `{"mediaType":"${unsigned.mediaType}","digest":"${m.digest}","size":${m.size},"${platformKey}":{"os":"linux","architecture":"amd64"}}`;
  const index = (body: string) => `{"schemaVersion":2,"mediaType":"${keys.mediaType}",${body}}`;
  const raw = {
    // Go reads `Platform` as the platform: the unsigned entry first is linux/amd64 to a node.
    'platform-key': index(`"manifests":[${entry(u, 'Platform')},${entry(s)}]`),
    // Go takes the last of `digest` and `Digest`.
    'digest-key': index(
      `"manifests":[{"mediaType":"${unsigned.mediaType}","digest":"${s.digest}","size":${s.size},"Digest":"${u.digest}","Size":${u.size},"platform":{"os":"linux","architecture":"amd64"}}]`,
    ),
    // Go takes the last of `manifests` and `Manifests`.
    'manifests-key': index(`"manifests":[${entry(s)}],"Manifests":[${entry(u)}]`),
    // containerd takes a missing or empty os for the node's own, and lowercases `lİnux` to `linux`.
    'os-missing': index(`"manifests":[${entry(u).replace('"os":"linux",', '')},${entry(s)}]`),
    'os-empty': index(`"manifests":[${entry(u).replace('"os":"linux"', '"os":""')},${entry(s)}]`),
    'os-dotted-i': index(
      `"manifests":[${entry(u).replace('"os":"linux"', '"os":"l\u0130nux"')},${entry(s)}]`,
    ),
  };
  for (const [tag, text] of Object.entries(raw)) {
    const put = await fetch(`http://${registry.host}/v2/multi/keys/manifests/${tag}`, {
      method: 'PUT',
      headers: { 'content-type': keys.mediaType },
      body: text,
    });
    expect(put.status, await put.text()).toBe(201);
    goReadsOtherwise[tag] = `${registry.host}/multi/keys:${tag}`;
  }
});

afterAll(async () => {
  await registry?.stop();
});

describe('spec.platforms (real crane indexes, real cosign)', () => {
  it.each([
    ['recursive2', 2, 'multi/recursive2'],
    ['recursive3', 3, 'multi/recursive3'],
  ] as const)('cosign %s sign --recursive satisfies [all] and each platform', async (name, version, repo) => {
    const m = indexes[name];
    for (const digest of Object.values(m.platforms))
      expect(await cosignVerifies(version, digest, repo)).toBe(true);
    for (const platforms of [undefined, ['index'], ['all'], ['linux/amd64', 'linux/arm64/v8']]) {
      const { code, json } = await verify(m.ref, platforms);
      expect(code, JSON.stringify(json)).toBe(0);
      expect(json.results[0]?.digest).toBe(m.digest);
    }
  });

  it('an index signed alone satisfies [index] but not [all]; the deny names each platform', async () => {
    const m = indexes.indexOnly3;
    for (const digest of Object.values(m.platforms))
      expect(await cosignVerifies(3, digest, 'multi/index-only3')).toBe(false);
    expect((await verify(m.ref, ['index'])).code).toBe(0);
    const { code, json } = await verify(m.ref, ['all']);
    expect(code).toBe(1);
    expect(json.results[0]?.reasons.map((r) => [r.code, r.message])).toEqual([
      [
        'NO_SIGNATURE',
        `platform linux/amd64 (${m.platforms['linux/amd64']}): no signature is attached to the image digest`,
      ],
      [
        'NO_SIGNATURE',
        `platform linux/arm64 (${m.platforms['linux/arm64/v8']}): no signature is attached to the image digest`,
      ],
    ]);
  });

  it('a listed platform must be signed: the deny names the platform as the policy spells it', async () => {
    const m = indexes.amd64Only3;
    expect(await cosignVerifies(3, m.platforms['linux/amd64'], 'multi/amd64-only3')).toBe(true);
    expect(await cosignVerifies(3, m.platforms['linux/arm64/v8'], 'multi/amd64-only3')).toBe(false);
    expect((await verify(m.ref, ['linux/amd64'])).code).toBe(0);
    const { code, json } = await verify(m.ref, ['linux/amd64', 'linux/arm64/v8']);
    expect(code).toBe(1);
    expect(json.results[0]?.reasons).toEqual([
      {
        policy: 'multi-arch',
        authority: null,
        code: 'NO_SIGNATURE',
        message: `platform linux/arm64/v8 (${m.platforms['linux/arm64/v8']}): no signature is attached to the image digest`,
      },
    ]);
  });

  it('an unsigned entry listed first under an alias of the platform (x86-64) is verified too', async () => {
    // containerd normalises `x86-64` to amd64 and takes the first of equal matches: a node asked for
    // linux/amd64 runs the unsigned entry, so the policy's linux/amd64 must cover it.
    const [unsigned, signed] = aliasFirst.children;
    const index = JSON.parse(await crane(registry, ['manifest', aliasFirst.ref])) as {
      manifests: { digest: string; platform: { architecture: string } }[];
    };
    expect(index.manifests.map((m) => [m.platform.architecture, m.digest])).toEqual([
      ['x86-64', unsigned?.digest],
      ['amd64', signed?.digest],
    ]);
    expect(await cosignVerifies(3, aliasFirst.digest, 'multi/alias-first')).toBe(true);
    expect(await cosignVerifies(3, signed?.digest ?? '', 'multi/alias-first')).toBe(true);
    expect(await cosignVerifies(3, unsigned?.digest ?? '', 'multi/alias-first')).toBe(false);
    const { code, json } = await verify(aliasFirst.ref, ['linux/amd64']);
    expect(code).toBe(1);
    expect(json.results[0]?.reasons).toEqual([
      {
        policy: 'multi-arch',
        authority: null,
        code: 'NO_SIGNATURE',
        message: `platform linux/amd64 (${unsigned?.digest}): no signature is attached to the image digest`,
      },
    ]);
  });

  it('an unsigned linux/amd64 entry annotated as an attestation manifest, listed first, is verified too', async () => {
    // Runtimes pick an index entry by platform alone (containerd's FilterPlatforms and LimitManifests, the
    // first of equal matches; containers/image's chooseInstance, the same): the annotation does not keep a
    // node asked for linux/amd64 from running the first entry, so the policy's linux/amd64 must cover it.
    const [unsigned, signed] = annotatedFirst.children;
    const index = JSON.parse(await crane(registry, ['manifest', annotatedFirst.ref])) as {
      manifests: { digest: string; platform: { architecture: string }; annotations?: object }[];
    };
    expect(index.manifests.map((m) => [m.platform.architecture, m.digest, m.annotations])).toEqual([
      ['amd64', unsigned?.digest, { 'vnd.docker.reference.type': 'attestation-manifest' }],
      ['amd64', signed?.digest, undefined],
    ]);
    expect(await cosignVerifies(3, signed?.digest ?? '', 'multi/annotated-first')).toBe(true);
    expect(await cosignVerifies(3, unsigned?.digest ?? '', 'multi/annotated-first')).toBe(false);
    const { code, json } = await verify(annotatedFirst.ref, ['linux/amd64']);
    expect(code).toBe(1);
    expect(json.results[0]?.reasons).toEqual([
      {
        policy: 'multi-arch',
        authority: null,
        code: 'NO_SIGNATURE',
        message: `platform linux/amd64 (${unsigned?.digest}): no signature is attached to the image digest`,
      },
    ]);
  });

  it.each(['platform-key', 'digest-key', 'manifests-key', 'os-missing', 'os-empty', 'os-dotted-i'])(
    'an index a node reads otherwise than Provenant (%s) is refused',
    async (tag) => {
      // A real containerd unpacks the unsigned manifest of each (docs/security.md, sixth review).
      const { code, json } = await verify(goReadsOtherwise[tag] ?? '', ['linux/amd64']);
      expect(code).toBe(1);
      expect(json.results[0]?.reasons.map((r) => r.code)).toEqual(['REGISTRY_RESPONSE_INVALID']);
      expect(json.results[0]?.reasons[0]?.message).toMatch(/the image index is ambiguous: /);
    },
  );

  it('a platform the index lacks is PLATFORM_NOT_FOUND', async () => {
    const { code, json } = await verify(indexes.recursive3.ref, ['linux/amd64', 'linux/s390x']);
    expect(code).toBe(1);
    expect(json.results[0]?.reasons).toEqual([
      {
        policy: 'multi-arch',
        authority: null,
        code: 'PLATFORM_NOT_FOUND',
        message: 'platform linux/s390x: the image has no manifest for it',
      },
    ]);
  });

  it('a single-platform image: [all] checks the image, a list matches the platform in its configuration', async () => {
    const m = indexes.amd64Only3;
    const amd = `${registry.host}/multi/amd64-only3@${m.platforms['linux/amd64']}`;
    expect((await verify(amd, ['all'])).code).toBe(0);
    expect((await verify(amd, ['linux/amd64'])).code).toBe(0);
    const arm = await verify(`${registry.host}/multi/amd64-only3:arm64`, ['linux/amd64']);
    expect(arm.json.results[0]?.reasons.map((r) => r.code)).toEqual(['PLATFORM_NOT_FOUND']);
  });
});
