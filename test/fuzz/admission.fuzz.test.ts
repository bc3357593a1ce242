/**
 * AdmissionReview decoding and whole admission decisions. Invariants:
 * - decoding never throws: any body is a decoded review or an INVALID_REQUEST failure;
 * - the full handler (decode, decide, answer) never throws and answers 200, 400 or 429;
 * - fail closed: with an Enforce policy that matches every image (`**`) and a key nobody signed with, a
 *   CREATE that carries any container image is never allowed, whatever the object looks like and whatever
 *   the registry (real content, bent per request) answers. Verification runs for real: the registry holds a
 *   real image with real SLSA attestations, which a second (keyless) policy may even accept.
 */
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { decideAdmission } from '../../src/admission/decide.js';
import { handleAdmissionBody } from '../../src/admission/handle.js';
import { ADMISSION_V1, parseAdmissionReview } from '../../src/admission/review.js';
import { systemClock } from '../../src/clock.js';
import { ImageVerificationService } from '../../src/image-verification.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { authorityCompiler } from '../../src/policy/authorities.js';
import { compilePolicies } from '../../src/policy/compile.js';
import { createTrustStore } from '../../src/trust/trust-store.js';
import { bend, FuzzRegistry, IMAGE_DIGEST, type Bend } from './fuzz-registry.js';
import {
  casesRun,
  countedAsync,
  counted,
  expectBoundedHeap,
  fixtureFiles,
  mutatedBytes,
  mutatedJson,
  params,
} from './support.js';

const unsignedKey = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .publicKey.export({ type: 'spki', format: 'pem' })
  .toString();

const trustStore = createTrustStore();
const policies = compilePolicies(
  [
    {
      source: 'fuzz',
      index: 0,
      value: {
        apiVersion: 'provenant.dev/v1alpha1',
        kind: 'ClusterImagePolicy',
        metadata: { name: 'everything-signed' },
        spec: {
          mode: 'Enforce',
          images: [{ glob: '**' }],
          authorities: [{ name: 'nobody', key: { publicKey: unsignedKey } }],
          signatures: { threshold: 1 },
        },
      },
    },
    {
      source: 'fuzz',
      index: 1,
      value: {
        apiVersion: 'provenant.dev/v1alpha1',
        kind: 'ClusterImagePolicy',
        metadata: { name: 'built-by-slsa-generator' },
        spec: {
          mode: 'Enforce',
          images: [{ glob: '**' }],
          authorities: [
            {
              name: 'slsa-generator',
              keyless: {
                identities: [{ issuer: 'https://token.actions.githubusercontent.com', subjectRegExp: '.*' }],
              },
            },
          ],
          attestations: [
            {
              name: 'provenance',
              predicateType: 'slsa-provenance',
              authorities: ['slsa-generator'],
              slsa: { minBuildLevel: 3 },
            },
          ],
        },
      },
    },
  ],
  authorityCompiler(trustStore),
);

function verifierFor(bends: readonly Bend[]) {
  return new ImageVerificationService({
    registry: new FuzzRegistry(bends),
    policies: () => policies,
    noMatch: 'allow',
    clock: systemClock,
    // Nothing cached: every case verifies against its own bent registry.
    cacheTtlMs: 0,
    negativeCacheTtlMs: 0,
    cacheMaxEntries: 1,
    concurrency: 4,
    trustStore: () => trustStore,
  });
}

const image = fc.oneof(
  fc.constantFrom(
    `registry.example/acme/app@${IMAGE_DIGEST}`,
    `ghcr.io/slsa-framework/example:v1@${IMAGE_DIGEST}`,
    'registry.example/acme/app:v1',
    'GHCR.IO:443/acme/app:v1',
    'index.docker.io/library/nginx:v1',
    'nginx',
  ),
  fc.string({ minLength: 1, maxLength: 80 }),
);

const container = fc.record(
  { name: fc.string({ maxLength: 10 }), image, imagePullPolicy: fc.constantFrom('Always', 'IfNotPresent') },
  { requiredKeys: ['image'] },
);
const podSpec = fc.record(
  {
    containers: fc.array(container, { minLength: 1, maxLength: 3 }),
    initContainers: fc.array(container, { maxLength: 2 }),
    ephemeralContainers: fc.array(container, { maxLength: 1 }),
    noise: fc.jsonValue({ maxDepth: 3 }),
  },
  { requiredKeys: ['containers'] },
);

type Kind = 'Pod' | 'Deployment' | 'CronJob';
const workload = fc
  .tuple(fc.constantFrom<Kind>('Pod', 'Deployment', 'CronJob'), podSpec)
  .map(([kind, spec]) => {
    const group = kind === 'Pod' ? '' : 'apps';
    const version = kind === 'CronJob' ? 'v1' : 'v1';
    const apiGroup = kind === 'CronJob' ? 'batch' : group;
    const object =
      kind === 'Pod'
        ? { apiVersion: 'v1', kind, metadata: { name: 'p', namespace: 'shop' }, spec }
        : kind === 'Deployment'
          ? {
              apiVersion: 'apps/v1',
              kind,
              metadata: { name: 'd', namespace: 'shop' },
              spec: { template: { spec } },
            }
          : {
              apiVersion: 'batch/v1',
              kind,
              metadata: { name: 'c', namespace: 'shop' },
              spec: { schedule: '* * * * *', jobTemplate: { spec: { template: { spec } } } },
            };
    return {
      kind,
      spec,
      review: {
        apiVersion: ADMISSION_V1,
        kind: 'AdmissionReview',
        request: {
          uid: '00000000-0000-0000-0000-000000000001',
          kind: { group: apiGroup, version, kind },
          resource: { group: apiGroup, version, resource: `${kind.toLowerCase()}s` },
          namespace: 'shop',
          operation: 'CREATE',
          object,
          oldObject: null,
          dryRun: false,
        },
      },
    };
  });

const reviewSeeds = fixtureFiles('admission-review/', /\.json$/);

afterAll(() => {
  console.log(`fuzz admission: ${casesRun()} cases`);
});

describe('AdmissionReview decoding', () => {
  it('decodes any bytes to a review or an INVALID_REQUEST failure, never a throw', () => {
    fc.assert(
      fc.property(
        mutatedBytes(reviewSeeds),
        counted((body: Uint8Array) => {
          const decoded = parseAdmissionReview(body);
          if (!decoded.ok) expect(decoded.error.code).toBe('INVALID_REQUEST');
        }),
      ),
      params(3_000),
    );
    expectBoundedHeap();
  });

  it('decodes field-level mutations of real reviews the same way', () => {
    const seeds = reviewSeeds.flatMap((bytes) => {
      try {
        return [JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown];
      } catch {
        return [];
      }
    });
    fc.assert(
      fc.property(
        mutatedJson(seeds),
        counted((text: string) => {
          const decoded = parseAdmissionReview(new TextEncoder().encode(text));
          if (!decoded.ok) expect(decoded.error.code).toBe('INVALID_REQUEST');
        }),
      ),
      params(3_000),
    );
  });
});

describe('admission decisions', () => {
  it('reaches real verification: unbent, the real attestations satisfy the keyless policy', async () => {
    const [verdict] = await verifierFor([]).verifyImages([`ghcr.io/acme/app@${IMAGE_DIGEST}`]);
    const outcome = (name: string) => verdict?.outcomes.find((o) => o.policy === name);
    expect(outcome('built-by-slsa-generator')?.satisfied).toBe(true);
    expect(outcome('everything-signed')?.satisfied).toBe(false);
    expect(verdict?.allowed).toBe(false);
  });

  it('never allows a workload with an image an Enforce policy matches unless verified (nothing is)', async () => {
    await fc.assert(
      fc.asyncProperty(
        workload,
        fc.array(bend, { maxLength: 12 }),
        countedAsync(async ({ review }, bends) => {
          const decoded = parseAdmissionReview(new TextEncoder().encode(JSON.stringify(review)));
          if (!decoded.ok) throw decoded.error;
          const decision = await decideAdmission(decoded.review, {
            verifier: verifierFor(bends),
            timeoutMs: 5_000,
            excludedNamespaces: [],
          });
          expect(decision.response.allowed).toBe(false);
          expect(decision.codes.length).toBeGreaterThan(0);
          expect(decision.verdicts.some((v) => v.reasons.length > 0)).toBe(true);
        }),
      ),
      params(250),
    );
    expectBoundedHeap();
  });

  it('answers any body through the whole handler with 200, 400 or 429, never a throw', async () => {
    const metrics = createMetrics();
    await fc.assert(
      fc.asyncProperty(
        mutatedBytes(reviewSeeds),
        fc.array(bend, { maxLength: 6 }),
        countedAsync(async (body, bends) => {
          const result = await handleAdmissionBody(body, 'validate', {
            verifier: verifierFor(bends),
            timeoutMs: 5_000,
            excludedNamespaces: [],
            metrics,
          });
          expect([200, 400, 429]).toContain(result.httpStatus);
          if (!result.body.response.allowed) {
            expect(result.body.response.status?.details?.causes?.length ?? 0).toBeGreaterThan(0);
          }
        }),
      ),
      params(400),
    );
  });
});
