// Provenant end to end: a real kube-apiserver with the Helm chart's CRDs and webhook configurations, calling
// `provenant serve --kubernetes` on loopback, which reads ClusterImagePolicy/ImagePolicy objects through the
// chart's ServiceAccount and verifies images in a real registry signed by the real cosign. Every case drives
// kubectl and checks its exit status and what it prints.
//
// Who denies: the API server runs mutating webhooks before validating ones, and Provenant's mutating
// webhook (pin.provenant.dev) must verify an image to pin it to its digest. It denies an image that fails,
// so the request never reaches verify.provenant.dev, which sees the images already pinned.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseObjects, readPolicyCases, requireTools } from '../chart/support.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { type Cluster, type KubectlResult, startCluster, waitFor } from './harness/index.js';
import {
  EXCLUDE_LABEL,
  type LogLine,
  type Provenant,
  RELEASE,
  WEBHOOKS,
  installProvenant,
} from './support/provenant.js';
import { type E2eImages, seedE2eImages } from './support/signed-images.js';

const API = 'provenant.dev/v1alpha1';
const INVALID_POLICIES = join(import.meta.dirname, '../chart/invalid-policies');
/** How long a policy change may take to reach admissions and status (watch, 100 ms debounce, status write). */
const POLICY_PROPAGATION_MS = 10_000;

let cluster: Cluster | undefined;
let registry: TestRegistry | undefined;
let provenant: Provenant | undefined;
let images: E2eImages;
let excludedNamespace: string;

const k = (): Cluster => {
  if (!cluster) throw new Error('the cluster did not start');
  return cluster;
};
const kubectl = (args: string[], input?: string): Promise<KubectlResult> =>
  k().kubectl(args, input === undefined ? {} : { input });

let namespaces = 0;
/** A fresh namespace (with its default ServiceAccount), its name unique within the run. */
async function freshNamespace(prefix: string, labels: Record<string, string> = {}): Promise<string> {
  const name = `${prefix}-${++namespaces}`;
  await k().createNamespace(name, labels);
  return name;
}

function keyPolicy(
  name: string,
  glob: string,
  publicKeyPem: string,
  { mode = 'Enforce', namespace }: { mode?: 'Enforce' | 'Warn' | 'Audit'; namespace?: string } = {},
): object {
  return {
    apiVersion: API,
    kind: namespace === undefined ? 'ClusterImagePolicy' : 'ImagePolicy',
    metadata: { name, ...(namespace === undefined ? {} : { namespace }) },
    spec: {
      mode,
      images: [{ glob }],
      authorities: [{ name: 'release-key', key: { publicKey: publicKeyPem } }],
      signatures: {},
    },
  };
}

const policyJson = (...args: Parameters<typeof keyPolicy>): string => JSON.stringify(keyPolicy(...args));

function pod(name: string, image: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { containers: [{ name: 'app', image }] },
  });
}

function deployment(name: string, image: string): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
    },
  });
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface Denial {
  kind: 'Pod' | 'Deployment';
  namespace: string;
  name: string;
  container: string;
  image: string;
  /** `release` or `<namespace>/<name>` for an ImagePolicy. */
  policy: string;
  code: string;
  /** What kubectl prints before the API server's message; default `Error from server (Forbidden): `. */
  kubectlLead?: string;
}

/**
 * kubectl's exit status and stderr for one failing image: kubectl's `Error from server (Forbidden)` (the
 * status reason), the API server's prefix naming the webhook, then Provenant's message: a summary line
 * with the codes, then one line per failing container with its policy and code. The free-text detail
 * after the code is not pinned: codes are the API, wording is not.
 */
function expectDenied(r: KubectlResult, d: Denial): void {
  expect(r.code, r.stderr).toBe(1);
  const who = `${d.kind} ${d.namespace}/${d.name}`;
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(2);
  expect(lines[0]).toBe(
    `${d.kubectlLead ?? 'Error from server (Forbidden): '}admission webhook "${WEBHOOKS.mutating}" ` +
      `denied the request: ${who}: 1 of 1 image failed verification (${d.code})`,
  );
  expect(lines[1]).toMatch(
    new RegExp(
      `^${escape(`${who}: container "${d.container}" image ${d.image}: policy ${d.policy}: `)}` +
        `(authority [a-z0-9-]+: )?${d.code}: \\S`,
    ),
  );
}

/** The log lines Provenant wrote for admissions of `name` in `namespace` by one of its webhooks. */
function admissionLogs(namespace: string, name: string, since = 0): LogLine[] {
  return (provenant?.logs() ?? [])
    .slice(since)
    .filter((l) => l['namespace'] === namespace && l['name'] === name && typeof l['webhook'] === 'string');
}

async function jsonpath(namespace: string, what: string[], path: string): Promise<string> {
  const r = await kubectl(['-n', namespace, 'get', ...what, '-o', `jsonpath=${path}`]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

/** Reads `kubectl get` table output into rows keyed by column header (columns are aligned by kubectl). */
function parseTable(stdout: string): Record<string, string>[] {
  const [header, ...rows] = stdout.trimEnd().split('\n');
  if (header === undefined) return [];
  const starts = [...header.matchAll(/\S+/g)].map((m) => ({ name: m[0], at: m.index }));
  return rows.map((row) =>
    Object.fromEntries(
      starts.map((col, i) => [col.name, row.slice(col.at, starts[i + 1]?.at ?? row.length).trim()]),
    ),
  );
}

/** The printer columns of one policy object, as `kubectl get -o wide` shows them. */
async function policyRow(
  resource: string,
  name: string,
  namespace?: string,
): Promise<Record<string, string>> {
  const ns = namespace === undefined ? [] : ['-n', namespace];
  const r = await kubectl([...ns, 'get', resource, name, '-o', 'wide']);
  expect(r.code, r.stderr).toBe(0);
  const [row] = parseTable(r.stdout);
  if (row === undefined) throw new Error(`no row for ${resource}/${name}:\n${r.stdout}`);
  return row;
}

async function waitReady(
  resource: string,
  name: string,
  namespace?: string,
): Promise<Record<string, string>> {
  return waitFor(
    async () => {
      const row = await policyRow(resource, name, namespace);
      return row['READY'] === 'True' ? row : undefined;
    },
    { timeoutMs: POLICY_PROPAGATION_MS, intervalMs: 200, description: `${resource}/${name} Ready True` },
  );
}

/** Server-side dry runs until `accept` holds: the next real request then sees the change. */
async function waitForDecision(
  namespace: string,
  image: string,
  accept: (r: KubectlResult) => boolean,
  description: string,
): Promise<void> {
  await waitFor(
    async () =>
      accept(
        await kubectl([
          '-n',
          namespace,
          'run',
          'probe',
          `--image=${image}`,
          '--restart=Never',
          '--dry-run=server',
        ]),
      ),
    { timeoutMs: POLICY_PROPAGATION_MS, intervalMs: 200, description },
  );
}

beforeAll(async () => {
  requireTools('kubectl', 'kube-apiserver', 'etcd', 'helm', 'docker-registry', 'cosign2', 'cosign3', 'crane');
  const [c, r] = await Promise.all([startCluster(), startRegistry()]);
  cluster = c;
  registry = r;
  images = await seedE2eImages(r);
  provenant = await installProvenant(c, [
    // What the chart's Deployment passes (values.yaml defaults), with the test registry on plain HTTP.
    '--admission-timeout',
    '8s',
    '--cache-ttl',
    '10m',
    '--no-match',
    'deny',
    '--exclude-namespace',
    'kube-system',
    '--exclude-namespace',
    RELEASE.namespace,
    '--log-level',
    'info',
    '--insecure-registry',
    r.host,
    // The background re-verification has its own suite (background.test.ts): here it would add passes,
    // reports and Events to every case.
    '--background-interval',
    '0s',
  ]);

  const applied = await kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        keyPolicy('release', `${r.host}/app/**`, images.keys.a.publicKeyPem),
        keyPolicy('advisory', `${r.host}/warn/**`, images.keys.a.publicKeyPem, { mode: 'Warn' }),
      ],
    }),
  );
  expect(applied.code, applied.stderr).toBe(0);
  await waitReady('clusterimagepolicies', 'release');
  await waitReady('clusterimagepolicies', 'advisory');
  excludedNamespace = await freshNamespace('excluded', { [EXCLUDE_LABEL.key]: EXCLUDE_LABEL.value });

  // Webhook configurations take effect asynchronously: wait until the API server calls both webhooks.
  const probe = await freshNamespace('probe');
  await waitFor(
    async () => {
      const res = await kubectl([
        '-n',
        probe,
        'run',
        'probe',
        `--image=${images.signedA.ref}`,
        '--restart=Never',
        '--dry-run=server',
      ]);
      return res.code === 0 && admissionLogs(probe, 'probe').some((l) => l['webhook'] === 'validate');
    },
    { timeoutMs: 60_000, intervalMs: 250, description: 'the API server to call both Provenant webhooks' },
  );
}, 240_000);

afterAll(async () => {
  await provenant?.stop();
  await registry?.stop();
  await cluster?.stop();
});

describe('workloads in a governed namespace', () => {
  it('kubectl run with an unsigned image: denied by pin.provenant.dev with NO_SIGNATURE', async () => {
    const ns = await freshNamespace('run-unsigned');
    const since = provenant!.logs().length;
    const r = await kubectl(['-n', ns, 'run', 'web', `--image=${images.unsigned.ref}`, '--restart=Never']);
    expectDenied(r, {
      kind: 'Pod',
      namespace: ns,
      name: 'web',
      container: 'web',
      image: images.unsigned.ref,
      policy: 'release',
      code: 'NO_SIGNATURE',
    });
    expect(r.stdout).toBe('');
    // Mutating admission runs first and stops at the denial: the validating webhook was never called.
    const calls = admissionLogs(ns, 'web', since);
    expect(calls.map((l) => [l['webhook'], l['decision'], l['codes']])).toEqual([
      ['mutate', 'deny', ['NO_SIGNATURE']],
    ]);
    const get = await kubectl(['-n', ns, 'get', 'pod', 'web']);
    expect(get.code).toBe(1);
    expect(get.stderr).toContain('NotFound');
  });

  it.each([
    ['Pod', pod],
    ['Deployment', deployment],
  ] as const)(
    'kubectl apply of a %s with an unsigned image: denied with NO_SIGNATURE',
    async (kind, manifest) => {
      const ns = await freshNamespace(`apply-unsigned-${kind.toLowerCase()}`);
      const r = await kubectl(['-n', ns, 'apply', '-f', '-'], manifest('web', images.unsigned.ref));
      expectDenied(r, {
        kind,
        namespace: ns,
        name: 'web',
        container: 'app',
        image: images.unsigned.ref,
        policy: 'release',
        code: 'NO_SIGNATURE',
        kubectlLead: 'Error from server (Forbidden): error when creating "STDIN": ',
      });
      const get = await kubectl(['-n', ns, 'get', kind.toLowerCase(), 'web']);
      expect(get.stderr).toContain('NotFound');
    },
  );

  it('kubectl create deployment: an unsigned image is denied, a signed one created and pinned', async () => {
    const ns = await freshNamespace('create-deployment');
    const denied = await kubectl(['-n', ns, 'create', 'deployment', 'web', `--image=${images.unsigned.ref}`]);
    expectDenied(denied, {
      kind: 'Deployment',
      namespace: ns,
      name: 'web',
      container: 'unsigned', // kubectl names the container after the image
      image: images.unsigned.ref,
      policy: 'release',
      code: 'NO_SIGNATURE',
      kubectlLead: 'error: failed to create deployment: ',
    });
    const created = await kubectl(['-n', ns, 'create', 'deployment', 'web', `--image=${images.signedA.ref}`]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout.trim()).toBe('deployment.apps/web created');
    expect(await jsonpath(ns, ['deployment', 'web'], '{.spec.template.spec.containers[0].image}')).toBe(
      `${images.signedA.ref}@${images.signedA.digest}`,
    );
  });

  it('kubectl run with a signed image: created, Pending, pinned to the verified digest', async () => {
    const ns = await freshNamespace('run-signed');
    const since = provenant!.logs().length;
    const r = await kubectl(['-n', ns, 'run', 'web', `--image=${images.signedA.ref}`, '--restart=Never']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('pod/web created');
    expect(r.stderr).toBe('');
    const pinned = `${images.signedA.ref}@${images.signedA.digest}`;
    expect(await jsonpath(ns, ['pod', 'web'], '{.spec.containers[0].image}')).toBe(pinned);
    expect(await jsonpath(ns, ['pod', 'web'], '{.status.phase}')).toBe('Pending');
    // verify.provenant.dev checked the pinned reference that pin.provenant.dev wrote.
    const calls = admissionLogs(ns, 'web', since);
    expect(calls.map((l) => [l['webhook'], l['decision'], l['images']])).toEqual([
      ['mutate', 'allow', [images.signedA.ref]],
      ['validate', 'allow', [pinned]],
    ]);
  });

  it.each([
    ['Pod', pod, 'pod', '{.spec.containers[0].image}'],
    ['Deployment', deployment, 'deployment.apps', '{.spec.template.spec.containers[0].image}'],
  ] as const)(
    'kubectl apply of a %s with a signed image: created and pinned',
    async (kind, manifest, resource, path) => {
      const ns = await freshNamespace(`apply-signed-${kind.toLowerCase()}`);
      const r = await kubectl(['-n', ns, 'apply', '-f', '-'], manifest('web', images.signedAB.ref));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(`${resource}/web created`);
      expect(await jsonpath(ns, [resource, 'web'], path)).toBe(
        `${images.signedAB.ref}@${images.signedAB.digest}`,
      );
    },
  );

  it('an image volume: unsigned beside a signed container is denied naming the volume; signed is pinned', async () => {
    const ns = await freshNamespace('image-volume');
    const withVolume = (reference: string) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'infer' },
        spec: {
          containers: [
            {
              name: 'app',
              image: images.signedA.ref,
              volumeMounts: [{ name: 'models', mountPath: '/models' }],
            },
          ],
          volumes: [{ name: 'models', image: { reference, pullPolicy: 'IfNotPresent' } }],
        },
      });
    const denied = await kubectl(['-n', ns, 'apply', '-f', '-'], withVolume(images.unsigned.ref));
    expect(denied.code, denied.stderr).toBe(1);
    const lines = denied.stderr.trimEnd().split('\n');
    expect(lines[0]).toContain(`Pod ${ns}/infer: 1 of 2 images failed verification (NO_SIGNATURE)`);
    expect(lines[1]).toContain(
      `Pod ${ns}/infer: volume "models" image ${images.unsigned.ref}: policy release: `,
    );

    const created = await kubectl(['-n', ns, 'apply', '-f', '-'], withVolume(images.signedAB.ref));
    expect(created.code, created.stderr).toBe(0);
    // The API server kept the image volume (ImageVolume is on by default in 1.36) and our pin.
    expect(await jsonpath(ns, ['pod', 'infer'], '{.spec.volumes[0].image.reference}')).toBe(
      `${images.signedAB.ref}@${images.signedAB.digest}`,
    );
  });

  it('kubectl apply --dry-run=server of an unsigned Pod: the same denial, and nothing is created', async () => {
    const ns = await freshNamespace('dry-run');
    const since = provenant!.logs().length;
    const r = await kubectl(
      ['-n', ns, 'apply', '--dry-run=server', '-f', '-'],
      pod('web', images.unsigned.ref),
    );
    expectDenied(r, {
      kind: 'Pod',
      namespace: ns,
      name: 'web',
      container: 'app',
      image: images.unsigned.ref,
      policy: 'release',
      code: 'NO_SIGNATURE',
      kubectlLead: 'Error from server (Forbidden): error when creating "STDIN": ',
    });
    expect(admissionLogs(ns, 'web', since)).toMatchObject([{ webhook: 'mutate', dryRun: true }]);
    const get = await kubectl(['-n', ns, 'get', 'pods', '-o', 'name']);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).toBe('');
  });

  it('a Warn policy admits an unsigned image and kubectl prints the warning with its code', async () => {
    const ns = await freshNamespace('warn');
    const r = await kubectl([
      '-n',
      ns,
      'run',
      'web',
      `--image=${images.warnUnsigned.ref}`,
      '--restart=Never',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('pod/web created');
    // Both webhooks warn; the API server passes identical warnings on once.
    const warnings = r.stderr.trimEnd().split('\n');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      new RegExp(
        `^Warning: ${escape(`container "web" image ${images.warnUnsigned.ref}: policy advisory: `)}NO_SIGNATURE: \\S`,
      ),
    );
  });

  it('kubectl debug with an unsigned image on an admitted Pod: denied; a signed one is added, pinned', async () => {
    const ns = await freshNamespace('debug');
    const created = await kubectl([
      '-n',
      ns,
      'run',
      'web',
      `--image=${images.signedA.ref}`,
      '--restart=Never',
    ]);
    expect(created.code, created.stderr).toBe(0);

    // An ephemeral container is an UPDATE of pods/ephemeralcontainers; on UPDATE Provenant verifies only the
    // images that are new or changed, so the Pod's admitted container is not counted again.
    const denied = await kubectl(['-n', ns, 'debug', 'web', `--image=${images.unsigned.ref}`, '-c', 'shell']);
    expectDenied(denied, {
      kind: 'Pod',
      namespace: ns,
      name: 'web',
      container: 'shell',
      image: images.unsigned.ref,
      policy: 'release',
      code: 'NO_SIGNATURE',
    });
    expect(await jsonpath(ns, ['pod', 'web'], '{.spec.ephemeralContainers}')).toBe('');

    const allowed = await kubectl(['-n', ns, 'debug', 'web', `--image=${images.signedA.ref}`, '-c', 'shell']);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(await jsonpath(ns, ['pod', 'web'], '{.spec.ephemeralContainers[0].image}')).toBe(
      `${images.signedA.ref}@${images.signedA.digest}`,
    );
  });
});

describe('policies from the API server', () => {
  const invalid = readPolicyCases(INVALID_POLICIES).filter((c) =>
    // One of each: an OpenAPI enum, a CEL rule across fields, a CEL rule on a PEM key.
    ['mode-lowercase.yaml', 'threshold-above-authorities.yaml', 'pem-not-pem.yaml'].includes(c.file),
  );

  it.each(invalid.map((c) => [c.file, c] as const))(
    'an invalid policy (%s) is refused by the API server, naming the field',
    async (_file, c) => {
      const [object] = parseObjects(c.content);
      const r = await kubectl(['apply', '-f', c.path]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`The ${object!.kind} "${object!.metadata.name}" is invalid: `);
      expect(r.stderr).toContain(c.reason);
      const get = await kubectl(['get', 'clusterimagepolicies', object!.metadata.name]);
      expect(get.stderr).toContain('NotFound');
    },
  );

  it('a new valid policy is Ready True within seconds and decides the next admission', async () => {
    const ns = await freshNamespace('fresh-policy');
    const image = images.freshSignedA.ref;
    const before = await kubectl(['-n', ns, 'run', 'before', `--image=${image}`, '--restart=Never']);
    expect(before.code).toBe(1);
    expect(before.stderr).toContain(
      `admission webhook "${WEBHOOKS.mutating}" denied the request: Pod ${ns}/before: 1 of 1 image failed verification (NO_MATCHING_POLICY)`,
    );

    const started = Date.now();
    const r = await kubectl(
      ['apply', '-f', '-'],
      policyJson('fresh', `${registry!.host}/fresh/**`, images.keys.a.publicKeyPem),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('clusterimagepolicy.provenant.dev/fresh created');
    const row = await waitReady('clusterimagepolicies', 'fresh');
    expect(Date.now() - started).toBeLessThan(POLICY_PROPAGATION_MS);
    expect(row).toMatchObject({ NAME: 'fresh', MODE: 'Enforce', READY: 'True', REASON: 'Valid' });
    expect(await jsonpath('default', ['clusterimagepolicy', 'fresh'], '{.status.observedGeneration}')).toBe(
      '1',
    );

    await waitForDecision(ns, image, (res) => res.code === 0, 'the new policy to admit the image');
    const after = await kubectl(['-n', ns, 'run', 'after', `--image=${image}`, '--restart=Never']);
    expect(after.code, after.stderr).toBe(0);
    expect(await jsonpath(ns, ['pod', 'after'], '{.spec.containers[0].image}')).toBe(
      `${image}@${images.freshSignedA.digest}`,
    );
  });

  it('a static Deny policy refuses an image with IMAGE_NOT_ALLOWED and its message, before any registry lookup', async () => {
    const ns = await freshNamespace('static-deny');
    // The image does not even exist: a static decision never asks the registry.
    const image = `${registry!.host}/blocked/app:v1`;
    const policy = {
      apiVersion: 'provenant.dev/v1alpha1',
      kind: 'ClusterImagePolicy',
      metadata: { name: 'blocked' },
      spec: {
        images: [{ glob: `${registry!.host}/blocked/**` }],
        static: { action: 'Deny', message: 'pull it through the mirror' },
      },
    };
    const r = await kubectl(['apply', '-f', '-'], JSON.stringify(policy));
    expect(r.code, r.stderr).toBe(0);
    expect(await waitReady('clusterimagepolicies', 'blocked')).toMatchObject({ READY: 'True' });
    await waitForDecision(
      ns,
      image,
      (res) => res.stderr.includes('IMAGE_NOT_ALLOWED'),
      'the static Deny to decide',
    );
    const denied = await kubectl(['-n', ns, 'run', 'web', `--image=${image}`, '--restart=Never']);
    expectDenied(denied, {
      kind: 'Pod',
      namespace: ns,
      name: 'web',
      container: 'web',
      image,
      policy: 'blocked',
      code: 'IMAGE_NOT_ALLOWED',
    });
    expect(denied.stderr).toContain('IMAGE_NOT_ALLOWED: pull it through the mirror');
    const explain = await kubectl(['explain', 'clusterimagepolicy.spec.static']);
    expect(explain.stdout).toContain('Deny always wins');
  });

  it('a policy the schema accepts but Provenant cannot compile is Ready False, with the reason', async () => {
    const r = await kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: API,
        kind: 'ClusterImagePolicy',
        metadata: { name: 'unknown-root' },
        spec: {
          images: [{ glob: `${registry!.host}/nothing/**` }],
          authorities: [
            {
              name: 'ci',
              keyless: {
                trustRoot: 'no-such-root',
                identities: [
                  { issuer: 'https://token.actions.githubusercontent.com', subject: 'ci@example.com' },
                ],
              },
            },
          ],
          signatures: {},
        },
      }),
    );
    expect(r.code, r.stderr).toBe(0);
    const row = await waitFor(
      async () => {
        const found = await policyRow('clusterimagepolicies', 'unknown-root');
        return found['READY'] === 'False' ? found : undefined;
      },
      { timeoutMs: POLICY_PROPAGATION_MS, description: 'unknown-root Ready False' },
    );
    expect(row['REASON']).toBe('InvalidPolicy');
    const message = await jsonpath(
      'default',
      ['clusterimagepolicy', 'unknown-root'],
      '{.status.conditions[?(@.type=="Ready")].message}',
    );
    expect(message).toContain('spec.authorities[0].keyless');
    expect(message).toContain('no-such-root');
  });

  it('switching the trusted key changes the next decision, without restarting Provenant', async () => {
    const ns = await freshNamespace('switch-key');
    const image = images.switchSignedB.ref;
    const glob = `${registry!.host}/switch/**`;
    const created = await kubectl(
      ['apply', '-f', '-'],
      policyJson('switchable', glob, images.keys.a.publicKeyPem),
    );
    expect(created.code, created.stderr).toBe(0);
    await waitReady('clusterimagepolicies', 'switchable');
    await waitForDecision(
      ns,
      image,
      (res) => res.stderr.includes('failed verification (UNTRUSTED_SIGNER)'),
      'key A to be required',
    );

    const denied = await kubectl(['-n', ns, 'run', 'web', `--image=${image}`, '--restart=Never']);
    expectDenied(denied, {
      kind: 'Pod',
      namespace: ns,
      name: 'web',
      container: 'web',
      image,
      policy: 'switchable',
      code: 'UNTRUSTED_SIGNER',
    });

    const edited = await kubectl(
      ['apply', '-f', '-'],
      policyJson('switchable', glob, images.keys.b.publicKeyPem),
    );
    expect(edited.code, edited.stderr).toBe(0);
    expect(edited.stdout.trim()).toBe('clusterimagepolicy.provenant.dev/switchable configured');
    // The denial above is cached for --negative-cache-ttl (30 s); the policy change must not reuse it.
    await waitForDecision(ns, image, (res) => res.code === 0, 'key B to be trusted');
    const admitted = await kubectl(['-n', ns, 'run', 'web', `--image=${image}`, '--restart=Never']);
    expect(admitted.code, admitted.stderr).toBe(0);
    expect(await jsonpath(ns, ['pod', 'web'], '{.spec.containers[0].image}')).toBe(
      `${image}@${images.switchSignedB.digest}`,
    );
    expect(
      await jsonpath('default', ['clusterimagepolicy', 'switchable'], '{.status.observedGeneration}'),
    ).toBe('2');
  });

  it('switching a policy from Enforce to Warn turns the denial into a warning', async () => {
    const ns = await freshNamespace('enforce-to-warn');
    const image = images.rolloutUnsigned.ref;
    const created = await kubectl(
      ['apply', '-f', '-'],
      policyJson('rollout', `${registry!.host}/rollout/**`, images.keys.a.publicKeyPem),
    );
    expect(created.code, created.stderr).toBe(0);
    await waitReady('clusterimagepolicies', 'rollout');
    await waitForDecision(
      ns,
      image,
      (res) => res.stderr.includes('failed verification (NO_SIGNATURE)'),
      'the Enforce policy',
    );
    const denied = await kubectl(['-n', ns, 'run', 'web', `--image=${image}`, '--restart=Never']);
    expectDenied(denied, {
      kind: 'Pod',
      namespace: ns,
      name: 'web',
      container: 'web',
      image,
      policy: 'rollout',
      code: 'NO_SIGNATURE',
    });

    const patched = await kubectl([
      'patch',
      'clusterimagepolicy',
      'rollout',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { mode: 'Warn' } }),
    ]);
    expect(patched.code, patched.stderr).toBe(0);
    await waitForDecision(ns, image, (res) => res.code === 0, 'the Warn mode');
    expect((await policyRow('clusterimagepolicies', 'rollout'))['MODE']).toBe('Warn');
    const warned = await kubectl(['-n', ns, 'run', 'web', `--image=${image}`, '--restart=Never']);
    expect(warned.code, warned.stderr).toBe(0);
    expect(warned.stdout.trim()).toBe('pod/web created');
    expect(warned.stderr).toMatch(
      new RegExp(
        `^Warning: ${escape(`container "web" image ${image}: policy rollout: `)}NO_SIGNATURE: \\S.*\\n$`,
      ),
    );
  });

  it('a namespaced ImagePolicy tightens its own namespace only', async () => {
    const strict = await freshNamespace('team-strict');
    const other = await freshNamespace('team-other');
    const r = await kubectl(
      ['apply', '-f', '-'],
      policyJson('needs-b', `${registry!.host}/app/**`, images.keys.b.publicKeyPem, { namespace: strict }),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('imagepolicy.provenant.dev/needs-b created');
    expect(await waitReady('imagepolicies', 'needs-b', strict)).toMatchObject({
      MODE: 'Enforce',
      READY: 'True',
    });
    await waitForDecision(strict, images.signedA.ref, (res) => res.code === 1, 'the ImagePolicy to apply');

    // Signed by A only: enough for the cluster policy, not for the namespace's extra requirement.
    const denied = await kubectl([
      '-n',
      strict,
      'run',
      'web',
      `--image=${images.signedA.ref}`,
      '--restart=Never',
    ]);
    expectDenied(denied, {
      kind: 'Pod',
      namespace: strict,
      name: 'web',
      container: 'web',
      image: images.signedA.ref,
      policy: `${strict}/needs-b`,
      code: 'UNTRUSTED_SIGNER',
    });
    // Signed by A and B: both the cluster policy and the ImagePolicy are met.
    const both = await kubectl([
      '-n',
      strict,
      'run',
      'both',
      `--image=${images.signedAB.ref}`,
      '--restart=Never',
    ]);
    expect(both.code, both.stderr).toBe(0);
    // Elsewhere only the cluster policy applies.
    const elsewhere = await kubectl([
      '-n',
      other,
      'run',
      'web',
      `--image=${images.signedA.ref}`,
      '--restart=Never',
    ]);
    expect(elsewhere.code, elsewhere.stderr).toBe(0);
    expect(elsewhere.stdout.trim()).toBe('pod/web created');
  });

  it('kubectl explain clusterimagepolicy.spec.authorities shows the CRD field documentation', async () => {
    const crd = await kubectl(['get', 'crd', 'clusterimagepolicies.provenant.dev', '-o', 'json']);
    expect(crd.code, crd.stderr).toBe(0);
    type Schema = {
      description?: string;
      properties?: Record<string, Schema>;
      items?: Schema;
      required?: string[];
    };
    const schema = (
      JSON.parse(crd.stdout) as { spec: { versions: { schema: { openAPIV3Schema: Schema } }[] } }
    ).spec.versions[0]!.schema.openAPIV3Schema;
    const authorities = schema.properties!['spec']!.properties!['authorities']!;
    const item = authorities.items!;

    const r = await kubectl(['explain', 'clusterimagepolicy.spec.authorities']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^GROUP: +provenant\.dev\nKIND: +ClusterImagePolicy\nVERSION: +v1alpha1\n/);
    expect(r.stdout).toContain('FIELD: authorities <[]Object>');
    // kubectl re-wraps descriptions: compare with whitespace collapsed.
    const flat = (s: string) => s.replace(/\s+/g, ' ').trim();
    expect(flat(r.stdout)).toContain(flat(authorities.description!));
    expect(flat(r.stdout)).toContain(flat(item.description!));
    for (const [field, child] of Object.entries(item.properties!)) {
      const required = item.required?.includes(field) ? ' -required-' : '';
      expect(r.stdout).toMatch(new RegExp(`^  ${field}\\t<\\w+>${required}\\n`, 'm'));
      expect(flat(r.stdout)).toContain(flat(child.description!));
    }
  });
});

// Last: it stops Provenant for good.
describe('when Provenant is down (failurePolicy Fail)', () => {
  it('rejects workloads in governed namespaces and leaves the excluded namespace alone', async () => {
    const governed = await freshNamespace('provenant-down');
    const created = await kubectl([
      '-n',
      governed,
      'run',
      'before',
      `--image=${images.signedA.ref}`,
      '--restart=Never',
    ]);
    expect(created.code, created.stderr).toBe(0);
    // The excluded namespace is never sent to Provenant, even while it runs.
    const since = provenant!.logs().length;
    const unchecked = await kubectl([
      '-n',
      excludedNamespace,
      'run',
      'while-up',
      `--image=${images.unsigned.ref}`,
      '--restart=Never',
    ]);
    expect(unchecked.code, unchecked.stderr).toBe(0);
    expect(
      provenant!
        .logs()
        .slice(since)
        .filter((l) => l['namespace'] === excludedNamespace),
    ).toEqual([]);

    await provenant!.kill();
    const port = provenant!.port;
    const r = await kubectl([
      '-n',
      governed,
      'run',
      'web',
      `--image=${images.signedA.ref}`,
      '--restart=Never',
    ]);
    expect(r.code).toBe(1);
    // Fail closed: even a signed image is refused when nobody can check it. (The transport error after the
    // URL is "connection refused", unless the API server hit a pooled connection to the dead process.)
    expect(r.stderr).toMatch(
      new RegExp(
        `^${escape(
          `Error from server (InternalError): Internal error occurred: failed calling webhook "${WEBHOOKS.mutating}": ` +
            `failed to call webhook: Post "https://127.0.0.1:${port}/mutate?timeout=10s": `,
        )}`,
      ),
    );
    expect((await kubectl(['-n', governed, 'get', 'pod', 'web'])).stderr).toContain('NotFound');

    // A change that leaves the spec alone never calls the webhooks (the chart's matchCondition).
    const labelled = await kubectl(['-n', governed, 'label', 'pod', 'before', 'team=payments']);
    expect(labelled.code, labelled.stderr).toBe(0);

    // Nothing changes for the excluded namespace: an unsigned image is still admitted.
    const excluded = await kubectl([
      '-n',
      excludedNamespace,
      'run',
      'web',
      `--image=${images.unsigned.ref}`,
      '--restart=Never',
    ]);
    expect(excluded.code, excluded.stderr).toBe(0);
    expect(excluded.stdout.trim()).toBe('pod/web created');
  });
});
