import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  buildTrustRoot,
  createTrustStore,
  GITHUB,
  PUBLIC_GOOD,
  type TrustRoot,
} from '../trust/trust-store.js';
import { keylessAuthorityFor } from '../../test/support/keyless-policy.js';
import { expectationCases, fixtureBytes, type ExpectationCase } from '../../test/support/fixtures.js';
import { verifyArtifactBundle, type ArtifactInput } from './artifact-bundle.js';
import { compileKeyAuthority } from './key-authority.js';

const store = createTrustStore();

// Roots the cases name: the embedded ones by name, the others loaded as custom roots (default thresholds).
function trustRootFor(path: string | undefined, options: ExpectationCase['verifierOptions']): TrustRoot {
  const embedded =
    path === 'trusted-root/public-good/trusted_root.json'
      ? store.get(PUBLIC_GOOD)
      : path === 'trusted-root/github/trusted_root.json'
        ? store.get(GITHUB)
        : undefined;
  const root =
    embedded ??
    buildTrustRoot(path ?? '', fixtureBytes(`real/${path}`), {
      tlogThreshold: 1,
      ctlogThreshold: 1,
      timestampThreshold: 1,
    });
  return options === undefined ? root : { ...root, thresholds: options };
}

function artifactFor(c: ExpectationCase): ArtifactInput {
  if (c.artifact !== undefined) return { bytes: fixtureBytes(`real/${c.artifact}`) };
  const hex = c.subjectDigest?.sha256 ?? '';
  // "<digest of any other image>": any digest that is not the subject's
  return { digest: `sha256:${/^[0-9a-f]{64}$/.test(hex) ? hex : '1'.repeat(64)}` };
}

/** Why each failing case fails, as a Provenant code (the upstream README reason in Provenant's terms). */
const FAILURE_CODES: Readonly<Record<string, string>> = {
  'conformance/bundle-from-wrong-instance_fail': 'UNTRUSTED_SIGNER', // staging CA, not production's
  'conformance/bundle-unknown-version_fail': 'UNSUPPORTED_FORMAT',
  'conformance/bundle-with-root-cert_fail': 'CERTIFICATE_INVALID',
  'conformance/dsse-invalid-sig_fail': 'TLOG_INVALID', // the logged signature differs from the envelope's
  'conformance/dsse-mismatch-sig_fail': 'TLOG_INVALID',
  'conformance/dsse-mismatch-envelope_fail': 'TLOG_INVALID',
  'conformance/incorrect-public-key_fail': 'TLOG_INVALID', // the SET covers the original body
  'conformance/invalid-inclusion-proof_fail': 'SIGNATURE_INVALID', // v0.2 bundle without checkpoint: malformed
  'conformance/message-digest-mismatch_fail': 'TLOG_INVALID',
  'conformance/signature-mismatch_fail': 'TLOG_INVALID',
  'conformance/wrong-material_fail': 'SIGNATURE_INVALID',
  'conformance/checkpoint-wrong-roothash_fail': 'TLOG_INVALID',
  'conformance/inclusion-proof-corrupted-hash_fail': 'TLOG_INVALID',
  'conformance/integrated-time-in-future_fail': 'CERTIFICATE_INVALID', // expired at the SET time
  'conformance/set-invalid-signature_fail': 'TLOG_INVALID',
  'conformance/wrong-hashedrekord-entry_fail': 'TLOG_INVALID',
  'derived/happy-path-v0.3+wrong-issuer': 'UNTRUSTED_SIGNER',
  'derived/happy-path-v0.3+wrong-san': 'UNTRUSTED_SIGNER',
  'cosign-oci-attestation/wrong-identity': 'UNTRUSTED_SIGNER',
  'cosign-oci-attestation/other-image-digest': 'DIGEST_MISMATCH',
  // GitHub's CA (and TSA) are not public good's: another instance, as with staging above.
  'github-attestation-container/public-good-root': 'UNTRUSTED_SIGNER',
  'github-attestation-bcr/module-bazel-wrong-signer': 'UNTRUSTED_SIGNER',
  'github-attestation-bcr/module-bazel-no-builder-id': 'INVALID_POLICY', // no builder id: no policy to check
};

describe('verifyArtifactBundle: every keyless sigstore-bundle case of expectations.json', () => {
  const cases = expectationCases().filter((c) => c.type === 'sigstore-bundle' && c.publicKey === undefined);

  it('covers the keyless bundle cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  it.each(cases.map((c) => [c.id, c] as const))('%s', (_, c) => {
    const roots = [c.trustedRoot, ...(c.expected === 'pass' ? (c.alsoPassesWith ?? []) : [])];
    for (const path of roots) {
      let outcome: string;
      try {
        const authority = keylessAuthorityFor(c, 'case');
        const check = verifyArtifactBundle(
          fixtureBytes(`real/${c.bundle}`),
          artifactFor(c),
          authority,
          trustRootFor(path, c.verifierOptions),
        );
        outcome = check.ok ? 'pass' : check.code;
      } catch (err) {
        outcome = (err as { code?: string }).code ?? String(err);
      }
      expect(outcome).toBe(c.expected === 'pass' ? 'pass' : FAILURE_CODES[c.id]);
    }
  });
});

describe('verifyArtifactBundle details', () => {
  const happy = fixtureBytes('real/bundles/conformance/happy-path-v0.3/bundle.sigstore.json');
  const artifact = fixtureBytes('real/bundles/conformance/a.txt');
  const authority = keylessAuthorityFor(
    {
      id: 'happy',
      type: 'sigstore-bundle',
      expected: 'pass',
      policy: {
        certificateIdentity:
          'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main',
        certificateOidcIssuer: 'https://token.actions.githubusercontent.com',
      },
    },
    PUBLIC_GOOD,
  );
  const root = store.get(PUBLIC_GOOD) as TrustRoot;

  it('verifies a message signature from the artifact digest alone (prehashed ECDSA)', () => {
    const digest = `sha256:${createHash('sha256').update(artifact).digest('hex')}`;
    expect(verifyArtifactBundle(happy, { digest }, authority, root).ok).toBe(true);
    const other = verifyArtifactBundle(happy, { digest: `sha256:${'2'.repeat(64)}` }, authority, root);
    expect(other.ok ? 'ok' : other.code).toBe('SIGNATURE_INVALID');
  });

  it('returns the certificate identity and decoded extensions', () => {
    const check = verifyArtifactBundle(happy, { bytes: artifact }, authority, root);
    expect(check.ok && check.signer.extensions?.sourceRepositoryURI).toBe(
      'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon',
    );
    expect(check.ok && check.signer.issuer).toBe('https://token.actions.githubusercontent.com');
  });

  it('checks a key-signed bundle with its tlog entry and timestamp when a trust root is given', () => {
    const dir = 'real/bundles/conformance/managed-key-happy-path/';
    const key = compileKeyAuthority('managed', fixtureBytes(`${dir}key.pub`).toString());
    const bundle = fixtureBytes(`${dir}bundle.sigstore.json`);
    expect(verifyArtifactBundle(bundle, { bytes: artifact }, key, root).ok).toBe(true);
    // The 2025-03 root lacks the TSA that timestamped it: that timestamp is left out (as sigstore-go and
    // cosign do), and the Rekor v1 integrated time, vouched for by its SET, is the time that counts.
    const old = buildTrustRoot(
      'old',
      fixtureBytes('real/trusted-root/public-good/trusted_root.2025-03.cosign-testdata.json'),
      {
        tlogThreshold: 1,
        ctlogThreshold: 1,
        timestampThreshold: 1,
      },
    );
    const check = verifyArtifactBundle(bundle, { bytes: artifact }, key, old);
    expect(check.ok && check.signer.timestamps?.map((t) => t.kind)).toEqual(['tlog']);
    expect(check.ok && check.signer.ignoredTimestamps?.map((t) => t.index)).toEqual([0]);
    // Without a trust root, the key alone is the trust.
    expect(verifyArtifactBundle(bundle, { bytes: artifact }, key, undefined).ok).toBe(true);
  });

  it('a keyless authority refuses a key-signed bundle as UNTRUSTED_SIGNER', () => {
    const bundle = fixtureBytes('real/bundles/conformance/managed-key-happy-path/bundle.sigstore.json');
    const check = verifyArtifactBundle(bundle, { bytes: artifact }, authority, root);
    expect(check.ok ? 'ok' : check.code).toBe('UNTRUSTED_SIGNER');
  });
});
