import { describe, expect, it } from 'vitest';
import {
  envelopeOf,
  GENERATOR_IMAGE_DIGEST,
  generatorAttestationLayer,
  keySignedAttestation,
  testSigner,
  withEnvelope,
} from '../../test/support/attestation-fixtures.js';
import { bundleEvidence, legacyLayers } from '../../test/support/fixtures.js';
import { createTrustStore, PUBLIC_GOOD } from '../trust/trust-store.js';
import { claimedPredicateType, isAttestation, verifyAttestation } from './attestation.js';
import { compileKeyAuthority } from './key-authority.js';
import { verifySignature } from './signature.js';
import type { AttestationCheck, KeylessAuthority, SignatureEvidence } from './types.js';

const context = { trustStore: createTrustStore() };
const layer = generatorAttestationLayer();
const OTHER_DIGEST = `sha256:${'0'.repeat(64)}`;
const GENERATOR_SAN =
  'https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.1.0';

/** What slsa-github-generator's README tells users to require, anchored. */
const generator: KeylessAuthority = {
  kind: 'keyless',
  name: 'slsa-generator',
  trustRoot: PUBLIC_GOOD,
  identities: [
    {
      issuer: 'https://token.actions.githubusercontent.com',
      subjectRegExp:
        '^https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v[0-9]+.[0-9]+.[0-9]+$',
    },
  ],
};

function code(check: AttestationCheck): string {
  return check.ok ? 'ok' : check.code;
}

function editEnvelope(edit: (e: ReturnType<typeof envelopeOf>) => void): SignatureEvidence {
  const envelope = envelopeOf(layer);
  edit(envelope);
  return withEnvelope(layer, envelope);
}

function editRekorBundle(edit: (b: { Payload: { integratedTime: number } }) => void): SignatureEvidence {
  const bundle = JSON.parse(layer.annotations['dev.sigstore.cosign/bundle'] ?? '{}') as {
    Payload: { integratedTime: number };
  };
  edit(bundle);
  return {
    ...layer,
    annotations: { ...layer.annotations, 'dev.sigstore.cosign/bundle': JSON.stringify(bundle) },
  };
}

describe('verifyAttestation: the real slsa-github-generator .att (keyless, public good, Rekor dsse 0.0.1)', () => {
  it('verifies it and hands on the whole statement, the signer and the Rekor time', () => {
    const check = verifyAttestation(layer, GENERATOR_IMAGE_DIGEST, generator, context);
    if (!check.ok) throw new Error(`${check.code}: ${check.message}`);
    const { attestation } = check;
    expect(attestation.predicateType).toBe('https://slsa.dev/provenance/v0.2');
    expect(attestation.statement).toMatchObject({
      _type: 'https://in-toto.io/Statement/v0.1',
      predicateType: 'https://slsa.dev/provenance/v0.2',
      subject: [{ digest: { sha256: GENERATOR_IMAGE_DIGEST.slice('sha256:'.length) } }],
      predicate: { builder: { id: GENERATOR_SAN }, buildType: expect.any(String) as unknown },
    });
    expect(attestation.signer).toMatchObject({
      authority: 'slsa-generator',
      identity: GENERATOR_SAN,
      issuer: 'https://token.actions.githubusercontent.com',
      certificate: {
        sourceRepositoryURI: 'https://github.com/slsa-framework/example-package',
        sourceRepositoryRef: 'refs/heads/main',
        buildSignerURI: GENERATOR_SAN,
        runnerEnvironment: 'github-hosted',
      },
    });
    expect(attestation.signedAt?.toISOString()).toBe('2025-02-25T21:58:07.000Z');
  });

  it('is never an image signature', () => {
    const check = verifySignature(layer, GENERATOR_IMAGE_DIGEST, generator, context);
    expect(check).toMatchObject({ ok: false, code: 'NOT_AN_IMAGE_SIGNATURE' });
    expect(isAttestation(layer)).toBe(true);
    expect(claimedPredicateType(layer)).toBe('https://slsa.dev/provenance/v0.2');
  });

  it.each([
    [
      'another image digest',
      () => verifyAttestation(layer, OTHER_DIGEST, generator, context),
      'DIGEST_MISMATCH',
    ],
    [
      'an identity the authority does not allow',
      () =>
        verifyAttestation(
          layer,
          GENERATOR_IMAGE_DIGEST,
          {
            ...generator,
            identities: [
              {
                issuer: 'https://token.actions.githubusercontent.com',
                subjectRegExp: '.*/generator_generic_slsa3.yml@.*',
              },
            ],
          },
          context,
        ),
      'UNTRUSTED_SIGNER',
    ],
    [
      'a key authority',
      () =>
        verifyAttestation(
          layer,
          GENERATOR_IMAGE_DIGEST,
          compileKeyAuthority('ci', testSigner().publicKeyPem),
          context,
        ),
      'UNTRUSTED_SIGNER',
    ],
    [
      'a payload changed after signing',
      () =>
        verifyAttestation(
          editEnvelope((e) => {
            const statement = Buffer.from(e.payload, 'base64').toString('utf8');
            e.payload = Buffer.from(statement.replace('refs/heads/main', 'refs/heads/evil')).toString(
              'base64',
            );
          }),
          GENERATOR_IMAGE_DIGEST,
          generator,
          context,
        ),
      // The Rekor entry records the payload hash: the log entry no longer matches before the signature is tried.
      'TLOG_INVALID',
    ],
    [
      'a Rekor integrated time moved by a second (the SET covers it)',
      () =>
        verifyAttestation(
          editRekorBundle((b) => (b.Payload.integratedTime += 1)),
          GENERATOR_IMAGE_DIGEST,
          generator,
          context,
        ),
      'TLOG_INVALID',
    ],
    [
      'a second signature in the envelope',
      () =>
        verifyAttestation(
          editEnvelope((e) => e.signatures.push({ keyid: '', sig: e.signatures[0]?.sig ?? '' })),
          GENERATOR_IMAGE_DIGEST,
          generator,
          context,
        ),
      'SIGNATURE_INVALID',
    ],
    [
      'an envelope that is not JSON',
      () =>
        verifyAttestation(
          { ...layer, envelope: Buffer.from('{"payloadType":') },
          GENERATOR_IMAGE_DIGEST,
          generator,
          context,
        ),
      'SIGNATURE_INVALID',
    ],
  ] as const)('refuses it for %s', (_, check, expected) => {
    expect(code(check())).toBe(expected);
  });

  it('reads URL-safe, unpadded base64 in the envelope as DSSE allows', () => {
    const evidence = editEnvelope((e) => {
      const urlSafe = (b64: string) => Buffer.from(b64, 'base64').toString('base64url');
      e.payload = urlSafe(e.payload);
      for (const s of e.signatures) s.sig = urlSafe(s.sig);
    });
    expect(code(verifyAttestation(evidence, GENERATOR_IMAGE_DIGEST, generator, context))).toBe('ok');
  });
});

describe('verifyAttestation: key-signed DSSE (cosign attest --key --tlog-upload=false)', () => {
  const signer = testSigner();
  const authority = compileKeyAuthority('ci', signer.publicKeyPem);
  const digest = `sha256:${'ab'.repeat(32)}`;
  const statement = (type: string, subjectHex = digest.slice('sha256:'.length)) => ({
    _type: type,
    subject: [{ name: 'registry.example/app', digest: { sha256: subjectHex } }],
    predicateType: 'https://spdx.dev/Document',
    predicate: { spdxVersion: 'SPDX-2.3', packages: [] },
  });

  it.each(['https://in-toto.io/Statement/v0.1', 'https://in-toto.io/Statement/v1'])(
    'verifies statement %s, with no signing time (the key is the only trust)',
    (type) => {
      const check = verifyAttestation(keySignedAttestation(signer, statement(type)), digest, authority);
      if (!check.ok) throw new Error(`${check.code}: ${check.message}`);
      expect(check.attestation.signer).toEqual({
        authority: 'ci',
        identity: expect.stringContaining('ecdsa-p256') as unknown,
      });
      expect(check.attestation.signedAt).toBeUndefined();
      expect(check.attestation.statement.predicate).toEqual({ spdxVersion: 'SPDX-2.3', packages: [] });
    },
  );

  it.each([
    [
      'another key',
      () =>
        verifyAttestation(
          keySignedAttestation(testSigner(), statement('https://in-toto.io/Statement/v1')),
          digest,
          authority,
        ),
      'UNTRUSTED_SIGNER',
    ],
    [
      'another subject',
      () =>
        verifyAttestation(
          keySignedAttestation(signer, statement('https://in-toto.io/Statement/v1', 'cd'.repeat(32))),
          digest,
          authority,
        ),
      'DIGEST_MISMATCH',
    ],
    [
      'a payloadType other than in-toto',
      () =>
        verifyAttestation(
          keySignedAttestation(signer, statement('https://in-toto.io/Statement/v1'), {
            payloadType: 'application/json',
          }),
          digest,
          authority,
        ),
      'SIGNATURE_INVALID',
    ],
    [
      'an unknown statement type',
      () =>
        verifyAttestation(
          keySignedAttestation(signer, statement('https://in-toto.io/Statement/v9')),
          digest,
          authority,
        ),
      'SIGNATURE_INVALID',
    ],
  ] as const)('refuses %s', (_, check, expected) => {
    const result = check();
    expect(code(result)).toBe(expected);
  });

  it('keeps the published predicate type, so a mislabelled layer shows up as such', () => {
    const evidence = keySignedAttestation(signer, statement('https://in-toto.io/Statement/v1'), {
      predicateType: 'https://slsa.dev/provenance/v1',
    });
    const check = verifyAttestation(evidence, digest, authority);
    if (!check.ok) throw new Error(check.message);
    expect(check.attestation.predicateType).toBe('https://slsa.dev/provenance/v1');
    expect(check.attestation.statement.predicateType).toBe('https://spdx.dev/Document');
  });
});

describe('verifyAttestation: sigstore bundles found as referrers', () => {
  const bundle = bundleEvidence('real/bundles/cosign-oci-attestation/oci-attestation.sigstore.json');
  const subject = 'sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4';
  const anyone: KeylessAuthority = {
    kind: 'keyless',
    name: 'anyone',
    trustRoot: PUBLIC_GOOD,
    identities: [{ subjectRegExp: '.*', issuerRegExp: '.*' }],
  };

  it('verifies a cosign 3 DSSE attestation bundle, with its verified time', () => {
    const check = verifyAttestation(bundle, subject, anyone, context);
    if (!check.ok) throw new Error(`${check.code}: ${check.message}`);
    expect(isAttestation(bundle)).toBe(true);
    expect(check.attestation.signedAt).toBeInstanceOf(Date);
    expect(check.attestation.predicateType).toBe(check.attestation.statement.predicateType);
  });

  it('refuses it for another digest with DIGEST_MISMATCH', () => {
    expect(code(verifyAttestation(bundle, OTHER_DIGEST, anyone, context))).toBe('DIGEST_MISMATCH');
  });

  it('does not take an image signature for an attestation', () => {
    const [sig] = legacyLayers(
      'real/cosign-legacy/keyless-docker.io-phbelitz-rekor-test/sig-manifest.sha256-31dc72a13a0c34b40eb95419d2b2fd67320c856baf3b72da518023ee8d370aee.sig.json',
      'real/cosign-legacy/keyless-docker.io-phbelitz-rekor-test/simplesigning-payload.sha256-897d9e862b4599b723442f36ed7b4cfd1628bb7656643c56855988cac161d065.json',
    ) as [SignatureEvidence];
    expect(isAttestation(sig)).toBe(false);
    expect(code(verifyAttestation(sig, OTHER_DIGEST, anyone, context))).toBe('UNSUPPORTED_FORMAT');
  });

  it('throws for a malformed image digest (a caller error)', () => {
    expect(() => verifyAttestation(bundle, 'sha256:xyz', anyone, context)).toThrow(/not <algorithm>:<hex>/);
  });
});
