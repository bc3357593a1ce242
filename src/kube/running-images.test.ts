import { describe, expect, it } from 'vitest';
import { pinToDigest, podAsRun, registryDigestOf } from './running-images.js';

const D1 = `sha256:${'a'.repeat(64)}`;
const D2 = `sha256:${'b'.repeat(64)}`;

describe('registryDigestOf', () => {
  it.each([
    [`docker.io/library/nginx@${D1}`, D1],
    [`docker-pullable://nginx@${D1}`, D1],
    [`registry.example.com:5000/team/app@${D1}`, D1],
    [`127.0.0.1:5000/app@sha512:${'c'.repeat(128)}`, `sha512:${'c'.repeat(128)}`],
  ])('reads the registry digest of %s', (imageId, digest) => {
    expect(registryDigestOf(imageId)).toBe(digest);
  });

  it.each([
    // Local image IDs (the config digest), which no registry serves.
    [D1],
    [`docker://${D1}`],
    [''],
    [`nginx@sha256:${'A'.repeat(64)}`],
    [`nginx@sha256:${'a'.repeat(63)}`],
    [`nginx@md5:${'a'.repeat(32)}`],
    [`@${D1}`],
    [`nginx@${D1}`.padStart(5000, 'x')],
    [42],
    [null],
  ])('gives no digest for %j', (imageId) => {
    expect(registryDigestOf(imageId)).toBeUndefined();
  });
});

describe('pinToDigest', () => {
  it('keeps the tag and replaces any digest', () => {
    expect(pinToDigest('nginx:1.27', D1)).toBe(`nginx:1.27@${D1}`);
    expect(pinToDigest('host:5000/app', D1)).toBe(`host:5000/app@${D1}`);
    expect(pinToDigest(`app:v1@${D2}`, D1)).toBe(`app:v1@${D1}`);
  });
});

describe('podAsRun', () => {
  const pod = (status: unknown) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web' },
    spec: {
      initContainers: [{ name: 'init', image: 'busybox:1' }],
      containers: [
        { name: 'app', image: 'acme/app:v1' },
        { name: 'sidecar', image: 'acme/sidecar:v1' },
      ],
    },
    status,
  });

  it('pins each container to the digest its status reports, by container name', () => {
    const result = podAsRun(
      pod({
        containerStatuses: [
          { name: 'sidecar', imageID: `docker.io/acme/sidecar@${D2}` },
          { name: 'app', imageID: `docker.io/acme/app@${D1}` },
        ],
        initContainerStatuses: [{ name: 'init', imageID: D1 }],
      }),
    );
    const spec = (result.object as { spec: Record<string, { image: string }[]> }).spec;
    expect(spec['containers']!.map((c) => c.image)).toEqual([`acme/app:v1@${D1}`, `acme/sidecar:v1@${D2}`]);
    // A local image ID names no registry digest: the init container is decided by its spec image.
    expect(spec['initContainers']!.map((c) => c.image)).toEqual(['busybox:1']);
    expect(result.pinned).toEqual([
      { container: 'app', image: 'acme/app:v1', running: `acme/app:v1@${D1}` },
      { container: 'sidecar', image: 'acme/sidecar:v1', running: `acme/sidecar:v1@${D2}` },
    ]);
  });

  it('returns the Pod itself when nothing is known of what runs', () => {
    for (const status of [
      undefined,
      {},
      { containerStatuses: 'x' },
      { containerStatuses: [{ name: 'app' }] },
    ]) {
      const input = pod(status);
      const result = podAsRun(input);
      expect(result.object).toBe(input);
      expect(result.pinned).toEqual([]);
    }
    expect(podAsRun('not a pod').object).toBe('not a pod');
  });

  it('does not change the Pod it was given', () => {
    const input = pod({ containerStatuses: [{ name: 'app', imageID: `x/app@${D1}` }] });
    const before = JSON.stringify(input);
    podAsRun(input);
    expect(JSON.stringify(input)).toBe(before);
  });
});
