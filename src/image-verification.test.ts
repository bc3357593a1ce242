/**
 * Which registries the verification core contacts (issue #15: registry spellings and the SSRF stance). The
 * registry is a recording fake: what is under test is the choice of whether and where to ask, not HTTP.
 * Policies are compiled from real documents with a real key.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ImageVerificationService } from './image-verification.js';
import { OCI_INDEX } from './oci/media-types.js';
import type { Repository } from './oci/reference.js';
import { PlainHttpRegistries } from './oci/registry-host.js';
import type { Registry } from './oci/registry.js';
import { authorityCompiler } from './policy/authorities.js';
import { compilePolicies, type PolicySet } from './policy/compile.js';
import type { NoMatchAction } from './policy/types.js';
import { PUBLIC_GOOD_TRUSTED_ROOT } from './trust/embedded-roots.js';
import { createTrustStore } from './trust/index.js';

const TRUST_STORE = createTrustStore();
const PUBLIC_KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .publicKey.export({ type: 'spki', format: 'pem' })
  .toString();

function policies(...globs: string[]): PolicySet {
  return compilePolicies(
    globs.map((glob, index) => ({
      source: 'test',
      index,
      value: {
        apiVersion: 'provenant.dev/v1alpha1',
        kind: 'ClusterImagePolicy',
        metadata: { name: `p${index}` },
        spec: {
          mode: 'Enforce',
          images: [{ glob }],
          authorities: [{ name: 'release', key: { publicKey: PUBLIC_KEY } }],
          signatures: { threshold: 1 },
        },
      },
    })),
    authorityCompiler(createTrustStore()),
  );
}

/** Records every registry a request went to; every manifest is "not found". */
function recordingRegistry(): Registry & { readonly contacted: string[] } {
  const contacted: string[] = [];
  const record = (repo: Repository) => contacted.push(`${repo.registry}/${repo.path}`);
  return {
    contacted,
    getManifest: (repo) => (record(repo), Promise.resolve(null)),
    headManifest: (repo) => (record(repo), Promise.resolve(null)),
    getBlob: (repo) => (record(repo), Promise.reject(new Error('unexpected blob request'))),
    getReferrers: (repo) => (record(repo), Promise.resolve(null)),
  };
}

function service(
  registry: Registry,
  set: PolicySet,
  noMatch: NoMatchAction,
  plainHttp: readonly string[] = [],
): ImageVerificationService {
  return new ImageVerificationService({
    registry,
    policies: () => set,
    noMatch,
    clock: { now: () => Date.now() },
    cacheTtlMs: 60_000,
    negativeCacheTtlMs: 1_000,
    cacheMaxEntries: 100,
    concurrency: 4,
    trustStore: () => TRUST_STORE,
    plainHttpRegistries: new PlainHttpRegistries(plainHttp),
  });
}

describe('registry spellings under --no-match allow', () => {
  it.each([
    ['ghcr.io/acme/**', 'GHCR.IO/acme/x:1', 'ghcr.io/acme/x'],
    ['ghcr.io/acme/**', 'ghcr.io:443/acme/x:1', 'ghcr.io/acme/x'],
    ['GHCR.IO:443/acme/**', 'ghcr.io/acme/x:1', 'ghcr.io/acme/x'],
    ['docker.io/acme/**', 'registry-1.docker.io/acme/x:1', 'docker.io/acme/x'],
    ['docker.io/acme/**', 'index.docker.io/acme/x:1', 'docker.io/acme/x'],
    ['index.docker.io/library/*', 'nginx:1.27', 'docker.io/library/nginx'],
  ])('a %s Enforce policy governs %s (never admitted unverified)', async (glob, image, contacted) => {
    const registry = recordingRegistry();
    const [verdict] = await service(registry, policies(glob), 'allow').verifyImages([image]);
    expect(verdict?.allowed).toBe(false);
    expect(verdict?.enforced).toBe(true);
    expect(verdict?.reasons.map((r) => r.code)).toEqual(['IMAGE_NOT_FOUND']);
    // Verified where the kubelet pulls from, in its canonical spelling.
    expect(registry.contacted).toEqual([contacted]);
  });

  it('a plain-HTTP registry is one registry with and without :80, however the glob writes it', async () => {
    for (const [glob, image] of [
      ['insecure.example/team/**', 'insecure.example:80/team/app:1'],
      ['insecure.example:80/team/**', 'insecure.example/team/app:1'],
      ['INSECURE.example:80/team/**', 'insecure.example:80/team/app:1'],
    ] as const) {
      const registry = recordingRegistry();
      const [verdict] = await service(registry, policies(glob), 'allow', ['insecure.example']).verifyImages([
        image,
      ]);
      expect(verdict?.allowed, `${glob} vs ${image}`).toBe(false);
      expect(registry.contacted).toEqual(['insecure.example/team/app']);
    }
  });

  it('on an HTTPS registry, :80 is another registry (no policy: --no-match applies)', async () => {
    const registry = recordingRegistry();
    const [verdict] = await service(registry, policies('ghcr.io/acme/**'), 'allow').verifyImages([
      'ghcr.io:80/acme/x:1',
    ]);
    expect(verdict?.allowed).toBe(true);
    expect(registry.contacted).toEqual([]);
  });
});

describe('only registries a matching policy covers are contacted', () => {
  it.each(['deny', 'allow', 'warn'] as const)(
    'an image no policy matches causes no registry request (--no-match %s)',
    async (noMatch) => {
      const registry = recordingRegistry();
      const verify = service(registry, policies('ghcr.io/acme/**'), noMatch);
      const images = [
        '169.254.169.254/latest/meta-data:x',
        'metadata.google.internal/computemetadata/v1:x',
        '[fd00:ec2::254]/x:1',
        'attacker.example:8080/probe:1',
        'ghcr.io/other/app:1',
      ];
      const verdicts = await verify.verifyImages(images);
      expect(verdicts.map((v) => v.allowed)).toEqual(images.map(() => noMatch !== 'deny'));
      expect(registry.contacted).toEqual([]);
    },
  );
});

describe('platforms: [all] on an index with many platform manifests', () => {
  it('verifies them a few at a time (--concurrency), not all at once', async () => {
    const set = compilePolicies(
      [
        {
          source: 'test',
          index: 0,
          value: {
            apiVersion: 'provenant.dev/v1alpha1',
            kind: 'ClusterImagePolicy',
            metadata: { name: 'every-platform' },
            spec: {
              mode: 'Enforce',
              images: [{ glob: 'reg.example/**' }],
              platforms: ['all'],
              authorities: [{ name: 'release', key: { publicKey: PUBLIC_KEY } }],
              signatures: { threshold: 1 },
            },
          },
        },
      ],
      authorityCompiler(createTrustStore()),
    );
    const children = Array.from({ length: 40 }, (_, i) => `sha256:${(i + 1).toString(16).padStart(64, '0')}`);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: children.map((digest) => ({ digest, platform: { os: 'linux', architecture: 'amd64' } })),
      }),
    );
    const indexDigest = `sha256:${createHash('sha256').update(index).digest('hex')}`;
    let inFlight = 0;
    let peak = 0;
    const asked = new Set<string>();
    // Every signature lookup waits a turn, so lookups started together overlap.
    const lookup = <T>(digest: string, answer: T) => {
      asked.add(digest);
      peak = Math.max(peak, ++inFlight);
      return new Promise<T>((resolve) => setTimeout(() => (inFlight--, resolve(answer)), 1));
    };
    const registry: Registry = {
      getManifest: (_repo, reference) =>
        reference === indexDigest
          ? Promise.resolve({ digest: indexDigest, mediaType: OCI_INDEX, bytes: index })
          : lookup(reference.replace(/^sha256-([0-9a-f]{64})(?:\.\w+)?$/, 'sha256:$1'), null),
      headManifest: () => Promise.reject(new Error('by digest: nothing to resolve')),
      getBlob: () => Promise.reject(new Error('unexpected blob request')),
      getReferrers: (_repo, digest) => lookup(digest, null),
    };
    const [verdict] = await service(registry, set, 'deny').verifyImages([`reg.example/app@${indexDigest}`]);
    expect(verdict?.allowed).toBe(false);
    // Every platform manifest was looked up, the index too...
    expect(asked).toEqual(new Set([indexDigest, ...children]));
    // ...but at most 4 targets (the service's concurrency) at a time, each with its few discovery requests.
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(4 * 3);
  });
});

describe('the verdict cache and the timestamp trust root a key authority names', () => {
  it('does not reuse a verdict once the named timestamp root has gone stale', async () => {
    const store = (stale?: string) =>
      createTrustStore({ tsa: { trustedRoot: PUBLIC_GOOD_TRUSTED_ROOT, ...(stale ? { stale } : {}) } });
    let current = store();
    const set = compilePolicies(
      [
        {
          source: 'test',
          index: 0,
          value: {
            apiVersion: 'provenant.dev/v1alpha1',
            kind: 'ClusterImagePolicy',
            metadata: { name: 'timestamped-key' },
            spec: {
              mode: 'Enforce',
              images: [{ glob: 'reg.example/**' }],
              authorities: [{ name: 'release', key: { publicKey: PUBLIC_KEY, timestampTrustRoot: 'tsa' } }],
              signatures: { threshold: 1 },
            },
          },
        },
      ],
      authorityCompiler(current),
    );
    const registry = recordingRegistry();
    const verifier = new ImageVerificationService({
      registry,
      policies: () => set,
      noMatch: 'deny',
      clock: { now: () => Date.now() },
      cacheTtlMs: 60_000,
      negativeCacheTtlMs: 60_000,
      cacheMaxEntries: 100,
      concurrency: 4,
      trustStore: () => current,
    });
    const image = `reg.example/app@sha256:${'1'.repeat(64)}`;
    await verifier.verifyImages([image]);
    const asked = registry.contacted.length;
    await verifier.verifyImages([image]);
    expect(registry.contacted).toHaveLength(asked); // cached
    current = store('the TUF metadata expired');
    await verifier.verifyImages([image]);
    expect(registry.contacted.length).toBeGreaterThan(asked); // judged again, under the stale root
  });
});
