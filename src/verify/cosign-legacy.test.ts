import { describe, expect, it } from 'vitest';
import { buildTrustRoot } from '../trust/trust-store.js';
import { fixtureBytes, fixtureJson, legacyLayers } from '../../test/support/fixtures.js';
import { LEGACY_ANNOTATIONS, legacyToBundle } from './cosign-legacy.js';
import { verifyKeyless } from './keyless-authority.js';
import type { KeylessAuthority } from './types.js';

const KEYLESS = 'real/cosign-legacy/keyless-docker.io-phbelitz-rekor-test/';
const [layer] = legacyLayers(
  `${KEYLESS}sig-manifest.sha256-31dc72a13a0c34b40eb95419d2b2fd67320c856baf3b72da518023ee8d370aee.sig.json`,
  `${KEYLESS}simplesigning-payload.sha256-897d9e862b4599b723442f36ed7b4cfd1628bb7656643c56855988cac161d065.json`,
);

describe('legacyToBundle', () => {
  it('maps the Rekor bundle annotation to a tlog entry (hex logID → keyId bytes, kind from the body)', () => {
    if (layer?.kind !== 'cosign-simple-signing') throw new Error('legacy layer expected');
    const bundle = legacyToBundle(layer.payload, layer.annotations);
    const rekor = JSON.parse(layer.annotations[LEGACY_ANNOTATIONS.rekorBundle] ?? '{}') as {
      Payload: { logID: string; integratedTime: number; logIndex: number };
    };
    const [entry] = bundle.verificationMaterial.tlogEntries;
    expect(entry?.logId?.keyId.toString('hex')).toBe(rekor.Payload.logID);
    expect(entry?.integratedTime).toBe(String(rekor.Payload.integratedTime));
    expect(entry?.kindVersion).toEqual({ kind: 'hashedrekord', version: '0.0.1' });
    expect(bundle.verificationMaterial.content.$case).toBe('x509CertificateChain');
  });

  it('a key-signed layer becomes a public-key bundle without tlog entries', () => {
    const bundle = legacyToBundle(Buffer.from('{}'), { [LEGACY_ANNOTATIONS.signature]: 'MEUCIQ==' });
    expect(bundle.verificationMaterial.content.$case).toBe('publicKey');
    expect(bundle.verificationMaterial.tlogEntries).toEqual([]);
  });

  // A real TSA token over real signature bytes: take a Rekor v2 bundle (certificate + RFC 3161 timestamp, no
  // SET) and present it the way cosign annotates a legacy layer. Only the TSA can then date the certificate.
  it('verifies a legacy layer whose only trusted time is the RFC 3161 annotation', () => {
    const dir = 'real/bundles/conformance/rekor2-happy-path/';
    const source = fixtureJson<{
      verificationMaterial: {
        certificate: { rawBytes: string };
        timestampVerificationData: { rfc3161Timestamps: { signedTimestamp: string }[] };
      };
      messageSignature: { signature: string };
    }>(`${dir}bundle.sigstore.json`);
    const der = source.verificationMaterial.certificate.rawBytes;
    const annotations = {
      [LEGACY_ANNOTATIONS.signature]: source.messageSignature.signature,
      [LEGACY_ANNOTATIONS.certificate]: `-----BEGIN CERTIFICATE-----\n${der.replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`,
      [LEGACY_ANNOTATIONS.rfc3161]: JSON.stringify({
        SignedRFC3161Timestamp:
          source.verificationMaterial.timestampVerificationData.rfc3161Timestamps[0]?.signedTimestamp,
      }),
    };
    const payload = fixtureBytes('real/bundles/conformance/a.txt');
    const prepared = {
      kind: 'simple-signing' as const,
      bundle: legacyToBundle(payload, annotations),
      payload,
      claim: { type: 'cosign container image signature', dockerManifestDigest: 'sha256:unused' },
    };
    const authority: KeylessAuthority = {
      kind: 'keyless',
      name: 'beacon',
      trustRoot: 'staging',
      identities: [
        {
          issuer: 'https://token.actions.githubusercontent.com',
          subjectRegExp: 'https://github\\.com/sigstore-conformance/.+',
        },
      ],
    };
    const thresholds = { tlogThreshold: 0, ctlogThreshold: 1, timestampThreshold: 1 };
    const root = buildTrustRoot('staging', fixtureBytes(`${dir}trusted_root.json`), thresholds);
    expect(verifyKeyless(prepared, authority, root).subject).toMatch(/extremely-dangerous-oidc-beacon/);

    const tampered = {
      ...prepared,
      bundle: legacyToBundle(Buffer.from('other'), annotations),
      payload: Buffer.from('other'),
    };
    expect(() => verifyKeyless(tampered, authority, root)).toThrow(
      expect.objectContaining({ code: 'SIGNATURE_INVALID' }),
    );

    const withoutTimestamp: Record<string, string> = Object.fromEntries(
      Object.entries(annotations).filter(([name]) => name !== LEGACY_ANNOTATIONS.rfc3161),
    );
    const undated = { ...prepared, bundle: legacyToBundle(payload, withoutTimestamp) };
    expect(() => verifyKeyless(undated, authority, root)).toThrow(
      expect.objectContaining({ code: 'TIMESTAMP_INVALID' }),
    );
  });
});
