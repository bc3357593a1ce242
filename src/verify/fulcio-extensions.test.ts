import { describe, expect, it } from 'vitest';
import { X509Certificate } from '@sigstore/core';
import { generateKeyPairSync } from 'node:crypto';
import { fixtureJson } from '../../test/support/fixtures.js';
import {
  createCertificateAuthority,
  encodeFulcioExtension,
  FULCIO_OIDS,
  type LeafExtension,
} from '../../test/support/sigstore-ca.js';
import { sequence, tlv } from '../../test/support/sigstore-der.js';
import { readFulcioIdentity } from './fulcio-extensions.js';

function leaf(path: string): Buffer<ArrayBuffer> {
  const json = fixtureJson<{ verificationMaterial: { certificate: { rawBytes: string } } }>(path);
  return Buffer.from(json.verificationMaterial.certificate.rawBytes, 'base64');
}

const GITHUB_CERT = leaf('real/slsa/github-attestation-container-opa-provider/bundle.sigstore.json');
// DER of OID 1.3.6.1.4.1.57264.1.12 (Source Repository URI) followed by its extnValue OCTET STRING header.
const SOURCE_REPO_OID = Buffer.from('060a2b0601040183bf30010c', 'hex');

describe('readFulcioIdentity', () => {
  it('decodes v2 extensions (DER UTF8String) and v1 extensions (raw) from a GitHub instance certificate', () => {
    const identity = readFulcioIdentity(X509Certificate.parse(GITHUB_CERT));
    expect(identity.issuer).toBe('https://token.actions.githubusercontent.com');
    expect(identity.subject).toBe(
      'https://github.com/github/artifact-attestations-opa-provider/.github/workflows/docker.yaml@refs/pull/31/merge',
    );
    expect(identity.extensions).toMatchObject({
      sourceRepositoryURI: 'https://github.com/github/artifact-attestations-opa-provider',
      sourceRepositoryVisibilityAtSigning: 'private',
      runnerEnvironment: 'github-hosted',
      githubWorkflowRepository: 'github/artifact-attestations-opa-provider',
    });
  });

  it('rejects a v2 extension that is not a UTF8String as CERTIFICATE_INVALID', () => {
    const der: Buffer<ArrayBuffer> = Buffer.from(GITHUB_CERT);
    const at = der.indexOf(SOURCE_REPO_OID);
    expect(at).toBeGreaterThan(0);
    const innerTag = at + SOURCE_REPO_OID.length + 2; // skip the OCTET STRING tag and length
    expect(der[innerTag]).toBe(0x0c);
    der[innerTag] = 0x04;
    expect(() => readFulcioIdentity(X509Certificate.parse(der))).toThrow(
      expect.objectContaining({ code: 'CERTIFICATE_INVALID' }),
    );
  });

  describe('the SAN, read from its DER', () => {
    // sigstore-go's scaffolding certificate: a username otherName SAN "foo!oidc.local".
    const USERNAME_CERT = leaf('interop/sigstore-go/othername-scaffolding/bundle.sigstore.json');
    const withBytes = (cert: Buffer, find: string, replace: Buffer) => {
      const der = Buffer.from(cert);
      const at = der.indexOf(Buffer.from(find, 'latin1'));
      expect(at).toBeGreaterThan(0);
      replace.copy(der, at);
      return X509Certificate.parse(der);
    };

    it('decodes a username otherName as UTF-8, not as 7-bit ASCII', () => {
      expect(readFulcioIdentity(X509Certificate.parse(USERNAME_CERT)).subject).toBe('foo!oidc.local');
      // "foo" becomes "\u00e9o" (c3 a9 6f), the same length; ASCII decoding read it as "C)o".
      const cert = withBytes(USERNAME_CERT, 'foo!oidc', Buffer.from('\u00e9o', 'utf8'));
      expect(readFulcioIdentity(cert).subject).toBe('\u00e9o!oidc.local');
    });

    it('refuses a username that is not UTF-8, and a URI SAN that is not ASCII', () => {
      const username = withBytes(USERNAME_CERT, 'foo!oidc', Buffer.from([0x66, 0x6f, 0xb1]));
      expect(() => readFulcioIdentity(username)).toThrow(
        expect.objectContaining({ code: 'CERTIFICATE_INVALID' }),
      );
      const uri = withBytes(GITHUB_CERT, 'https://github.com/github/artifact', Buffer.from([0xe9]));
      expect(() => readFulcioIdentity(uri)).toThrow(
        expect.objectContaining({
          code: 'CERTIFICATE_INVALID',
          message: 'certificate SAN is not ASCII (IA5String)',
        }),
      );
    });
  });

  describe('an extension given twice, which Go x509 refuses', () => {
    const SAN = 'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0';
    const issuer = (value: string): LeafExtension => ({
      oid: FULCIO_OIDS.issuer,
      value: encodeFulcioExtension(FULCIO_OIDS.issuer, value),
    });
    async function issued(extensions: LeafExtension[]): Promise<X509Certificate> {
      const ca = await createCertificateAuthority({ organization: 'duplicates', intermediate: true });
      const publicKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
        type: 'spki',
        format: 'der',
      });
      const [der] = await ca.issue({
        publicKey,
        subjectAltName: { type: 'uri', value: SAN },
        extensions,
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + 600_000),
      });
      return X509Certificate.parse(Buffer.from(der ?? []));
    }

    it('reads one issuer', async () => {
      const identity = readFulcioIdentity(await issued([issuer('https://token.example')]));
      expect(identity).toMatchObject({ issuer: 'https://token.example', subject: SAN });
    });

    it('is CERTIFICATE_INVALID for two issuers or two SAN extensions', async () => {
      const twoIssuers = await issued([issuer('https://token.example'), issuer('https://evil.example')]);
      expect(() => readFulcioIdentity(twoIssuers)).toThrow(
        expect.objectContaining({ code: 'CERTIFICATE_INVALID' }),
      );
      // The CA writes the SAN it was asked for; this one comes after it, naming another workflow.
      const otherSan = tlv(
        0x86,
        Buffer.from('https://github.com/evil/app/.github/workflows/x.yml@refs/heads/x'),
      );
      const twoSans = await issued([
        issuer('https://token.example'),
        { oid: '2.5.29.17', value: sequence(otherSan) },
      ]);
      expect(() => readFulcioIdentity(twoSans)).toThrow(
        expect.objectContaining({ code: 'CERTIFICATE_INVALID' }),
      );
    });
  });
});
