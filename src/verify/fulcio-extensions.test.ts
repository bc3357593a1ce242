import { describe, expect, it } from 'vitest';
import { X509Certificate } from '@sigstore/core';
import { fixtureJson } from '../../test/support/fixtures.js';
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
});
