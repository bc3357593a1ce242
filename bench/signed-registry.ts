/**
 * The bench's world: a real local registry (test/support) holding three images signed by real cosign
 * (two legacy `.sig` signatures from cosign 2, one bundle referrer from cosign 3), a policy requiring the
 * signing key, and the verification core wired exactly as `provenant serve` wires it, with every registry
 * HTTP exchange counted.
 */
import { compilePolicies, type PolicySet } from '../src/policy/compile.js';
import { authorityCompiler } from '../src/policy/authorities.js';
import { readPolicyDocuments } from '../src/config/policy-files.js';
import { parseFlags, VERIFY_FLAGS, verifyFlags } from '../src/cli/flags.js';
import { createRegistry, createVerifier, type CacheSettings } from '../src/cli/runtime.js';
import type { ImageVerificationService } from '../src/image-verification.js';
import type { HttpRegistry } from '../src/oci/http-registry.js';
import type { Repository } from '../src/oci/reference.js';
import type { Registry } from '../src/oci/registry.js';
import { createTrustStore } from '../src/trust/index.js';
import { writeKeyPolicy } from '../test/support/cli.js';
import { cosignSign, generateKeyPair } from '../test/support/cosign.js';
import { pushRandomImage, type PushedImage } from '../test/support/images.js';
import { startRegistry, type TestRegistry } from '../test/support/registry.js';

/** `provenant serve`'s defaults: --cache-ttl 10m, --negative-cache-ttl 30s, --tag-cache-ttl 30s, --cache-size 10000. */
export const SERVE_CACHE: CacheSettings = {
  cacheTtlMs: 10 * 60_000,
  negativeCacheTtlMs: 30_000,
  tagCacheTtlMs: 30_000,
  cacheMaxEntries: 10_000,
};

export interface Exchange {
  readonly start: number;
  readonly end: number;
}

/** One call of the Registry port (one HTTP exchange here: an anonymous registry, no redirects). */
export interface RegistryCall extends Exchange {
  /** `registry/path` of the repository asked about. */
  readonly repository: string;
}

export interface SignedRegistry {
  readonly registry: TestRegistry;
  /** web (cosign 2), api (cosign 3 bundle), worker (cosign 2), all tagged v1. */
  readonly images: readonly PushedImage[];
  readonly policyFile: string;
  /** The signing key's public half (PKIX PEM). */
  readonly publicKeyPem: string;
  /** The flags a user would pass to `verify`, `check` or `serve`. */
  readonly cliFlags: readonly string[];
  /** One registry client for the whole bench, as in a webhook process. */
  readonly client: HttpRegistry;
  /** Registry HTTP exchanges made through `client` so far. */
  requests(): number;
  /** When each exchange so far started and ended (performance.now() ms), in the order they ended. */
  exchanges(): readonly Exchange[];
  /** The verifiers' Registry calls so far, with the repository each concerned, in the order they ended. */
  calls(): readonly RegistryCall[];
  /** A verification service with an empty cache, sharing `client`. */
  newVerifier(cache?: CacheSettings): ImageVerificationService;
  close(): Promise<void>;
}

export async function startSignedRegistry(): Promise<SignedRegistry> {
  const registry = await startRegistry();
  try {
    const key = await generateKeyPair('ecdsa-p256');
    const images = await Promise.all(
      ['web', 'api', 'worker'].map((name) => pushRandomImage(registry, `bench/${name}`, 'v1')),
    );
    const [web, api, worker] = images as [PushedImage, PushedImage, PushedImage];
    await Promise.all([
      cosignSign(2, key, web.digestRef, registry),
      cosignSign(3, key, api.digestRef, registry),
      cosignSign(2, key, worker.digestRef, registry),
    ]);
    const policyFile = await writeKeyPolicy({
      name: 'release',
      glob: `${registry.host}/bench/**`,
      keys: { 'release-key': key.publicKeyPem },
    });
    const cliFlags = ['--policy', policyFile, '--insecure-registry', registry.host];
    const flags = verifyFlags(parseFlags([...cliFlags], VERIFY_FLAGS).values);
    const trustStore = createTrustStore();
    const policies: PolicySet = compilePolicies(
      await readPolicyDocuments(flags.policyPaths),
      authorityCompiler(trustStore),
    );
    const exchanges: Exchange[] = [];
    const client = await createRegistry(flags, {
      onRequest: (event) => {
        const end = performance.now();
        exchanges.push({ start: end - event.durationMs, end });
      },
    });
    const calls: RegistryCall[] = [];
    const timed = timedRegistry(client, calls);
    return {
      registry,
      images,
      policyFile,
      cliFlags,
      client,
      publicKeyPem: key.publicKeyPem,
      requests: () => exchanges.length,
      exchanges: () => exchanges,
      calls: () => calls,
      newVerifier: (cache = SERVE_CACHE) =>
        createVerifier(
          timed,
          () => policies,
          flags.noMatch,
          cache,
          () => trustStore,
        ),
      close: async () => {
        await client.close();
        await registry.stop();
      },
    };
  } catch (err) {
    await registry.stop();
    throw err;
  }
}

/** `client`, with each call recorded in `calls`: when it started and ended, and which repository it concerned. */
function timedRegistry(
  client: HttpRegistry,
  calls: RegistryCall[],
): Registry & Pick<HttpRegistry, 'plainHttp'> {
  const timed = <T>(repo: Repository, call: () => Promise<T>): Promise<T> => {
    const start = performance.now();
    return call().finally(() =>
      calls.push({ repository: `${repo.registry}/${repo.path}`, start, end: performance.now() }),
    );
  };
  return {
    getManifest: (repo, reference, options) =>
      timed(repo, () => client.getManifest(repo, reference, options)),
    headManifest: (repo, reference, options) =>
      timed(repo, () => client.headManifest(repo, reference, options)),
    getBlob: (repo, digest, maxBytes, options) =>
      timed(repo, () => client.getBlob(repo, digest, maxBytes, options)),
    getReferrers: (repo, digest, options) => timed(repo, () => client.getReferrers(repo, digest, options)),
    referrersSupport: (repo) => client.referrersSupport(repo),
    plainHttp: client.plainHttp,
  };
}
