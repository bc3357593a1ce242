import { createHash } from 'node:crypto';
import { TransparencyLogEntry } from '@sigstore/protobuf-specs';
import { describe, expect, it } from 'vitest';
import { bundleEvidence, fixtureBytes, fixtureJson } from '../../test/support/fixtures.js';
import { buildTrustRoot, createTrustStore, PUBLIC_GOOD } from '../trust/trust-store.js';
import { verifyArtifactBundle } from './artifact-bundle.js';
import { verifyAttestation } from './attestation.js';
import {
  MAX_BUNDLE_CHECKPOINT_SIGNATURES,
  MAX_CHECKPOINT_SIGNATURES,
  trustMaterialForCheckpoints,
} from './checkpoint.js';
import { parseStatement, matchSubject, type Statement } from './in-toto.js';
import { assertLogRecordsSigner } from './log-verifier.js';
import type { KeylessAuthority } from './types.js';

// The behaviours the interop corpus (test/interop) found missing, on the same real bundles, in process.

const I = 'interop/';
const PG = 'real/trusted-root/public-good/trusted_root.json';
const THRESHOLDS = { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 };
const BEACON =
  'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const GHA = 'https://token.actions.githubusercontent.com';
const NPM_JS = 'https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main';

function keyless(subject: string, issuer: string, trustRoot = 'command line'): KeylessAuthority {
  return { kind: 'keyless', name: 'test', trustRoot, identities: [{ subject, issuer }] };
}

function root(path: string) {
  return buildTrustRoot(path, fixtureBytes(path), THRESHOLDS);
}

function statementOf(bundlePath: string): Statement {
  const bundle = fixtureJson<{ dsseEnvelope: { payload: string; payloadType: string } }>(bundlePath);
  const statement = parseStatement(
    bundle.dsseEnvelope.payloadType,
    Buffer.from(bundle.dsseEnvelope.payload, 'base64'),
  );
  if (typeof statement === 'string') throw new Error(statement);
  return statement;
}

describe('subjects in any digest algorithm (npm provenance lists only sha512)', () => {
  const bundlePath = `${I}sigstore-python/npm-sigstore-3.1.0/bundle.sigstore.json`;
  const tarball = fixtureBytes(`${I}sigstore-python/npm-sigstore-3.1.0/sigstore-3.1.0.tgz`);
  const sha = (a: string) => createHash(a).update(tarball).digest('hex');
  const npm = keyless(NPM_JS, GHA);

  it('matches the tarball by sha512, from its bytes or from its sha512 digest', () => {
    const byFile = verifyArtifactBundle(fixtureBytes(bundlePath), { bytes: tarball }, npm, root(PG));
    expect(byFile.ok && byFile.predicateType).toBe('https://slsa.dev/provenance/v1');
    const byDigest = verifyArtifactBundle(
      fixtureBytes(bundlePath),
      { digest: `sha512:${sha('sha512')}` },
      npm,
      root(PG),
    );
    expect(byDigest.ok).toBe(true);
  });

  it('names the algorithms and digests it compared, never "none"', () => {
    const statement = statementOf(bundlePath);
    const bySha256 = matchSubject(statement, (a) => (a === 'sha256' ? sha('sha256') : undefined));
    expect(bySha256).toEqual({
      matched: false,
      message: `statement subjects sha512:${sha('sha512')}; no subject has a sha256 digest to compare with artifact sha256:${sha('sha256')}`,
    });
    const other = matchSubject(statement, (a) => (a === 'sha512' ? 'ab'.repeat(64) : undefined));
    expect(other.matched ? '' : other.message).toContain(`artifact sha512:${'ab'.repeat(64)} matches none`);
    expect(other.matched ? '' : other.message).not.toContain('none,');
  });

  it('a given sha256 digest is refused against a sha512-only statement, with that reason', () => {
    const check = verifyArtifactBundle(
      fixtureBytes(bundlePath),
      { digest: `sha256:${sha('sha256')}` },
      npm,
      root(PG),
    );
    expect(check.ok ? '' : `${check.code}: ${check.message}`).toMatch(
      /^DIGEST_MISMATCH: .*no subject has a sha256 digest/,
    );
  });

  it('a statement listing several algorithms matches by whichever the artifact has (pure)', () => {
    const statement: Statement = {
      type: 'https://in-toto.io/Statement/v1',
      predicateType: 'https://slsa.dev/provenance/v1',
      subjects: [
        {
          name: 'app',
          digest: { sha256: 'a'.repeat(64), sha512: 'b'.repeat(128), gitCommit: 'c'.repeat(40) },
        },
      ],
    };
    const image = (hex: string) =>
      matchSubject(statement, (alg) => (alg === 'sha256' ? hex : undefined), 'image');
    expect(image('a'.repeat(64))).toEqual({ matched: true, algorithm: 'sha256', hex: 'a'.repeat(64) });
    expect(image('d'.repeat(64)).matched).toBe(false);
    const bytes = matchSubject(statement, (alg) =>
      alg === 'sha512' ? 'b'.repeat(128) : alg === 'sha256' ? 'e'.repeat(64) : undefined,
    );
    expect(bytes).toMatchObject({ matched: true, algorithm: 'sha512' });
  });

  it('binds to an image only through a sha256 subject, and says so', () => {
    const store = createTrustStore();
    const check = verifyAttestation(
      bundleEvidence(bundlePath),
      `sha256:${sha('sha256')}`,
      keyless(NPM_JS, GHA, PUBLIC_GOOD),
      { trustStore: store },
    );
    expect(check.ok ? '' : `${check.code}: ${check.message}`).toBe(
      `DIGEST_MISMATCH: statement subjects sha512:${sha('sha512')}; no subject has a sha256 digest to compare with image sha256:${sha('sha256')}; a statement binds to image sha256:${sha('sha256')} only through a sha256 subject equal to it`,
    );
  });
});

describe('RFC 3161 timestamps beyond the threshold', () => {
  const a = fixtureBytes('conformance/bundle-verify/a.txt');
  const beacon = keyless(BEACON, GHA);

  it.each([
    ['rekor2-extra-timestamp-over-other-signature', 'timestamp could not be verified'],
    ['rekor2-extra-timestamp-from-untrusted-tsa', 'timestamp could not be verified'],
  ])('%s: counts the one that verifies and reports the other', (name, reason) => {
    const dir = `${I}derived/${name}/`;
    const check = verifyArtifactBundle(
      fixtureBytes(`${dir}bundle.sigstore.json`),
      { bytes: a },
      beacon,
      root(`${dir}trusted_root.json`),
    );
    expect(check.ok && check.signer.timestamps?.map((t) => [t.kind, t.index])).toEqual([['rfc3161', 0]]);
    expect(check.ok && check.signer.ignoredTimestamps).toEqual([{ index: 1, reason }]);
  });

  it('still checks the certificate at every timestamp that verifies (sigstore-conformance)', () => {
    const dir = `${I}derived/rekor2-multiple-timestamps-one-outside-cert-validity_fail/`;
    const check = verifyArtifactBundle(
      fixtureBytes(`${dir}bundle.sigstore.json`),
      { bytes: a },
      beacon,
      root(`${dir}trusted_root.json`),
    );
    expect(check.ok ? 'ok' : check.code).toBe('CERTIFICATE_INVALID');
  });

  it('says which timestamps were left out when none is left', () => {
    const dir = 'conformance/bundle-verify/rekor2-timestamp-payload-mismatch_fail/';
    const check = verifyArtifactBundle(
      fixtureBytes(`${dir}bundle.sigstore.json`),
      { bytes: a },
      beacon,
      root(`${dir}trusted_root.json`),
    );
    expect(check.ok ? '' : `${check.code}: ${check.message}`).toMatch(
      /^TIMESTAMP_INVALID: .*RFC 3161 timestamps not counted: #0 \(timestamp could not be verified\)$/,
    );
  });
});

describe('checkpoints of a private Rekor are found by key hint, not by name', () => {
  const dir = `${I}sigstore-go/othername-scaffolding/`;
  const bundle = fixtureJson<{ verificationMaterial: { tlogEntries: unknown[] } }>(
    `${dir}bundle.sigstore.json`,
  );
  const entries = bundle.verificationMaterial.tlogEntries.map((e) =>
    TransparencyLogEntry.fromJSON(e),
  ) as never;
  const scaffolding = root(`${dir}trusted_root.json`);
  const digest = 'sha256:bc103b4a84971ef6459b294a2b98568a2bfb72cded09d4acd1e16366a401f95b';

  it('vouches the note name of a signature that verifies with the trusted key', () => {
    const material = trustMaterialForCheckpoints(scaffolding.trustMaterial, entries);
    expect(material.tlogs.map((t) => t.baseURL)).toEqual([
      'http://rekor.rekor-system.172.18.255.1.sslip.io rekor-00001-deployment-56bf7777c9-jds5x',
    ]);
    const check = verifyArtifactBundle(
      fixtureBytes(`${dir}bundle.sigstore.json`),
      { digest },
      keyless('foo!oidc.local', 'http://oidc.local:8080'),
      scaffolding,
    );
    expect(check.ok).toBe(true);
  });

  it('leaves the material alone when no signature verifies under a trusted key', () => {
    const other = root(PG);
    expect(trustMaterialForCheckpoints(other.trustMaterial, entries)).toBe(other.trustMaterial);
    const check = verifyArtifactBundle(
      fixtureBytes(`${dir}bundle.sigstore.json`),
      { digest },
      keyless('foo!oidc.local', 'http://oidc.local:8080'),
      other,
    );
    expect(check.ok).toBe(false);
  });
});

describe('checkpoints are refused with more signature lines than a log and its witnesses write', () => {
  const dir = `${I}sigstore-go/othername-scaffolding/`;
  const digest = 'sha256:bc103b4a84971ef6459b294a2b98568a2bfb72cded09d4acd1e16366a401f95b';
  /** The real bundle, its checkpoint's signature line written `lines` times (each verifies). */
  const withSignatureLines = (lines: number) => {
    const json = fixtureJson<{
      verificationMaterial: { tlogEntries: { inclusionProof: { checkpoint: { envelope: string } } }[] };
    }>(`${dir}bundle.sigstore.json`);
    const checkpoint = json.verificationMaterial.tlogEntries[0]?.inclusionProof.checkpoint;
    if (checkpoint === undefined) throw new Error('fixture without checkpoint');
    const [note, signatures] = checkpoint.envelope.split('\n\n');
    checkpoint.envelope = `${note}\n\n${(signatures ?? '').repeat(lines)}`;
    return Buffer.from(JSON.stringify(json));
  };
  const verify = (lines: number) =>
    verifyArtifactBundle(
      withSignatureLines(lines),
      { digest },
      keyless('foo!oidc.local', 'http://oidc.local:8080'),
      root(`${dir}trusted_root.json`),
    );

  it(`refuses more than ${MAX_BUNDLE_CHECKPOINT_SIGNATURES} in all of a bundle's checkpoints together`, () => {
    /** The real entry `entries` times, each checkpoint with `lines` signature lines. */
    const withEntries = (entries: number, lines: number) => {
      const json = fixtureJson<{ verificationMaterial: { tlogEntries: unknown[] } }>(
        `${dir}bundle.sigstore.json`,
      );
      const one = JSON.parse(withSignatureLines(lines).toString('utf8')) as typeof json;
      json.verificationMaterial.tlogEntries = Array.from(
        { length: entries },
        () => one.verificationMaterial.tlogEntries[0],
      );
      return Buffer.from(JSON.stringify(json));
    };
    const verifyEntries = (entries: number, lines: number) => {
      const check = verifyArtifactBundle(
        withEntries(entries, lines),
        { digest },
        keyless('foo!oidc.local', 'http://oidc.local:8080'),
        root(`${dir}trusted_root.json`),
      );
      return check.ok ? 'ok' : `${check.code}: ${check.message}`;
    };
    // 3 x 11 lines: each checkpoint within its own bound, the bundle over its budget.
    expect(verifyEntries(3, 11)).toMatch(
      /^TLOG_INVALID: the bundle's transparency-log checkpoints carry 33 signatures together; at most 32/,
    );
    // 2 x 16 lines pass this check (the copies then fail as duplicate timestamps, for another reason).
    expect(verifyEntries(2, 16)).not.toMatch(/together/);
  });

  it(`verifies with up to ${MAX_CHECKPOINT_SIGNATURES}, and refuses more before checking any of them`, () => {
    expect(verify(MAX_CHECKPOINT_SIGNATURES).ok).toBe(true);
    const check = verify(MAX_CHECKPOINT_SIGNATURES + 1);
    expect(check.ok ? '' : `${check.code}: ${check.message}`).toMatch(
      /^TLOG_INVALID: .*checkpoint carries more than 16 signatures/,
    );
  });
});

describe('malformed bundles read as malformed, never as JavaScript errors', () => {
  const a = fixtureBytes('conformance/bundle-verify/a.txt');
  const beacon = keyless(BEACON, GHA);

  it('a v0.3 inclusion proof without checkpoint', () => {
    const bundle = fixtureBytes(
      `${I}derived/v0.3-inclusion-proof-without-checkpoint_fail/bundle.sigstore.json`,
    );
    const check = verifyArtifactBundle(bundle, { bytes: a }, beacon, root(PG));
    expect(check.ok ? '' : `${check.code}: ${check.message}`).toMatch(
      /^SIGNATURE_INVALID: bundle is malformed: .*checkpoint/,
    );
  });

  it('a v0.1 proof without checkpoint is left out; the SET binds the entry (CPython 3.12.5)', () => {
    const bundle = fixtureBytes(`${I}sigstore-python/cpython-3.12.5/Python-3.12.5.tgz.sigstore`);
    const check = verifyArtifactBundle(
      bundle,
      { digest: 'sha256:38dc4e2c261d49c661196066edbfb70fdb16be4a79cc8220c224dfeb5636d405' },
      keyless('thomas@python.org', 'https://accounts.google.com'),
      root(PG),
    );
    expect(check.ok && check.signer.timestamps?.map((t) => t.kind)).toEqual(['tlog']);
  });

  it('a field the parsers let through (a tlog entry without logId) gives no JavaScript text', () => {
    const json = fixtureJson<{ verificationMaterial: { tlogEntries: Record<string, unknown>[] } }>(
      'conformance/bundle-verify/happy-path-v0.1/bundle.sigstore.json',
    );
    delete json.verificationMaterial.tlogEntries[0]?.['logId'];
    const check = verifyArtifactBundle(Buffer.from(JSON.stringify(json)), { bytes: a }, beacon, root(PG));
    expect(check.ok ? '' : `${check.code}: ${check.message}`).toMatch(
      /^SIGNATURE_INVALID: bundle is malformed/,
    );
    expect(check.ok ? '' : check.message).not.toMatch(/Cannot read|undefined|TypeError/);
  });
});

describe('Rekor v2 entries must record the certificate, not a bare key (docs/interop.md)', () => {
  const a = fixtureBytes('conformance/bundle-verify/a.txt');
  const beacon = keyless(BEACON, GHA);
  const verify = (name: string) => {
    const dir = `${I}derived/${name}/`;
    return verifyArtifactBundle(
      fixtureBytes(`${dir}bundle.sigstore.json`),
      { bytes: a },
      beacon,
      root(`${dir}trusted_root.json`),
    );
  };

  it('accepts an entry that records the signing certificate', () => {
    expect(verify('private-rekor2-entry-records-certificate').ok).toBe(true);
  });

  it('refuses an otherwise valid entry that records the certificate key alone', () => {
    const check = verify('private-rekor2-entry-records-public-key_fail');
    expect(check.ok ? '' : `${check.code}: ${check.message}`).toBe(
      'TLOG_INVALID: transparency-log entry 0 records a bare public key, not the signing certificate: it does not bind the signer identity',
    );
  });

  it('for a key signer, requires that key', () => {
    const json = fixtureJson<{ verificationMaterial: { tlogEntries: unknown[] } }>(
      `${I}derived/private-rekor2-entry-records-public-key_fail/bundle.sigstore.json`,
    );
    const entries = json.verificationMaterial.tlogEntries.map((e) =>
      TransparencyLogEntry.fromJSON(e),
    ) as never;
    const body = JSON.parse(
      Buffer.from(
        (json.verificationMaterial.tlogEntries[0] as { canonicalizedBody: string }).canonicalizedBody,
        'base64',
      ).toString(),
    ) as {
      spec: { hashedRekordV002: { signature: { verifier: { publicKey: { rawBytes: string } } } } };
    };
    const logged = Buffer.from(body.spec.hashedRekordV002.signature.verifier.publicKey.rawBytes, 'base64');
    expect(() => assertLogRecordsSigner(entries, { publicKey: logged, description: 'k' })).not.toThrow();
    expect(() =>
      assertLogRecordsSigner(entries, { publicKey: Buffer.from('other'), description: 'k' }),
    ).toThrow('records another public key than k');
  });
});
