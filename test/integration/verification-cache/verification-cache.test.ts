/**
 * What the verdict cache may and may not reuse, on the real public-good keyless signature served by a real
 * registry: a verdict belongs to the trust material its authorities resolved to (a rotated or removed trust
 * root decides the next admission afresh), to the credentials its signatures were read with (one workload's
 * pull secrets never answer for another's), and to no single caller's deadline (a joiner of a check in
 * progress outlives the caller that started it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CacheOutcome } from '../../../src/cache/single-flight-cache.js';
import { createRegistry, createVerifier } from '../../../src/cli/runtime.js';
import { ProvenantError } from '../../../src/errors.js';
import { credentialStoreFrom } from '../../../src/oci/auth.js';
import type { HttpRegistry } from '../../../src/oci/http-registry.js';
import { authorityCompiler } from '../../../src/policy/authorities.js';
import { compilePolicies } from '../../../src/policy/compile.js';
import { createTrustStore, type TrustStore } from '../../../src/trust/index.js';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy.js';
import { fixtureBytes } from '../../support/fixtures.js';
import { keyringWithPasswords } from '../../support/pull-secrets.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { pushRealKeylessSignature, REAL_SIGNER } from '../keyless/real-keyless-signature.js';

const PUBLIC_GOOD = fixtureBytes('real/trusted-root/public-good/trusted_root.json').toString('utf8');
const GITHUB = fixtureBytes('real/trusted-root/github/trusted_root.json').toString('utf8');
const withCorp = (json: string) => createTrustStore({ corp: { trustedRoot: json } });

const CACHE = { cacheTtlMs: 600_000, negativeCacheTtlMs: 600_000, cacheMaxEntries: 100, tagCacheTtlMs: 0 };

function keylessPolicy(glob: string, trustRoot: string) {
  return {
    apiVersion: 'provenant.dev/v1alpha1',
    kind: 'ClusterImagePolicy',
    metadata: { name: 'corp-signed' },
    spec: {
      images: [{ glob }],
      authorities: [{ name: 'signer', keyless: { trustRoot, identities: [{ ...REAL_SIGNER }] } }],
      signatures: { threshold: 1 },
    },
  };
}

/** A verifier over `registryHost` whose trust store the test swaps, recording cache outcomes. */
async function verifierFor(registryHost: string, initial: TrustStore, trustRoot = 'corp') {
  let store = initial;
  const outcomes: CacheOutcome[] = [];
  const policies = compilePolicies(
    [{ source: 'test', index: 0, value: keylessPolicy(`${registryHost}/**`, trustRoot) }],
    authorityCompiler(initial),
  );
  const client = await createRegistry({ registryCa: [], insecureRegistries: [registryHost] });
  const verifier = createVerifier(
    client,
    () => policies,
    'deny',
    { ...CACHE, onCache: (o) => outcomes.push(o) },
    () => store,
  );
  return {
    verifier,
    client,
    outcomes,
    useStore: (next: TrustStore) => (store = next),
  };
}

const codes = (verdict: { reasons: readonly { code: string }[] } | undefined) =>
  verdict?.reasons.map((r) => r.code);

describe('verdicts are keyed by the trust material used', () => {
  let registry: TestRegistry;
  let image: string;
  let client: HttpRegistry | undefined;

  beforeAll(async () => {
    registry = await startRegistry();
    image = (await pushRealKeylessSignature(registry)).digestRef;
  });
  afterAll(async () => {
    await client?.close();
    await registry?.stop();
  });

  it('decides afresh after a rotation and a removal, and reuses a verdict when the content comes back', async () => {
    const setup = await verifierFor(registry.host, withCorp(PUBLIC_GOOD));
    client = setup.client;
    const { verifier, outcomes, useStore } = setup;

    expect((await verifier.verifyImages([image]))[0]?.allowed).toBe(true);
    expect((await verifier.verifyImages([image]))[0]?.allowed).toBe(true);
    expect(outcomes).toEqual(['miss', 'hit']);

    // The TrustRoot "corp" now holds GitHub's root: the same signature is no longer trusted.
    useStore(withCorp(GITHUB));
    const rotated = (await verifier.verifyImages([image]))[0];
    expect(rotated?.allowed).toBe(false);
    expect(codes(rotated)).toEqual(['UNTRUSTED_SIGNER']);

    // "corp" is gone; the policy compiled while it existed must not admit from memory.
    useStore(createTrustStore());
    const removed = (await verifier.verifyImages([image]))[0];
    expect(removed?.allowed).toBe(false);
    expect(removed?.reasons[0]?.message).toContain('"corp"');
    expect(outcomes).toEqual(['miss', 'hit', 'miss', 'miss']);

    // The same content under a freshly built store (a TUF refresh that changed nothing) is the same trust.
    useStore(withCorp(PUBLIC_GOOD));
    expect((await verifier.verifyImages([image]))[0]?.allowed).toBe(true);
    expect(outcomes.at(-1)).toBe('hit');
  });
});

describe('verdicts are keyed by the credentials their signatures were read with', () => {
  let registry: TestRegistry;
  let image: string;
  let client: HttpRegistry | undefined;

  beforeAll(async () => {
    registry = await startRegistry({ auth: 'htpasswd' });
    image = (await pushRealKeylessSignature(registry)).digestRef;
  });
  afterAll(async () => {
    await client?.close();
    await registry?.stop();
  });

  it("does not admit a workload without pull secrets on another workload's verdict", async () => {
    const setup = await verifierFor(registry.host, createTrustStore(), 'public-good');
    client = setup.client;
    const { verifier, outcomes } = setup;
    const good = credentialStoreFrom([
      [
        registry.host,
        { kind: 'basic', username: registry.username ?? '', password: registry.password ?? '' },
      ],
    ]);
    const wrong = credentialStoreFrom([
      [registry.host, { kind: 'basic', username: registry.username ?? '', password: 'not-the-password' }],
    ]);

    expect((await verifier.verifyImages([image], { credentials: good }))[0]?.allowed).toBe(true);
    const none = (await verifier.verifyImages([image]))[0];
    expect(none?.allowed).toBe(false);
    expect(codes(none)).toEqual(['REGISTRY_AUTH_FAILED']);
    const bad = (await verifier.verifyImages([image], { credentials: wrong }))[0];
    expect(codes(bad)).toEqual(['REGISTRY_AUTH_FAILED']);
    // Equal credentials, even in another store object (another workload with the same secret), share.
    const same = credentialStoreFrom([
      [
        registry.host,
        { kind: 'basic', username: registry.username ?? '', password: registry.password ?? '' },
      ],
    ]);
    expect((await verifier.verifyImages([image], { credentials: same }))[0]?.allowed).toBe(true);
    expect(outcomes).toEqual(['miss', 'miss', 'miss', 'hit']);
  });
});

describe('verdicts are keyed by every credential that was tried', () => {
  let registry: TestRegistry;
  let image: string;
  let client: HttpRegistry | undefined;

  beforeAll(async () => {
    registry = await startRegistry({ auth: 'token' });
    image = (await pushRealKeylessSignature(registry)).digestRef;
  });
  afterAll(async () => {
    await client?.close();
    await registry?.stop();
  });

  it('does not admit a workload holding only a retired secret on the verdict of one that also holds the current', async () => {
    const setup = await verifierFor(registry.host, createTrustStore(), 'public-good');
    client = setup.client;
    const { verifier, outcomes } = setup;
    const retired = 'not-the-password';
    const current = registry.password ?? '';

    // Retired first, as a rotation leaves them: the current one is tried next, as the kubelet does.
    const rotated = await verifier.verifyImages([image], {
      credentials: keyringWithPasswords(registry, retired, current),
    });
    expect(rotated[0]?.allowed).toBe(true);
    const onlyRetired = (
      await verifier.verifyImages([image], { credentials: keyringWithPasswords(registry, retired) })
    )[0];
    expect(onlyRetired?.allowed).toBe(false);
    expect(codes(onlyRetired)).toEqual(['REGISTRY_AUTH_FAILED']);
    // The same pair in another workload's keyring (other objects, equal secrets) shares the verdict.
    const again = await verifier.verifyImages([image], {
      credentials: keyringWithPasswords(registry, retired, current),
    });
    expect(again[0]?.allowed).toBe(true);
    expect(outcomes).toEqual(['miss', 'miss', 'hit']);
  });
});

describe('a check in progress belongs to no single caller', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let image: string;
  let client: HttpRegistry | undefined;

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry);
    image = (await pushRealKeylessSignature(registry)).digestRef.replace(registry.host, proxy.host);
  });
  afterAll(async () => {
    await client?.close();
    await proxy?.stop();
    await registry?.stop();
  });

  it('answers a joiner with a longer deadline after the first caller timed out', async () => {
    const setup = await verifierFor(proxy.host, createTrustStore(), 'public-good');
    client = setup.client;
    const { verifier, outcomes } = setup;
    let release!: () => void;
    proxy.inject({
      path: '.sig',
      times: 1,
      fault: { kind: 'hold', until: new Promise((r) => (release = r)) },
    });

    const first = new AbortController();
    const firstVerdict = verifier.verifyImages([image], { signal: first.signal });
    await expect.poll(() => proxy.requests.some((r) => r.path.includes('.sig'))).toBe(true);
    const joiner = verifier.verifyImages([image], { signal: new AbortController().signal });
    first.abort(new ProvenantError('TIMEOUT', "the first caller's admission deadline passed"));

    const timedOut = (await firstVerdict)[0];
    expect(codes(timedOut)).toEqual(['TIMEOUT']);
    expect(timedOut?.reasons[0]?.message).toContain("the first caller's admission deadline passed");
    release();
    const joined = (await joiner)[0];
    expect(joined?.reasons).toEqual([]);
    expect(joined?.allowed).toBe(true);
    expect(outcomes).toEqual(['miss', 'shared']);
  });
});
