// Proves the e2e harness on a real kube-apiserver before Provenant's webhook is plugged in: Pods are
// created and stay Pending, a URL webhook denies with kubectl's real message, failurePolicy Fail rejects
// when the webhook is down, and namespaceSelector exclusions are admitted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Cluster,
  type WebhookServer,
  freePort,
  startCluster,
  startWebhookServer,
  waitFor,
} from './harness/index.js';

const DENY_MESSAGE = 'e2e harness: pods are not allowed here';
const LABEL = 'e2e.provenant.dev/webhook';
const SKIP = 'e2e.provenant.dev/skip';

function webhookConfig(
  name: string,
  url: string,
  caBundle: string,
  selectorValue: string,
  failurePolicy: string,
) {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name },
    webhooks: [
      {
        name,
        clientConfig: { url, caBundle },
        rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
        namespaceSelector: {
          matchLabels: { [LABEL]: selectorValue },
          matchExpressions: [{ key: SKIP, operator: 'DoesNotExist' }],
        },
        failurePolicy,
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        timeoutSeconds: 5,
      },
    ],
  };
}

describe('e2e harness: kube-apiserver + etcd + kubectl', () => {
  let cluster: Cluster | undefined;
  let webhook: WebhookServer | undefined;

  beforeAll(async () => {
    cluster = await startCluster();
    webhook = await startWebhookServer((req) =>
      req.kind.kind === 'Pod'
        ? { allowed: false, status: { code: 403, reason: 'Forbidden', message: DENY_MESSAGE } }
        : { allowed: true },
    );
  });

  afterAll(async () => {
    await webhook?.close();
    await cluster?.stop();
  });

  const k = () => {
    if (!cluster) throw new Error('cluster did not start');
    return cluster;
  };

  it('serves the pinned version and authenticates the admin as system:masters', async () => {
    const v = await k().kubectl(['version', '-o', 'json']);
    expect(v.code, v.stderr).toBe(0);
    const versions = JSON.parse(v.stdout) as { serverVersion: { gitVersion: string; minor: string } };
    expect(versions.serverVersion.gitVersion).toMatch(/^v1\.\d+\.\d+$/);
    const who = await k().kubectl(['auth', 'whoami', '-o', 'json']);
    expect(who.code, who.stderr).toBe(0);
    expect(who.stdout).toContain('system:masters');
    const can = await k().kubectl(['auth', 'can-i', 'create', 'pods', '--all-namespaces']);
    expect(can.stdout.trim()).toBe('yes');
  });

  it('creates a namespace and a Pod, which stays Pending', async () => {
    const ns = await k().kubectl(['create', 'namespace', 'e2e-basic']);
    expect(ns.code, ns.stderr).toBe(0);
    // No controller manager: the ServiceAccount admission plugin needs the "default" account made by hand.
    const sa = await k().kubectl(['-n', 'e2e-basic', 'create', 'serviceaccount', 'default']);
    expect(sa.code, sa.stderr).toBe(0);
    const run = await k().kubectl([
      '-n',
      'e2e-basic',
      'run',
      'web',
      '--image=registry.example/app:1.0',
      '--restart=Never',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('pod/web created');
    const phase = await k().kubectl([
      '-n',
      'e2e-basic',
      'get',
      'pod',
      'web',
      '-o',
      'jsonpath={.status.phase}',
    ]);
    expect(phase.stdout).toBe('Pending');
  });

  it('a URL webhook denies a Pod with kubectl reporting the webhook and its message', async () => {
    const wh = webhook!;
    await k().createNamespace('e2e-deny', { [LABEL]: 'deny' });
    const cfg = webhookConfig('deny.e2e.provenant.dev', `${wh.url}/validate`, wh.caBundle, 'deny', 'Fail');
    const applied = await k().kubectl(['apply', '-f', '-'], { input: JSON.stringify(cfg) });
    expect(applied.code, applied.stderr).toBe(0);

    // The API server picks webhook configurations up asynchronously; probe with server-side dry runs.
    await waitFor(
      async () => {
        const r = await k().kubectl([
          '-n',
          'e2e-deny',
          'run',
          'probe',
          '--image=x',
          '--restart=Never',
          '--dry-run=server',
        ]);
        return r.code !== 0 && r.stderr.includes('denied the request');
      },
      { timeoutMs: 30_000, description: 'the deny webhook to take effect' },
    );

    const before = wh.requests.length;
    const r = await k().kubectl([
      '-n',
      'e2e-deny',
      'run',
      'app',
      '--image=registry.example/app:1.0',
      '--restart=Never',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `Error from server (Forbidden): admission webhook "deny.e2e.provenant.dev" denied the request: ${DENY_MESSAGE}`,
    );
    const seen = wh.requests.slice(before);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      operation: 'CREATE',
      namespace: 'e2e-deny',
      name: 'app',
      kind: { kind: 'Pod' },
    });
    const get = await k().kubectl(['-n', 'e2e-deny', 'get', 'pod', 'app']);
    expect(get.code).not.toBe(0);
    expect(get.stderr).toContain('NotFound');
  });

  it('a namespace excluded by the namespaceSelector is admitted without calling the webhook', async () => {
    const wh = webhook!;
    await k().createNamespace('e2e-skip', { [LABEL]: 'deny', [SKIP]: 'true' });
    const before = wh.requests.length;
    const r = await k().kubectl([
      '-n',
      'e2e-skip',
      'run',
      'app',
      '--image=registry.example/app:1.0',
      '--restart=Never',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('pod/app created');
    expect(wh.requests.length).toBe(before);
  });

  it('failurePolicy Fail rejects a Pod when the webhook port is closed; Ignore admits it', async () => {
    const closedPort = await freePort(); // nothing listens there
    await k().createNamespace('e2e-closed', { [LABEL]: 'closed' });
    const cfg = webhookConfig(
      'closed.e2e.provenant.dev',
      `https://127.0.0.1:${closedPort}/validate`,
      webhook!.caBundle,
      'closed',
      'Fail',
    );
    const applied = await k().kubectl(['apply', '-f', '-'], { input: JSON.stringify(cfg) });
    expect(applied.code, applied.stderr).toBe(0);

    await waitFor(
      async () => {
        const res = await k().kubectl([
          '-n',
          'e2e-closed',
          'run',
          'probe',
          '--image=x',
          '--restart=Never',
          '--dry-run=server',
        ]);
        return res.code !== 0 && res.stderr.includes('failed calling webhook');
      },
      { timeoutMs: 30_000, description: 'the closed-port webhook to take effect' },
    );
    const r = await k().kubectl([
      '-n',
      'e2e-closed',
      'run',
      'app',
      '--image=registry.example/app:1.0',
      '--restart=Never',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^Error from server \(InternalError\): Internal error occurred: failed calling webhook "closed\.e2e\.provenant\.dev": failed to call webhook: Post "https:\/\/127\.0\.0\.1:\d+\/validate\?timeout=5s": dial tcp 127\.0\.0\.1:\d+: connect: connection refused/,
    );

    const patched = await k().kubectl([
      'patch',
      'validatingwebhookconfiguration',
      'closed.e2e.provenant.dev',
      '--type=json',
      '-p',
      JSON.stringify([{ op: 'replace', path: '/webhooks/0/failurePolicy', value: 'Ignore' }]),
    ]);
    expect(patched.code, patched.stderr).toBe(0);
    await waitFor(
      async () => {
        const res = await k().kubectl([
          '-n',
          'e2e-closed',
          'run',
          'app',
          '--image=registry.example/app:1.0',
          '--restart=Never',
        ]);
        return res.code === 0;
      },
      { timeoutMs: 30_000, description: 'failurePolicy Ignore to take effect' },
    );
  });
});
