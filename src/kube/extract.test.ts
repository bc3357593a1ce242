import { describe, expect, it } from 'vitest';
import { ProvenantError } from '../errors.js';
import { readFixture } from '../../test/integration/admission/fixtures.js';
import {
  distinctImages,
  extractImageUses,
  imageUsesToVerify,
  isSupportedKind,
  toPointer,
  type ImageUse,
} from './extract.js';

interface Request {
  kind: { group: string; kind: string };
  object: unknown;
  oldObject: unknown;
}

function request(name: string): Request {
  return readFixture(name)['request'] as Request;
}

function summarise(uses: readonly ImageUse[]): string[] {
  return uses.map((u) => `${u.kind} ${u.container} ${u.image} ${u.fieldPath}`);
}

describe('extractImageUses', () => {
  describe('for every supported kind (rendered by kubectl)', () => {
    const cases: [string, string[]][] = [
      [
        'rendered/pod-create.json',
        [
          'container web ghcr.io/acme/web:1.4.2 /spec/containers/0/image',
          'container log-shipper docker.io/fluent/fluent-bit:3.1 /spec/containers/1/image',
          'initContainer migrate ghcr.io/acme/migrate:1.4.2 /spec/initContainers/0/image',
        ],
      ],
      [
        'rendered/deployment-create.json',
        [
          'container web ghcr.io/acme/web:1.4.2 /spec/template/spec/containers/0/image',
          'container redis docker.io/library/redis:7.2 /spec/template/spec/containers/1/image',
          'container agent ghcr.io/acme/agent@sha256:4f6e2d7c3b1a09e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4 /spec/template/spec/containers/2/image',
        ],
      ],
      [
        'rendered/replicaset-create.json',
        ['container web ghcr.io/acme/web:1.4.2 /spec/template/spec/containers/0/image'],
      ],
      [
        'rendered/statefulset-create.json',
        [
          'container postgres docker.io/library/postgres:16.4 /spec/template/spec/containers/0/image',
          'initContainer init-perms docker.io/library/busybox:1.36 /spec/template/spec/initContainers/0/image',
        ],
      ],
      [
        'rendered/daemonset-create.json',
        ['container agent quay.io/prometheus/node-exporter:v1.8.2 /spec/template/spec/containers/0/image'],
      ],
      [
        'rendered/job-create.json',
        ['container migrate ghcr.io/acme/migrate:1.4.2 /spec/template/spec/containers/0/image'],
      ],
      [
        'rendered/cronjob-create.json',
        [
          'container nightly-report ghcr.io/acme/report:2.0.0 /spec/jobTemplate/spec/template/spec/containers/0/image',
        ],
      ],
      [
        'rendered/replicationcontroller-create.json',
        ['container legacy registry.example.com:5000/team/legacy:0.9 /spec/template/spec/containers/0/image'],
      ],
    ];
    it.each(cases)('%s', (file, expected) => {
      const req = request(file);
      expect(summarise(extractImageUses(req.kind, req.object))).toEqual(expected);
    });
  });

  describe('image volumes (spec.volumes[].image.reference)', () => {
    it.each([
      [
        'rendered/pod-image-volume-create.json',
        [
          'container server ghcr.io/acme/web:1.4.2 /spec/containers/0/image',
          'imageVolume models ghcr.io/acme/models:2026.1 /spec/volumes/1/image/reference',
        ],
      ],
      [
        'rendered/statefulset-image-volume-create.json',
        [
          'container server ghcr.io/acme/web:1.4.2 /spec/template/spec/containers/0/image',
          'imageVolume models ghcr.io/acme/models:2026.1 /spec/template/spec/volumes/0/image/reference',
        ],
      ],
    ])('reads them from %s', (file, expected) => {
      const req = request(file);
      expect(summarise(extractImageUses(req.kind, req.object))).toEqual(expected);
    });

    it('on `kubectl debug` of a Pod with an image volume, only the ephemeral container is new', () => {
      const req = request('rendered/pod-image-volume-ephemeralcontainers.json');
      const uses = imageUsesToVerify(
        extractImageUses(req.kind, req.object),
        extractImageUses(req.kind, req.oldObject),
      );
      expect(summarise(uses)).toEqual([
        'ephemeralContainer debugger-q9w4z busybox:1.36 /spec/ephemeralContainers/0/image',
      ]);
    });

    it('verifies an image volume whose reference changed, or that is new, on UPDATE', () => {
      const pod = { group: '', kind: 'Pod' };
      const before = {
        spec: { volumes: [{ name: 'models', image: { reference: 'ghcr.io/acme/models:1' } }] },
      };
      const after = {
        spec: {
          volumes: [
            { name: 'models', image: { reference: 'ghcr.io/acme/models:2' } },
            { name: 'extra', image: { reference: 'ghcr.io/acme/extra:1' } },
          ],
        },
      };
      const uses = imageUsesToVerify(extractImageUses(pod, after), extractImageUses(pod, before));
      expect(uses.map((u) => `${u.container} ${u.image}`)).toEqual([
        'models ghcr.io/acme/models:2',
        'extra ghcr.io/acme/extra:1',
      ]);
    });

    it('does not confuse a volume with a container of the same name', () => {
      const pod = { group: '', kind: 'Pod' };
      const before = { spec: { containers: [{ name: 'x', image: 'ghcr.io/acme/x:1' }] } };
      const after = {
        ...before,
        spec: { ...before.spec, volumes: [{ name: 'x', image: { reference: 'ghcr.io/acme/x:1' } }] },
      };
      expect(imageUsesToVerify(extractImageUses(pod, after), extractImageUses(pod, before))).toEqual([
        expect.objectContaining({ kind: 'imageVolume', container: 'x' }),
      ]);
    });

    it('skips other volume sources, empty references and Ceph RBD "image" fields', () => {
      const pod = { group: '', kind: 'Pod' };
      const object = {
        spec: {
          volumes: [
            { name: 'a', emptyDir: {} },
            { name: 'b', image: { reference: '' } },
            { name: 'c', image: {} },
            { name: 'd', rbd: { monitors: ['10.0.0.1'], image: 'foo' } },
            { name: 'e', image: null },
          ],
        },
      };
      expect(extractImageUses(pod, object)).toEqual([]);
    });

    it.each([
      ['volumes is an object', { spec: { volumes: { name: 'x' } } }, 'spec.volumes must be a list'],
      ['a volume is a string', { spec: { volumes: ['x'] } }, 'spec.volumes.0 must be an object'],
      [
        'image is a string',
        { spec: { volumes: [{ name: 'm', image: 'ghcr.io/x' }] } },
        'spec.volumes.0.image must be an object',
      ],
      [
        'reference is a number',
        { spec: { volumes: [{ name: 'm', image: { reference: 7 } }] } },
        'spec.volumes.0.image.reference must be a string',
      ],
    ])('%s -> INVALID_REQUEST', (_name, object, message) => {
      expect(() => extractImageUses({ group: '', kind: 'Pod' }, object)).toThrow(
        expect.objectContaining({ code: 'INVALID_REQUEST', message }),
      );
    });
  });

  describe('for the connaisseur samples', () => {
    it('reads the container of a controller-created Pod (02_pod)', () => {
      const req = request('connaisseur/02_pod.json');
      expect(summarise(extractImageUses(req.kind, req.object))).toEqual([
        'container test-connaisseur securesystemsengineering/charlie-image@sha256:91ac9b26df583762234c1cdb2fc930364754ccc59bc752a2bfe298d2ea68f9ff /spec/containers/0/image',
      ]);
    });

    it('reads init containers (19_pod_initcontainer)', () => {
      const req = request('connaisseur/19_pod_initcontainer.json');
      const uses = extractImageUses(req.kind, req.object);
      expect(uses.map((u) => [u.kind, u.image, u.fieldPath])).toEqual([
        [
          'container',
          'securesystemsengineering/charlie-image@sha256:91ac9b26df583762234c1cdb2fc930364754ccc59bc752a2bfe298d2ea68f9ff',
          '/spec/containers/0/image',
        ],
        ['initContainer', 'nginx', '/spec/initContainers/0/image'],
      ]);
    });

    it('reads ephemeral containers (20_pod_ephemeralcontainer)', () => {
      const req = request('connaisseur/20_pod_ephemeralcontainer.json');
      const uses = extractImageUses(req.kind, req.object);
      expect(uses.map((u) => [u.kind, u.container, u.image, u.fieldPath])).toContainEqual([
        'ephemeralContainer',
        'my-initcontainer',
        'nginx',
        '/spec/ephemeralContainers/0/image',
      ]);
    });

    it('reads the pod template of the v1beta1 Deployment sample (01_deployment)', () => {
      const req = request('connaisseur/01_deployment.json');
      expect(extractImageUses(req.kind, req.object).map((u) => u.image)).toEqual([
        'securesystemsengineering/alice-image:test',
      ]);
    });

    it('rejects the broken request (21_broken), which names no kind', () => {
      const req = request('connaisseur/21_broken_admission_request.json');
      expect(() => extractImageUses({ group: '', kind: '' }, req.object)).toThrow(ProvenantError);
    });
  });

  it('rejects kinds it does not know, including core kind names in other groups', () => {
    for (const kind of [
      { group: '', kind: 'ConfigMap' },
      { group: 'example.com', kind: 'Deployment' },
      { group: 'apps', kind: 'Pod' },
    ]) {
      expect(isSupportedKind(kind)).toBe(false);
      try {
        extractImageUses(kind, { spec: {} });
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(ProvenantError);
        expect((err as ProvenantError).code).toBe('INVALID_REQUEST');
      }
    }
  });

  describe('with hostile or unusual shapes', () => {
    const pod = { group: '', kind: 'Pod' };
    it.each([
      ['object is not an object', []],
      ['spec is a string', { spec: 'x' }],
      ['containers is an object', { spec: { containers: { image: 'x' } } }],
      ['a container is a string', { spec: { containers: ['nginx'] } }],
      ['image is a number', { spec: { containers: [{ name: 'a', image: 42 }] } }],
    ])('%s -> INVALID_REQUEST', (_name, object) => {
      expect(() => extractImageUses(pod, object)).toThrow(
        expect.objectContaining({ code: 'INVALID_REQUEST' }),
      );
    });

    it('returns nothing for a template without a pod spec or without images', () => {
      expect(extractImageUses({ group: 'apps', kind: 'Deployment' }, { spec: {} })).toEqual([]);
      expect(
        extractImageUses(pod, { spec: { containers: [{ name: 'a' }, { name: 'b', image: '' }] } }),
      ).toEqual([]);
    });

    it('names containers without a name by index', () => {
      expect(extractImageUses(pod, { spec: { containers: [{ image: 'nginx' }] } })[0]?.container).toBe('#0');
    });

    it('ignores inherited properties such as __proto__', () => {
      const object = JSON.parse('{"spec": {"__proto__": {"containers": [{"image": "evil"}]}}}') as unknown;
      expect(extractImageUses(pod, object)).toEqual([]);
    });

    it('handles a Pod with 200 containers', () => {
      const containers = Array.from({ length: 200 }, (_, i) => ({
        name: `c${i}`,
        image: `registry.local/app:${i % 7}`,
      }));
      const uses = extractImageUses(pod, { spec: { containers } });
      expect(uses).toHaveLength(200);
      expect(uses[199]?.fieldPath).toBe('/spec/containers/199/image');
      expect(distinctImages(uses)).toHaveLength(7);
    });
  });
});

describe('imageUsesToVerify', () => {
  it('on UPDATE without image changes (10_update, a scale) there is nothing to verify', () => {
    const req = request('connaisseur/10_update.json');
    const current = extractImageUses(req.kind, req.object);
    expect(current).toHaveLength(1);
    expect(imageUsesToVerify(current, extractImageUses(req.kind, req.oldObject))).toEqual([]);
  });

  it('on `kubectl set image` only the changed container is verified', () => {
    const req = request('rendered/deployment-update-image.json');
    const uses = imageUsesToVerify(
      extractImageUses(req.kind, req.object),
      extractImageUses(req.kind, req.oldObject),
    );
    expect(summarise(uses)).toEqual([
      'container web ghcr.io/acme/web:1.5.0 /spec/template/spec/containers/0/image',
    ]);
  });

  it('on `kubectl debug` only the new ephemeral container is verified', () => {
    const req = request('rendered/pod-ephemeralcontainers.json');
    const uses = imageUsesToVerify(
      extractImageUses(req.kind, req.object),
      extractImageUses(req.kind, req.oldObject),
    );
    expect(summarise(uses)).toEqual([
      'ephemeralContainer debugger-x7k2p busybox:1.36 /spec/ephemeralContainers/0/image',
    ]);
  });

  it('treats a container that moved between lists as new', () => {
    const previous: ImageUse[] = [
      { image: 'a', container: 'x', kind: 'initContainer', fieldPath: '/spec/initContainers/0/image' },
    ];
    const current: ImageUse[] = [
      { image: 'a', container: 'x', kind: 'container', fieldPath: '/spec/containers/0/image' },
    ];
    expect(imageUsesToVerify(current, previous)).toEqual(current);
  });

  it('verifies everything when there is no previous object', () => {
    const current: ImageUse[] = [
      { image: 'a', container: 'x', kind: 'container', fieldPath: '/spec/containers/0/image' },
    ];
    expect(imageUsesToVerify(current)).toEqual(current);
  });
});

describe('toPointer', () => {
  it('escapes ~ and / per RFC 6901', () => {
    expect(toPointer(['a/b', 'c~d', '0'])).toBe('/a~1b/c~0d/0');
  });
});
