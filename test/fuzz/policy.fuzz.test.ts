/**
 * Policy documents, as operators write them (files) or as the API server stores them (CRDs). Invariants:
 * compiling any document gives a compiled policy or a list of field problems, never a throw; compiling a
 * set fails only with INVALID_POLICY; a compiled policy's matcher never throws.
 */
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ProvenantError } from '../../src/errors.js';
import { parseReference } from '../../src/oci/reference.js';
import { authorityCompiler } from '../../src/policy/authorities.js';
import { compileDocument, compilePolicies } from '../../src/policy/compile.js';
import { createTrustStore } from '../../src/trust/trust-store.js';
import { casesRun, counted, expectBoundedHeap, mutatedJson, params, typedOnly } from './support.js';

const key = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .publicKey.export({ type: 'spki', format: 'pem' })
  .toString();
const compileAuthority = authorityCompiler(createTrustStore());

const seeds: unknown[] = [
  {
    apiVersion: 'provenant.dev/v1alpha1',
    kind: 'ClusterImagePolicy',
    metadata: { name: 'release' },
    spec: {
      mode: 'Enforce',
      images: [{ glob: 'registry.example/team/**' }, { glob: 'ghcr.io/acme/*' }],
      authorities: [
        { name: 'release-key', key: { publicKey: key } },
        {
          name: 'ci',
          keyless: {
            trustRoot: 'public-good',
            identities: [
              {
                issuer: 'https://token.actions.githubusercontent.com',
                subjectRegExp: '^https://github\\.com/acme/.+$',
              },
            ],
            certificate: { sourceRepositoryURI: 'https://github.com/acme/app' },
          },
        },
      ],
      signatures: { threshold: 2 },
      attestations: [
        {
          name: 'provenance',
          predicateType: 'slsa-provenance',
          authorities: ['ci'],
          slsa: { minBuildLevel: 3, source: { repository: 'github.com/acme/*', refs: ['refs/heads/main'] } },
        },
      ],
    },
  },
  {
    apiVersion: 'provenant.dev/v1alpha1',
    kind: 'ImagePolicy',
    metadata: { name: 'team', namespace: 'shop' },
    spec: {
      mode: 'Warn',
      images: [{ glob: '**' }],
      authorities: [{ name: 'k', key: { publicKey: key } }],
      signatures: {},
    },
  },
];

const candidates = fc.constantFrom(
  'registry.example/team/app:v1',
  'ghcr.io/acme/x@sha256:' + 'a'.repeat(64),
  'nginx',
);

afterAll(() => {
  console.log(`fuzz policy: ${casesRun()} cases`);
});

describe('policy documents', () => {
  it('compile to a policy or field problems; sets fail only with INVALID_POLICY', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          mutatedJson(seeds).map((text) => JSON.parse(text) as unknown),
          fc.anything({ maxDepth: 4 }),
        ),
        candidates,
        counted((value: unknown, candidate: string) => {
          const result = compileDocument({ source: 'fuzz', index: 0, value }, compileAuthority);
          if ('problems' in result) {
            expect(result.problems.length).toBeGreaterThan(0);
            for (const problem of result.problems) expect(typeof problem.message).toBe('string');
          } else {
            const { registry, path } = parseReference(candidate);
            expect(typeof result.matches(`${registry}/${path}`)).toBe('boolean');
          }
          const set = typedOnly(() =>
            compilePolicies([{ source: 'fuzz', index: 0, value }], compileAuthority),
          );
          if (set instanceof ProvenantError) expect(set.code).toBe('INVALID_POLICY');
        }),
      ),
      params(3_000),
    );
    expectBoundedHeap();
  });
});
