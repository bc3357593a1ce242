import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVerifyJson, provenant, writeKeyPolicy } from '../../support/cli.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import {
  seedSignatureScenarios,
  type KeyName,
  type SignatureCase,
  type SignatureScenarios,
} from '../../support/scenarios.js';
import { pushRandomImage } from '../../support/images.js';

// `provenant verify` against a real registry holding images signed by real cosign 2 and 3.
// Every verdict is cross-checked against cosign's own answer recorded while seeding.

let registry: TestRegistry;
let s: SignatureScenarios;
const policies = new Map<string, string>();

async function policyFor(keys: KeyName[], extra: { threshold?: number; signatureRepository?: string } = {}) {
  const id = `${keys.join(',')}|${extra.threshold ?? 1}|${extra.signatureRepository ?? ''}`;
  let path = policies.get(id);
  if (!path) {
    path = await writeKeyPolicy({
      glob: `${registry.host}/**`,
      keys: Object.fromEntries(keys.map((k) => [`key-${k}`, s.keys[k].publicKeyPem])),
      ...extra,
    });
    policies.set(id, path);
  }
  return path;
}

async function verify(images: string[], policy: string, flags: string[] = []) {
  const result = await provenant([
    'verify',
    ...images,
    '--policy',
    policy,
    '--insecure-registry',
    registry.host,
    '--output',
    'json',
    ...flags,
  ]);
  return { ...result, json: parseVerifyJson(result) };
}

/** Provenant must agree with the ground truth, and with cosign wherever cosign has no recorded quirk. */
function expectCosignAgrees(c: SignatureCase, key: KeyName, allowed: boolean) {
  const observations = c.cosign.filter((o) => o.key === key && o.signatureRepository === undefined);
  for (const o of observations) {
    expect(allowed, `ground truth for ${c.id} with key ${key}`).toBe(o.expected);
    if (!o.quirk) expect(allowed, `cosign ${o.version} on ${c.id}: ${o.error}`).toBe(o.verified);
  }
}

beforeAll(async () => {
  registry = await startRegistry();
  s = await seedSignatureScenarios(registry);
});

afterAll(async () => {
  await registry?.stop();
});

describe('provenant verify (key-based)', () => {
  it.each([
    ['legacy2Signed', 'cosign 2 legacy .sig'],
    ['bundle3Signed', 'cosign 3 bundle referrer'],
  ] as const)('admits %s (%s) signed with the policy key', async (name, _how) => {
    const c = s[name];
    const { code, json } = await verify([c.image.digestRef], await policyFor(['a']));
    expect(code).toBe(0);
    expect(json.results[0]).toMatchObject({ allowed: true, digest: c.image.digest, reasons: [] });
    expectCosignAgrees(c, 'a', true);
  });

  it('resolves a tag to the digest that was signed', async () => {
    const c = s.legacy2Signed;
    const { code, json } = await verify([c.image.ref], await policyFor(['a']));
    expect(code).toBe(0);
    expect(json.results[0]?.digest).toBe(c.image.digest);
  });

  it('denies an unsigned image with NO_SIGNATURE', async () => {
    const { code, json } = await verify([s.unsigned.image.digestRef], await policyFor(['a']));
    expect(code).toBe(1);
    expect(json.results[0]?.reasons.map((r) => r.code)).toEqual(['NO_SIGNATURE']);
    expectCosignAgrees(s.unsigned, 'a', false);
  });

  it.each(['legacy2', 'bundle3'] as const)(
    'denies an image signed by another key (%s) with UNTRUSTED_SIGNER',
    async (v) => {
      const c = s.otherKey[v];
      const denied = await verify([c.image.digestRef], await policyFor(['a']));
      expect(denied.code).toBe(1);
      expect(denied.json.results[0]?.reasons[0]).toMatchObject({
        code: 'UNTRUSTED_SIGNER',
        authority: 'key-a',
      });
      expectCosignAgrees(c, 'a', false);
      const admitted = await verify([c.image.digestRef], await policyFor(['b']));
      expect(admitted.code).toBe(0);
      expectCosignAgrees(c, 'b', true);
    },
  );

  it.each(['legacy2', 'bundle3', 'bundle3SubjectRewritten'] as const)(
    'denies a signature copied from another image (%s) with DIGEST_MISMATCH',
    async (v) => {
      const c = s.copiedSig[v];
      const { code, json } = await verify([c.image.digestRef], await policyFor(['a']));
      expect(code).toBe(1);
      expect(json.results[0]?.reasons[0]?.code).toBe('DIGEST_MISMATCH');
      expectCosignAgrees(c, 'a', false);
      // The same signature still admits the image it was made for.
      expect((await verify([c.source.digestRef], await policyFor(['a']))).code).toBe(0);
    },
  );

  it('denies a tampered bundle (its key hint names the policy key) with SIGNATURE_INVALID', async () => {
    const c = s.tampered.bundle3;
    const { code, json } = await verify([c.image.digestRef], await policyFor(['a']));
    expect(code).toBe(1);
    expect(json.results[0]?.reasons[0]?.code).toBe('SIGNATURE_INVALID');
    expectCosignAgrees(c, 'a', false);
  });

  // A legacy key signature names no key: a tampered one cannot be told apart from another signer's,
  // so it is refused as UNTRUSTED_SIGNER (docs/reasons.md). What matters is that it never admits.
  it('denies a tampered legacy payload', async () => {
    const c = s.tampered.legacy2;
    const { code, json } = await verify([c.image.digestRef], await policyFor(['a']));
    expect(code).toBe(1);
    expect(['UNTRUSTED_SIGNER', 'SIGNATURE_INVALID']).toContain(json.results[0]?.reasons[0]?.code);
    expectCosignAgrees(c, 'a', false);
  });

  describe('2-of-3 threshold', () => {
    it.each(['legacy2AllThree', 'bundle3AllThree', 'mixedALegacyBBundle'] as const)(
      'is met by %s',
      async (v) => {
        const { code, json } = await verify(
          [s.threshold[v].image.digestRef],
          await policyFor(['a', 'b', 'c'], { threshold: 2 }),
        );
        expect(code).toBe(0);
        expect(json.results[0]?.allowed).toBe(true);
      },
    );

    it.each(['legacy2AOnly', 'bundle3AOnly'] as const)('is not met by %s', async (v) => {
      const { code, json } = await verify(
        [s.threshold[v].image.digestRef],
        await policyFor(['a', 'b', 'c'], { threshold: 2 }),
      );
      expect(code).toBe(1);
      const codes = json.results[0]?.reasons.map((r) => r.code);
      expect(codes?.[0]).toBe('THRESHOLD_NOT_MET');
      expect(codes).toContain('UNTRUSTED_SIGNER');
    });
  });

  describe('multi-arch', () => {
    it.each(['recursive2', 'recursive3'] as const)(
      'admits the index and every platform signed with --recursive (%s)',
      async (v) => {
        const m = s.multiArch[v];
        const images = [m.index.image.digestRef, ...m.children.map((c) => c.image.digestRef)];
        const { code, json } = await verify(images, await policyFor(['a']));
        expect(code).toBe(0);
        expect(json.results.every((r) => r.allowed)).toBe(true);
      },
    );

    it.each(['indexOnly2', 'indexOnly3'] as const)(
      'admits the signed index but not its unsigned platforms (%s)',
      async (v) => {
        const m = s.multiArch[v];
        const index = await verify([m.index.image.ref], await policyFor(['a']));
        expect(index.code).toBe(0);
        expect(index.json.results[0]?.digest).toBe(m.index.image.digest);
        const child = await verify([m.children[0]!.image.digestRef], await policyFor(['a']));
        expect(child.json.results[0]?.reasons[0]?.code).toBe('NO_SIGNATURE');
      },
    );
  });

  it.each([
    ['ecdsaP384', 'legacy2', 'p384'],
    ['ecdsaP384', 'bundle3', 'p384'],
    ['rsa2048', 'legacy2', 'rsa'],
    ['rsa2048', 'bundle3', 'rsa'],
    ['ed25519', 'legacy2', 'ed25519'],
  ] as const)('verifies %s keys (%s)', async (type, v, key) => {
    const c = (s.keyTypes[type] as Record<string, SignatureCase>)[v]!;
    expect((await verify([c.image.digestRef], await policyFor([key]))).code).toBe(0);
    const wrong = await verify([c.image.digestRef], await policyFor(['a']));
    expect(wrong.json.results[0]?.reasons[0]?.code).toBe('UNTRUSTED_SIGNER');
  });

  it.each(['legacy2', 'bundle3'] as const)(
    'finds signatures in the policy signature repository (%s)',
    async (v) => {
      const c = s.signatureRepository[v];
      const withRepo = await verify(
        [c.image.digestRef],
        await policyFor(['a'], { signatureRepository: c.signatureRepository }),
      );
      expect(withRepo.code).toBe(0);
      const without = await verify([c.image.digestRef], await policyFor(['a']));
      expect(without.json.results[0]?.reasons[0]?.code).toBe('NO_SIGNATURE');
    },
  );

  it('prints one line per failing image in text output', async () => {
    const result = await provenant([
      'verify',
      s.unsigned.image.digestRef,
      s.legacy2Signed.image.digestRef,
      '--policy',
      await policyFor(['a']),
      '--insecure-registry',
      registry.host,
    ]);
    expect(result.code).toBe(1);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^denied .*NO_SIGNATURE/);
    expect(lines[1]).toMatch(/^allowed /);
  });
});

describe('provenant verify: registry failures deny', () => {
  it('denies with REGISTRY_UNAVAILABLE when the registry is down', async () => {
    const down = await startRegistry();
    const image = await pushRandomImage(down, 'demo/app', 'v1');
    await down.stop();
    const policy = await writeKeyPolicy({ glob: '**', keys: { a: s.keys.a.publicKeyPem } });
    const result = await provenant([
      'verify',
      image.digestRef,
      '--policy',
      policy,
      '--insecure-registry',
      down.host,
      '-o',
      'json',
      '--timeout',
      '20s',
    ]);
    expect(result.code).toBe(1);
    expect(parseVerifyJson(result).results[0]?.reasons[0]?.code).toBe('REGISTRY_UNAVAILABLE');
  });

  it('denies with REGISTRY_AUTH_FAILED on wrong credentials, and verifies with the right ones', async () => {
    const secured = await startRegistry({ auth: 'htpasswd', tls: true });
    try {
      const image = await pushRandomImage(secured, 'demo/app', 'v1');
      const policy = await writeKeyPolicy({ glob: '**', keys: { a: s.keys.a.publicKeyPem } });
      const wrong = await mkdtemp(join(tmpdir(), 'provenant-auth-'));
      const auth = Buffer.from(`${secured.username}:not-the-password`).toString('base64');
      await writeFile(join(wrong, 'config.json'), JSON.stringify({ auths: { [secured.host]: { auth } } }));
      const base = [
        'verify',
        image.digestRef,
        '--policy',
        policy,
        '--registry-ca',
        secured.caFile!,
        '-o',
        'json',
      ];
      const denied = await provenant([...base, '--registry-config', join(wrong, 'config.json')]);
      expect(denied.code).toBe(1);
      expect(parseVerifyJson(denied).results[0]?.reasons[0]?.code).toBe('REGISTRY_AUTH_FAILED');
      expect(denied.stdout).not.toContain('not-the-password');
      // Right credentials: the registry answers, and the unsigned image is judged on its merits.
      const judged = await provenant([
        ...base,
        '--registry-config',
        join(secured.dockerConfigDir!, 'config.json'),
      ]);
      expect(parseVerifyJson(judged).results[0]?.reasons[0]?.code).toBe('NO_SIGNATURE');
    } finally {
      await secured.stop();
    }
  });
});

describe('provenant verify: invalid input exits 2', () => {
  it('rejects an unparseable reference', async () => {
    const result = await provenant(['verify', 'UPPER/Case:bad tag', '--policy', await policyFor(['a'])]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('INVALID_REFERENCE');
  });

  it('rejects an invalid policy naming the file and field', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'provenant-bad-'));
    const path = join(dir, 'bad.yaml');
    await writeFile(
      path,
      'apiVersion: provenant.dev/v1alpha1\nkind: ClusterImagePolicy\nmetadata: {name: bad}\nspec:\n  images: [{glob: "**"}]\n  authorities: [{name: k, key: {publicKey: "not a pem"}}]\n  signatures: {threshold: 2}\n  extra: true\n',
    );
    const result = await provenant(['verify', s.unsigned.image.digestRef, '--policy', path]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('INVALID_POLICY');
    expect(result.stderr).toContain(path);
    expect(result.stderr).toContain('extra');
  });
});
