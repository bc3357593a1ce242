import { describe, expect, it } from 'vitest';
import { createTrustStore, PUBLIC_GOOD, GITHUB } from '../trust/trust-store.js';
import { keylessAuthorityFor } from '../../test/support/keyless-policy.js';
import {
  bundleEvidence,
  expectationCases,
  fixtureBytes,
  fixtureJson,
  legacyLayers,
} from '../../test/support/fixtures.js';
import { compileKeylessAuthority } from './keyless-authority.js';
import { verifySignature } from './signature.js';
import type { KeylessAuthority, SignatureEvidence } from './types.js';

const store = createTrustStore();
const context = { trustStore: store };

const KEYLESS = 'real/cosign-legacy/keyless-docker.io-phbelitz-rekor-test/';
const KEYLESS_DIGEST = 'sha256:31dc72a13a0c34b40eb95419d2b2fd67320c856baf3b72da518023ee8d370aee';
const [keylessLayer] = legacyLayers(
  `${KEYLESS}sig-manifest.${KEYLESS_DIGEST.replace(':', '-')}.sig.json`,
  `${KEYLESS}simplesigning-payload.sha256-897d9e862b4599b723442f36ed7b4cfd1628bb7656643c56855988cac161d065.json`,
) as [SignatureEvidence];

const philipp: KeylessAuthority = {
  kind: 'keyless',
  name: 'philipp',
  trustRoot: PUBLIC_GOOD,
  identities: [{ issuer: 'https://github.com/login/oauth', subject: 'philipp.belitz@securesystems.de' }],
};

function outcome(evidence: SignatureEvidence, digest: string, authority: KeylessAuthority): string {
  const check = verifySignature(evidence, digest, authority, context);
  return check.ok ? 'ok' : check.code;
}

function withAnnotation(name: string, value: string | undefined): SignatureEvidence {
  if (keylessLayer.kind !== 'cosign-simple-signing') throw new Error('legacy layer expected');
  const annotations = { ...keylessLayer.annotations };
  if (value === undefined) delete annotations[name];
  else annotations[name] = value;
  return { ...keylessLayer, annotations };
}

describe('verifySignature with keyless authorities: legacy cosign .sig (certificate + Rekor SET annotations)', () => {
  // Connaisseur's upstream regexps are unanchored ("philipp", "github"); expectations.json gives the exact
  // identity next to them, which is what an anchored Provenant policy states.
  const cases = expectationCases().filter(
    (c) => c.type === 'cosign-legacy-signature' && !c.policy?.publicKeys,
  );
  it.each(cases.map((c) => [c.id, c] as const))('%s', (_, c) => {
    const check = verifySignature(
      keylessLayer,
      c.imageRef?.split('@')[1] ?? '',
      keylessAuthorityFor(c, PUBLIC_GOOD),
      context,
    );
    expect(check.ok ? 'pass' : check.code).toBe(c.expected === 'pass' ? 'pass' : 'UNTRUSTED_SIGNER');
  });

  it('verifies at the SET-verified integratedTime (the certificate expired in 2024)', () => {
    const check = verifySignature(keylessLayer, KEYLESS_DIGEST, philipp, context);
    expect(check.ok && [check.signer.subject, check.signer.issuer]).toEqual([
      'philipp.belitz@securesystems.de',
      'https://github.com/login/oauth',
    ]);
  });

  it('anchors RegExps: "philipp" alone does not match philipp.belitz@securesystems.de', () => {
    const unanchored = { ...philipp, identities: [{ issuerRegExp: 'github', subjectRegExp: 'philipp' }] };
    expect(outcome(keylessLayer, KEYLESS_DIGEST, unanchored)).toBe('UNTRUSTED_SIGNER');
    const anchoredOk = {
      ...philipp,
      identities: [{ issuerRegExp: '.*github.*', subjectRegExp: 'philipp\\..*' }],
    };
    expect(outcome(keylessLayer, KEYLESS_DIGEST, anchoredOk)).toBe('ok');
  });

  it('is DIGEST_MISMATCH against another image digest', () => {
    expect(outcome(keylessLayer, `sha256:${'0'.repeat(64)}`, philipp)).toBe('DIGEST_MISMATCH');
  });

  it('is UNTRUSTED_SIGNER under the GitHub trust root, whose CA did not issue the certificate', () => {
    expect(outcome(keylessLayer, KEYLESS_DIGEST, { ...philipp, trustRoot: GITHUB })).toBe('UNTRUSTED_SIGNER');
  });

  it('without the Rekor bundle annotation there is no trusted time: TIMESTAMP_INVALID', () => {
    expect(outcome(withAnnotation('dev.sigstore.cosign/bundle', undefined), KEYLESS_DIGEST, philipp)).toBe(
      'TIMESTAMP_INVALID',
    );
  });

  it('a Rekor SET that does not verify is TLOG_INVALID', () => {
    const bundle = JSON.parse(
      (keylessLayer as { annotations: Record<string, string> }).annotations['dev.sigstore.cosign/bundle'] ??
        '{}',
    ) as { Payload: { integratedTime: number } };
    bundle.Payload.integratedTime += 1;
    expect(
      outcome(withAnnotation('dev.sigstore.cosign/bundle', JSON.stringify(bundle)), KEYLESS_DIGEST, philipp),
    ).toBe('TLOG_INVALID');
  });

  it('a legacy `rekord` entry (cosign before 2.0) is UNSUPPORTED_FORMAT rather than a broken log', () => {
    const rekor = JSON.parse(
      (keylessLayer as { annotations: Record<string, string> }).annotations['dev.sigstore.cosign/bundle'] ??
        '{}',
    ) as { Payload: { body: string } };
    const body = JSON.parse(Buffer.from(rekor.Payload.body, 'base64').toString()) as { kind: string };
    body.kind = 'rekord';
    rekor.Payload.body = Buffer.from(JSON.stringify(body)).toString('base64');
    expect(
      outcome(withAnnotation('dev.sigstore.cosign/bundle', JSON.stringify(rekor)), KEYLESS_DIGEST, philipp),
    ).toBe('UNSUPPORTED_FORMAT');
  });

  it('a certificate swapped for another valid Fulcio certificate fails (the signature does not match it)', () => {
    const other = fixtureJson<{ verificationMaterial: { certificate: { rawBytes: string } } }>(
      'real/bundles/conformance/happy-path-v0.3/bundle.sigstore.json',
    ).verificationMaterial.certificate.rawBytes;
    const pem = `-----BEGIN CERTIFICATE-----\n${other.replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`;
    const check = verifySignature(
      withAnnotation('dev.sigstore.cosign/certificate', pem),
      KEYLESS_DIGEST,
      philipp,
      context,
    );
    expect(check.ok).toBe(false);
  });

  it('a tampered payload is rejected (the tlog entry records the original digest)', () => {
    if (keylessLayer.kind !== 'cosign-simple-signing') throw new Error('legacy layer expected');
    const payload = Buffer.from(
      Buffer.from(keylessLayer.payload).toString().replace('rekor-test', 'rekor-tesu'),
    );
    expect(outcome({ ...keylessLayer, payload }, KEYLESS_DIGEST, philipp)).toBe('TLOG_INVALID');
  });
});

describe('verifySignature with keyless authorities: bundles and certificate extensions', () => {
  const opa = bundleEvidence('real/slsa/github-attestation-container-opa-provider/bundle.sigstore.json');
  const opaDigest = 'sha256:d57f9212097b86c8d75158ea1d974721e7c6f8c33bd77838b242c8f6a2d21813';
  const opaAuthority: KeylessAuthority = {
    kind: 'keyless',
    name: 'opa',
    trustRoot: GITHUB,
    identities: [
      {
        issuer: 'https://token.actions.githubusercontent.com',
        subjectRegExp:
          'https://github\\.com/github/artifact-attestations-opa-provider/\\.github/workflows/.+',
      },
    ],
  };

  it('an attestation (SLSA provenance) is NOT_AN_IMAGE_SIGNATURE, even when it would verify', () => {
    const check = verifySignature(opa, opaDigest, opaAuthority, context);
    expect(check.ok ? 'ok' : check.code).toBe('NOT_AN_IMAGE_SIGNATURE');
  });

  it('a cosign-signed message bundle is bound only through its message digest', () => {
    const evidence = bundleEvidence('real/bundles/conformance/happy-path-v0.3/bundle.sigstore.json');
    const authority: KeylessAuthority = {
      kind: 'keyless',
      name: 'beacon',
      trustRoot: PUBLIC_GOOD,
      identities: [
        {
          issuer: 'https://token.actions.githubusercontent.com',
          subjectRegExp: 'https://github\\.com/sigstore-conformance/.+',
        },
      ],
      certificate: { sourceRepositoryRef: 'refs/heads/main', runnerEnvironment: 'github-hosted' },
    };
    const aTxt = 'sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf';
    expect(outcome(evidence, aTxt, authority)).toBe('ok');
    expect(outcome(evidence, `sha256:${'0'.repeat(64)}`, authority)).toBe('DIGEST_MISMATCH');
    const wrongRef = { ...authority, certificate: { sourceRepositoryRefRegExp: 'refs/tags/v.*' } };
    expect(outcome(evidence, aTxt, wrongRef)).toBe('UNTRUSTED_SIGNER');
    const v1 = {
      ...authority,
      certificate: {
        githubWorkflowRepository: 'sigstore-conformance/extremely-dangerous-public-oidc-beacon',
      },
    };
    expect(outcome(evidence, aTxt, v1)).toBe('ok');
  });

  it('a signing certificate that is not DER is SIGNATURE_INVALID and says so', () => {
    const path = 'real/bundles/conformance/happy-path-v0.3/bundle.sigstore.json';
    const json = fixtureJson<{ verificationMaterial: { certificate: { rawBytes: string } } }>(path);
    const authority: KeylessAuthority = {
      kind: 'keyless',
      name: 'beacon',
      trustRoot: PUBLIC_GOOD,
      identities: [{ issuer: 'https://token.actions.githubusercontent.com', subjectRegExp: '.+' }],
    };
    const aTxt = 'sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf';
    const withCertificate = (rawBytes: string): SignatureEvidence => ({
      kind: 'sigstore-bundle',
      source: path,
      bundle: Buffer.from(
        JSON.stringify({
          ...json,
          verificationMaterial: { ...json.verificationMaterial, certificate: { rawBytes } },
        }),
      ),
    });
    expect(
      verifySignature(
        withCertificate(json.verificationMaterial.certificate.rawBytes),
        aTxt,
        authority,
        context,
      ).ok,
    ).toBe(true);
    const check = verifySignature(
      withCertificate(Buffer.from('not a certificate').toString('base64')),
      aTxt,
      authority,
      context,
    );
    expect(check.ok ? 'ok' : `${check.code}: ${check.message}`).toBe(
      'SIGNATURE_INVALID: signing certificate is not DER',
    );
  });

  it('throws INVALID_POLICY without a trust store or for an unknown trust root', () => {
    expect(() => verifySignature(keylessLayer, KEYLESS_DIGEST, philipp)).toThrow(
      expect.objectContaining({ code: 'INVALID_POLICY' }),
    );
    expect(() =>
      verifySignature(keylessLayer, KEYLESS_DIGEST, { ...philipp, trustRoot: 'nope' }, context),
    ).toThrow(expect.objectContaining({ code: 'INVALID_POLICY' }));
    expect(() => compileKeylessAuthority({ ...philipp, trustRoot: 'nope' }, store)).toThrow(
      expect.objectContaining({ code: 'INVALID_POLICY' }),
    );
  });

  it('a custom trust root verifies what it anchors (staging bundle under the staging root)', () => {
    const staging = createTrustStore({
      staging: {
        trustedRoot: fixtureBytes('real/bundles/conformance/rekor2-dsse-happy-path/trusted_root.json'),
      },
    });
    const evidence = bundleEvidence(
      'real/bundles/conformance/bundle-from-wrong-instance_fail/bundle.sigstore.json',
    );
    const authority: KeylessAuthority = {
      kind: 'keyless',
      name: 'staging',
      trustRoot: 'staging',
      identities: [{ issuer: 'https://token.actions.githubusercontent.com', subjectRegExp: '.+' }],
    };
    const aTxt = 'sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf';
    expect(verifySignature(evidence, aTxt, authority, { trustStore: staging }).ok).toBe(true);
    expect(verifySignature(evidence, aTxt, { ...authority, trustRoot: PUBLIC_GOOD }, context).ok).toBe(false);
  });
});
