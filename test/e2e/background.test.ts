// The background re-verification and `provenant audit` end to end: a real kube-apiserver with the chart's
// CRDs (PolicyReport ones included), RBAC and webhooks, `provenant serve --kubernetes` as the chart runs it
// (through its ServiceAccount, so the chart's RBAC is what lets it read workloads and write reports), and
// images signed by the real cosign in a real registry.
//
// Workloads are created before any policy exists; then an Enforce policy is applied. There is no kubelet,
// so Pods stay Pending: where a case needs to know what a Pod runs, it writes the Pod's
// status.containerStatuses[].imageID through the status subresource, as a kubelet would.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTools } from '../chart/support.js';
import { cosignSign, generateKeyPair, type CosignKeyPair } from '../support/cosign.js';
import { crane, digestTag, pushRandomImage, type PushedImage } from '../support/images.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { type Cluster, startCluster, waitFor } from './harness/index.js';
import { installProvenant, type Provenant, RELEASE } from './support/provenant.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'src/cli/main.ts');
const TSX = fileURLToPath(import.meta.resolve('tsx'));
const NS = 'shop';
const POLICY = 'bg-release';
/** Passes follow each other every --cache-ttl (2 s) and 2 s after a policy change: generous bounds. */
const PASS_MS = 60_000;

let cluster: Cluster | undefined;
let registry: TestRegistry | undefined;
let first: Provenant | undefined;
let second: Provenant | undefined;
let key: CosignKeyPair;
const img: Record<'signed' | 'unsigned' | 'moving' | 'revoked' | 'stale', PushedImage> = {} as never;

const k = (): Cluster => {
  if (!cluster) throw new Error('the cluster did not start');
  return cluster;
};
const reg = (): TestRegistry => {
  if (!registry) throw new Error('the registry did not start');
  return registry;
};

async function kubectlOk(args: string[], input?: string): Promise<string> {
  const r = await k().kubectl(args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

function policy(mode: 'Enforce' | 'Audit' = 'Enforce'): object {
  return {
    apiVersion: 'provenant.dev/v1alpha1',
    kind: 'ClusterImagePolicy',
    metadata: { name: POLICY },
    spec: {
      mode,
      images: [{ glob: `${reg().host}/bg/**` }],
      authorities: [{ name: 'release-key', key: { publicKey: key.publicKeyPem } }],
      signatures: {},
    },
  };
}

const pod = (name: string, image: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: NS },
  spec: { containers: [{ name: 'app', image }] },
});

const deployment = (name: string, image: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: NS },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
  },
});

/** What a kubelet writes once it pulled the image: the digest it runs, as containerd reports it. */
async function reportRunning(name: string, image: string, digest: string): Promise<void> {
  const repository = image.slice(0, image.lastIndexOf(':'));
  const status = {
    status: {
      containerStatuses: [
        {
          name: 'app',
          image,
          imageID: `${repository}@${digest}`,
          ready: false,
          restartCount: 0,
          state: { waiting: { reason: 'ContainerCreating' } },
        },
      ],
    },
  };
  await kubectlOk([
    '-n',
    NS,
    'patch',
    'pod',
    name,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify(status),
  ]);
}

interface AuditRun {
  code: number;
  stdout: string;
  stderr: string;
}

async function audit(args: string[]): Promise<AuditRun> {
  const env = { ...process.env };
  delete env['KUBECONFIG'];
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      [
        '--import',
        TSX,
        MAIN,
        'audit',
        '--kubeconfig',
        k().kubeconfigPath,
        '--insecure-registry',
        reg().host,
        ...args,
      ],
      { env, timeout: 120_000, maxBuffer: 16 << 20 },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

interface ReportResult {
  policy: string;
  result: string;
  message: string;
  source: string;
  resources: { kind: string; name: string }[];
  properties: Record<string, string>;
}

async function reportResults(): Promise<Map<string, ReportResult>> {
  const r = await k().kubectl(['-n', NS, 'get', 'policyreports.wgpolicyk8s.io', 'provenant', '-o', 'json']);
  if (r.code !== 0) return new Map();
  const report = JSON.parse(r.stdout) as { results?: ReportResult[] };
  return new Map(
    (report.results ?? [])
      .filter((x) => x.policy === POLICY)
      .map((x) => [`${x.resources[0]!.kind}/${x.resources[0]!.name}`, x]),
  );
}

/** Waits until the PolicyReport says `expected` (resource → result) for the policy. */
async function waitForResults(expected: Record<string, string>): Promise<Map<string, ReportResult>> {
  let last = new Map<string, ReportResult>();
  try {
    return await waitFor(
      async () => {
        last = await reportResults();
        return Object.entries(expected).every(([resource, result]) => last.get(resource)?.result === result)
          ? last
          : undefined;
      },
      { timeoutMs: PASS_MS, intervalMs: 500, description: 'the PolicyReport' },
    );
  } catch (e) {
    const seen = Object.fromEntries([...last].map(([r, x]) => [r, x.result]));
    throw new Error(`${(e as Error).message}\nlast seen: ${JSON.stringify(seen)}\nlog tail: ${tail(first)}`, {
      cause: e,
    });
  }
}

function tail(p: Provenant | undefined): string {
  return JSON.stringify(p?.logs().slice(-15) ?? []);
}

async function violationEvents(object: string): Promise<{ reason: string; message: string; type: string }[]> {
  const out = await kubectlOk([
    '-n',
    NS,
    'get',
    'events',
    '--field-selector',
    `involvedObject.name=${object},reason=PolicyViolation`,
    '-o',
    'json',
  ]);
  return (JSON.parse(out) as { items: { reason: string; message: string; type: string }[] }).items;
}

function metrics(p: Provenant): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const req = request(`${p.url}/metrics`, { ca: p.caPem, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolvePromise(body));
    });
    req.on('error', reject);
    req.end();
  });
}

function serveArgs(): string[] {
  return [
    '--admission-timeout',
    '8s',
    // Short, so a removed signature is seen soon: a pass runs each time the cache expires.
    '--cache-ttl',
    '2s',
    '--negative-cache-ttl',
    '1s',
    '--no-match',
    'allow',
    '--exclude-namespace',
    'kube-system',
    '--exclude-namespace',
    RELEASE.namespace,
    '--insecure-registry',
    reg().host,
    '--background-interval',
    '1h',
    '--lease-namespace',
    RELEASE.namespace,
    '--lease-name',
    'provenant-background',
  ];
}

beforeAll(async () => {
  requireTools('kubectl', 'kube-apiserver', 'etcd', 'helm', 'docker-registry', 'cosign2', 'crane');
  const [c, r, kp] = await Promise.all([startCluster(), startRegistry(), generateKeyPair('ecdsa-p256')]);
  cluster = c;
  registry = r;
  key = kp;
  const [signed, unsigned, moving, revoked, stale] = await Promise.all([
    pushRandomImage(r, 'bg/signed', 'v1'),
    pushRandomImage(r, 'bg/unsigned', 'v1'),
    pushRandomImage(r, 'bg/moving', 'v1'),
    pushRandomImage(r, 'bg/revoked', 'v1'),
    pushRandomImage(r, 'bg/stale', 'v1'),
  ]);
  Object.assign(img, { signed, unsigned, moving, revoked, stale });
  await Promise.all([
    cosignSign(2, key, signed.digestRef, r),
    cosignSign(2, key, moving.digestRef, r),
    cosignSign(2, key, revoked.digestRef, r),
  ]);

  first = await installProvenant(c, serveArgs());
  await kubectlOk([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/policyreports.wgpolicyk8s.io',
    'crd/clusterpolicyreports.wgpolicyk8s.io',
  ]);

  // Workloads that exist before any policy does.
  await c.createNamespace(NS);
  const objects = [
    pod('web-signed', signed.ref),
    pod('web-unsigned', unsigned.ref),
    pod('mover-pod', moving.ref),
    pod('revoked', revoked.ref),
    pod('stale', stale.ref),
    deployment('api', unsigned.ref),
    deployment('mover', moving.ref),
  ];
  await waitFor(
    async () =>
      (
        await k().kubectl(['apply', '-f', '-'], {
          input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }),
        })
      ).code === 0,
    { timeoutMs: 30_000, description: 'creating the workloads' },
  );
  // mover-pod runs the (signed) digest its tag named at the time; stale runs the unsigned one of its tag.
  await reportRunning('mover-pod', moving.ref, moving.digest);
  await reportRunning('stale', stale.ref, stale.digest);
}, 300_000);

afterAll(async () => {
  await second?.stop();
  await first?.stop();
  await registry?.stop();
  await cluster?.stop();
});

describe('provenant audit and the background re-verification', () => {
  it('audit --policy FILE: the dry run names what an Enforce policy would deny, before it is applied', async () => {
    const file = join(k().dir, 'bg-policy.json');
    writeFileSync(file, JSON.stringify(policy()));
    const r = await audit(['--policy', file, '--no-match', 'allow', '-n', NS, '--output', 'json']);
    expect(r.code, r.stderr).toBe(1);
    const out = JSON.parse(r.stdout) as {
      allowed: boolean;
      objects: {
        kind: string;
        name: string;
        allowed: boolean;
        codes: string[];
        running: { running: string }[];
      }[];
    };
    const verdicts = Object.fromEntries(
      out.objects.map((o) => [`${o.kind}/${o.name}`, [o.allowed, o.codes]]),
    );
    expect(verdicts).toEqual({
      'Pod/web-signed': [true, []],
      'Pod/web-unsigned': [false, ['NO_SIGNATURE']],
      'Pod/mover-pod': [true, []],
      'Pod/revoked': [true, []],
      'Pod/stale': [false, ['NO_SIGNATURE']],
      'Deployment/api': [false, ['NO_SIGNATURE']],
      'Deployment/mover': [true, []],
    });
    // stale is judged by the digest it runs, pinned from its status.
    expect(out.objects.find((o) => o.name === 'stale')!.running).toEqual([
      expect.objectContaining({ running: `${img.stale.ref}@${img.stale.digest}` }),
    ]);

    // Without --policy, the cluster's policies: none yet, so nothing would be denied.
    const none = await audit(['--no-match', 'allow', '-n', NS]);
    expect(none.code, none.stderr + none.stdout).toBe(0);
    expect(none.stdout).toContain('7 objects in 7 workloads: 0 would be denied');
  });

  it('after an Enforce policy is applied: PolicyReports, an Event, the status count, the gauge and audit agree', async () => {
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(policy()));
    const results = await waitForResults({
      'Pod/web-signed': 'pass',
      'Pod/web-unsigned': 'fail',
      'Pod/mover-pod': 'pass',
      'Pod/revoked': 'pass',
      'Pod/stale': 'fail',
      'Deployment/api': 'fail',
      'Deployment/mover': 'pass',
    });
    const unsignedResult = results.get('Pod/web-unsigned')!;
    expect(unsignedResult).toMatchObject({
      source: 'provenant',
      properties: { mode: 'Enforce', codes: 'NO_SIGNATURE' },
    });
    expect(unsignedResult.message).toContain('NO_SIGNATURE');
    expect(results.get('Pod/stale')!.properties['runningDigests']).toBe('true');

    const events = await waitFor(
      async () => {
        const found = await violationEvents('web-unsigned');
        return found.length > 0 ? found : undefined;
      },
      { timeoutMs: PASS_MS, description: 'a PolicyViolation Event' },
    );
    expect(events[0]).toMatchObject({ type: 'Warning', reason: 'PolicyViolation' });
    expect(events[0]!.message).toContain(`no longer satisfies policy ${POLICY} (NO_SIGNATURE)`);
    expect(await violationEvents('web-signed')).toEqual([]);

    await waitFor(
      async () =>
        (await kubectlOk(['get', 'cip', POLICY, '-o', 'jsonpath={.status.violatingWorkloads}'])) === '3',
      { timeoutMs: PASS_MS, description: 'violatingWorkloads 3' },
    );
    const table = await kubectlOk(['get', 'cip', POLICY]);
    expect(table).toMatch(new RegExp(`${POLICY}\\s+Enforce\\s+\\S+\\s+True\\s+3\\s`));

    const cluster = JSON.parse(
      await kubectlOk(['get', 'clusterpolicyreports.wgpolicyk8s.io', 'provenant', '-o', 'json']),
    ) as {
      results: { policy: string; result: string; properties: Record<string, string> }[];
    };
    expect(cluster.results.find((x) => x.policy === POLICY)).toMatchObject({
      result: 'fail',
      properties: { violatingWorkloads: '3' },
    });

    // A namespaced ImagePolicy in Audit mode: admits, and counts its violations in its own status.
    await kubectlOk(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'provenant.dev/v1alpha1',
        kind: 'ImagePolicy',
        metadata: { name: 'team-audit', namespace: NS },
        spec: {
          mode: 'Audit',
          images: [{ glob: `${reg().host}/bg/unsigned` }],
          authorities: [{ name: 'release-key', key: { publicKey: key.publicKeyPem } }],
          signatures: {},
        },
      }),
    );
    await waitFor(
      async () =>
        (await kubectlOk([
          '-n',
          NS,
          'get',
          // Not the short name "ip": it also names networking.k8s.io IPAddresses.
          'imagepolicies.provenant.dev',
          'team-audit',
          '-o',
          'jsonpath={.status.violatingWorkloads}',
        ])) === '2',
      { timeoutMs: PASS_MS, description: 'the ImagePolicy counting web-unsigned and api' },
    );

    const gauge = await metrics(first!);
    expect(gauge).toMatch(
      new RegExp(`provenant_violating_workloads\\{policy="${POLICY}",code="NO_SIGNATURE"\\} 3`),
    );

    const r = await audit(['-n', NS, '--no-match', 'allow']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toContain(`denied  Pod ${NS}/web-unsigned`);
    expect(r.stdout).toContain(`allowed Pod ${NS}/web-signed`);
    expect(r.stdout).toContain('7 objects in 7 workloads: 3 would be denied');
  });

  it('catches a re-pointed tag: the Deployment fails, and each Pod is judged by what it runs', async () => {
    // bg/moving:v1 now names an unsigned image; bg/stale:v1 a signed one.
    const [movedTo, staleNow] = await Promise.all([
      pushRandomImage(reg(), 'bg/moving', 'v1'),
      pushRandomImage(reg(), 'bg/stale', 'v1'),
    ]);
    await cosignSign(2, key, staleNow.digestRef, reg());
    expect(movedTo.digest).not.toBe(img.moving.digest);
    await waitForResults({
      'Deployment/mover': 'fail',
      // Still running the signed digest it pulled.
      'Pod/mover-pod': 'pass',
      // Its tag is signed now, but what it runs is not.
      'Pod/stale': 'fail',
    });
    const events = await waitFor(
      async () => {
        const found = await violationEvents('mover');
        return found.length > 0 ? found : undefined;
      },
      { timeoutMs: PASS_MS, description: 'an Event on Deployment mover' },
    );
    expect(events[0]!.message).toContain('NO_SIGNATURE');
  });

  it('catches a removed signature on the next pass', async () => {
    // The registry deletes manifests by digest: find the signature manifest's, then delete it.
    const sigTag = `${img.revoked.repository}:${digestTag(img.revoked.digest)}.sig`;
    const sigDigest = (await crane(reg(), ['digest', sigTag])).trim();
    await crane(reg(), ['delete', `${img.revoked.repository}@${sigDigest}`]);
    const results = await waitForResults({ 'Pod/revoked': 'fail' });
    expect(results.get('Pod/revoked')!.message).toContain('NO_SIGNATURE');
    await waitFor(async () => (await violationEvents('revoked')).length > 0, {
      timeoutMs: PASS_MS,
      description: 'an Event on Pod revoked',
    });
    // Reports never change what runs.
    const pods = await kubectlOk(['-n', NS, 'get', 'pods', '-o', 'name']);
    expect(pods.trim().split('\n').sort()).toEqual(
      ['mover-pod', 'revoked', 'stale', 'web-signed', 'web-unsigned'].map((n) => `pod/${n}`),
    );
  });

  it('runs on one replica at a time: a second instance waits, and takes over when the first stops', async () => {
    second = await installProvenant(k(), serveArgs());
    const leading = (p: Provenant) =>
      p.logs().some((l) => l.msg === 'leading the background re-verification');
    expect(leading(first!)).toBe(true);
    // Several renewal periods (5 s) pass without the second instance taking the lease.
    const lease = async () =>
      (
        JSON.parse(
          await kubectlOk(['-n', RELEASE.namespace, 'get', 'lease', 'provenant-background', '-o', 'json']),
        ) as {
          spec: { holderIdentity: string; leaseTransitions?: number };
        }
      ).spec;
    const held = await lease();
    await new Promise((r) => setTimeout(r, 12_000));
    expect(leading(second)).toBe(false);
    expect((await lease()).holderIdentity).toBe(held.holderIdentity);

    await first!.stop();
    first = undefined;
    await waitFor(() => leading(second!), { timeoutMs: 30_000, description: 'the second instance to lead' });
    const now = await lease();
    expect(now.holderIdentity).not.toBe(held.holderIdentity);
    // The new leader keeps the reports current.
    await waitFor(
      async () => (await metrics(second!)).includes(`provenant_violating_workloads{policy="${POLICY}"`),
      {
        timeoutMs: PASS_MS,
        description: 'the gauge on the new leader',
      },
    );
  });
});
