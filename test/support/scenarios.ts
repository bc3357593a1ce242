import { performance } from 'node:perf_hooks';

import {
  cosignSign,
  cosignVerify,
  generateKeyPair,
  type CosignKeyPair,
  type CosignSignOptions,
  type CosignVersion,
  type DigestAlgorithm,
  type KeyKind,
} from './cosign.js';
import {
  digestTag,
  fetchBlob,
  fetchManifest,
  listTags,
  pushManifest,
  pushMultiArchIndex,
  pushRandomImage,
  sha256Digest,
  tagManifest,
  type PushedImage,
  type PushedIndex,
} from './images.js';
import type { TestRegistry } from './registry.js';

// Seeds one registry with every signature situation the verification-core suite needs, made by the real
// cosign 2 and cosign 3, and records what `cosign verify` says about each, so Provenant's verdicts can be
// cross-checked against an independent verifier. Ground truth (`validSigners`) is by construction; cosign's
// answers are observed, and where cosign knowingly disagrees with the ground truth the reason is recorded.

/** A: the main signer; B, C: other P-256 signers; p384/rsa/ed25519: the key-type cases. */
export type KeyName = 'a' | 'b' | 'c' | 'p384' | 'rsa' | 'ed25519';

/**
 * Where a case's signatures live, by construction:
 * - `legacy-sig-tag`: cosign 2's image manifest under `sha256-<hex>.sig`, one layer per signature;
 * - `bundle-referrer`: cosign 3's bundle manifests (with `subject`), listed in the referrers fallback index
 *   `sha256-<hex>` because distribution 2.8 has no referrers API;
 * - `mixed`: both; `none`: neither.
 */
export type SignatureStorage = 'legacy-sig-tag' | 'bundle-referrer' | 'mixed' | 'none';

export interface CosignObservation {
  readonly version: CosignVersion;
  readonly key: KeyName;
  /** Passed as COSIGN_REPOSITORY, when the case keeps signatures elsewhere. */
  readonly signatureRepository?: string;
  readonly signatureDigestAlgorithm?: DigestAlgorithm;
  /** Ground truth: should a correct verifier, given this key (and repository), accept the image? */
  readonly expected: boolean;
  /** What cosign answered while seeding. */
  readonly verified: boolean;
  /** cosign's error line when it refused. */
  readonly error: string;
  readonly command: string;
  /** Why cosign's answer is the opposite of `expected`, when that is a known cosign limitation. */
  readonly quirk?: string;
}

export interface SignatureCase {
  /** Path in the scenarios object, e.g. `otherKey.bundle3`. */
  readonly id: string;
  readonly description: string;
  /** The image whose digest a verifier is asked about. */
  readonly image: PushedImage;
  readonly storage: SignatureStorage;
  /** `host/repo` holding the signature tags (the image's own repository unless COSIGN_REPOSITORY was used). */
  readonly signatureRepository: string;
  /** `sha256-<hex>.sig` (legacy) and/or `sha256-<hex>` (bundle fallback index) for this digest. */
  readonly signatureTags: readonly string[];
  /** Keys whose signature over exactly this digest is present and intact. */
  readonly validSigners: readonly KeyName[];
  readonly cosign: readonly CosignObservation[];
}

export interface CopiedSignatureCase extends SignatureCase {
  /** The image the copied signature really belongs to (verifies with key A). */
  readonly source: PushedImage;
}

export interface MultiArchCase {
  readonly index: SignatureCase;
  /** One case per platform manifest, in the order of the index. */
  readonly children: readonly SignatureCase[];
  readonly pushed: PushedIndex;
}

export interface UnsupportedCase {
  readonly id: string;
  readonly reason: string;
}

export interface SignatureScenarios {
  readonly host: string;
  readonly tls: boolean;
  /** Repository prefix every scenario repository lives under. */
  readonly namespace: string;
  readonly keys: Readonly<Record<KeyName, CosignKeyPair>>;
  /** cosign 2, key A, legacy `.sig` tag. */
  readonly legacy2Signed: SignatureCase;
  /** cosign 3, key A, bundle referrer via fallback tag. */
  readonly bundle3Signed: SignatureCase;
  readonly unsigned: SignatureCase;
  /** Signed by key B only. */
  readonly otherKey: { readonly legacy2: SignatureCase; readonly bundle3: SignatureCase };
  readonly copiedSig: {
    /** `sha256-<X>.sig` is a byte-for-byte copy of `sha256-<Y>.sig` (valid A signature over Y). */
    readonly legacy2: CopiedSignatureCase;
    /** Fallback tag `sha256-<X>` is a copy of Y's fallback index (its referrer's subject is Y). */
    readonly bundle3: CopiedSignatureCase;
    /** Y's bundle, untouched, in a new referrer manifest whose `subject` claims X. */
    readonly bundle3SubjectRewritten: CopiedSignatureCase;
  };
  readonly tampered: {
    /** `.sig` layer payload altered after signing (signature annotation kept, digest claim still X). */
    readonly legacy2: SignatureCase;
    /** DSSE payload in the bundle altered after signing (signature kept, subject still X). */
    readonly bundle3: SignatureCase;
  };
  readonly threshold: {
    readonly legacy2AllThree: SignatureCase;
    readonly legacy2AOnly: SignatureCase;
    readonly bundle3AllThree: SignatureCase;
    readonly bundle3AOnly: SignatureCase;
    /** A via cosign 2 (legacy) and B via cosign 3 (bundle) on one image. */
    readonly mixedALegacyBBundle: SignatureCase;
  };
  readonly multiArch: {
    /** `cosign sign --recursive` on the index: index and every platform manifest signed by A. */
    readonly recursive2: MultiArchCase;
    readonly recursive3: MultiArchCase;
    /** Only the index digest signed. */
    readonly indexOnly2: MultiArchCase;
    readonly indexOnly3: MultiArchCase;
  };
  readonly keyTypes: {
    readonly ecdsaP384: { readonly legacy2: SignatureCase; readonly bundle3: SignatureCase };
    readonly rsa2048: { readonly legacy2: SignatureCase; readonly bundle3: SignatureCase };
    readonly ed25519: { readonly legacy2: SignatureCase };
  };
  /** Signatures by A stored in `<namespace>/signatures` via COSIGN_REPOSITORY. */
  readonly signatureRepository: {
    readonly repository: string;
    readonly legacy2: SignatureCase;
    readonly bundle3: SignatureCase;
  };
  /** Cases that could not be built with these cosign versions, and why. */
  readonly unsupported: readonly UnsupportedCase[];
  readonly timings: { readonly keysMs: number; readonly seedMs: number; readonly totalMs: number };
}

export interface SeedOptions {
  /** Repository prefix, so one registry can hold several seedings; default `scenarios`. */
  readonly namespace?: string;
  /** How many cases are built at once (cosign's scrypt key decryption is CPU-bound); default 3. */
  readonly concurrency?: number;
}

// Known cosign behaviours that differ from the ground truth; the harness test fails if any of them changes.
const QUIRKS = {
  cosign2NoBundles: 'cosign 2.5 does not read bundles from the referrers fallback tag: "no signatures found"',
  cosign3BundlesHideLegacy:
    'cosign 3 verify only falls back to legacy .sig signatures when no bundle exists for the digest',
  cosign3P384Sha256:
    'cosign 3 signs P-384 bundles with SHA-384 but verifies --key with SHA-256 unless --signature-digest-algorithm sha384',
} as const;

const ED25519_BUNDLE_REASON =
  'cosign 3.1.1 signs Ed25519 bundles with one scheme and verifies with another (sigstore/cosign#5074): with an ' +
  'offline --trusted-root its own post-signing check fails; without it the bundle verifies neither with cosign 3 ' +
  'nor as pure Ed25519 over the DSSE PAE';

interface ObservationSpec {
  readonly version: CosignVersion;
  readonly key: KeyName;
  readonly expected: boolean;
  readonly signatureRepository?: string;
  readonly signatureDigestAlgorithm?: DigestAlgorithm;
  readonly quirk?: string;
}

interface CaseSpec {
  readonly id: string;
  readonly description: string;
  readonly image: PushedImage;
  readonly storage: SignatureStorage;
  readonly signatureRepository?: string;
  readonly validSigners: readonly KeyName[];
  readonly observe: readonly ObservationSpec[];
}

interface LegacySigManifest {
  config: { mediaType: string; digest: string; size: number };
  layers: Array<{ mediaType: string; digest: string; size: number; annotations?: Record<string, string> }>;
  [key: string]: unknown;
}

export interface ReferrerIndex {
  manifests: Array<{ mediaType: string; digest: string; size: number; artifactType?: string }>;
  [key: string]: unknown;
}

export interface BundleManifest {
  config: { mediaType: string; digest: string; size: number };
  layers: Array<{ mediaType: string; digest: string; size: number }>;
  subject?: { mediaType: string; digest: string; size: number };
  [key: string]: unknown;
}

const EMPTY_JSON = Buffer.from('{}');

export function legacySignatureTag(digest: string): string {
  return `${digestTag(digest)}.sig`;
}

/** Every case in the scenarios object, flattened, for table-driven tests. */
export function allCases(s: SignatureScenarios): SignatureCase[] {
  const multi = (m: MultiArchCase) => [m.index, ...m.children];
  return [
    s.legacy2Signed,
    s.bundle3Signed,
    s.unsigned,
    s.otherKey.legacy2,
    s.otherKey.bundle3,
    s.copiedSig.legacy2,
    s.copiedSig.bundle3,
    s.copiedSig.bundle3SubjectRewritten,
    s.tampered.legacy2,
    s.tampered.bundle3,
    ...Object.values(s.threshold),
    ...multi(s.multiArch.recursive2),
    ...multi(s.multiArch.recursive3),
    ...multi(s.multiArch.indexOnly2),
    ...multi(s.multiArch.indexOnly3),
    s.keyTypes.ecdsaP384.legacy2,
    s.keyTypes.ecdsaP384.bundle3,
    s.keyTypes.rsa2048.legacy2,
    s.keyTypes.rsa2048.bundle3,
    s.keyTypes.ed25519.legacy2,
    s.signatureRepository.legacy2,
    s.signatureRepository.bundle3,
  ];
}

/**
 * Observations where cosign did not answer as recorded: the opposite of `expected`, or (for a known quirk)
 * the same as `expected`, meaning cosign changed. Empty when the seeded registry is what the harness claims.
 */
export function cosignDisagreements(s: SignatureScenarios): string[] {
  const problems: string[] = [];
  for (const c of allCases(s)) {
    for (const o of c.cosign) {
      const wanted = o.quirk === undefined ? o.expected : !o.expected;
      if (o.verified !== wanted) {
        problems.push(
          `${c.id}: cosign ${o.version} with key ${o.key} said ${o.verified ? 'verified' : `refused (${o.error})`}, ` +
            `expected ${wanted ? 'verified' : 'refused'}${o.quirk === undefined ? '' : ` (quirk: ${o.quirk})`}\n  ${o.command}`,
        );
      }
    }
  }
  return problems;
}

/** Runs at most `limit` tasks at once; each call returns its own task's promise, so results stay typed. */
function createLimiter(limit: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await task();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

function parseJson<T>(bytes: Uint8Array | null, what: string): T {
  if (bytes === null) throw new Error(`${what} is missing from the registry`);
  return JSON.parse(Buffer.from(bytes).toString('utf8')) as T;
}

/**
 * Builds every case in `reg` and returns where everything is. Takes about 10 s on two cores
 * (see `timings`); call it once per suite in `beforeAll`.
 */
export async function seedSignatureScenarios(
  reg: TestRegistry,
  options: SeedOptions = {},
): Promise<SignatureScenarios> {
  const started = performance.now();
  const ns = options.namespace ?? 'scenarios';
  const concurrency = options.concurrency ?? 3;

  const kinds: Record<KeyName, KeyKind> = {
    a: 'ecdsa-p256',
    b: 'ecdsa-p256',
    c: 'ecdsa-p256',
    p384: 'ecdsa-p384',
    rsa: 'rsa-2048',
    ed25519: 'ed25519',
  };
  const names = Object.keys(kinds) as KeyName[];
  const limit = createLimiter(concurrency);
  const generated = await Promise.all(names.map((name) => limit(() => generateKeyPair(kinds[name]))));
  const keys = Object.fromEntries(names.map((name, i) => [name, generated[i]])) as Record<
    KeyName,
    CosignKeyPair
  >;
  const keysDone = performance.now();

  const sign = (version: CosignVersion, key: KeyName, image: PushedImage, opts: CosignSignOptions = {}) =>
    cosignSign(version, keys[key], image.digestRef, reg, opts);
  const image = (name: string) => pushRandomImage(reg, `${ns}/${name}`, 'v1');
  const signatureRepository = `${reg.host}/${ns}/signatures`;

  const finish = async (spec: CaseSpec): Promise<SignatureCase> => {
    const sigRepo = spec.signatureRepository ?? spec.image.repository;
    const cosign: CosignObservation[] = [];
    for (const o of spec.observe) {
      const repoOption =
        o.signatureRepository === undefined ? {} : { signatureRepository: o.signatureRepository };
      const algOption =
        o.signatureDigestAlgorithm === undefined
          ? {}
          : { signatureDigestAlgorithm: o.signatureDigestAlgorithm };
      const result = await cosignVerify(o.version, keys[o.key].publicKeyPath, spec.image.digestRef, reg, {
        ...repoOption,
        ...algOption,
      });
      cosign.push({
        ...o,
        verified: result.verified,
        error: result.error,
        command: result.command,
      });
    }
    const prefix = digestTag(spec.image.digest);
    const tags = (await listTags(reg, sigRepo)).filter((t) => t === prefix || t.startsWith(`${prefix}.`));
    return {
      id: spec.id,
      description: spec.description,
      image: spec.image,
      storage: spec.storage,
      signatureRepository: sigRepo,
      signatureTags: tags.sort(),
      validSigners: spec.validSigners,
      cosign,
    };
  };

  // Observation shorthands: `legacyBoth` = both cosigns can read a legacy tag; `bundle` = cosign 3 only,
  // plus cosign 2 recorded with its known blindness to bundles when the key is a valid signer.
  const legacyBoth = (key: KeyName, expected: boolean): ObservationSpec[] => [
    { version: 2, key, expected },
    { version: 3, key, expected },
  ];
  const bundle = (key: KeyName, expected: boolean): ObservationSpec[] => [
    { version: 3, key, expected },
    ...(expected ? [{ version: 2 as const, key, expected, quirk: QUIRKS.cosign2NoBundles }] : []),
  ];

  // Every case is started at once and gated by the limiter. Each signs images in its own repository (the two
  // signature-repository cases share one, but under different digest tags), so no two cosign runs race on a tag.
  const tasks = {
    legacy2Signed: limit(async () => {
      const img = await image('legacy2-signed');
      await sign(2, 'a', img);
      return finish({
        id: 'legacy2Signed',
        description: 'cosign 2 signature by key A in the legacy .sig tag',
        image: img,
        storage: 'legacy-sig-tag',
        validSigners: ['a'],
        observe: [...legacyBoth('a', true), { version: 2, key: 'b', expected: false }],
      });
    }),
    bundle3Signed: limit(async () => {
      const img = await image('bundle3-signed');
      await sign(3, 'a', img);
      return finish({
        id: 'bundle3Signed',
        description: 'cosign 3 bundle by key A, listed in the referrers fallback tag',
        image: img,
        storage: 'bundle-referrer',
        validSigners: ['a'],
        observe: [...bundle('a', true), { version: 3, key: 'b', expected: false }],
      });
    }),
    unsigned: limit(async () => {
      const img = await image('unsigned');
      return finish({
        id: 'unsigned',
        description: 'no signature of any kind',
        image: img,
        storage: 'none',
        validSigners: [],
        observe: legacyBoth('a', false),
      });
    }),
    otherKeyLegacy2: limit(async () => {
      const img = await image('other-key-legacy2');
      await sign(2, 'b', img);
      return finish({
        id: 'otherKey.legacy2',
        description: 'cosign 2 signature by key B only',
        image: img,
        storage: 'legacy-sig-tag',
        validSigners: ['b'],
        observe: [...legacyBoth('a', false), { version: 2, key: 'b', expected: true }],
      });
    }),
    otherKeyBundle3: limit(async () => {
      const img = await image('other-key-bundle3');
      await sign(3, 'b', img);
      return finish({
        id: 'otherKey.bundle3',
        description: 'cosign 3 bundle by key B only',
        image: img,
        storage: 'bundle-referrer',
        validSigners: ['b'],
        observe: [
          { version: 3, key: 'a', expected: false },
          { version: 3, key: 'b', expected: true },
        ],
      });
    }),
    copiedLegacy2: limit(async () => {
      const source = await pushRandomImage(reg, `${ns}/copied-legacy2`, 'source');
      const target = await pushRandomImage(reg, `${ns}/copied-legacy2`, 'v1');
      await sign(2, 'a', source);
      await tagManifest(
        reg,
        `${source.repository}:${legacySignatureTag(source.digest)}`,
        legacySignatureTag(target.digest),
      );
      const c = await finish({
        id: 'copiedSig.legacy2',
        description: "X's .sig tag is a copy of Y's .sig manifest: a valid A signature, but over Y's digest",
        image: target,
        storage: 'legacy-sig-tag',
        validSigners: [],
        observe: legacyBoth('a', false),
      });
      return { ...c, source };
    }),
    copiedBundle3: limit(async () => {
      const source = await pushRandomImage(reg, `${ns}/copied-bundle3`, 'source');
      const target = await pushRandomImage(reg, `${ns}/copied-bundle3`, 'v1');
      await sign(3, 'a', source);
      await tagManifest(reg, `${source.repository}:${digestTag(source.digest)}`, digestTag(target.digest));
      const c = await finish({
        id: 'copiedSig.bundle3',
        description:
          "X's fallback tag is a copy of Y's fallback index: the referrer's subject and bundle name Y",
        image: target,
        storage: 'bundle-referrer',
        validSigners: [],
        observe: [{ version: 3, key: 'a', expected: false }],
      });
      return { ...c, source };
    }),
    copiedBundle3Rewritten: limit(async () => {
      const source = await pushRandomImage(reg, `${ns}/copied-bundle3-subject`, 'source');
      const target = await pushRandomImage(reg, `${ns}/copied-bundle3-subject`, 'v1');
      await sign(3, 'a', source);
      const repo = source.repository;
      const { index, entry, manifest, bundleBytes } = await readBundle(reg, repo, source.digest);
      const targetBytes = await fetchManifest(reg, target.digestRef);
      if (targetBytes === null) throw new Error(`${target.digestRef} vanished`);
      const forged = Buffer.from(
        JSON.stringify({
          ...manifest,
          subject: { mediaType: target.mediaType, size: targetBytes.length, digest: target.digest },
        }),
      );
      await pushReferrer(reg, repo, target.digest, index, entry, forged, [EMPTY_JSON, bundleBytes]);
      const c = await finish({
        id: 'copiedSig.bundle3SubjectRewritten',
        description:
          "Y's intact bundle in a referrer manifest whose subject claims X (statement subject is still Y)",
        image: target,
        storage: 'bundle-referrer',
        validSigners: [],
        observe: [{ version: 3, key: 'a', expected: false }],
      });
      return { ...c, source };
    }),
    tamperedLegacy2: limit(async () => {
      const img = await image('tampered-legacy2');
      await sign(2, 'a', img);
      await tamperLegacy(reg, img);
      return finish({
        id: 'tampered.legacy2',
        description:
          '.sig payload rewritten after signing (optional.tampered added); signature annotation kept',
        image: img,
        storage: 'legacy-sig-tag',
        validSigners: [],
        observe: legacyBoth('a', false),
      });
    }),
    tamperedBundle3: limit(async () => {
      const img = await image('tampered-bundle3');
      await sign(3, 'a', img);
      await tamperBundle(reg, img);
      return finish({
        id: 'tampered.bundle3',
        description: 'DSSE statement in the bundle rewritten after signing (predicate changed, subject kept)',
        image: img,
        storage: 'bundle-referrer',
        validSigners: [],
        observe: [{ version: 3, key: 'a', expected: false }],
      });
    }),
    thresholdLegacy2AllThree: limit(async () => {
      const img = await image('threshold-legacy2-abc');
      for (const k of ['a', 'b', 'c'] as const) await sign(2, k, img);
      return finish({
        id: 'threshold.legacy2AllThree',
        description: 'cosign 2 signatures by A, B and C: three layers in one .sig manifest',
        image: img,
        storage: 'legacy-sig-tag',
        validSigners: ['a', 'b', 'c'],
        observe: [
          ...legacyBoth('a', true),
          { version: 2, key: 'b', expected: true },
          { version: 2, key: 'c', expected: true },
        ],
      });
    }),
    thresholdLegacy2AOnly: limit(async () => {
      const img = await image('threshold-legacy2-a');
      await sign(2, 'a', img);
      return finish({
        id: 'threshold.legacy2AOnly',
        description: 'cosign 2 signature by A only',
        image: img,
        storage: 'legacy-sig-tag',
        validSigners: ['a'],
        observe: [
          { version: 2, key: 'a', expected: true },
          { version: 2, key: 'b', expected: false },
          { version: 2, key: 'c', expected: false },
        ],
      });
    }),
    thresholdBundle3AllThree: limit(async () => {
      const img = await image('threshold-bundle3-abc');
      for (const k of ['a', 'b', 'c'] as const) await sign(3, k, img);
      return finish({
        id: 'threshold.bundle3AllThree',
        description: 'cosign 3 bundles by A, B and C: three referrer manifests in the fallback index',
        image: img,
        storage: 'bundle-referrer',
        validSigners: ['a', 'b', 'c'],
        observe: [
          { version: 3, key: 'a', expected: true },
          { version: 3, key: 'b', expected: true },
          { version: 3, key: 'c', expected: true },
        ],
      });
    }),
    thresholdBundle3AOnly: limit(async () => {
      const img = await image('threshold-bundle3-a');
      await sign(3, 'a', img);
      return finish({
        id: 'threshold.bundle3AOnly',
        description: 'cosign 3 bundle by A only',
        image: img,
        storage: 'bundle-referrer',
        validSigners: ['a'],
        observe: [
          { version: 3, key: 'a', expected: true },
          { version: 3, key: 'b', expected: false },
          { version: 3, key: 'c', expected: false },
        ],
      });
    }),
    thresholdMixed: limit(async () => {
      const img = await image('threshold-mixed');
      await sign(2, 'a', img);
      await sign(3, 'b', img);
      return finish({
        id: 'threshold.mixedALegacyBBundle',
        description: 'A signed with cosign 2 (.sig tag) and B with cosign 3 (bundle referrer)',
        image: img,
        storage: 'mixed',
        validSigners: ['a', 'b'],
        observe: [
          { version: 2, key: 'a', expected: true },
          { version: 2, key: 'b', expected: true, quirk: QUIRKS.cosign2NoBundles },
          { version: 3, key: 'a', expected: true, quirk: QUIRKS.cosign3BundlesHideLegacy },
          { version: 3, key: 'b', expected: true },
        ],
      });
    }),
    multiRecursive2: limit(() => multiArch(2, true)),
    multiRecursive3: limit(() => multiArch(3, true)),
    multiIndexOnly2: limit(() => multiArch(2, false)),
    multiIndexOnly3: limit(() => multiArch(3, false)),
    p384Legacy2: limit(() => keyType('p384', 'ecdsaP384', 2)),
    p384Bundle3: limit(() => keyType('p384', 'ecdsaP384', 3)),
    rsaLegacy2: limit(() => keyType('rsa', 'rsa2048', 2)),
    rsaBundle3: limit(() => keyType('rsa', 'rsa2048', 3)),
    ed25519Legacy2: limit(() => keyType('ed25519', 'ed25519', 2)),
    sigRepoLegacy2: limit(async () => {
      const img = await image('sigrepo-legacy2');
      await sign(2, 'a', img, { signatureRepository });
      return finish({
        id: 'signatureRepository.legacy2',
        description: `cosign 2 signature by A stored in ${signatureRepository} (COSIGN_REPOSITORY)`,
        image: img,
        storage: 'legacy-sig-tag',
        signatureRepository,
        validSigners: ['a'],
        observe: [
          { version: 2, key: 'a', expected: true, signatureRepository },
          { version: 3, key: 'a', expected: true, signatureRepository },
          // Without the repository nothing is found next to the image: correct, not a quirk.
          { version: 2, key: 'a', expected: false },
        ],
      });
    }),
    sigRepoBundle3: limit(async () => {
      const img = await image('sigrepo-bundle3');
      await sign(3, 'a', img, { signatureRepository });
      return finish({
        id: 'signatureRepository.bundle3',
        description: `cosign 3 bundle by A whose referrer and fallback tag are in ${signatureRepository}`,
        image: img,
        storage: 'bundle-referrer',
        signatureRepository,
        validSigners: ['a'],
        observe: [
          { version: 3, key: 'a', expected: true, signatureRepository },
          { version: 3, key: 'a', expected: false },
        ],
      });
    }),
  };

  async function multiArch(version: CosignVersion, recursive: boolean): Promise<MultiArchCase> {
    const label = `${recursive ? 'recursive' : 'index-only'}${version}`;
    const pushed = await pushMultiArchIndex(reg, `${ns}/multiarch-${label}`, 'v1', [
      'linux/amd64',
      'linux/arm64',
    ]);
    await cosignSign(version, keys.a, pushed.digestRef, reg, { recursive });
    const observe = (expected: boolean): ObservationSpec[] =>
      version === 2 ? legacyBoth('a', expected) : bundle('a', expected);
    const storage: SignatureStorage = version === 2 ? 'legacy-sig-tag' : 'bundle-referrer';
    const id = `multiArch.${recursive ? 'recursive' : 'indexOnly'}${version}`;
    const index = await finish({
      id: `${id}.index`,
      description: `OCI index signed by A with cosign ${version}${recursive ? ' --recursive' : ''}`,
      image: pushed,
      storage,
      validSigners: ['a'],
      observe: observe(true),
    });
    const children: SignatureCase[] = [];
    for (const child of pushed.children) {
      children.push(
        await finish({
          id: `${id}.${child.platform}`,
          description: `${child.platform} manifest of that index, ${recursive ? 'signed' : 'not signed'}`,
          image: { ...child, ref: child.digestRef, repository: pushed.repository, tag: '' },
          storage: recursive ? storage : 'none',
          validSigners: recursive ? ['a'] : [],
          observe: observe(recursive),
        }),
      );
    }
    return { index, children, pushed };
  }

  async function keyType(key: 'p384' | 'rsa' | 'ed25519', label: string, version: CosignVersion) {
    const img = await image(`key-${label.toLowerCase()}-${version === 2 ? 'legacy2' : 'bundle3'}`);
    await sign(version, key, img);
    let observe: ObservationSpec[];
    if (version === 2) {
      observe = [...legacyBoth(key, true), { version: 2, key: 'a', expected: false }];
    } else if (key === 'p384') {
      observe = [
        { version: 3, key, expected: true, quirk: QUIRKS.cosign3P384Sha256 },
        { version: 3, key, expected: true, signatureDigestAlgorithm: 'sha384' },
      ];
    } else {
      observe = [
        { version: 3, key, expected: true },
        { version: 3, key: 'a', expected: false },
      ];
    }
    return finish({
      id: `keyTypes.${label}.${version === 2 ? 'legacy2' : 'bundle3'}`,
      description: `${keys[key].kind} key, cosign ${version}`,
      image: img,
      storage: version === 2 ? 'legacy-sig-tag' : 'bundle-referrer',
      validSigners: [key],
      observe,
    });
  }

  await Promise.all(Object.values(tasks));
  const seedDone = performance.now();

  return {
    host: reg.host,
    tls: reg.tls,
    namespace: ns,
    keys,
    legacy2Signed: await tasks.legacy2Signed,
    bundle3Signed: await tasks.bundle3Signed,
    unsigned: await tasks.unsigned,
    otherKey: { legacy2: await tasks.otherKeyLegacy2, bundle3: await tasks.otherKeyBundle3 },
    copiedSig: {
      legacy2: await tasks.copiedLegacy2,
      bundle3: await tasks.copiedBundle3,
      bundle3SubjectRewritten: await tasks.copiedBundle3Rewritten,
    },
    tampered: { legacy2: await tasks.tamperedLegacy2, bundle3: await tasks.tamperedBundle3 },
    threshold: {
      legacy2AllThree: await tasks.thresholdLegacy2AllThree,
      legacy2AOnly: await tasks.thresholdLegacy2AOnly,
      bundle3AllThree: await tasks.thresholdBundle3AllThree,
      bundle3AOnly: await tasks.thresholdBundle3AOnly,
      mixedALegacyBBundle: await tasks.thresholdMixed,
    },
    multiArch: {
      recursive2: await tasks.multiRecursive2,
      recursive3: await tasks.multiRecursive3,
      indexOnly2: await tasks.multiIndexOnly2,
      indexOnly3: await tasks.multiIndexOnly3,
    },
    keyTypes: {
      ecdsaP384: { legacy2: await tasks.p384Legacy2, bundle3: await tasks.p384Bundle3 },
      rsa2048: { legacy2: await tasks.rsaLegacy2, bundle3: await tasks.rsaBundle3 },
      ed25519: { legacy2: await tasks.ed25519Legacy2 },
    },
    signatureRepository: {
      repository: signatureRepository,
      legacy2: await tasks.sigRepoLegacy2,
      bundle3: await tasks.sigRepoBundle3,
    },
    unsupported: [{ id: 'keyTypes.ed25519.bundle3', reason: ED25519_BUNDLE_REASON }],
    timings: {
      keysMs: Math.round(keysDone - started),
      seedMs: Math.round(seedDone - keysDone),
      totalMs: Math.round(seedDone - started),
    },
  };
}

/** Reads the single cosign 3 bundle referrer listed in the fallback tag of `digest`. */
export interface BundleReferrer {
  readonly index: ReferrerIndex;
  /** The index entry for the referrer manifest. */
  readonly entry: ReferrerIndex['manifests'][number];
  readonly manifest: BundleManifest;
  /** The bundle JSON exactly as stored. */
  readonly bundleBytes: Buffer;
}

export async function readBundle(
  reg: TestRegistry,
  repository: string,
  digest: string,
): Promise<BundleReferrer> {
  const indexRef = `${repository}:${digestTag(digest)}`;
  const index = parseJson<ReferrerIndex>(await fetchManifest(reg, indexRef), indexRef);
  const entry = index.manifests[0];
  if (entry === undefined || index.manifests.length !== 1) {
    throw new Error(`${indexRef} lists ${index.manifests.length} referrers; expected exactly one`);
  }
  const manifestBytes = await fetchManifest(reg, `${repository}@${entry.digest}`);
  const manifest = parseJson<BundleManifest>(manifestBytes, `${repository}@${entry.digest}`);
  const layer = manifest.layers[0];
  if (layer === undefined) throw new Error(`referrer ${entry.digest} has no layer`);
  const bundleBytes = await fetchBlob(reg, repository, layer.digest);
  return { index, entry, manifest, bundleBytes };
}

/**
 * Pushes `referrer` (a manifest with `subject` = `subjectDigest`) and makes it the only entry of the subject's
 * fallback index, with the descriptor shaped like cosign's (`entry` supplies mediaType and artifactType).
 * go-containerregistry would append the new manifest to the existing index on its own; we overwrite the index
 * so the original, valid referrer is no longer discoverable.
 */
async function pushReferrer(
  reg: TestRegistry,
  repository: string,
  subjectDigest: string,
  index: ReferrerIndex,
  entry: ReferrerIndex['manifests'][number],
  referrer: Buffer,
  blobs: readonly Buffer[],
): Promise<void> {
  const digest = await pushManifest(reg, `${repository}@${sha256Digest(referrer)}`, referrer, blobs);
  const rewritten = Buffer.from(
    JSON.stringify({ ...index, manifests: [{ ...entry, digest, size: referrer.length }] }),
  );
  await pushManifest(reg, `${repository}:${digestTag(subjectDigest)}`, rewritten, [referrer]);
}

/** Rewrites the first layer payload of `image`'s `.sig` manifest, keeping its signature annotation. */
async function tamperLegacy(reg: TestRegistry, image: PushedImage): Promise<void> {
  const repo = image.repository;
  const sigRef = `${repo}:${legacySignatureTag(image.digest)}`;
  const manifest = parseJson<LegacySigManifest>(await fetchManifest(reg, sigRef), sigRef);
  const layer = manifest.layers[0];
  if (layer === undefined || manifest.layers.length !== 1) throw new Error(`${sigRef} should have one layer`);
  const claim = parseJson<{ optional?: Record<string, string> | null }>(
    await fetchBlob(reg, repo, layer.digest),
    'payload',
  );
  // Still well-formed and still naming the image's digest: only the signature can tell it was altered.
  claim.optional = { ...(claim.optional ?? {}), tampered: 'true' };
  const payload = Buffer.from(JSON.stringify(claim));
  const config = parseJson<{ rootfs?: { diff_ids?: string[] } }>(
    await fetchBlob(reg, repo, manifest.config.digest),
    'config',
  );
  config.rootfs = { ...config.rootfs, diff_ids: [sha256Digest(payload)] };
  const configBytes = Buffer.from(JSON.stringify(config));
  const tampered = Buffer.from(
    JSON.stringify({
      ...manifest,
      config: { ...manifest.config, digest: sha256Digest(configBytes), size: configBytes.length },
      layers: [{ ...layer, digest: sha256Digest(payload), size: payload.length }],
    }),
  );
  await pushManifest(reg, sigRef, tampered, [configBytes, payload]);
}

/** Rewrites the DSSE statement of `image`'s cosign 3 bundle, keeping the signature and the subject. */
async function tamperBundle(reg: TestRegistry, image: PushedImage): Promise<void> {
  const repo = image.repository;
  const { index, entry, manifest, bundleBytes } = await readBundle(reg, repo, image.digest);
  const bundle = parseJson<{ dsseEnvelope: { payload: string } }>(bundleBytes, 'bundle');
  const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8')) as Record<
    string,
    unknown
  >;
  statement['predicate'] = { tampered: true };
  bundle.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
  const tamperedBundle = Buffer.from(JSON.stringify(bundle));
  const layer = manifest.layers[0];
  if (layer === undefined) throw new Error('bundle manifest has no layer');
  const referrer = Buffer.from(
    JSON.stringify({
      ...manifest,
      layers: [{ ...layer, digest: sha256Digest(tamperedBundle), size: tamperedBundle.length }],
    }),
  );
  await pushReferrer(reg, repo, image.digest, index, entry, referrer, [EMPTY_JSON, tamperedBundle]);
}
