/**
 * What registries and TUF repositories serve, fuzzed from real seeds: sigstore bundles, cosign
 * simple-signing payloads and DSSE envelopes, in-toto statements, trusted roots, token responses and
 * challenges, Docker configs, and signature discovery over a registry whose answers are bent per request.
 * Invariants: only ProvenantErrors (or the parsers' own "not this" strings) come out; hostile JSON is
 * refused by its bounds before anything is built; the heap stays bounded.
 */
import { X509Certificate } from '@sigstore/core';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parseChallenges, parseDockerConfig } from '../../src/oci/auth.js';
import { discoverSignatures } from '../../src/oci/discover.js';
import { parseRepository } from '../../src/oci/reference.js';
import { memoizeDer } from '../../src/trust/certificate-authority-memo.js';
import { parseTrustedRoot } from '../../src/trust/trusted-root.js';
import { legacyAttestationToBundle, legacyToBundle } from '../../src/verify/cosign-legacy.js';
import { prepareBundle, prepareEvidence } from '../../src/verify/evidence.js';
import { parseStatement, IN_TOTO_PAYLOAD_TYPE } from '../../src/verify/in-toto.js';
import { parseSimpleSigning } from '../../src/verify/simple-signing.js';
import { precertificate } from '../support/precertificate.js';
import { bend, FuzzRegistry, IMAGE_DIGEST, LAYOUT_BLOBS } from './fuzz-registry.js';
import {
  casesRun,
  counted,
  countedAsync,
  expectBoundedHeap,
  fixtureFiles,
  hostileJsonText,
  mutatedBytes,
  mutatedJson,
  params,
  typedOnly,
  typedOnlyAsync,
} from './support.js';

const bundles = fixtureFiles('real/bundles/', /\.sigstore\.json$/);
const simpleSigning = fixtureFiles('real/cosign-legacy/', /^simplesigning-payload/);
const trustedRoots = fixtureFiles('real/trusted-root/', /\.json$/);
const predicates = fixtureFiles('predicates/', /\.json$/);
const layoutBlobs = [...LAYOUT_BLOBS.values()].filter((b) => b.length < 64 * 1024);
/** DSSE envelopes: the layout's attestation layers are envelopes. */
const envelopes = layoutBlobs.filter((b) => Buffer.from(b).toString('utf8').includes('"payloadType"'));

const statements = predicates.map((predicate) =>
  new TextEncoder().encode(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: 'x', digest: { sha256: IMAGE_DIGEST.slice(7) } }],
      predicateType: 'https://slsa.dev/provenance/v1',
      predicate: JSON.parse(Buffer.from(predicate).toString('utf8')) as unknown,
    }),
  ),
);

/** Every certificate the real bundles carry (Fulcio leaves and their chains). */
const certificates = bundles.flatMap((bytes) => {
  const material = (
    JSON.parse(Buffer.from(bytes).toString('utf8')) as {
      verificationMaterial?: {
        certificate?: { rawBytes: string };
        x509CertificateChain?: { certificates: { rawBytes: string }[] };
      };
    }
  ).verificationMaterial;
  return [
    ...(material?.certificate ? [material.certificate] : []),
    ...(material?.x509CertificateChain?.certificates ?? []),
  ].map((c) => new Uint8Array(Buffer.from(c.rawBytes, 'base64')));
});

const annotations = fc.dictionary(
  fc.constantFrom(
    'dev.cosignproject.cosign/signature',
    'dev.sigstore.cosign/certificate',
    'dev.sigstore.cosign/chain',
    'dev.sigstore.cosign/bundle',
    'dev.sigstore.cosign/rfc3161timestamp',
    'predicateType',
  ),
  fc.oneof(fc.base64String({ maxLength: 200 }), fc.string({ maxLength: 100 }), hostileJsonText, fc.json()),
);

afterAll(() => {
  console.log(`fuzz registry: ${casesRun()} cases`);
});

describe('signature and attestation formats', () => {
  it('sigstore bundles: prepared or refused with a typed error', () => {
    fc.assert(
      fc.property(
        mutatedBytes(bundles),
        counted((bytes: Uint8Array) => {
          typedOnly(() => prepareBundle(bytes));
        }),
      ),
      params(3_000),
    );
    expectBoundedHeap();
  });

  it('cosign simple-signing payloads with any annotations', () => {
    fc.assert(
      fc.property(
        mutatedBytes(simpleSigning),
        annotations,
        counted((payload: Uint8Array, notes: Record<string, string>) => {
          const claim = parseSimpleSigning(payload);
          expect(typeof claim === 'string' || typeof claim.dockerManifestDigest === 'string').toBe(true);
          typedOnly(() => legacyToBundle(payload, notes));
          typedOnly(() =>
            prepareEvidence({ kind: 'cosign-simple-signing', source: 'fuzz', payload, annotations: notes }),
          );
        }),
      ),
      params(3_000),
    );
  });

  it('DSSE envelopes of cosign attestations, and in-toto statements', () => {
    fc.assert(
      fc.property(
        mutatedBytes(envelopes),
        annotations,
        mutatedBytes(statements),
        counted((envelope: Uint8Array, notes: Record<string, string>, statement: Uint8Array) => {
          typedOnly(() => legacyAttestationToBundle(envelope, notes));
          typedOnly(() =>
            prepareEvidence({ kind: 'cosign-attestation', source: 'fuzz', envelope, annotations: notes }),
          );
          const parsed = parseStatement(IN_TOTO_PAYLOAD_TYPE, statement);
          expect(typeof parsed === 'string' || parsed.subjects.length > 0).toBe(true);
        }),
      ),
      params(3_000),
    );
    expectBoundedHeap();
  });
});

describe('certificates with remembered encodings', () => {
  it('encode, compare and clone as @sigstore/core does with none remembered', () => {
    expect(certificates.length).toBeGreaterThan(3);
    fc.assert(
      fc.property(
        mutatedBytes(certificates),
        counted((bytes: Uint8Array) => {
          let fresh: X509Certificate;
          try {
            fresh = X509Certificate.parse(Buffer.from(bytes));
          } catch {
            return; // not DER: nothing is remembered for it
          }
          const memoized = X509Certificate.parse(Buffer.from(bytes));
          memoizeDer(memoized);
          const outcome = (work: () => Buffer) => {
            try {
              return work().toString('hex');
            } catch (err) {
              return `throws ${(err as Error).name}`;
            }
          };
          expect(outcome(() => memoized.root.toDER())).toBe(outcome(() => fresh.root.toDER()));
          expect(outcome(() => precertificate(memoized).tbs)).toBe(outcome(() => precertificate(fresh).tbs));
          // the clone's edit never reaches the certificate itself
          expect(outcome(() => memoized.tbsCertificate.toDER())).toBe(
            outcome(() => fresh.tbsCertificate.toDER()),
          );
          expect(memoized.equals(fresh)).toBe(true);
        }),
      ),
      params(2_000),
    );
  });
});

describe('trust material and auth exchanges', () => {
  it('trusted roots (TUF targets): parsed or TRUST_ROOT_INVALID', () => {
    fc.assert(
      fc.property(
        mutatedBytes(trustedRoots),
        counted((bytes: Uint8Array) => {
          const result = typedOnly(() => parseTrustedRoot(bytes, 'fuzz'));
          if (result instanceof Error) expect(result.code).toBe('TRUST_ROOT_INVALID');
        }),
      ),
      params(1_500),
    );
  });

  it('WWW-Authenticate challenges never throw; Docker configs fail with REGISTRY_AUTH_FAILED only', () => {
    const config = JSON.parse(
      '{"auths":{"ghcr.io":{"auth":"dXNlcjpwYXNz"},"https://index.docker.io/v1/":{"identitytoken":"t"},"r.example":{"username":"u","password":"p"}}}',
    ) as unknown;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.string({
            maxLength: 300,
            unit: fc.constantFrom(...'Bearer realm="h:/,service=scope\\ '.split('')),
          }),
        ),
        fc.oneof(mutatedJson([config]), hostileJsonText),
        counted((header: string, json: string) => {
          for (const challenge of parseChallenges(header))
            expect(challenge.scheme).toBe(challenge.scheme.toLowerCase());
          const store = typedOnly(() => parseDockerConfig(json));
          if (store instanceof Error) expect(store.code).toBe('REGISTRY_AUTH_FAILED');
        }),
      ),
      params(3_000),
    );
  });
});

describe('signature discovery over a bent registry', () => {
  it('finds evidence or reports it unreadable, failing only with typed registry errors', async () => {
    const repo = parseRepository('ghcr.io/acme/app');
    await fc.assert(
      fc.asyncProperty(
        fc.array(bend, { maxLength: 10 }),
        countedAsync(async (bends) => {
          const found = await typedOnlyAsync(() =>
            discoverSignatures(new FuzzRegistry(bends), repo, IMAGE_DIGEST, { attestations: true }),
          );
          if (found instanceof Error) return;
          for (const item of [...found.unreadable, ...found.unreadableAttestations]) {
            expect(item.message.length).toBeGreaterThan(0);
          }
        }),
      ),
      params(1_500),
    );
    expectBoundedHeap();
  });
});
