import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { denying, fakeVerifier } from '../../test/integration/admission/fake-verifier.js';
import { fixtureBytes } from '../../test/integration/admission/fixtures.js';
import { createLogger } from '../observability/logger.js';
import { createMetrics } from '../observability/metrics.js';
import type { ImageVerifier } from '../verdict.js';
import { BodyBudget } from './body-budget.js';
import { handleAdmissionBody, UNBUDGETED_BODY_BYTES, type HandlerDeps } from './handle.js';
import { ADMISSION_V1, ADMISSION_V1BETA1 } from './review.js';

function setup(verifier: ImageVerifier = fakeVerifier()) {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  const metrics = createMetrics();
  const deps: HandlerDeps = {
    verifier,
    timeoutMs: 2000,
    excludedNamespaces: [],
    metrics,
    logger: createLogger({ destination }),
  };
  return { deps, lines, metrics };
}

describe('handleAdmissionBody', () => {
  it('answers a valid review with 200 and logs one line with the decision', async () => {
    const { deps, lines, metrics } = setup(fakeVerifier(denying({ code: 'NO_SIGNATURE', message: 'none' })));
    const result = await handleAdmissionBody(fixtureBytes('rendered/pod-create.json'), 'validate', deps);
    expect(result.httpStatus).toBe(200);
    expect(result.body).toMatchObject({
      apiVersion: ADMISSION_V1,
      kind: 'AdmissionReview',
      response: {
        uid: '7d3f6a52-0b8e-4a0e-9c1a-000000000001',
        allowed: false,
        status: { reason: 'Forbidden', details: { causes: [{ reason: 'NO_SIGNATURE' }] } },
      },
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      webhook: 'validate',
      uid: '7d3f6a52-0b8e-4a0e-9c1a-000000000001',
      operation: 'CREATE',
      kind: 'Pod',
      namespace: 'shop',
      name: 'web',
      decision: 'deny',
      codes: ['NO_SIGNATURE'],
    });
    expect(lines[0]?.['images']).toHaveLength(3);
    expect(typeof lines[0]?.['latencyMs']).toBe('number');
    expect(await metrics.render()).toMatch(
      /provenant_admissions_total\{webhook="validate",decision="deny",code="NO_SIGNATURE"\} 1/,
    );
  });

  it('answers a body without a usable uid with HTTP 400 and an INVALID_REQUEST status', async () => {
    const { deps, metrics } = setup();
    const result = await handleAdmissionBody(new TextEncoder().encode('not json'), 'validate', deps);
    expect(result.httpStatus).toBe(400);
    expect(result.body.response).toMatchObject({
      uid: '',
      allowed: false,
      status: { code: 400, details: { causes: [{ reason: 'INVALID_REQUEST' }] } },
    });
    expect(await metrics.render()).toMatch(/code="INVALID_REQUEST"\} 1/);
  });

  it('answers v1beta1 (01_deployment) in v1beta1 with a denial the API server can show', async () => {
    const { deps } = setup();
    const result = await handleAdmissionBody(
      fixtureBytes('connaisseur/01_deployment.json'),
      'validate',
      deps,
    );
    expect(result.httpStatus).toBe(200);
    expect(result.body.apiVersion).toBe(ADMISSION_V1BETA1);
    expect(result.body.response).toMatchObject({
      uid: '3a3a7b38-5512-4a85-94bb-3562269e0a6a',
      allowed: false,
      status: { details: { causes: [{ reason: 'INVALID_REQUEST' }] } },
    });
  });

  it('logs the number of pinned images for a mutation', async () => {
    const { deps, lines } = setup();
    const result = await handleAdmissionBody(fixtureBytes('rendered/deployment-create.json'), 'mutate', deps);
    expect(result.body.response.patchType).toBe('JSONPatch');
    expect(lines[0]).toMatchObject({ webhook: 'mutate', decision: 'allow', patched: 2 });
  });
});

describe('the decision log line', () => {
  it('carries what each attestation requirement verified, per image', async () => {
    const { deps, lines } = setup(
      fakeVerifier(() => ({
        outcomes: [
          {
            policy: 'built-here',
            mode: 'Enforce',
            satisfied: true,
            verifiedAuthorities: ['ci'],
            reasons: [],
            attestations: [
              {
                requirement: 'provenance',
                satisfied: true,
                evidence: {
                  source: 'registry.example/app:sha256-1.att layer 0',
                  predicateType: 'https://slsa.dev/provenance/v0.2',
                  authority: 'ci',
                  signer:
                    'https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.1.0',
                  slsa: {
                    via: 'provenance',
                    level: 3,
                    levelBasis: 'slsa-github-generator at a release tag',
                    builder:
                      'https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.1.0',
                    repository: 'https://github.com/acme/app',
                    ref: 'refs/heads/main',
                  },
                },
              },
            ],
          },
        ],
      })),
    );
    await handleAdmissionBody(fixtureBytes('rendered/pod-create.json'), 'validate', deps);
    const logged = lines[0]?.['attestations'] as Record<string, unknown>[];
    expect(logged).toHaveLength(3); // one per distinct image of the Pod
    expect(logged[0]).toMatchObject({
      policy: 'built-here',
      requirement: 'provenance',
      satisfied: true,
      slsaLevel: 3,
      repository: 'https://github.com/acme/app',
      ref: 'refs/heads/main',
    });
  });

  it('has no attestations field when no policy required any', async () => {
    const { deps, lines } = setup();
    await handleAdmissionBody(fixtureBytes('rendered/pod-create.json'), 'validate', deps);
    expect(lines[0]).not.toHaveProperty('attestations');
  });

  /** The rendered Pod grown past the size decided without the budget, by an annotation. */
  const largePod = (): Uint8Array => {
    const review = JSON.parse(Buffer.from(fixtureBytes('rendered/pod-create.json')).toString('utf8')) as {
      request: { object: { metadata: { annotations?: Record<string, string> } } };
    };
    const metadata = review.request.object.metadata;
    metadata.annotations = { ...metadata.annotations, padding: 'x'.repeat(UNBUDGETED_BODY_BYTES) };
    return Buffer.from(JSON.stringify(review));
  };

  it('turns a body away with 429 OVERLOADED when the body budget stays full, and serves it once room frees', async () => {
    const body = largePod();
    const { deps, lines, metrics } = setup(fakeVerifier(() => ({}), 200));
    // Room for exactly one such body: the second arrives while the first is still being decided.
    const budget = new BodyBudget(body.byteLength);
    const first = handleAdmissionBody(body, 'validate', { ...deps, bodyBudget: budget, timeoutMs: 40 });
    const second = await handleAdmissionBody(body, 'validate', {
      ...deps,
      bodyBudget: budget,
      timeoutMs: 40,
    });
    expect(second.httpStatus).toBe(429);
    expect(second.body.response).toMatchObject({
      uid: '',
      allowed: false,
      status: { code: 429, reason: 'TooManyRequests', details: { causes: [{ reason: 'OVERLOADED' }] } },
    });
    expect((await first).httpStatus).toBe(200);
    expect(budget.inUse).toBe(0);
    const third = await handleAdmissionBody(body, 'validate', { ...deps, bodyBudget: budget });
    expect(third.httpStatus).toBe(200);
    expect(lines.map((line) => line['codes'])).toContainEqual(['OVERLOADED']);
    expect(await metrics.render()).toMatch(/code="OVERLOADED"\} 1/);
  });

  it('decides an ordinary Pod at once while large bodies hold the whole budget', async () => {
    const large = largePod();
    const { deps } = setup(fakeVerifier(() => ({}), 200));
    const budget = new BodyBudget(large.byteLength);
    const first = handleAdmissionBody(large, 'validate', { ...deps, bodyBudget: budget, timeoutMs: 40 });
    expect(budget.inUse).toBe(large.byteLength);
    const small = await handleAdmissionBody(fixtureBytes('rendered/pod-create.json'), 'validate', {
      ...deps,
      bodyBudget: budget,
      timeoutMs: 40,
    });
    expect(small.httpStatus).toBe(200);
    expect(small.body.response.uid).not.toBe('');
    await first;
  });

  it('answers a 3 MB nested body with INVALID_REQUEST and frees its budget', async () => {
    const { deps } = setup();
    const budget = new BodyBudget(1024);
    const nested = new TextEncoder().encode('['.repeat(1_500_000) + ']'.repeat(1_500_000));
    const result = await handleAdmissionBody(nested, 'validate', { ...deps, bodyBudget: budget });
    expect(result.httpStatus).toBe(400);
    expect(result.body.response.status?.message).toContain('nests deeper than 100 levels');
    expect(budget.inUse).toBe(0);
  });
});
