import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseVerifyJson, provenant } from '../../support/cli.js';
import { cosignSign, generateKeyPair, type CosignKeyPair } from '../../support/cosign.js';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy.js';
import { pushRandomImage } from '../../support/images.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';

// Static policies against a real registry, counted through a forwarding proxy: an image decided statically
// must cost no registry request at all, and an Allow must never lift another policy's requirements.

let registry: TestRegistry;
let proxy: FaultProxy;
let key: CosignKeyPair;
/** Images as the proxy serves them (`PROXY/repo:tag`). */
const image: Record<'mirrorSigned' | 'mirrorUnsigned' | 'hubUnsigned', string> = {
  mirrorSigned: '',
  mirrorUnsigned: '',
  hubUnsigned: '',
};

type Mode = 'Enforce' | 'Warn' | 'Audit';

function staticPolicy(name: string, glob: string, action: 'Allow' | 'Deny', mode: Mode = 'Enforce') {
  return {
    apiVersion: 'provenant.dev/v1alpha1',
    kind: 'ClusterImagePolicy',
    metadata: { name },
    spec: {
      mode,
      images: [{ glob }],
      static: { action, ...(action === 'Deny' ? { message: `${name}: this registry is not trusted` } : {}) },
    },
  };
}

function signedPolicy(glob: string) {
  return {
    apiVersion: 'provenant.dev/v1alpha1',
    kind: 'ClusterImagePolicy',
    metadata: { name: 'signed' },
    spec: {
      images: [{ glob }],
      authorities: [{ name: 'release', key: { publicKey: key.publicKeyPem } }],
      signatures: {},
    },
  };
}

async function writePolicies(docs: object[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'provenant-static-'));
  const path = join(dir, 'policies.yaml');
  await writeFile(path, docs.map((d) => dump(d, { lineWidth: -1 })).join('---\n'));
  return path;
}

async function verify(images: string[], docs: object[], flags: string[] = []) {
  const result = await provenant([
    'verify',
    ...images,
    '--policy',
    await writePolicies(docs),
    '--insecure-registry',
    proxy.host,
    '--output',
    'json',
    ...flags,
  ]);
  return { ...result, json: parseVerifyJson(result) };
}

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startFaultProxy(registry);
  key = await generateKeyPair('ecdsa-p256');
  const signed = await pushRandomImage(registry, 'mirror/app', 'signed');
  await cosignSign(3, key, signed.digestRef, registry);
  await pushRandomImage(registry, 'mirror/app', 'unsigned');
  await pushRandomImage(registry, 'hub/library/nginx', 'latest');
  image.mirrorSigned = `${proxy.host}/mirror/app:signed`;
  image.mirrorUnsigned = `${proxy.host}/mirror/app:unsigned`;
  image.hubUnsigned = `${proxy.host}/hub/library/nginx:latest`;
});

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
});

beforeEach(() => proxy.reset());

describe('static policies (provenant verify, real registry behind a counting proxy)', () => {
  it('a static Deny denies with IMAGE_NOT_ALLOWED and its message, without a registry request', async () => {
    const deny = staticPolicy('no-hub', `${proxy.host}/hub/**`, 'Deny');
    const { code, json } = await verify([image.hubUnsigned], [deny]);
    expect(code).toBe(1);
    expect(json.results[0]?.reasons).toEqual([
      {
        policy: 'no-hub',
        authority: null,
        code: 'IMAGE_NOT_ALLOWED',
        message: 'no-hub: this registry is not trusted',
      },
    ]);
    expect(json.results[0]?.digest).toBeNull();
    expect(proxy.requests).toEqual([]);
  });

  it('a Deny wins over a verifying policy that matches too, still without a request', async () => {
    const deny = staticPolicy('no-hub', `${proxy.host}/hub/**`, 'Deny');
    const { code, json } = await verify([image.hubUnsigned], [signedPolicy(`${proxy.host}/**`), deny]);
    expect(code).toBe(1);
    expect(json.results[0]?.reasons.map((r) => r.code)).toEqual(['IMAGE_NOT_ALLOWED']);
    expect(proxy.requests).toEqual([]);
  });

  it('a static Allow admits a matching image without a request, and lifts it out of --no-match deny', async () => {
    const allow = staticPolicy('mirror', `${proxy.host}/mirror/**`, 'Allow');
    const admitted = await verify([image.mirrorUnsigned], [allow], ['--no-match', 'deny']);
    expect(admitted.code).toBe(0);
    expect(admitted.json.results[0]).toMatchObject({ allowed: true, digest: null, reasons: [] });
    expect(proxy.requests).toEqual([]);
    // Another registry is matched by no policy: --no-match deny (the default) still denies it.
    const unmatched = await verify([image.hubUnsigned], [allow]);
    expect(unmatched.code).toBe(1);
    expect(unmatched.json.results[0]?.reasons.map((r) => r.code)).toEqual(['NO_MATCHING_POLICY']);
    expect(proxy.requests).toEqual([]);
  });

  it("an Allow satisfies only itself: another matching policy's requirements still apply", async () => {
    const allow = staticPolicy('mirror', `${proxy.host}/mirror/**`, 'Allow');
    const policies = [allow, signedPolicy(`${proxy.host}/**`)];
    const unsigned = await verify([image.mirrorUnsigned], policies);
    expect(unsigned.code).toBe(1);
    expect(unsigned.json.results[0]?.reasons.map((r) => r.code)).toEqual(['NO_SIGNATURE']);
    expect(proxy.requests.length).toBeGreaterThan(0);
    const signed = await verify([image.mirrorSigned], policies);
    expect(signed.code).toBe(0);
    expect(signed.json.results[0]?.digest).toMatch(/^sha256:/);
  });

  it.each(['Warn', 'Audit'] as const)(
    'a static Deny in %s mode admits, records IMAGE_NOT_ALLOWED, makes no request',
    async (mode) => {
      const deny = staticPolicy('no-hub', `${proxy.host}/hub/**`, 'Deny', mode);
      const { code, json, stdout } = await verify([image.hubUnsigned], [deny]);
      expect(code).toBe(0);
      const result = JSON.parse(stdout).results[0] as { warnings: string[]; audit: { code: string }[] };
      if (mode === 'Warn') expect(result.warnings.join('\n')).toContain('IMAGE_NOT_ALLOWED');
      else expect(result.audit.map((a) => a.code)).toEqual(['IMAGE_NOT_ALLOWED']);
      expect(json.results[0]?.reasons).toEqual([]);
      expect(proxy.requests).toEqual([]);
    },
  );

  it('a Warn-mode Deny next to a verifying policy: the verification still runs and decides', async () => {
    const deny = staticPolicy('no-hub', `${proxy.host}/**`, 'Deny', 'Warn');
    const { code, stdout } = await verify([image.mirrorSigned], [deny, signedPolicy(`${proxy.host}/**`)]);
    expect(code).toBe(0);
    expect(stdout).toContain('IMAGE_NOT_ALLOWED');
    expect(proxy.requests.length).toBeGreaterThan(0);
  });

  it('prints the static Allow in text output', async () => {
    const allow = staticPolicy('mirror', `${proxy.host}/mirror/**`, 'Allow');
    const result = await provenant([
      'verify',
      image.mirrorUnsigned,
      '--policy',
      await writePolicies([allow]),
      '--insecure-registry',
      proxy.host,
    ]);
    expect(result.stdout.trim()).toBe(`allowed ${image.mirrorUnsigned} (allowed by: mirror)`);
  });
});
