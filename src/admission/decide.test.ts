import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  denying,
  digestOf,
  fakeVerifier,
  hangingVerifier,
  slowButAbortableVerifier,
} from '../../test/integration/admission/fake-verifier.js';
import { reviewFixture, withRequest } from '../../test/integration/admission/fixtures.js';
import type { ImageVerifier } from '../verdict.js';
import type { CredentialStore } from '../oci/auth.js';
import {
  decideAdmission,
  decideMutation,
  type AdmittedWorkload,
  type DecideDeps,
  type WorkloadCredentials,
} from './decide.js';
import type { AdmissionReview } from './review.js';

function deps(verifier: ImageVerifier, extra: Partial<DecideDeps> = {}): DecideDeps {
  return { verifier, timeoutMs: 2000, excludedNamespaces: ['kube-system'], ...extra };
}

/** A minimal RFC 6902 applier (replace/add/remove/test) to check that our patches apply to the object we got. */
function applyJsonPatch(
  document: unknown,
  ops: readonly { op: string; path: string; value?: unknown }[],
): unknown {
  const doc = structuredClone(document);
  for (const op of ops) {
    const segments = op.path
      .split('/')
      .slice(1)
      .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
    const last = segments.pop();
    if (last === undefined) throw new Error(`bad path ${op.path}`);
    let parent = doc as Record<string, unknown>;
    for (const segment of segments) {
      if (!Object.hasOwn(parent, segment)) throw new Error(`path ${op.path} does not exist`);
      parent = parent[segment] as Record<string, unknown>;
    }
    const exists = Object.hasOwn(parent, last);
    switch (op.op) {
      case 'replace':
        if (!exists) throw new Error(`replace target ${op.path} does not exist`);
        parent[last] = op.value;
        break;
      case 'add':
        parent[last] = op.value;
        break;
      case 'remove':
        if (!exists) throw new Error(`remove target ${op.path} does not exist`);
        delete parent[last];
        break;
      case 'test':
        if (JSON.stringify(parent[last]) !== JSON.stringify(op.value))
          throw new Error(`test failed at ${op.path}`);
        break;
      default:
        throw new Error(`unsupported op ${op.op}`);
    }
  }
  return doc;
}

function decodePatch(patch: string | undefined): { op: string; path: string; value?: unknown }[] {
  if (patch === undefined) return [];
  return JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as {
    op: string;
    path: string;
    value?: unknown;
  }[];
}

function podWithContainers(images: readonly string[]): AdmissionReview {
  const review = reviewFixture('rendered/pod-create.json');
  const object = structuredClone(review.request.object) as { spec: Record<string, unknown> };
  object.spec['containers'] = images.map((image, i) => ({ name: `c${i}`, image }));
  delete object.spec['initContainers'];
  return withRequest(review, { object });
}

describe('decideAdmission', () => {
  describe('does no verification work when none is needed', () => {
    it('for an excluded namespace', async () => {
      const verifier = fakeVerifier();
      const review = withRequest(reviewFixture('rendered/pod-create.json'), { namespace: 'kube-system' });
      const decision = await decideAdmission(review, deps(verifier));
      expect(decision.response).toEqual({ uid: review.request.uid, allowed: true });
      expect(decision.skipped).toBe('excluded-namespace');
      expect(verifier.calls).toHaveLength(0);
    });

    it('for a DELETE', async () => {
      const verifier = fakeVerifier();
      const decision = await decideAdmission(reviewFixture('rendered/pod-delete.json'), deps(verifier));
      expect(decision.response.allowed).toBe(true);
      expect(decision.skipped).toBe('operation');
      expect(verifier.calls).toHaveLength(0);
    });

    it.each(['connaisseur/10_update.json', 'rendered/deployment-update-scale.json'])(
      'for an UPDATE that changes no image (%s)',
      async (name) => {
        const verifier = fakeVerifier(denying({ code: 'NO_SIGNATURE', message: 'none' }));
        const decision = await decideAdmission(reviewFixture(name), deps(verifier));
        expect(decision.response.allowed).toBe(true);
        expect(decision.skipped).toBe('no-new-images');
        expect(verifier.calls).toHaveLength(0);
      },
    );
  });

  it('verifies only the changed image of an UPDATE', async () => {
    const verifier = fakeVerifier();
    const decision = await decideAdmission(
      reviewFixture('rendered/deployment-update-image.json'),
      deps(verifier),
    );
    expect(verifier.calls).toEqual([['ghcr.io/acme/web:1.5.0']]);
    expect(decision.response.allowed).toBe(true);
  });

  it('verifies only the new ephemeral container of `kubectl debug`', async () => {
    const verifier = fakeVerifier(denying({ code: 'NO_SIGNATURE', message: 'no signature' }));
    const decision = await decideAdmission(
      reviewFixture('rendered/pod-ephemeralcontainers.json'),
      deps(verifier),
    );
    expect(verifier.calls).toEqual([['busybox:1.36']]);
    expect(decision.response.allowed).toBe(false);
    expect(decision.images.map((use) => use.kind)).toEqual(['ephemeralContainer']);
  });

  describe('image volumes', () => {
    it.each(['rendered/pod-image-volume-create.json', 'rendered/statefulset-image-volume-create.json'])(
      'denies an unsigned image volume beside a signed container, naming the volume (%s)',
      async (name) => {
        const verifier = fakeVerifier((image) =>
          image.includes('models')
            ? {
                allowed: false,
                reasons: [{ policy: 'release', code: 'NO_SIGNATURE', message: 'no signature' }],
              }
            : {},
        );
        const decision = await decideAdmission(reviewFixture(name), deps(verifier));
        expect(verifier.calls).toEqual([['ghcr.io/acme/web:1.4.2', 'ghcr.io/acme/models:2026.1']]);
        expect(decision.response.allowed).toBe(false);
        expect(decision.codes).toEqual(['NO_SIGNATURE']);
        expect(decision.response.status?.message).toContain(
          'volume "models" image ghcr.io/acme/models:2026.1: policy release: NO_SIGNATURE: no signature',
        );
        expect(decision.response.status?.message).not.toContain('container "models"');
      },
    );

    it('pins a verified image volume to its digest', async () => {
      const review = reviewFixture('rendered/pod-image-volume-create.json');
      const decision = await decideMutation(review, deps(fakeVerifier()));
      const ops = decodePatch(decision.response.patch);
      expect(ops).toContainEqual({
        op: 'replace',
        path: '/spec/volumes/1/image/reference',
        value: `ghcr.io/acme/models:2026.1@${digestOf('ghcr.io/acme/models:2026.1')}`,
      });
      const patched = applyJsonPatch(review.request.object, ops) as {
        spec: { volumes: { image?: { reference: string } }[] };
      };
      expect(patched.spec.volumes[1]?.image?.reference).toMatch(/@sha256:[0-9a-f]{64}$/);
    });

    it('on an ephemeral-container UPDATE verifies the new container, not the unchanged volume', async () => {
      const verifier = fakeVerifier();
      await decideAdmission(
        reviewFixture('rendered/pod-image-volume-ephemeralcontainers.json'),
        deps(verifier),
      );
      expect(verifier.calls).toEqual([['busybox:1.36']]);
    });

    it('on an ephemeral-container UPDATE that also swaps the volume image, verifies both', async () => {
      const review = reviewFixture('rendered/pod-image-volume-ephemeralcontainers.json');
      const object = structuredClone(review.request.object) as {
        spec: { volumes: { image?: { reference: string } }[] };
      };
      const volume = object.spec.volumes[1];
      if (volume?.image === undefined) throw new Error('fixture changed');
      volume.image.reference = 'ghcr.io/evil/models:1';
      const verifier = fakeVerifier(denying({ code: 'NO_SIGNATURE', message: 'none' }));
      const decision = await decideAdmission(withRequest(review, { object }), deps(verifier));
      expect(verifier.calls).toEqual([['busybox:1.36', 'ghcr.io/evil/models:1']]);
      expect(decision.response.allowed).toBe(false);
      expect(decision.response.status?.message).toContain('volume "models" image ghcr.io/evil/models:1');
    });
  });

  it('verifies the init and ephemeral containers of the connaisseur samples', async () => {
    for (const name of [
      'connaisseur/19_pod_initcontainer.json',
      'connaisseur/20_pod_ephemeralcontainer.json',
    ]) {
      const verifier = fakeVerifier();
      await decideAdmission(reviewFixture(name), deps(verifier));
      expect(verifier.calls[0]).toContain('nginx');
    }
  });

  it('verifies each distinct image once, however many containers use it (200 containers)', async () => {
    const images = Array.from({ length: 200 }, (_, i) => `registry.local/app:${i % 7}`);
    const verifier = fakeVerifier();
    const decision = await decideAdmission(podWithContainers(images), deps(verifier));
    expect(verifier.calls).toHaveLength(1);
    expect(verifier.calls[0]).toHaveLength(7);
    expect(decision.verdicts).toHaveLength(7);
    expect(decision.images).toHaveLength(200);
  });

  it('passes the namespace and an abort signal to the verifier', async () => {
    const verifier = fakeVerifier();
    await decideAdmission(reviewFixture('rendered/pod-create.json'), deps(verifier));
    expect(verifier.options[0]?.namespace).toBe('shop');
    expect(verifier.options[0]?.signal).toBeInstanceOf(AbortSignal);
  });

  describe('with workload credentials', () => {
    const store = { lookup: () => ({ kind: 'basic' as const, username: 'u', password: 'p' }) };
    function recording(answer: () => Promise<CredentialStore | undefined> = async () => store) {
      const asked: AdmittedWorkload[] = [];
      const source: WorkloadCredentials = {
        forWorkload: (workload) => {
          asked.push(workload);
          return answer();
        },
      };
      return { asked, source };
    }

    it("hands the verifier the credentials found for the request's object and namespace", async () => {
      const verifier = fakeVerifier();
      const { asked, source } = recording();
      const review = reviewFixture('rendered/deployment-create.json');
      await decideAdmission(review, deps(verifier, { workloadCredentials: source }));
      expect(asked).toEqual([
        { kind: review.request.kind, namespace: 'shop', object: review.request.object },
      ]);
      expect(verifier.options[0]?.credentials).toBe(store);
    });

    it('asks for none when nothing is verified', async () => {
      const verifier = fakeVerifier();
      const { asked, source } = recording();
      const excluded = withRequest(reviewFixture('rendered/pod-create.json'), { namespace: 'kube-system' });
      await decideAdmission(excluded, deps(verifier, { workloadCredentials: source }));
      await decideAdmission(
        reviewFixture('rendered/deployment-update-scale.json'),
        deps(verifier, { workloadCredentials: source }),
      );
      expect(asked).toEqual([]);
    });

    it("verifies with the verifier's own credentials when the workload brings none", async () => {
      const verifier = fakeVerifier();
      const { source } = recording(async () => undefined);
      await decideAdmission(
        reviewFixture('rendered/pod-create.json'),
        deps(verifier, { workloadCredentials: source }),
      );
      expect(verifier.options[0]).not.toHaveProperty('credentials');
    });

    it('counts finding them against the deadline', async () => {
      const verifier = fakeVerifier();
      const { source } = recording(() => new Promise(() => undefined));
      const decision = await decideAdmission(
        reviewFixture('rendered/pod-create.json'),
        deps(verifier, { workloadCredentials: source, timeoutMs: 200 }),
      );
      expect(decision.codes).toEqual(['TIMEOUT']);
      expect(verifier.calls).toHaveLength(0);
    });
  });

  describe('denies', () => {
    it('with the first reason code as status.reason and one line per failing container', async () => {
      const verifier = fakeVerifier((image) =>
        image.includes('fluent')
          ? {
              allowed: false,
              reasons: [{ policy: 'release', code: 'UNTRUSTED_SIGNER', message: 'signed by x' }],
            }
          : {},
      );
      const review = podWithContainers([
        'ghcr.io/acme/web:1',
        'docker.io/fluent/fluent-bit:3.1',
        'docker.io/fluent/fluent-bit:3.1',
      ]);
      const decision = await decideAdmission(review, deps(verifier));
      expect(decision.response).toMatchObject({
        allowed: false,
        status: { code: 403, details: { causes: [{ reason: 'UNTRUSTED_SIGNER' }] } },
      });
      expect(decision.codes).toEqual(['UNTRUSTED_SIGNER']);
      const lines = decision.response.status?.message.split('\n') ?? [];
      expect(lines).toHaveLength(3);
      expect(lines.filter((l) => l.includes('UNTRUSTED_SIGNER'))).toHaveLength(3);
      expect(lines[1]).toContain('container "c1"');
      expect(lines[2]).toContain('container "c2"');
    });

    it('with INTERNAL_ERROR when the verifier denies without a reason', async () => {
      const decision = await decideAdmission(
        reviewFixture('connaisseur/02_pod.json'),
        deps(fakeVerifier(() => ({ allowed: false, reasons: [] }))),
      );
      expect(decision.response.status?.details.causes[0]?.reason).toBe('INTERNAL_ERROR');
    });

    it('with INTERNAL_ERROR when the verifier leaves an image out', async () => {
      const verifier: ImageVerifier = { verifyImages: async () => [] };
      const decision = await decideAdmission(reviewFixture('connaisseur/02_pod.json'), deps(verifier));
      expect(decision.response.allowed).toBe(false);
      expect(decision.codes).toEqual(['INTERNAL_ERROR']);
    });

    it.each([
      ['rejects', { verifyImages: () => Promise.reject(new Error('boom')) }, 'INTERNAL_ERROR'],
      [
        'throws synchronously',
        {
          verifyImages: () => {
            throw new TypeError('cannot read properties of undefined');
          },
        },
        'INTERNAL_ERROR',
      ],
      [
        'rejects with an AbortError',
        { verifyImages: () => Promise.reject(new DOMException('aborted', 'AbortError')) },
        'TIMEOUT',
      ],
      ['returns garbage', { verifyImages: async () => 'not a list' as never }, 'INTERNAL_ERROR'],
    ])('fail closed when the verifier %s', async (_name, verifier: ImageVerifier, code) => {
      const decision = await decideAdmission(reviewFixture('connaisseur/02_pod.json'), deps(verifier));
      expect(decision.response.allowed).toBe(false);
      expect(decision.response.status?.details.causes[0]?.reason).toBe(code);
    });

    it('with INVALID_REQUEST for a kind Provenant does not read', async () => {
      const review = withRequest(reviewFixture('rendered/pod-create.json'), {
        kind: { group: '', version: 'v1', kind: 'ConfigMap' },
      });
      const verifier = fakeVerifier();
      const decision = await decideAdmission(review, deps(verifier));
      expect(decision.response.status?.details.causes[0]?.reason).toBe('INVALID_REQUEST');
      expect(verifier.calls).toHaveLength(0);
    });

    it('with INVALID_REQUEST for an object whose containers are not a list', async () => {
      const review = withRequest(reviewFixture('rendered/pod-create.json'), {
        object: { metadata: { name: 'x' }, spec: { containers: 'nginx' } },
      });
      const decision = await decideAdmission(review, deps(fakeVerifier()));
      expect(decision.response.status?.details.causes[0]?.reason).toBe('INVALID_REQUEST');
      expect(decision.response.status?.message).toContain('spec.containers');
    });
  });

  it('turns Warn-mode reasons into warnings and Audit-mode reasons into audit annotations', async () => {
    const verifier = fakeVerifier(() => ({
      warnings: [{ policy: 'slsa', code: 'NO_SIGNATURE', message: 'no provenance' }],
      audit: [{ policy: 'audit-all', code: 'UNTRUSTED_SIGNER', message: 'signed by y' }],
    }));
    const decision = await decideAdmission(reviewFixture('connaisseur/02_pod.json'), deps(verifier));
    expect(decision.response.allowed).toBe(true);
    expect(decision.response.warnings).toHaveLength(1);
    expect(decision.response.warnings?.[0]).toContain('NO_SIGNATURE');
    expect(Object.keys(decision.response.auditAnnotations ?? {})).toEqual(['audit-1']);
    expect(decision.response.auditAnnotations?.['audit-1']).toContain('UNTRUSTED_SIGNER');
  });

  it('answers a dry run exactly like the real request', async () => {
    const verifier = fakeVerifier(denying({ code: 'NO_SIGNATURE', message: 'none' }));
    const review = reviewFixture('rendered/deployment-create.json');
    const real = await decideAdmission(review, deps(verifier));
    const dry = await decideAdmission(withRequest(review, { dryRun: true }), deps(verifier));
    expect(dry.response).toEqual(real.response);
  });

  it('measures duration with the injected clock', async () => {
    let t = 1_000;
    const clock = { now: () => (t += 25) };
    const decision = await decideAdmission(
      reviewFixture('connaisseur/02_pod.json'),
      deps(fakeVerifier(), { clock }),
    );
    expect(decision.durationMs).toBe(25);
  });

  describe('deadline', () => {
    it('answers TIMEOUT by the deadline when the verifier never resolves', async () => {
      const verifier = hangingVerifier();
      const review = podWithContainers(['ghcr.io/acme/a:1', 'ghcr.io/acme/b:1']);
      const decision = await decideAdmission(review, deps(verifier, { timeoutMs: 150 }));
      expect(decision.response.allowed).toBe(false);
      expect(decision.response.status?.details.causes[0]?.reason).toBe('TIMEOUT');
      expect(decision.verdicts.map((v) => v.reasons[0]?.code)).toEqual(['TIMEOUT', 'TIMEOUT']);
      expect(decision.verdicts[0]?.reasons[0]?.message).toContain('ghcr.io/acme/b:1');
      expect(verifier.options[0]?.signal?.aborted).toBe(true);
    });

    describe('with fake timers', () => {
      afterEach(() => {
        vi.useRealTimers();
      });

      it('aborts the verifier a fifth of the budget early and answers at the budget itself', async () => {
        vi.useFakeTimers();
        const verifier = hangingVerifier();
        let settled = false;
        const pending = decideAdmission(
          podWithContainers(['ghcr.io/acme/a:1']),
          deps(verifier, { timeoutMs: 1000 }),
        ).finally(() => {
          settled = true;
        });
        await vi.advanceTimersByTimeAsync(799);
        expect(verifier.options[0]?.signal?.aborted).toBe(false);
        await vi.advanceTimersByTimeAsync(1);
        expect(verifier.options[0]?.signal?.aborted).toBe(true);
        expect(settled).toBe(false);
        await vi.advanceTimersByTimeAsync(199);
        expect(settled).toBe(false);
        await vi.advanceTimersByTimeAsync(1);
        const decision = await pending;
        expect(decision.verdicts[0]?.reasons[0]?.message).toContain('no verification result within 1000ms');
        expect(vi.getTimerCount()).toBe(0);
      });

      it('leaves no timer behind when the verifier answers in time', async () => {
        vi.useFakeTimers();
        const decision = await decideAdmission(
          reviewFixture('connaisseur/02_pod.json'),
          deps(fakeVerifier(), { timeoutMs: 1000 }),
        );
        expect(decision.response.allowed).toBe(true);
        expect(vi.getTimerCount()).toBe(0);
      });
    });

    it('uses the verifier’s own TIMEOUT verdicts when it honours the signal', async () => {
      const verifier = slowButAbortableVerifier();
      const decision = await decideAdmission(
        reviewFixture('connaisseur/02_pod.json'),
        deps(verifier, { timeoutMs: 150 }),
      );
      expect(decision.response.status?.details.causes[0]?.reason).toBe('TIMEOUT');
      expect(decision.verdicts[0]?.enforced).toBe(true);
      expect(decision.verdicts[0]?.reasons[0]?.message).toContain('ghcr.io');
    });
  });
});

describe('decideMutation', () => {
  it('pins tag references that an Enforce policy matched, keeping the tag, and leaves pinned ones alone', async () => {
    const review = reviewFixture('rendered/deployment-create.json');
    const decision = await decideMutation(review, deps(fakeVerifier()));
    expect(decision.response.allowed).toBe(true);
    expect(decision.response.patchType).toBe('JSONPatch');
    const ops = decodePatch(decision.response.patch);
    expect(ops).toEqual([
      {
        op: 'replace',
        path: '/spec/template/spec/containers/0/image',
        value: `ghcr.io/acme/web:1.4.2@${digestOf('ghcr.io/acme/web:1.4.2')}`,
      },
      {
        op: 'replace',
        path: '/spec/template/spec/containers/1/image',
        value: `docker.io/library/redis:7.2@${digestOf('docker.io/library/redis:7.2')}`,
      },
    ]);
    expect(decision.patch).toEqual(ops);

    const patched = applyJsonPatch(review.request.object, ops) as {
      spec: { template: { spec: { containers: { image: string }[] } } };
    };
    expect(patched.spec.template.spec.containers.map((c) => c.image)).toEqual([
      `ghcr.io/acme/web:1.4.2@${digestOf('ghcr.io/acme/web:1.4.2')}`,
      `docker.io/library/redis:7.2@${digestOf('docker.io/library/redis:7.2')}`,
      'ghcr.io/acme/agent@sha256:4f6e2d7c3b1a09e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4',
    ]);
  });

  it('leaves images that no Enforce policy matched alone', async () => {
    const verifier = fakeVerifier((image) =>
      image.includes('redis') ? ({ enforced: false, digest: undefined } as never) : {},
    );
    const decision = await decideMutation(reviewFixture('rendered/deployment-create.json'), deps(verifier));
    expect(decodePatch(decision.response.patch).map((op) => op.path)).toEqual([
      '/spec/template/spec/containers/0/image',
    ]);
  });

  it('patches every kind at its own path (CronJob, Pod init and ephemeral containers)', async () => {
    for (const name of [
      'rendered/cronjob-create.json',
      'rendered/pod-create.json',
      'connaisseur/20_pod_ephemeralcontainer.json',
      'rendered/pod-ephemeralcontainers.json',
    ]) {
      const review = reviewFixture(name);
      const decision = await decideMutation(review, deps(fakeVerifier()));
      const ops = decodePatch(decision.response.patch);
      expect(ops.length, name).toBe(decision.images.filter((u) => !u.image.includes('@')).length);
      const patched = applyJsonPatch(review.request.object, ops);
      for (const use of decision.images) {
        const pointer = use.fieldPath.split('/').slice(1);
        const value = pointer.reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], patched);
        expect(value, `${name} ${use.fieldPath}`).toMatch(/@sha256:[0-9a-f]{64}$/);
      }
    }
  });

  it('sends no patch with a denial', async () => {
    const verifier = fakeVerifier(denying({ code: 'NO_SIGNATURE', message: 'none' }));
    const decision = await decideMutation(reviewFixture('rendered/deployment-create.json'), deps(verifier));
    expect(decision.response.allowed).toBe(false);
    expect(decision.response.patch).toBeUndefined();
  });

  it.each([undefined, 'latest', 'sha256:abc'])(
    'denies INTERNAL_ERROR when an enforced image has no usable digest (%s)',
    async (digest) => {
      const verifier = fakeVerifier(() => ({ digest }) as never);
      const decision = await decideMutation(
        reviewFixture('connaisseur/19_pod_initcontainer.json'),
        deps(verifier),
      );
      expect(decision.response.allowed).toBe(false);
      expect(decision.response.status?.details.causes[0]?.reason).toBe('INTERNAL_ERROR');
    },
  );

  describe('pinDigests', () => {
    const kinds = [
      'rendered/pod-create.json',
      'rendered/deployment-create.json',
      'rendered/cronjob-create.json',
      'rendered/pod-ephemeralcontainers.json',
    ];
    const patched = async (name: string, pinDigests: DecideDeps['pinDigests']) => {
      const decision = await decideMutation(
        reviewFixture(name),
        deps(fakeVerifier(), pinDigests === undefined ? {} : { pinDigests }),
      );
      expect(decision.response.allowed, name).toBe(true);
      return decision.response.patch !== undefined && decision.patch.length > 0;
    };

    it.each(kinds)('all (the default) pins %s', async (name) => {
      expect(await patched(name, undefined)).toBe(true);
      expect(await patched(name, 'all')).toBe(true);
    });

    it('pods pins Pods (ephemeral containers too) and leaves controllers alone', async () => {
      expect(await patched('rendered/pod-create.json', 'pods')).toBe(true);
      expect(await patched('rendered/pod-ephemeralcontainers.json', 'pods')).toBe(true);
      expect(await patched('rendered/deployment-create.json', 'pods')).toBe(false);
      expect(await patched('rendered/cronjob-create.json', 'pods')).toBe(false);
    });

    it.each(kinds)('off never pins %s, and still denies what fails', async (name) => {
      expect(await patched(name, 'off')).toBe(false);
      const verifier = fakeVerifier(denying({ code: 'NO_SIGNATURE', message: 'none' }));
      const denied = await decideMutation(reviewFixture(name), deps(verifier, { pinDigests: 'off' }));
      expect(denied.response.allowed).toBe(false);
    });
  });
});
