/**
 * Which registries the verification core contacts (issue #15: registry spellings and the SSRF stance). The
 * registry is a recording fake: what is under test is the choice of whether and where to ask, not HTTP.
 * Policies are compiled from real documents with a real key.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ImageVerificationService } from './image-verification.js';
import type { Repository } from './oci/reference.js';
import { PlainHttpRegistries } from './oci/registry-host.js';
import type { Registry } from './oci/registry.js';
import { authorityCompiler } from './policy/authorities.js';
import { compilePolicies, type PolicySet } from './policy/compile.js';
import type { NoMatchAction } from './policy/types.js';
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
