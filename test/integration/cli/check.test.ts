/**
 * `provenant check` on manifests whose images live in a real registry, signed by real cosign 2 and 3. Its
 * answers must be the webhook's: the same deny message (compared with the webhook's own request handler),
 * the same codes, and `verify`'s exit statuses and JSON shape.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleAdmissionBody } from '../../../src/admission/handle.js';
import { parseFlags, VERIFY_FLAGS, verifyFlags } from '../../../src/cli/flags.js';
import { createRuntime } from '../../../src/cli/runtime.js';
import {
  checkWorkspace,
  parseVerifyJson,
  provenant,
  writeKeyPolicy,
  type CheckWorkspace,
} from '../../support/cli.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { seedSignatureScenarios, type SignatureScenarios } from '../../support/scenarios.js';
import { reviewWithImages } from '../webhook/reviews.js';

let registry: TestRegistry;
let s: SignatureScenarios;
let policy: string;
let ws: CheckWorkspace;

beforeAll(async () => {
  registry = await startRegistry();
  s = await seedSignatureScenarios(registry);
  policy = await writeKeyPolicy({
    name: 'release',
    glob: `${registry.host}/**`,
    keys: { 'key-a': s.keys.a.publicKeyPem },
  });
  ws = await checkWorkspace({ prefix: 'provenant-check-', policy, insecureRegistry: registry.host });
});

afterAll(async () => {
  await registry?.stop();
});

const deployment = (name: string, image: string) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}}
spec:
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      containers:
        - {name: ${name}, image: "${image}"}
`;

const pod = (name: string, containers: Record<string, string>, namespace?: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}${namespace === undefined ? '' : `, namespace: ${namespace}`}}
spec:
  containers:
${Object.entries(containers)
  .map(([c, image]) => `    - {name: ${c}, image: "${image}"}`)
  .join('\n')}
`;

const service = `apiVersion: v1
kind: Service
metadata: {name: api}
spec: {ports: [{port: 80}]}
`;

describe('provenant check', () => {
  it('decides each workload of a multi-document file, skipping other kinds', async () => {
    const file = await ws.manifest(
      [deployment('api', s.legacy2Signed.image.ref), service, pod('web', { web: s.unsigned.image.ref })].join(
        '---\n',
      ),
    );
    const result = await ws.check(file);
    expect(result.code).toBe(1);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toBe('Deployment default/api: allowed (1 image checked)');
    expect(lines[1]).toBe('Pod default/web: 1 of 1 image failed verification (NO_SIGNATURE)');
    expect(lines[2]).toMatch(
      /^Pod default\/web: container "web" image \S+unsigned:v1: policy release: (authority key-a: )?NO_SIGNATURE: \S/,
    );
    expect(lines).toHaveLength(3);
  });

  it("prints exactly the webhook's deny message for an AdmissionReview", async () => {
    const review = reviewWithImages('pod-create.json', {
      'ghcr.io/acme/web:1.4.2': s.otherKey.legacy2.image.ref,
      'docker.io/fluent/fluent-bit:3.1': s.copiedSig.bundle3.image.digestRef,
      'ghcr.io/acme/migrate:1.4.2': s.bundle3Signed.image.ref,
    });
    const file = await ws.manifest(JSON.stringify(review), 'json');
    const result = await ws.check(file);
    expect(result.code).toBe(1);

    // The webhook's own request handler, with the verifier `check` builds from the same flags.
    const flags = verifyFlags(
      parseFlags(['--policy', policy, '--insecure-registry', registry.host], VERIFY_FLAGS).values,
    );
    const runtime = await createRuntime(flags);
    try {
      const webhook = await handleAdmissionBody(Buffer.from(JSON.stringify(review)), 'validate', {
        verifier: runtime.verifier,
        timeoutMs: flags.timeoutMs,
        excludedNamespaces: [],
      });
      expect(webhook.body.response.status?.details.causes[0]?.reason).toBe('UNTRUSTED_SIGNER');
      expect(result.stdout.trim()).toBe(webhook.body.response.status?.message);
    } finally {
      await runtime.close();
    }

    // The same Pod as a plain manifest reads the same.
    const object = review.request.object as Record<string, unknown>;
    const fromManifest = await ws.check(await ws.manifest(JSON.stringify(object), 'json'));
    expect(fromManifest.stdout).toBe(result.stdout);
  });

  it('admits signed workloads of every shape, a List included (exit 0)', async () => {
    const list = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'listed' },
          spec: { containers: [{ name: 'c', image: s.bundle3Signed.image.digestRef }] },
        },
      ],
    };
    const cronJob = `apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: jobs}
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - {name: report, image: "${s.threshold.legacy2AllThree.image.ref}"}
`;
    const file = await ws.manifest(
      [deployment('api', s.legacy2Signed.image.ref), cronJob, JSON.stringify(list)].join('\n---\n'),
    );
    const result = await ws.check(file);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n')).toEqual([
      'Deployment default/api: allowed (1 image checked)',
      'CronJob jobs/report: allowed (1 image checked)',
      'Pod default/listed: allowed (1 image checked)',
    ]);
  });

  it('names every failing container with its code', async () => {
    const file = await ws.manifest(
      pod('web', { a: s.otherKey.bundle3.image.digestRef, b: s.copiedSig.legacy2.image.digestRef }, 'shop'),
    );
    const result = await ws.check(file);
    expect(result.code).toBe(1);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toBe(
      'Pod shop/web: 2 of 2 images failed verification (UNTRUSTED_SIGNER, DIGEST_MISMATCH)',
    );
    expect(lines[1]).toContain('container "a"');
    expect(lines[1]).toContain('UNTRUSTED_SIGNER');
    expect(lines[2]).toContain('container "b"');
    expect(lines[2]).toContain('DIGEST_MISMATCH');
  });

  it('checks image volumes, naming the volume; --output json lists each use with its kind', async () => {
    const file = await ws.manifest(`apiVersion: v1
kind: Pod
metadata: {name: infer, namespace: shop}
spec:
  containers:
    - {name: server, image: "${s.legacy2Signed.image.ref}", volumeMounts: [{name: models, mountPath: /models}]}
  volumes:
    - {name: models, image: {reference: "${s.unsigned.image.digestRef}"}}
`);
    const text = await ws.check(file);
    expect(text.code).toBe(1);
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).toBe('Pod shop/infer: 1 of 2 images failed verification (NO_SIGNATURE)');
    expect(lines[1]).toContain(`volume "models" image ${s.unsigned.image.digestRef}: policy release`);

    const json = JSON.parse((await ws.check(file, '--output', 'json')).stdout) as {
      objects: { images: { container: string; kind: string; image: string }[] }[];
    };
    expect(json.objects[0]?.images).toEqual([
      { container: 'server', kind: 'container', image: s.legacy2Signed.image.ref },
      { container: 'models', kind: 'imageVolume', image: s.unsigned.image.digestRef },
    ]);
  });

  it('--output json: the shape of `verify`, plus one entry per object', async () => {
    const file = await ws.manifest(
      [deployment('api', s.legacy2Signed.image.ref), pod('web', { web: s.unsigned.image.digestRef })].join(
        '---\n',
      ),
    );
    const result = await ws.check(file, '--output', 'json');
    expect(result.code).toBe(1);
    const json = parseVerifyJson(result) as ReturnType<typeof parseVerifyJson> & {
      objects: {
        kind: string;
        name: string;
        allowed: boolean;
        reason: string | null;
        message: string | null;
      }[];
    };
    expect(json.allowed).toBe(false);
    expect(json.results.map((r) => [r.image, r.allowed, r.reasons.map((x) => x.code)])).toEqual([
      [s.legacy2Signed.image.ref, true, []],
      [s.unsigned.image.digestRef, false, ['NO_SIGNATURE']],
    ]);
    expect(json.results[0]?.digest).toBe(s.legacy2Signed.image.digest);
    expect(json.objects.map((o) => [o.kind, o.name, o.allowed, o.reason])).toEqual([
      ['Deployment', 'api', true, null],
      ['Pod', 'web', false, 'NO_SIGNATURE'],
    ]);
    expect(json.objects[1]?.message).toMatch(/^Pod default\/web: 1 of 1 image failed verification/);
  });

  it('-n sets the namespace of manifests that have none', async () => {
    const file = await ws.manifest(pod('web', { web: s.unsigned.image.digestRef }));
    const result = await ws.check(file, '-n', 'team-a');
    expect(result.stdout).toMatch(/^Pod team-a\/web: /);
  });

  it('an UPDATE AdmissionReview that changes no image needs no verification', async () => {
    const review = reviewWithImages('deployment-update-scale.json', {
      'ghcr.io/acme/web:1.4.2': s.unsigned.image.ref,
      'docker.io/library/redis:7.2': s.unsigned.image.ref,
      'ghcr.io/acme/agent@sha256:4f6e2d7c3b1a09e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4':
        s.unsigned.image.digestRef,
    });
    const result = await ws.check(await ws.manifest(JSON.stringify(review), 'json'));
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe('Deployment shop/web: allowed (no new or changed images to verify)');
  });

  it('says so when a file holds no workloads (exit 0)', async () => {
    const result = await ws.check(await ws.manifest(service));
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('no Pods or pod controllers');
  });
});

describe('provenant check: invalid input exits 2', () => {
  it.each([
    ['YAML that does not parse', 'kind: [unclosed', 'not valid YAML'],
    ['an object without kind', 'apiVersion: v1\nmetadata: {name: x}\n', 'apiVersion and kind'],
    ['a scalar document', 'just a string\n', 'not a Kubernetes object'],
    [
      'a v1beta1 AdmissionReview',
      JSON.stringify({
        apiVersion: 'admission.k8s.io/v1beta1',
        kind: 'AdmissionReview',
        request: { uid: 'u' },
      }),
      'v1beta1',
    ],
  ])('%s', async (_name, text, message) => {
    const result = await ws.check(await ws.manifest(text));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe('');
  });

  it.each([
    [
      'a pod spec of the wrong shape',
      'apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: "web"}\n',
      'INVALID_REQUEST',
    ],
    ['an unparseable image reference', pod('x', { c: 'UPPER/Case:bad tag' }), 'INVALID_REFERENCE'],
  ])('%s, still printing the decision', async (_name, text, code) => {
    const result = await ws.check(await ws.manifest(text));
    expect(result.code).toBe(2);
    expect(result.stdout).toContain(code);
  });

  it('a missing file and a missing -f', async () => {
    const missing = await ws.check(join(ws.dir, 'nope.yaml'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read');
    const noFile = await provenant(['check', '--policy', policy]);
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toContain('-f FILE');
  });
});
