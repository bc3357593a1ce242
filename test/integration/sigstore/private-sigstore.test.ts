/**
 * The private Sigstore is the ground truth for every keyless test, so it is checked here against two
 * independent verifiers: @sigstore/verify (what Provenant builds on) and the cosign binaries. Each kind of
 * material the other suites rely on — right identity, wrong identity, wrong extension, untrusted CA, expired at
 * signing time, tampered log entry — must be judged the way the material claims to be.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import {
  PolicyError,
  toSignedEntity,
  VerificationError,
  Verifier,
  type Signer,
  type VerificationPolicy,
  type VerifierOptions,
} from '@sigstore/verify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  digestTag,
  fetchBlob,
  fetchManifest,
  pushRandomImage,
  type PushedImage,
} from '../../support/images.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import {
  COSIGN_SIGN_PREDICATE_TYPE,
  encodeFulcioExtension,
  expiredValidity,
  FULCIO_OIDS,
  githubActionsIdentity,
  startPrivateSigstore,
  tamperBundle,
  type BundleTampering,
  type PrivateSigstore,
  type SerializedBundle,
  type SigstoreIdentity,
} from '../../support/sigstore.js';
import {
  cosignSignKeyless,
  cosignVerifyKeyless,
  type KeylessVerifyOptions,
} from '../../support/sigstore-cosign.js';
import { attachBundleReferrer } from '../../support/sigstore-oci.js';

const BUILDER = githubActionsIdentity({
  repository: 'acme/app',
  ref: 'refs/tags/v1.2.3',
  workflow: '.github/workflows/release.yml',
  runnerEnvironment: 'github-hosted',
});
const EMAIL_SIGNER: SigstoreIdentity = {
  issuer: 'https://accounts.example.com',
  subject: 'alice@example.com',
};
const BUILDER_POLICY: VerificationPolicy = {
  subjectAlternativeName: anchored(BUILDER.subject),
  extensions: { issuer: BUILDER.issuer },
};
const COSIGN_BUILDER: KeylessVerifyOptions = {
  certificateIdentity: BUILDER.subject,
  certificateOidcIssuer: BUILDER.issuer,
};

let sigstore: PrivateSigstore;
let untrusted: PrivateSigstore;

beforeAll(async () => {
  [sigstore, untrusted] = await Promise.all([
    startPrivateSigstore(),
    startPrivateSigstore({ name: 'untrusted' }),
  ]);
});

afterAll(async () => {
  await Promise.all([sigstore?.stop(), untrusted?.stop()]);
});

describe('the trusted root', () => {
  it('parses as a TrustedRoot and names each service with its key and validity', async () => {
    const onDisk = JSON.parse(await readFile(sigstore.trustedRootPath, 'utf8')) as unknown;
    expect(onDisk).toEqual(sigstore.trustedRoot);
    const root = TrustedRoot.fromJSON(sigstore.trustedRoot);
    expect(root.mediaType).toBe('application/vnd.dev.sigstore.trustedroot+json;version=0.1');

    const [tlog] = root.tlogs;
    expect(tlog?.baseUrl).toBe(sigstore.rekorUrl);
    // Log IDs are sha256 of the SPKI DER, for Rekor and the CT log alike.
    expect(tlog?.logId?.keyId).toEqual(sha256(tlog?.publicKey?.rawBytes));
    expect(root.ctlogs[0]?.logId?.keyId).toEqual(sha256(root.ctlogs[0]?.publicKey?.rawBytes));
    // Fulcio's chain is intermediate then root, like public good's.
    expect(root.certificateAuthorities[0]?.certChain?.certificates).toHaveLength(2);
    expect(root.timestampAuthorities[0]?.certChain?.certificates).toHaveLength(2);
    for (const entry of [tlog?.publicKey, root.ctlogs[0]?.publicKey, root.certificateAuthorities[0]]) {
      expect(entry?.validFor?.start?.getTime()).toBeLessThan(Date.now());
    }
  });

  it('writes a v0.2 media type on request', async () => {
    const other = await startPrivateSigstore({ trustedRootVersion: '0.2', intermediate: false });
    try {
      expect(other.trustedRoot.mediaType).toBe('application/vnd.dev.sigstore.trustedroot.v0.2+json');
      expect(other.trustedRoot.certificateAuthorities[0]?.certChain.certificates).toHaveLength(1);
      const bundle = await other.signBlob('root only', BUILDER);
      expect(verifyWith(other, bundle, 'root only', BUILDER_POLICY).identity?.subjectAlternativeName).toBe(
        BUILDER.subject,
      );
    } finally {
      await other.stop();
    }
  });
});

describe('bundles signed with @sigstore/sign', () => {
  it('verify for the signing identity, with the GitHub extensions Fulcio derives from the token', async () => {
    const bundle = await sigstore.signBlob('hello', BUILDER);
    expect(bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    expect(bundle.verificationMaterial.certificate?.rawBytes).toBeDefined();
    expect(bundle.verificationMaterial.tlogEntries[0]?.kindVersion).toEqual({
      kind: 'hashedrekord',
      version: '0.0.1',
    });

    const signer = verifyWith(sigstore, bundle, 'hello', BUILDER_POLICY);
    expect(signer.identity?.subjectAlternativeName).toBe(
      'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3',
    );
    expect(signer.identity?.extensions?.issuer).toBe('https://token.actions.githubusercontent.com');
    expect(extension(signer, 'sourceRepositoryURI')).toBe('https://github.com/acme/app');
    expect(extension(signer, 'sourceRepositoryRef')).toBe('refs/tags/v1.2.3');
    expect(extension(signer, 'runnerEnvironment')).toBe('github-hosted');
    expect(extension(signer, 'buildSignerURI')).toBe(BUILDER.subject);
    expect(extension(signer, 'buildConfigURI')).toBe(BUILDER.subject);
    // v1 OIDs are raw bytes, not UTF8String; policies written for one do not match the other.
    expect(rawExtension(signer, 'githubWorkflowRepository')).toBe('acme/app');
  });

  it('verify as DSSE with a `dsse` or an `intoto` Rekor entry', async () => {
    const statement = {
      _type: 'https://in-toto.io/Statement/v1',
      subject: [],
      predicateType: 'x',
      predicate: {},
    };
    for (const rekorEntryType of ['dsse', 'intoto'] as const) {
      const bundle = await sigstore.signBundle({
        kind: 'dsse',
        statement,
        identity: BUILDER,
        rekorEntryType,
      });
      expect(bundle.dsseEnvelope?.payloadType).toBe('application/vnd.in-toto+json');
      expect(bundle.verificationMaterial.tlogEntries[0]?.kindVersion?.kind).toBe(rekorEntryType);
      expect(verifyWith(sigstore, bundle, undefined, BUILDER_POLICY)).toBeDefined();
    }
  });

  it('verify on an RFC 3161 timestamp alone, without Rekor', async () => {
    const bundle = await sigstore.signBlob('tsa only', BUILDER, { rekor: false, tsa: true });
    // bundleToJSON leaves an empty list out.
    expect(bundle.verificationMaterial.tlogEntries ?? []).toEqual([]);
    expect(bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps).toHaveLength(1);
    expect(verifyWith(sigstore, bundle, 'tsa only', BUILDER_POLICY, { tlogThreshold: 0 })).toBeDefined();
    // The default policy still wants a log entry.
    expect(errorCode(() => verifyWith(sigstore, bundle, 'tsa only', BUILDER_POLICY))).toBe('TLOG_ERROR');
  });

  it('carry an email SAN for an email identity', async () => {
    const bundle = await sigstore.signBlob('mail', EMAIL_SIGNER);
    const signer = verifyWith(sigstore, bundle, 'mail', {
      subjectAlternativeName: anchored(EMAIL_SIGNER.subject),
      extensions: { issuer: EMAIL_SIGNER.issuer },
    });
    expect(signer.identity?.subjectAlternativeName).toBe('alice@example.com');
  });

  it('fail for another subject or another issuer', async () => {
    const bundle = await sigstore.signBlob('hello', BUILDER);
    const otherSubject = {
      ...BUILDER_POLICY,
      subjectAlternativeName: anchored('https://github.com/acme/other/x'),
    };
    const otherIssuer = { ...BUILDER_POLICY, extensions: { issuer: 'https://accounts.example.com' } };
    expect(errorCode(() => verifyWith(sigstore, bundle, 'hello', otherSubject))).toBe(
      'UNTRUSTED_SIGNER_ERROR',
    );
    expect(errorCode(() => verifyWith(sigstore, bundle, 'hello', otherIssuer))).toBe(
      'UNTRUSTED_SIGNER_ERROR',
    );

    const wrongIdentity = await sigstore.signBlob('hello', {
      ...BUILDER,
      subject: 'https://github.com/evil/app/x',
    });
    expect(errorCode(() => verifyWith(sigstore, wrongIdentity, 'hello', BUILDER_POLICY))).toBe(
      'UNTRUSTED_SIGNER_ERROR',
    );
  });

  it('fail an extension policy when the certificate says otherwise', async () => {
    const forged = await sigstore.signBlob('hello', {
      ...BUILDER,
      extensions: { sourceRepositoryRef: 'refs/heads/feature', runnerEnvironment: null },
    });
    const signer = verifyWith(sigstore, forged, 'hello', BUILDER_POLICY);
    expect(extension(signer, 'sourceRepositoryRef')).toBe('refs/heads/feature');
    expect(extension(signer, 'runnerEnvironment')).toBeUndefined();

    const refPolicy = { ...BUILDER_POLICY, oids: [oidPolicy('sourceRepositoryRef', 'refs/tags/v1.2.3')] };
    expect(errorCode(() => verifyWith(sigstore, forged, 'hello', refPolicy))).toBe('UNTRUSTED_SIGNER_ERROR');
    const genuine = await sigstore.signBlob('hello', BUILDER);
    expect(verifyWith(sigstore, genuine, 'hello', refPolicy)).toBeDefined();
  });

  it('fail when signed by an unrelated Sigstore', async () => {
    const bundle = await untrusted.signBlob('hello', BUILDER);
    expect(verifyWith(untrusted, bundle, 'hello', BUILDER_POLICY)).toBeDefined();
    expect(errorCode(() => verifyWith(sigstore, bundle, 'hello', BUILDER_POLICY))).toBe('CERTIFICATE_ERROR');
    const tsaOnly = await untrusted.signBlob('hello', BUILDER, { rekor: false, tsa: true });
    expect(
      errorCode(() => verifyWith(sigstore, tsaOnly, 'hello', BUILDER_POLICY, { tlogThreshold: 0 })),
    ).toBe('TIMESTAMP_ERROR');
  });

  it('fail when the certificate had expired before the signature was logged', async () => {
    const expired = await sigstore.signBlob('hello', { ...BUILDER, validity: expiredValidity() });
    const leaf = certificateOf(expired);
    const integratedTime = Number(expired.verificationMaterial.tlogEntries[0]?.integratedTime) * 1000;
    expect(new Date(leaf.validTo).getTime()).toBeLessThan(integratedTime);
    expect(errorCode(() => verifyWith(sigstore, expired, 'hello', BUILDER_POLICY))).toBe('CERTIFICATE_ERROR');

    // Control: back-dated by the same CA but still valid when logged, so only the expiry can be at fault.
    const now = Date.now();
    const stillValid = await sigstore.signBlob('hello', {
      ...BUILDER,
      validity: { notBefore: new Date(now - 5 * 60_000), notAfter: new Date(now + 5 * 60_000) },
    });
    expect(verifyWith(sigstore, stillValid, 'hello', BUILDER_POLICY)).toBeDefined();
  });

  it.each<[BundleTampering, 'messageSignature' | 'dsse', string]>([
    ['canonicalizedBody', 'messageSignature', 'TLOG_INCLUSION_PROMISE_ERROR'],
    ['signedEntryTimestamp', 'messageSignature', 'TLOG_INCLUSION_PROMISE_ERROR'],
    ['integratedTime', 'messageSignature', 'TLOG_INCLUSION_PROMISE_ERROR'],
    ['signature', 'messageSignature', 'TLOG_BODY_ERROR'],
    ['signature', 'dsse', 'TLOG_BODY_ERROR'],
    ['payload', 'dsse', 'TLOG_BODY_ERROR'],
  ])('fail when %s is tampered with (%s)', async (what, kind, code) => {
    const bundle =
      kind === 'dsse'
        ? await sigstore.signImage(`sha256:${'ab'.repeat(32)}`, BUILDER)
        : await sigstore.signBlob('hello', BUILDER);
    const artifact = kind === 'dsse' ? undefined : 'hello';
    expect(verifyWith(sigstore, bundle, artifact, BUILDER_POLICY)).toBeDefined();
    expect(errorCode(() => verifyWith(sigstore, tamperBundle(bundle, what), artifact, BUILDER_POLICY))).toBe(
      code,
    );
  });
});

describe('images signed keylessly in a real registry', () => {
  let reg: TestRegistry;
  let tagCounter = 0;
  const freshImage = (): Promise<PushedImage> => pushRandomImage(reg, 'keyless/app', `t${++tagCounter}`);

  beforeAll(async () => {
    reg = await startRegistry();
  });

  afterAll(async () => {
    await reg?.stop();
  });

  it('cosign 3 signs as a bundle referrer that cosign 3 and @sigstore/verify accept', async () => {
    const image = await freshImage();
    await cosignSignKeyless(3, sigstore, image.digestRef, reg, { identity: BUILDER });
    expect(await cosignVerifyKeyless(3, sigstore, image.digestRef, reg, COSIGN_BUILDER)).toMatchObject({
      verified: true,
    });
    expect(
      await cosignVerifyKeyless(3, sigstore, image.digestRef, reg, {
        ...COSIGN_BUILDER,
        githubWorkflow: { repository: 'acme/app', ref: 'refs/tags/v1.2.3' },
      }),
    ).toMatchObject({ verified: true });
    const wrong = await cosignVerifyKeyless(3, sigstore, image.digestRef, reg, {
      certificateIdentity: 'https://github.com/evil/app/.github/workflows/release.yml@refs/tags/v1.2.3',
      certificateOidcIssuer: BUILDER.issuer,
    });
    expect(wrong.verified).toBe(false);
    expect(await cosignVerifyKeyless(3, untrusted, image.digestRef, reg, COSIGN_BUILDER)).toMatchObject({
      verified: false,
    });

    // The bundle cosign wrote is what Provenant will read: v0.3, DSSE, `dsse` entry, TSA timestamp.
    const [bundle] = await referrerBundles(image);
    expect(bundle?.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    expect(bundle?.verificationMaterial.tlogEntries[0]?.kindVersion).toEqual({
      kind: 'dsse',
      version: '0.0.1',
    });
    expect(bundle?.verificationMaterial.timestampVerificationData?.rfc3161Timestamps).toHaveLength(1);
    if (bundle === undefined) throw new Error('no bundle');
    const statement = JSON.parse(
      Buffer.from(bundle.dsseEnvelope?.payload ?? '', 'base64').toString('utf8'),
    ) as {
      predicateType: string;
      subject: Array<{ digest: { sha256: string } }>;
    };
    expect(statement.predicateType).toBe(COSIGN_SIGN_PREDICATE_TYPE);
    expect(statement.subject[0]?.digest.sha256).toBe(image.digest.slice('sha256:'.length));
    expect(verifyWith(sigstore, bundle, undefined, BUILDER_POLICY).identity?.subjectAlternativeName).toBe(
      BUILDER.subject,
    );
    // Timestamps are checked before the chain, and this one comes from a TSA the other root does not know.
    expect(errorCode(() => verifyWith(untrusted, bundle, undefined, BUILDER_POLICY))).toBe('TIMESTAMP_ERROR');
  });

  it('cosign 2 signs a legacy .sig that cosign 2 and cosign 3 accept, with and without a TSA', async () => {
    for (const tsa of [false, true]) {
      const image = await freshImage();
      await cosignSignKeyless(2, sigstore, image.digestRef, reg, { identity: BUILDER, tsa });
      const sig = await fetchManifest(reg, `${image.repository}:${digestTag(image.digest)}.sig`);
      const layer = (JSON.parse(sig?.toString('utf8') ?? '{}') as { layers: Array<{ annotations: object }> })
        .layers[0];
      expect(Object.keys(layer?.annotations ?? {})).toEqual(
        expect.arrayContaining([
          'dev.sigstore.cosign/certificate',
          'dev.sigstore.cosign/bundle',
          ...(tsa ? ['dev.sigstore.cosign/rfc3161timestamp'] : []),
        ]),
      );
      for (const version of [2, 3] as const) {
        const right = await cosignVerifyKeyless(version, sigstore, image.digestRef, reg, COSIGN_BUILDER);
        expect(right, right.command + right.error).toMatchObject({ verified: true });
        const wrongIssuer = await cosignVerifyKeyless(version, sigstore, image.digestRef, reg, {
          ...COSIGN_BUILDER,
          certificateOidcIssuer: 'https://accounts.example.com',
        });
        expect(wrongIssuer.verified).toBe(false);
        expect(
          await cosignVerifyKeyless(version, untrusted, image.digestRef, reg, COSIGN_BUILDER),
        ).toMatchObject({
          verified: false,
        });
      }
    }
  });

  describe('bundles from @sigstore/sign attached as referrers', () => {
    interface Case {
      name: string;
      bundle: (image: PushedImage) => Promise<SerializedBundle>;
      /** The expected verdict of both verifiers for COSIGN_BUILDER / BUILDER_POLICY. */
      verifies: boolean;
      /** Why cosign refuses: a refusal for another reason than the case is about proves nothing. */
      cosignError?: RegExp;
      verify?: KeylessVerifyOptions;
    }
    const cases: Case[] = [
      { name: 'right identity', bundle: (i) => sigstore.signImage(i.digest, BUILDER), verifies: true },
      {
        name: 'right identity, with TSA timestamp',
        bundle: (i) => sigstore.signImage(i.digest, BUILDER, { witnesses: { tsa: true } }),
        verifies: true,
      },
      {
        name: 'wrong subject',
        bundle: (i) =>
          sigstore.signImage(i.digest, {
            ...BUILDER,
            subject: 'https://github.com/evil/app/x@refs/heads/main',
          }),
        verifies: false,
        cosignError: /expected SAN value/,
      },
      {
        name: 'wrong issuer',
        bundle: (i) => sigstore.signImage(i.digest, { ...BUILDER, issuer: 'https://accounts.example.com' }),
        verifies: false,
        cosignError: /expected issuer value/,
      },
      {
        name: 'wrong legacy repository extension',
        bundle: (i) =>
          sigstore.signImage(i.digest, { ...BUILDER, extensions: { githubWorkflowRepository: 'evil/app' } }),
        verifies: false,
        cosignError: /expected GithubWorkflowRepository to be "acme\/app", got "evil\/app"/,
        verify: { ...COSIGN_BUILDER, githubWorkflow: { repository: 'acme/app' } },
      },
      {
        name: 'untrusted CA',
        bundle: (i) => untrusted.signImage(i.digest, BUILDER),
        verifies: false,
        // sigstore-go checks the log before the chain; the other instance's Rekor is just as unknown.
        cosignError: /not enough verified log entries/,
      },
      {
        name: 'certificate expired at signing time',
        bundle: (i) => sigstore.signImage(i.digest, { ...BUILDER, validity: expiredValidity() }),
        verifies: false,
        cosignError: /integrated time outside certificate validity/,
      },
      {
        name: 'tampered log entry',
        bundle: async (i) => tamperBundle(await sigstore.signImage(i.digest, BUILDER), 'canonicalizedBody'),
        verifies: false,
        cosignError: /not enough verified log entries/,
      },
      {
        name: 'signature for another image',
        bundle: () => sigstore.signImage(`sha256:${'cd'.repeat(32)}`, BUILDER),
        // The signature itself is valid; only the subject check (cosign's, Provenant's) rejects it.
        verifies: false,
        cosignError: /artifact digest does not match any digest in statement/,
      },
    ];

    it.each(cases)('$name: cosign 3 and @sigstore/verify agree', async (c) => {
      const image = await freshImage();
      const bundle = await c.bundle(image);
      await attachBundleReferrer(reg, 'keyless/app', image.digest, bundle);

      const cosign = await cosignVerifyKeyless(3, sigstore, image.digestRef, reg, c.verify ?? COSIGN_BUILDER);
      expect(cosign.verified, `${cosign.command}\n${cosign.error}`).toBe(c.verifies);
      if (c.cosignError) expect(cosign.error).toMatch(c.cosignError);

      const [stored] = await referrerBundles(image);
      expect(stored).toEqual(bundle);
      const ours = ((): boolean => {
        try {
          const signer = verifyWith(sigstore, bundle, undefined, BUILDER_POLICY);
          return (
            subjectDigest(bundle) === image.digest &&
            (c.verify?.githubWorkflow?.repository === undefined ||
              rawExtension(signer, 'githubWorkflowRepository') === c.verify.githubWorkflow.repository)
          );
        } catch (err) {
          if (err instanceof VerificationError || err instanceof PolicyError) return false;
          throw err;
        }
      })();
      expect(ours).toBe(c.verifies);
    });

    it('lists the referrer the way cosign 3 does, or annotated on request', async () => {
      const image = await freshImage();
      const first = await attachBundleReferrer(
        reg,
        'keyless/app',
        image.digest,
        await sigstore.signImage(image.digest, BUILDER),
      );
      const second = await attachBundleReferrer(
        reg,
        'keyless/app',
        image.digest,
        await sigstore.signBlob('not an image signature', BUILDER),
        { index: 'annotated' },
      );
      const index = JSON.parse(
        (await fetchManifest(reg, first.fallbackTagRef))?.toString('utf8') ?? '{}',
      ) as {
        manifests: Array<{ digest: string; artifactType?: string; annotations?: Record<string, string> }>;
      };
      // No order is promised: go-containerregistry does not append.
      expect(index.manifests.map((m) => m.digest).sort()).toEqual([first.digest, second.digest].sort());
      const listed = (digest: string) => index.manifests.find((m) => m.digest === digest);
      // go-containerregistry (crane, cosign 3) takes artifactType from the config descriptor: the empty type.
      expect(listed(first.digest)).toMatchObject({ artifactType: 'application/vnd.oci.empty.v1+json' });
      expect(listed(first.digest)?.annotations).toBeUndefined();
      expect(listed(second.digest)).toMatchObject({
        artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
        annotations: { 'dev.sigstore.bundle.content': 'message-signature' },
      });
      const manifest = JSON.parse(first.manifest.toString('utf8')) as Record<string, unknown>;
      expect(manifest).toMatchObject({
        artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', size: 2 },
        subject: { digest: image.digest, mediaType: image.mediaType },
        annotations: {
          'dev.sigstore.bundle.content': 'dsse-envelope',
          'dev.sigstore.bundle.predicateType': COSIGN_SIGN_PREDICATE_TYPE,
        },
      });
      expect(await cosignVerifyKeyless(3, sigstore, image.digestRef, reg, COSIGN_BUILDER)).toMatchObject({
        verified: true,
      });
    });
  });

  /** Every bundle listed in the image's referrers fallback index, in index order. */
  async function referrerBundles(image: PushedImage): Promise<SerializedBundle[]> {
    const index = await fetchManifest(reg, `${image.repository}:${digestTag(image.digest)}`);
    const manifests = (
      JSON.parse(index?.toString('utf8') ?? '{"manifests":[]}') as { manifests: Array<{ digest: string }> }
    ).manifests;
    const bundles: SerializedBundle[] = [];
    for (const { digest } of manifests) {
      const manifest = await fetchManifest(reg, `${image.repository}@${digest}`);
      const layer = (JSON.parse(manifest?.toString('utf8') ?? '{}') as { layers: Array<{ digest: string }> })
        .layers[0];
      if (layer === undefined) continue;
      const blob = await fetchBlob(reg, image.repository, layer.digest);
      bundles.push(JSON.parse(blob.toString('utf8')) as SerializedBundle);
    }
    return bundles;
  }
});

// ---------------------------------------------------------------------------------------------- helpers

function verifyWith(
  trust: PrivateSigstore,
  bundle: SerializedBundle,
  artifact: string | undefined,
  policy: VerificationPolicy,
  options: VerifierOptions = {},
): Signer {
  const entity = toSignedEntity(
    bundleFromJSON(bundle),
    artifact === undefined ? undefined : Buffer.from(artifact),
  );
  return new Verifier(trust.trustMaterial(), options).verify(entity, policy);
}

function errorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof VerificationError || err instanceof PolicyError) return err.code;
    throw err;
  }
  return 'verified';
}

/** A `.8`+ extension value, decoded from its DER UTF8String. */
function extension(signer: Signer, name: keyof typeof FULCIO_OIDS): string | undefined {
  const value = oidValue(signer, name);
  if (value === undefined) return undefined;
  if (value[0] !== 0x0c) throw new Error(`${name} is not a UTF8String`);
  return value
    .subarray(value[1] !== undefined && value[1] & 0x80 ? 2 + (value[1] & 0x7f) : 2)
    .toString('utf8');
}

/** A `.1`–`.6` extension value, raw UTF-8. */
function rawExtension(signer: Signer, name: keyof typeof FULCIO_OIDS): string | undefined {
  return oidValue(signer, name)?.toString('utf8');
}

function oidValue(signer: Signer, name: keyof typeof FULCIO_OIDS): Buffer | undefined {
  const wanted = FULCIO_OIDS[name];
  return signer.identity?.oids?.find((o) => o.oid?.id.join('.') === wanted)?.value;
}

function oidPolicy(name: keyof typeof FULCIO_OIDS, value: string): { oid: { id: number[] }; value: Buffer } {
  const oid = FULCIO_OIDS[name];
  return { oid: { id: oid.split('.').map(Number) }, value: Buffer.from(encodeFulcioExtension(oid, value)) };
}

function certificateOf(bundle: SerializedBundle): X509Certificate {
  const raw = bundle.verificationMaterial.certificate?.rawBytes;
  if (raw === undefined) throw new Error('bundle has no certificate');
  return new X509Certificate(Buffer.from(raw, 'base64'));
}

function subjectDigest(bundle: SerializedBundle): string | undefined {
  const payload = bundle.dsseEnvelope?.payload;
  if (payload === undefined) return undefined;
  const statement = JSON.parse(Buffer.from(payload, 'base64').toString('utf8')) as {
    subject?: Array<{ digest?: { sha256?: string } }>;
  };
  const hex = statement.subject?.[0]?.digest?.sha256;
  return hex === undefined ? undefined : `sha256:${hex}`;
}

function anchored(literal: string): RegExp {
  return new RegExp(`^${literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
}

function sha256(bytes: Buffer | undefined): Buffer {
  return createHash('sha256')
    .update(bytes ?? Buffer.alloc(0))
    .digest();
}
