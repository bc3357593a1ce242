/**
 * What the author of a pull request writes into the text `provenant check` and `verify` print when a CI job
 * runs them on the pull request's own files and images: a line starting with `::` is a workflow command in a
 * GitHub Actions log, escape sequences and carriage returns rewrite what a terminal shows, and an excerpt of a
 * file reached through a symbolic link would publish what the job can read. Real registry, real cosign
 * signatures.
 */
import { symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, cosignSign, type CosignKeyPair } from '../../support/cosign.js';
import {
  checkWorkspace,
  parseVerifyJson,
  provenant,
  writeKeyPolicy,
  type CheckWorkspace,
} from '../../support/cli.js';
import { attachBundleReferrer } from '../../support/sigstore-oci.js';
import {
  digestTag,
  fetchBlob,
  fetchManifest,
  pushRandomImage,
  type PushedImage,
} from '../../support/images.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { startPrivateSigstore } from '../../support/sigstore.js';

let registry: TestRegistry;
let keyA: CosignKeyPair;
let keyB: CosignKeyPair;
let signed: PushedImage;
let unsigned: PushedImage;
let policy: string;
let ws: CheckWorkspace;

beforeAll(async () => {
  registry = await startRegistry();
  [keyA, keyB] = await Promise.all([generateKeyPair('ecdsa-p256'), generateKeyPair('ecdsa-p256')]);
  signed = await pushRandomImage(registry, 'ci/signed', 'v1');
  unsigned = await pushRandomImage(registry, 'ci/unsigned', 'v1');
  await cosignSign(2, keyA, signed.digestRef, registry);
  policy = await writeKeyPolicy({
    name: 'release',
    glob: `${registry.host}/**`,
    keys: { 'key-a': keyA.publicKeyPem },
  });
  ws = await checkWorkspace({ prefix: 'provenant-outsiders-', policy, insecureRegistry: registry.host });
});

afterAll(async () => {
  await registry?.stop();
});

/** No line an outsider starts, and no escape sequence, carriage return or bidi override, in what is printed. */
function expectNoInjection(text: string): void {
  for (const line of text.split('\n')) expect(line.trimStart()).not.toMatch(/^::/);
  // eslint-disable-next-line no-control-regex -- looking for control characters is the point
  expect(text).not.toMatch(/[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/);
}

describe("outsiders' text in check's and verify's output", () => {
  const injected = '\\n::error title=Provenant::all images verified\\r\\e[2K\\u202E';

  it("a manifest's name starts no line and carries no escape sequence", async () => {
    const file = await ws.manifest(`apiVersion: v1
kind: Pod
metadata: {name: "web${injected}"}
spec:
  containers: [{name: web, image: "${signed.ref}"}]
---
apiVersion: v1
kind: Pod
metadata: {name: "api${injected}"}
spec:
  containers: [{name: api, image: "${unsigned.ref}"}]
`);
    const result = await ws.check(file);
    expectNoInjection(result.stdout + result.stderr);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('allowed (1 image checked)');
  });

  it('a YAML error quotes no line of the file, whatever the file is', async () => {
    // A manifest in the pull request may be a link to any file the job can read.
    const secret = join(ws.dir, 'environment');
    await writeFile(secret, 'CLOUD_TOKEN=very-secret-value\u0000OTHER=1\u0000');
    const link = join(ws.dir, 'linked.yaml');
    await symlink(secret, link);
    const escape = await ws.manifest(
      'apiVersion: v1\nkind: Pod\nmetadata: {name: "x\u001b[2K\u001b[1Aok"}\n',
    );
    for (const file of [link, escape]) {
      const result = await ws.check(file);
      expect(result.stderr).not.toContain('very-secret-value');
      expectNoInjection(result.stderr);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/not valid YAML or JSON: .* \(line \d+, column \d+\)\n$/);
    }
  });

  it("a signature's claims print as one line of text, and unchanged in JSON", async () => {
    // A cosign 3 bundle by key A, stored aside, then attached to the image with a hint of the attacker's.
    const image = await pushRandomImage(registry, 'ci/hinted', 'v1');
    const aside = `${registry.host}/ci/aside`;
    await cosignSign(3, keyA, image.digestRef, registry, { signatureRepository: aside });
    const index = JSON.parse(
      (await fetchManifest(registry, `${aside}:${digestTag(image.digest)}`))?.toString('utf8') ?? 'null',
    ) as { manifests: { digest: string }[] };
    const referrer = JSON.parse(
      (await fetchManifest(registry, `${aside}@${index.manifests[0]?.digest}`))?.toString('utf8') ?? 'null',
    ) as { layers: { digest: string }[] };
    const bundle = JSON.parse(
      (await fetchBlob(registry, aside, referrer.layers[0]?.digest ?? '')).toString('utf8'),
    ) as { verificationMaterial: { publicKey: { hint: string } } };
    const hint = `k\n::error title=Provenant::all images verified\r\u001b[2K\u202Eok`;
    bundle.verificationMaterial.publicKey.hint = hint;
    await attachBundleReferrer(registry, image.repository, image.digest, JSON.stringify(bundle));

    const trustsB = await writeKeyPolicy({
      name: 'release',
      glob: `${registry.host}/**`,
      keys: { 'key-b': keyB.publicKeyPem },
    });
    const args = ['verify', image.digestRef, '--policy', trustsB, '--insecure-registry', registry.host];
    const text = await provenant(args);
    expectNoInjection(text.stdout + text.stderr);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('names key id k ::error');

    const json = await provenant([...args, '--output', 'json']);
    expectNoInjection(json.stdout);
    const messages = parseVerifyJson(json).results[0]?.reasons.map((r) => r.message) ?? [];
    expect(messages.some((m) => m.includes(`names key id ${hint}`))).toBe(true);
  });

  it("a certificate's SAN prints as one line of text in verify-bundle's answer", async () => {
    const sigstore = await startPrivateSigstore();
    try {
      const artifact = join(ws.dir, 'artifact.txt');
      await writeFile(artifact, 'release');
      // A URI SAN with a line break in it, from a CA the trusted root names.
      const subject = 'https://ci.example/x\n::error title=Provenant::verified\r\u001b[2Kok';
      const bundle = await sigstore.signBlob('release', { issuer: 'https://issuer.example', subject });
      const bundleFile = join(ws.dir, 'san.sigstore.json');
      await writeFile(bundleFile, JSON.stringify(bundle));
      const args = ['--bundle', bundleFile, '--trusted-root', sigstore.trustedRootPath];
      const issuer = ['--certificate-oidc-issuer', 'https://issuer.example'];

      const refused = await provenant([
        'verify-bundle',
        ...args,
        '--certificate-identity',
        'https://ci.example/other',
        ...issuer,
        artifact,
      ]);
      expectNoInjection(refused.stdout + refused.stderr);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        /^UNTRUSTED_SIGNER: certificate identity is .*subject https:\/\/ci\.example\/x ::error/,
      );

      const verified = await provenant([
        'verify-bundle',
        ...args,
        '--certificate-identity',
        subject,
        ...issuer,
        artifact,
      ]);
      expectNoInjection(verified.stdout + verified.stderr);
      expect(verified.code).toBe(0);
      expect(verified.stdout).toMatch(/^OK: verified, signed by https:\/\/ci\.example\/x ::error/);
    } finally {
      await sigstore.stop();
    }
  });
});
