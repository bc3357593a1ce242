import { readFileSync } from 'node:fs';
import { loadAll } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { parseReference } from '../oci/reference.js';
import { authorityCompiler } from '../policy/authorities.js';
import { compileDocument, toPolicySet } from '../policy/compile.js';
import type { CompiledPolicy } from '../policy/types.js';
import { validateTrustRootSpec } from '../kube/trust-root-spec.js';
import { createTrustStore } from '../trust/trust-store.js';
import { convertDocument, convertGlob, type ConvertedDocument } from './policy-controller.js';

const FIXTURES = new URL('../../test/fixtures/policy-controller/', import.meta.url);

function fixture(name: string): ConvertedDocument[] {
  const docs = loadAll(readFileSync(new URL(name, FIXTURES), 'utf8')).filter((d) => d != null);
  return docs.map((d, i) => convertDocument(d, i));
}

function only(name: string): ConvertedDocument {
  const [doc, ...rest] = fixture(name);
  expect(rest).toEqual([]);
  return doc as ConvertedDocument;
}

const fields = (doc: ConvertedDocument, kind?: string) =>
  doc.notes.filter((n) => kind === undefined || n.kind === kind).map((n) => n.field);

describe('convert: static authorities', () => {
  it.each([
    ['cip-static-pass.yaml', 'Allow'],
    ['cip-static-fail.yaml', 'Deny'],
  ])('%s becomes a static %s policy, with nothing left over', (name, action) => {
    const doc = only(name);
    expect(doc.notes).toEqual([]);
    expect(doc.policy?.spec).toEqual({
      images: [{ glob: 'registry.local:5000/policy-controller/demo*' }],
      static: { action },
    });
  });

  it('a static pass satisfies the policy alone; a CIP-level CUE policy is reported, not dropped', () => {
    const doc = only('allow-only-pods.yaml');
    expect(doc.policy?.spec.static).toEqual({ action: 'Allow' });
    expect(doc.notes).toEqual([expect.objectContaining({ field: 'spec.policy', kind: 'unmapped' })]);
    expect(doc.notes[0]?.message).toContain('CUE');
  });

  it('a static fail next to other authorities is left out (authorities are alternatives), with a note', () => {
    const doc = convertDocument(
      {
        apiVersion: 'policy.sigstore.dev/v1beta1',
        kind: 'ClusterImagePolicy',
        metadata: { name: 'p' },
        spec: {
          images: [{ glob: 'ghcr.io/**' }],
          authorities: [
            { static: { action: 'fail' } },
            { keyless: { url: 'https://fulcio.sigstore.dev', identities: [{ issuer: 'i', subject: 's' }] } },
          ],
        },
      },
      0,
    );
    expect(doc.policy?.spec.static).toBeUndefined();
    expect(doc.policy?.spec.authorities).toEqual([
      { name: 'authority-1', keyless: { identities: [{ issuer: 'i', subject: 's' }] } },
    ]);
    expect(doc.notes).toEqual([expect.objectContaining({ field: 'spec.authorities[0]', kind: 'note' })]);
  });

  it('carries a static fail message', () => {
    const doc = convertDocument(
      {
        apiVersion: 'policy.sigstore.dev/v1alpha1',
        kind: 'ClusterImagePolicy',
        metadata: { name: 'p' },
        spec: { images: [{ glob: '**' }], authorities: [{ static: { action: 'fail', message: 'no' } }] },
      },
      0,
    );
    expect(doc.policy?.spec.static).toEqual({ action: 'Deny', message: 'no' });
  });
});

describe('convert: key and keyless authorities', () => {
  it('a key authority with inline data maps exactly', () => {
    const doc = only('cip-key-no-rekor.yaml');
    expect(doc.notes).toEqual([]);
    expect(doc.policy?.spec).toMatchObject({
      images: [{ glob: '**demo**' }],
      authorities: [{ name: 'authority-0', key: { publicKey: expect.stringContaining('BEGIN PUBLIC KEY') } }],
      signatures: {},
    });
  });

  it('keyless: public-good identities map exactly; the public Rekor needs no note', () => {
    const doc = only('release-signed-by-github-actions.yaml');
    expect(doc.notes).toEqual([]);
    expect(doc.policy?.spec.authorities).toEqual([
      {
        name: 'authority-0',
        keyless: {
          identities: [
            {
              issuer: 'https://token.actions.githubusercontent.com',
              subject:
                'https://github.com/sigstore/policy-controller/.github/workflows/release.yaml@refs/tags/v0.3.0',
            },
          ],
        },
      },
    ]);
  });

  it('lists KMS keys, Secret keys, CA certificates and private Fulcio URLs as not mapped', () => {
    const doc = only('valid-policy.yaml');
    expect(fields(doc, 'unmapped')).toEqual([
      'spec.authorities[0].keyless.ca-cert',
      'spec.authorities[2].attestations[0].policy',
      'spec.authorities[2].attestations[1].policy',
      'spec.authorities[6].key.kms',
      'spec.authorities[7].key.secretRef',
    ]);
    expect(fields(doc, 'approximated')).toEqual(['spec.authorities']);
    // The authorities that map are kept, with names made DNS labels.
    expect(doc.policy?.spec.authorities?.map((a) => a.name)).toEqual([
      'authority-0',
      'keyless-signatures',
      'keyless-attestations',
      'authority-3',
      'authority-4',
      'authority-5',
    ]);
    expect(doc.policy?.spec.attestations).toEqual([
      {
        name: 'custom-predicate-type-validation',
        predicateType: 'https://cosign.sigstore.dev/attestation/v1',
        authorities: ['keyless-attestations'],
      },
      {
        name: 'vuln-predicate-type-validation',
        predicateType: 'https://cosign.sigstore.dev/attestation/vuln/v1',
        authorities: ['keyless-attestations'],
      },
    ]);
  });

  it('trustRootRef becomes keyless.trustRoot, with a note to convert the TrustRoot', () => {
    const doc = only('cip-keyless-with-trustroot-with-attestations.yaml');
    expect(doc.policy?.spec.authorities?.[0]?.keyless?.trustRoot).toBe('my-sigstore-keys');
    expect(fields(doc, 'note')).toEqual(['spec.authorities[0].keyless.trustRootRef']);
    // One attestation authority alone maps exactly: its attestations, no signature requirement.
    expect(doc.policy?.spec.signatures).toBeUndefined();
    expect(fields(doc, 'approximated')).toEqual([]);
  });

  it('mode warn becomes Warn; keyless without identities accepts any identity, as the source did', () => {
    const doc = only('cip-keyless-warn.yaml');
    expect(doc.policy?.spec.mode).toBe('Warn');
    expect(doc.policy?.spec.authorities?.[0]?.keyless?.identities).toEqual([
      { issuerRegExp: '.*', subjectRegExp: '.*' },
    ]);
    expect(fields(doc, 'unmapped')).toEqual([
      'spec.authorities[0].keyless.url',
      'spec.authorities[0].ctlog.url',
    ]);
  });

  it('signature pull secrets keep their name, in the namespace policy-controller read them from', () => {
    const doc = only('cip-key-signature-pull-secrets.yaml');
    expect(doc.policy?.spec.images).toEqual([{ glob: 'docker.io/hectorj2f/**' }]);
    expect(doc.policy?.spec.signaturePullSecrets).toEqual([{ name: 'regcred', namespace: 'cosign-system' }]);
  });

  it('maps short predicate types (spdxjson) and reports the CUE check it cannot run', () => {
    const doc = only('custom-key-attestation-sbom-spdxjson.yaml');
    expect(doc.policy?.spec.attestations).toEqual([
      { name: 'must-have-spdxjson', predicateType: 'spdx', authorities: ['custom-key'] },
    ]);
    expect(fields(doc, 'unmapped')).toEqual([
      'spec.authorities[0].ctlog',
      'spec.authorities[0].attestations[0].policy',
    ]);
  });

  it('rfc3161timestamp on a key authority becomes key.timestampTrustRoot, approximated (not required)', () => {
    const doc = convertDocument(
      {
        apiVersion: 'policy.sigstore.dev/v1alpha1',
        kind: 'ClusterImagePolicy',
        metadata: { name: 'p' },
        spec: {
          images: [{ glob: '**' }],
          authorities: [{ key: { data: 'PEM' }, rfc3161timestamp: { trustRootRef: 'tsa-root' } }],
        },
      },
      0,
    );
    expect(doc.policy?.spec.authorities).toEqual([
      { name: 'authority-0', key: { publicKey: 'PEM', timestampTrustRoot: 'tsa-root' } },
    ]);
    expect(doc.notes).toEqual([
      expect.objectContaining({ field: 'spec.authorities[0].rfc3161timestamp', kind: 'approximated' }),
    ]);
    // policy-controller's own TSA example keeps its key in a Secret: nothing is left to write.
    expect(fields(only('cip-key-tsa.yaml'), 'unmapped')).toEqual([
      'spec.authorities[0].key.secretRef',
      '(document)',
    ]);
  });

  it('the docs page: a KMS-only policy is not written, and says why', () => {
    const docs = fixture('docs-sample-policies.yaml');
    expect(docs.map((d) => d.policy !== undefined)).toEqual([true, true, false]);
    expect(fields(docs[2] as ConvertedDocument, 'unmapped')).toEqual([
      'spec.authorities[0].key.kms',
      '(document)',
    ]);
  });

  it('resource matching and the CIP-level policy are listed', () => {
    const doc = only('valid-policy-match-resource.yaml');
    expect(fields(doc, 'unmapped')).toContain('spec.match');
  });

  it('refuses a document that is not a policy-controller ClusterImagePolicy', () => {
    const doc = convertDocument({ apiVersion: 'v1', kind: 'ConfigMap' }, 3);
    expect(doc.policy).toBeUndefined();
    expect(doc.notes).toEqual([
      expect.objectContaining({ document: 'document 4', kind: 'unmapped', field: '(document)' }),
    ]);
  });
});

describe('convert: every policy written validates with Provenant', () => {
  const store = createTrustStore();
  const compile = authorityCompiler(store);
  it.each(
    readdir().flatMap((name) =>
      fixture(name)
        .filter((d) => d.policy !== undefined)
        .map((d) => [d.document, name, d] as const),
    ),
  )('%s (%s)', (_document, _file, doc) => {
    const policy = structuredClone(doc.policy) as NonNullable<ConvertedDocument['policy']>;
    // A TrustRoot named by trustRootRef does not exist here; its identities are still checked.
    for (const a of policy.spec.authorities ?? []) {
      if (a.keyless?.trustRoot) (a.keyless as { trustRoot?: string }).trustRoot = 'public-good';
      if (a.key?.timestampTrustRoot)
        (a.key as { timestampTrustRoot?: string }).timestampTrustRoot = 'public-good';
    }
    const result = compileDocument({ source: 'converted', index: 0, value: policy }, compile);
    expect('problems' in result ? result.problems : []).toEqual([]);
  });
});

function readdir(): string[] {
  return [
    'allow-only-pods.yaml',
    'cip-key-and-keyless.yaml',
    'cip-key-no-rekor.yaml',
    'cip-key-signature-pull-secrets.yaml',
    'cip-key-tsa.yaml',
    'cip-key-with-attestations-rego.yaml',
    'cip-keyless-warn.yaml',
    'cip-keyless-with-trustroot-with-attestations.yaml',
    'cip-requires-two-signatures-and-two-attestations.yaml',
    'cip-static-fail.yaml',
    'cip-static-pass.yaml',
    'custom-key-attestation-sbom-spdxjson.yaml',
    'docs-sample-policies.yaml',
    'release-signed-by-github-actions.yaml',
    'valid-policy.yaml',
    'valid-policy-match-resource.yaml',
  ];
}

// policy-controller's own glob test cases (pkg/apis/glob/glob_test.go, see SOURCES.md): the converted glob
// must match exactly the images policy-controller's glob matches, through Provenant's real matching path.
describe('convertGlob agrees with policy-controller on its own test cases', () => {
  const compile = authorityCompiler(createTrustStore());
  function matches(glob: string, image: string): boolean {
    const policy = compileDocument(
      {
        source: 't',
        index: 0,
        value: {
          apiVersion: 'provenant.dev/v1alpha1',
          kind: 'ClusterImagePolicy',
          metadata: { name: 'g' },
          spec: { images: [{ glob: convertGlob(glob).glob }], static: { action: 'Allow' } },
        },
      },
      compile,
    );
    if ('problems' in policy) throw new Error(JSON.stringify(policy.problems));
    return toPolicySet([policy as CompiledPolicy]).matching(parseReference(image)).length > 0;
  }

  it.each([
    ['foo', 'index.docker.io/library/foo:latest', true],
    ['foo', 'index.docker.io/library/foo:*', true],
    ['foo', 'index.docker.io/library/*', true],
    ['foo', 'index.docker.io/library/*:latest', true],
    ['foo', 'index.docker.io/*/*', true],
    ['foo', 'index.docker.io/**', true],
    ['foo', '**', true],
    ['foo', 'foo', true],
    ['foo', 'foo*', true],
    ['myuser/myapp', 'index.docker.io/myuser/myapp:latest', true],
    ['myuser/myapp', 'index.docker.io/myuser/myapp:*', true],
    ['myuser/myapp', 'index.docker.io/myuser/*', true],
    ['myuser/myapp', 'index.docker.io/myuser/*:latest', true],
    ['myuser/myapp', 'index.docker.io/*/*', true],
    ['myuser/myapp', 'index.docker.io/**', true],
    ['myuser/myapp', '**', true],
    ['myuser/myapp', 'myuser/myapp', true],
    ['myuser/myapp', 'myuser/myapp*', true],
    ['myuser/myapp', 'myuser/myapp**', true],
    ['ghcr.io/foo/bar', 'ghcr.io/*/*', true],
    ['ghcr.io/foo/bar', 'ghcr.io/**', true],
    ['ghcr.io/foo', 'ghcr.io/*/*', false],
    ['ghcr.io/foo', 'ghcr.io/**', true],
    ['ghcr.io/foo', '**', true],
    ['ghcr.io/foo', '*/**', true],
    ['ghcr.io/foo', 'ghcr.io/foo*', true],
    ['ghcr.io/foo', 'ghcr.io/foo**', true],
    ['prefix-ghcr.io/foo', 'ghcr.io/foo', false],
    ['ghcr.io/foo-suffix', 'ghcr.io/foo', false],
    ['ghcrxio/foo', 'ghcr.io/**', false],
    ['foo', '*', true],
    ['myuser/myapp', '*/*', true],
  ])('image %s, glob %s: %s', (image, glob, expected) => {
    expect(convertGlob(glob).kind).not.toBe('approximated');
    expect(matches(glob, image)).toBe(expected);
  });

  it.each([
    ['foo', 'index.docker.**'],
    ['foo', 'inde**'],
    ['foo', 'foo**'],
    ['ghcr.io/foo', 'ghc**'],
  ])('image %s, glob %s: a wildcard in the registry name is reported as approximated', (_image, glob) => {
    expect(convertGlob(glob).kind).toBe('approximated');
  });
});

describe('convert: keyless trust details', () => {
  const keyless = (authority: object) =>
    convertDocument(
      {
        apiVersion: 'policy.sigstore.dev/v1alpha1',
        kind: 'ClusterImagePolicy',
        metadata: { name: 'p' },
        spec: {
          images: [{ glob: '**' }],
          authorities: [{ keyless: { identities: [{ issuer: 'i', subject: 's' }] }, ...authority }],
        },
      },
      0,
    );

  it('insecureIgnoreSCT: true is reported as approximated (Provenant is stricter); false is nothing', () => {
    const ignored = keyless({
      keyless: { identities: [{ issuer: 'i', subject: 's' }], insecureIgnoreSCT: true },
    });
    expect(fields(ignored, 'approximated')).toEqual(['spec.authorities[0].keyless.insecureIgnoreSCT']);
    const kept = keyless({
      keyless: { identities: [{ issuer: 'i', subject: 's' }], insecureIgnoreSCT: false },
    });
    expect(kept.notes).toEqual([]);
  });

  it('a Rekor from another TrustRoot than the CA cannot be mapped', () => {
    const doc = keyless({
      keyless: { identities: [{ issuer: 'i', subject: 's' }], trustRootRef: 'ca-root' },
      ctlog: { url: 'https://rekor.corp', trustRootRef: 'rekor-root' },
    });
    expect(fields(doc, 'unmapped')).toEqual(['spec.authorities[0].ctlog.trustRootRef']);
    const same = keyless({
      keyless: { identities: [{ issuer: 'i', subject: 's' }], trustRootRef: 'corp' },
      ctlog: { url: 'https://rekor.corp', trustRootRef: 'corp' },
    });
    expect(fields(same, 'unmapped')).toEqual([]);
  });
});

describe('convert: policy-controller TrustRoots', () => {
  // The public-good initial root.json, as the chart's TrustRoot example carries it (base64, as both kinds want).
  const example = loadAll(
    readFileSync(new URL('../../charts/provenant/examples/trustroot-tuf.yaml', import.meta.url), 'utf8'),
  )[0] as { spec: { tuf: { mirror: string; root: string } } };
  const { mirror, root } = example.spec.tuf;
  const trustRoot = (spec: object) => ({
    apiVersion: 'policy.sigstore.dev/v1alpha1',
    kind: 'TrustRoot',
    metadata: { name: 'my-sigstore-keys' },
    spec,
  });

  it('maps remote (a TUF mirror and its initial root) to spec.tuf, which validates', () => {
    const doc = convertDocument(
      trustRoot({ remote: { mirror, root, trustedRootTarget: 'trusted_root.json' } }),
      0,
    );
    expect(doc.notes).toEqual([]);
    expect(doc.trustRoot).toEqual({
      apiVersion: 'provenant.dev/v1alpha1',
      kind: 'TrustRoot',
      metadata: { name: 'my-sigstore-keys' },
      spec: { tuf: { mirror, root } },
    });
    expect(validateTrustRootSpec(doc.trustRoot?.spec)).toEqual({ spec: doc.trustRoot?.spec });
  });

  it.each([
    ['a repository tarball', { repository: { mirrorFS: 'H4sI', root } }, 'spec.repository'],
    ['sigstoreKeys', { sigstoreKeys: { certificateAuthorities: [] } }, 'spec.sigstoreKeys'],
  ])('lists %s as not mapped and writes nothing', (_what, spec, field) => {
    const doc = convertDocument(trustRoot(spec), 0);
    expect(doc.trustRoot).toBeUndefined();
    expect(fields(doc, 'unmapped')).toEqual([field, '(document)']);
  });

  it('lists a target name other than the default', () => {
    const doc = convertDocument(trustRoot({ remote: { mirror, root, trustedRootTarget: 'custom.json' } }), 0);
    expect(fields(doc, 'unmapped')).toEqual(['spec.remote.trustedRootTarget']);
  });
});
