import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ProvenantError } from '../errors.js';
import {
  bundleEvidence,
  expectationCases,
  fixtureBytes,
  fixtureJson,
  fixtureText,
  legacyLayers,
} from '../../test/support/fixtures.js';
import { compileKeyAuthority } from './key-authority.js';
import { verifySignature } from './signature.js';
import type { KeyAuthority, SignatureEvidence } from './types.js';

const CONNAISSEUR = 'real/cosign-legacy/keyed-docker.io-securesystemsengineering-testimage/';
const MULTI_DIGEST = 'sha256:bfec161fecb0a887df7cb85e4da327c65986ccda7060cf3cd92171c6c90d7533';
const ALICE_ONLY_DIGEST = 'sha256:071bf7a986f1ca9cb2a1f0bc8392822a7777f90d58f2d2c6f271913e08de7c81';
const multiLayers = legacyLayers(
  `${CONNAISSEUR}sig-manifest.${MULTI_DIGEST.replace(':', '-')}.sig.json`,
  `${CONNAISSEUR}simplesigning-payload.sha256-7248e52a7da336ff63192f2c0a8f12562b0d5368e9cde6ab292cbb4604074f28.json`,
);
const aliceOnlyLayers = legacyLayers(
  `${CONNAISSEUR}sig-manifest.${ALICE_ONLY_DIGEST.replace(':', '-')}.sig.json`,
  `${CONNAISSEUR}simplesigning-payload.sha256-d8ee807d96efe7441b132967ad94eaffbc0172a763e69f2cd8df8f583f0ba0d4.json`,
);
const alice = compileKeyAuthority('alice', fixtureText(`${CONNAISSEUR}alice.pub`));
const bob = compileKeyAuthority('bob', fixtureText(`${CONNAISSEUR}bob.pub`));

const GENERATED = 'generated/cosign-key-types/';
const GENERATED_DIGEST = 'sha256:fd0679e78ee5a588ebb1cee1d83e83a7496a2ac3c5172c5c977742d7f13ea277';
const OTHER_DIGEST = `sha256:${'0'.repeat(64)}`;
// Layer order of the cosign 2 `.sig` manifest: the order the keys signed in (see the fixture's SOURCES.md).
const LEGACY_KEY_ORDER = ['ecdsa-p256', 'rsa-2048', 'ecdsa-p384', 'ecdsa-p521', 'ed25519'] as const;
const generatedLayers = legacyLayers(
  `${GENERATED}legacy/sig-manifest.${GENERATED_DIGEST.replace(':', '-')}.sig.json`,
  `${GENERATED}legacy/simplesigning-payload.sha256-e2ce5a1e0ac04759d182643c656c12a332e581a5b8e9e67e9f84cc607ccef434.json`,
);
const generatedKey = (name: string) => compileKeyAuthority(name, fixtureText(`${GENERATED}keys/${name}.pub`));

function outcome(evidence: SignatureEvidence, digest: string, authority: KeyAuthority): string {
  const check = verifySignature(evidence, digest, authority);
  return check.ok ? 'ok' : check.code;
}

function withAnnotations(
  evidence: SignatureEvidence,
  change: Record<string, string | undefined>,
): SignatureEvidence {
  if (evidence.kind !== 'cosign-simple-signing') throw new Error('legacy evidence expected');
  const annotations = Object.fromEntries(
    Object.entries({ ...evidence.annotations, ...change }).filter(
      (e): e is [string, string] => e[1] !== undefined,
    ),
  );
  return { ...evidence, annotations };
}

function signedLegacy(payload: string, digest: 'sha256' | 'sha384' = 'sha256', curve = 'P-256') {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: curve });
  const bytes = Buffer.from(payload);
  const evidence: SignatureEvidence = {
    kind: 'cosign-simple-signing',
    source: 'node:crypto',
    payload: bytes,
    annotations: { 'dev.cosignproject.cosign/signature': sign(digest, bytes, privateKey).toString('base64') },
  };
  const authority = compileKeyAuthority('fresh', publicKey.export({ type: 'spki', format: 'pem' }) as string);
  return { evidence, authority };
}

describe('verifySignature with key authorities: legacy cosign .sig layers (Connaisseur)', () => {
  it.each([
    [0, 'alice', 'ok'],
    [0, 'bob', 'UNTRUSTED_SIGNER'],
    [1, 'alice', 'UNTRUSTED_SIGNER'],
    [1, 'bob', 'ok'],
    // charlie's layer: a valid signature by a key that no authority holds
    [2, 'alice', 'UNTRUSTED_SIGNER'],
    [2, 'bob', 'UNTRUSTED_SIGNER'],
  ] as const)('layer %i of multi-cosigned-alice-bob-charlie against %s: %s', (layer, name, expected) => {
    const evidence = multiLayers[layer];
    if (evidence === undefined) throw new Error('missing layer');
    expect(outcome(evidence, MULTI_DIGEST, name === 'alice' ? alice : bob)).toBe(expected);
  });

  it('verifies alice on multi-cosigned-alice and names her key in the signer', () => {
    const check = verifySignature(aliceOnlyLayers[0] as SignatureEvidence, ALICE_ONLY_DIGEST, alice);
    expect(check.ok && check.signer).toEqual({
      authority: 'alice',
      identity: `ecdsa-p256 ${alice.fingerprint}`,
      keyId: alice.keyId,
    });
  });

  it('reports DIGEST_MISMATCH, with both digests, for a valid layer checked against another image', () => {
    const check = verifySignature(multiLayers[0] as SignatureEvidence, ALICE_ONLY_DIGEST, alice);
    expect(check.ok ? 'ok' : check.code).toBe('DIGEST_MISMATCH');
    expect(check.ok ? '' : check.message).toContain(MULTI_DIGEST);
  });

  // expectations.json states threshold / required-signer outcomes; evaluate them over per-layer results.
  const keyedCases = expectationCases().filter(
    (c) => c.type === 'cosign-legacy-signature' && c.policy?.publicKeys,
  );
  it.each(keyedCases.map((c) => [c.id, c] as const))('%s', (_, c) => {
    const digest = c.imageRef?.split('@')[1] ?? '';
    const layers = legacyLayers(`real/${c.sigManifest}`, `real/${c.payload}`);
    const authorities = (c.policy?.publicKeys as string[]).map((path) =>
      compileKeyAuthority(path.replace(/^.*\/|\.pub$/g, ''), fixtureText(`real/${path}`)),
    );
    const verified = authorities
      .filter((authority) => layers.some((layer) => verifySignature(layer, digest, authority).ok))
      .map((a) => a.name);
    const required = (c.policy?.required as string[] | undefined) ?? [];
    const threshold = (c.policy?.threshold as number | undefined) ?? 1;
    const pass = verified.length >= threshold && required.every((name) => verified.includes(name));
    expect(pass ? 'pass' : 'fail').toBe(c.expected);
  });
});

describe('verifySignature with key authorities: every cosign key type', () => {
  it.each(LEGACY_KEY_ORDER.map((name, i) => [name, i] as const))(
    'cosign 2 legacy layer signed with %s verifies with that key only',
    (name, index) => {
      for (const [i, other] of LEGACY_KEY_ORDER.entries()) {
        const expected = i === index ? 'ok' : 'UNTRUSTED_SIGNER';
        expect(
          outcome(generatedLayers[index] as SignatureEvidence, GENERATED_DIGEST, generatedKey(other)),
        ).toBe(expected);
      }
      expect(outcome(generatedLayers[index] as SignatureEvidence, OTHER_DIGEST, generatedKey(name))).toBe(
        'DIGEST_MISMATCH',
      );
    },
  );

  // cosign 3 signs P-384 with SHA-384 and Ed25519 keys with Ed25519ph; both are accepted.
  it.each(['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'ed25519'])('cosign 3 bundle signed with %s', (name) => {
    const evidence = bundleEvidence(`${GENERATED}bundles/${name}.sigstore.json`);
    expect(outcome(evidence, GENERATED_DIGEST, generatedKey(name))).toBe('ok');
    expect(outcome(evidence, OTHER_DIGEST, generatedKey(name))).toBe('DIGEST_MISMATCH');
    // The bundle names its key by hint; another authority's key is "someone else", not tampering.
    expect(
      outcome(evidence, GENERATED_DIGEST, generatedKey(name === 'rsa-2048' ? 'ecdsa-p256' : 'rsa-2048')),
    ).toBe('UNTRUSTED_SIGNER');
  });

  it.each([
    ['ecdsa-p256', 'ok'],
    ['rsa-2048', 'ok'],
    // signed over SHA-384 of the manifest: nothing ties that to the sha256 image digest
    ['ecdsa-p384', 'DIGEST_MISMATCH'],
    // cosign 3 writes an empty messageDigest for Ed25519, which the bundle format forbids
    ['ed25519', 'SIGNATURE_INVALID'],
  ])('cosign 3 sign-blob bundle over the image manifest, %s: %s', (name, expected) => {
    const evidence = bundleEvidence(`${GENERATED}blob/${name}.image-manifest.sigstore.json`);
    expect(outcome(evidence, GENERATED_DIGEST, generatedKey(name))).toBe(expected);
  });

  it('a message signature over other bytes is DIGEST_MISMATCH', () => {
    const evidence = bundleEvidence(`${GENERATED}blob/ecdsa-p256.hello.sigstore.json`);
    expect(outcome(evidence, GENERATED_DIGEST, generatedKey('ecdsa-p256'))).toBe('DIGEST_MISMATCH');
  });

  it('accepts a legacy P-384 signature made with SHA-384 (cosign --signature-digest-algorithm)', () => {
    const payload = fixtureText(
      `${GENERATED}legacy/simplesigning-payload.sha256-e2ce5a1e0ac04759d182643c656c12a332e581a5b8e9e67e9f84cc607ccef434.json`,
    );
    const { evidence, authority } = signedLegacy(payload, 'sha384', 'P-384');
    expect(outcome(evidence, GENERATED_DIGEST, authority)).toBe('ok');
  });
});

describe('verifySignature with key authorities: managed-key conformance bundles', () => {
  const cases = expectationCases().filter((c) => c.type === 'sigstore-bundle' && c.publicKey !== undefined);
  it.each(cases.map((c) => [c.id, c] as const))('%s', (_, c) => {
    const artifactDigest = `sha256:${createHash('sha256')
      .update(fixtureBytes(`real/${c.artifact}`))
      .digest('hex')}`;
    let result: string;
    try {
      const authority = compileKeyAuthority('managed', fixtureText(`real/${c.publicKey}`));
      result =
        outcome(bundleEvidence(`real/${c.bundle}`), artifactDigest, authority) === 'ok' ? 'pass' : 'fail';
    } catch (err) {
      expect((err as ProvenantError).code).toBe('INVALID_POLICY');
      result = 'fail';
    }
    expect(result).toBe(c.expected);
  });
});

describe('verifySignature with key authorities: tampered and malformed evidence', () => {
  const p256 = generatedKey('ecdsa-p256');
  const bundlePath = `${GENERATED}bundles/ecdsa-p256.sigstore.json`;

  function tamperedBundle(hint: string | undefined): SignatureEvidence {
    const json = fixtureJson<{
      verificationMaterial: { publicKey: { hint: string } };
      dsseEnvelope: { payload: string };
    }>(bundlePath);
    const statement = JSON.parse(Buffer.from(json.dsseEnvelope.payload, 'base64').toString()) as {
      subject: { digest: { sha256: string } }[];
    };
    (statement.subject[0] as { digest: { sha256: string } }).digest.sha256 = '1'.repeat(64);
    json.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
    if (hint === undefined) json.verificationMaterial.publicKey.hint = '';
    return { kind: 'sigstore-bundle', source: 'tampered', bundle: Buffer.from(JSON.stringify(json)) };
  }

  it('a bundle naming the key whose statement was altered is SIGNATURE_INVALID', () => {
    expect(outcome(tamperedBundle(p256.keyId), `sha256:${'1'.repeat(64)}`, p256)).toBe('SIGNATURE_INVALID');
  });

  it('the same alteration without a key hint is UNTRUSTED_SIGNER (nothing claims this key)', () => {
    expect(outcome(tamperedBundle(undefined), `sha256:${'1'.repeat(64)}`, p256)).toBe('UNTRUSTED_SIGNER');
  });

  it('a legacy layer whose payload was altered is UNTRUSTED_SIGNER: legacy key signatures carry no key identity', () => {
    const layer = multiLayers[0];
    if (layer?.kind !== 'cosign-simple-signing') throw new Error('legacy layer expected');
    const payload = Buffer.from(Buffer.from(layer.payload).toString().replace('testimage', 'testimagf'));
    expect(outcome({ ...layer, payload }, MULTI_DIGEST, alice)).toBe('UNTRUSTED_SIGNER');
  });

  it.each([
    ['no signature annotation', { 'dev.cosignproject.cosign/signature': undefined }],
    ['an empty signature', { 'dev.cosignproject.cosign/signature': '' }],
    ['a signature that is not base64', { 'dev.cosignproject.cosign/signature': 'not base64!' }],
    ['a Rekor bundle annotation that is not JSON', { 'dev.sigstore.cosign/bundle': '{' }],
    ['a certificate annotation that is not a certificate', { 'dev.sigstore.cosign/certificate': 'x' }],
  ])('a legacy layer with %s is SIGNATURE_INVALID', (_, change) => {
    expect(outcome(withAnnotations(multiLayers[0] as SignatureEvidence, change), MULTI_DIGEST, alice)).toBe(
      'SIGNATURE_INVALID',
    );
  });

  it('a legacy payload that is not simple-signing JSON is SIGNATURE_INVALID', () => {
    const { evidence, authority } = signedLegacy('not json');
    expect(outcome(evidence, GENERATED_DIGEST, authority)).toBe('SIGNATURE_INVALID');
  });

  it('a signed payload of another type is SIGNATURE_INVALID, not an image signature', () => {
    const payload = JSON.stringify({
      critical: {
        identity: { 'docker-reference': 'x' },
        image: { 'docker-manifest-digest': GENERATED_DIGEST },
        type: 'other',
      },
      optional: null,
    });
    const { evidence, authority } = signedLegacy(payload);
    expect(outcome(evidence, GENERATED_DIGEST, authority)).toBe('SIGNATURE_INVALID');
  });

  it('an unknown bundle version is UNSUPPORTED_FORMAT; malformed JSON is SIGNATURE_INVALID', () => {
    const base = 'conformance/bundle-verify/';
    expect(
      outcome(
        bundleEvidence(`${base}bundle-unknown-version_fail/bundle.sigstore.json`),
        GENERATED_DIGEST,
        p256,
      ),
    ).toBe('UNSUPPORTED_FORMAT');
    expect(
      outcome(
        bundleEvidence(`${base}bundle-malformed-json_fail/bundle.sigstore.json`),
        GENERATED_DIGEST,
        p256,
      ),
    ).toBe('SIGNATURE_INVALID');
  });

  it('an attestation bundle is NOT_AN_IMAGE_SIGNATURE and names its predicate type', () => {
    const evidence = bundleEvidence(
      'conformance/bundle-verify/happy-path-intoto-in-dsse-v3/bundle.sigstore.json',
    );
    const check = verifySignature(evidence, GENERATED_DIGEST, p256);
    expect(check.ok ? 'ok' : [check.code, check.predicateType]).toEqual([
      'NOT_AN_IMAGE_SIGNATURE',
      'https://slsa.dev/provenance/v1',
    ]);
  });

  it('a keyless legacy signature checked against a key authority is UNTRUSTED_SIGNER', () => {
    const dir = 'real/cosign-legacy/keyless-docker.io-phbelitz-rekor-test/';
    const digest = 'sha256:31dc72a13a0c34b40eb95419d2b2fd67320c856baf3b72da518023ee8d370aee';
    const [layer] = legacyLayers(
      `${dir}sig-manifest.${digest.replace(':', '-')}.sig.json`,
      `${dir}simplesigning-payload.sha256-897d9e862b4599b723442f36ed7b4cfd1628bb7656643c56855988cac161d065.json`,
    );
    expect(outcome(layer as SignatureEvidence, digest, p256)).toBe('UNTRUSTED_SIGNER');
  });
});

describe('verifySignature arguments', () => {
  it('accepts a plain KeyAuthority literal and parses its PEM once', () => {
    const literal: KeyAuthority = {
      kind: 'key',
      name: 'alice',
      publicKeyPem: fixtureText(`${CONNAISSEUR}alice.pub`),
    };
    expect(outcome(multiLayers[0] as SignatureEvidence, MULTI_DIGEST, literal)).toBe('ok');
    expect(outcome(multiLayers[1] as SignatureEvidence, MULTI_DIGEST, literal)).toBe('UNTRUSTED_SIGNER');
  });

  it('throws INVALID_POLICY for a literal with a bad PEM and INVALID_REFERENCE for a bad digest', () => {
    const bad: KeyAuthority = { kind: 'key', name: 'bad', publicKeyPem: 'nope' };
    expect(() => verifySignature(multiLayers[0] as SignatureEvidence, MULTI_DIGEST, bad)).toThrow(
      expect.objectContaining({ code: 'INVALID_POLICY' }),
    );
    expect(() => verifySignature(multiLayers[0] as SignatureEvidence, 'sha256:abc', alice)).toThrow(
      expect.objectContaining({ code: 'INVALID_REFERENCE' }),
    );
  });
});
