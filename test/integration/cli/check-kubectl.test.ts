/**
 * `provenant check` on manifests that a pull request's author writes, read by the real kubectl beside it:
 * whatever kubectl would create from a file, `check` decides, or refuses the file (exit 2). Real registry,
 * real cosign signatures.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, cosignSign, type CosignKeyPair } from '../../support/cosign.js';
import { checkWorkspace, writeKeyPolicy, type CheckWorkspace } from '../../support/cli.js';
import { pushRandomImage, type PushedImage } from '../../support/images.js';
import { startRegistry, toolPath, type TestRegistry } from '../../support/registry.js';

const run = promisify(execFile);

let registry: TestRegistry;
let keyA: CosignKeyPair;
let signed: PushedImage;
let unsigned: PushedImage;
let policy: string;
let ws: CheckWorkspace;

beforeAll(async () => {
  registry = await startRegistry();
  keyA = await generateKeyPair('ecdsa-p256');
  signed = await pushRandomImage(registry, 'ci/signed', 'v1');
  unsigned = await pushRandomImage(registry, 'ci/unsigned', 'v1');
  await cosignSign(2, keyA, signed.digestRef, registry);
  policy = await writeKeyPolicy({
    name: 'release',
    glob: `${registry.host}/**`,
    keys: { 'key-a': keyA.publicKeyPem },
  });
  ws = await checkWorkspace({ prefix: 'provenant-check-kubectl-', policy, insecureRegistry: registry.host });
});

afterAll(async () => {
  await registry?.stop();
});

/** The images of the objects kubectl would send to the API server for `kubectl apply -f file`. */
async function kubectlImages(file: string): Promise<string[]> {
  const { stdout } = await run(
    toolPath('kubectl'),
    ['label', '--local', '-f', file, 'checked=yes', '-o', 'json'],
    {
      env: { ...process.env, KUBECONFIG: '/dev/null' },
    },
  );
  const parsed = JSON.parse(stdout) as { kind: string; items?: unknown[] };
  const objects = parsed.kind === 'List' ? (parsed.items ?? []) : [parsed];
  return objects.flatMap((object) => {
    const o = object as {
      spec?: { containers?: { image: string }[]; template?: { spec?: { containers?: { image: string }[] } } };
    };
    return [...(o.spec?.containers ?? []), ...(o.spec?.template?.spec?.containers ?? [])].map((c) => c.image);
  });
}

describe('provenant check reads manifests as kubectl does', () => {
  const pod = (spec: string, extra = '') => `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
${spec}${extra}`;

  // Each manifest makes kubectl create the unsigned image, while the signed one is in plain sight.
  const cases: Record<string, () => string> = {
    'a merge key after the image overrides it': () =>
      pod(`  containers:
    - name: web
      image: "${signed.ref}"
      <<: {image: "${unsigned.ref}"}
`),
    'a merge key brings the containers': () =>
      pod(`  <<: {containers: [{name: web, image: "${unsigned.ref}"}]}
`),
    'a Pod with an items field is created as its items': () =>
      pod(
        `  containers: [{name: web, image: "${signed.ref}"}]
`,
        `items:
  - metadata: {name: hidden}
    spec:
      containers: [{name: web, image: "${unsigned.ref}"}]
`,
      ),
    'a PodList': () => `apiVersion: v1
kind: PodList
items:
  - metadata: {name: listed}
    spec:
      containers: [{name: web, image: "${unsigned.ref}"}]
`,
  };

  for (const [name, text] of Object.entries(cases)) {
    it(`${name}: never exit 0`, async () => {
      const file = await ws.manifest(text());
      expect(await kubectlImages(file)).toContain(unsigned.ref);
      const result = await ws.check(file);
      expect(result.code, result.stdout + result.stderr).not.toBe(0);
    });
  }

  it('a PodList is decided item by item, as kubectl creates it', async () => {
    const file = await ws.manifest(`apiVersion: apps/v1
kind: DeploymentList
items:
  - metadata: {name: api}
    spec:
      selector: {matchLabels: {app: api}}
      template:
        metadata: {labels: {app: api}}
        spec:
          containers: [{name: api, image: "${signed.ref}"}]
`);
    expect(await kubectlImages(file)).toEqual([signed.ref]);
    const result = await ws.check(file);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe('Deployment default/api: allowed (1 image checked)');
  });

  it('a quoted "<<" is a key like any other, to kubectl and to check', async () => {
    const file = await ws.manifest(
      pod(`  containers:
    - name: web
      image: "${signed.ref}"
      "<<": {image: "${unsigned.ref}"}
`),
    );
    expect(await kubectlImages(file)).toEqual([signed.ref]);
    expect((await ws.check(file)).code).toBe(0);
  });
});
