/**
 * `provenant serve` with the chart's own arguments (self-managed certificates) against a real
 * kube-apiserver, with the chart's CRDs, RBAC, empty TLS Secret and webhook configurations: it fills the
 * Secret, patches the CA into both configurations, serves a certificate that the API server would accept
 * for the Service name it dials, and a second replica adopts the same certificate.
 */
import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../e2e/harness/index.js';
import { getObject, installChartRbac, kubectlOk, RELEASE, startClusterWithCrds } from '../kube/helpers.js';
import { startServe, type ServeProcess } from '../webhook/serve-process.js';
import { chartKubeconfig, chartServeArgs, renderChart, withoutFlags } from './chart.js';

const SERVICE_NAME = `provenant.${RELEASE.namespace}.svc`;
const SECRET = 'provenant-tls';

interface WebhookConfiguration {
  webhooks: { name: string; clientConfig: { caBundle?: string; service?: { name: string } } }[];
}

let cluster: Cluster;
let kubeconfig: string;
let args: string[];
const servers: ServeProcess[] = [];

async function serve(): Promise<ServeProcess> {
  // The chart's arguments as they are, but for the port (startServe listens on a free loopback one).
  const server = await startServe([...args, '--kubeconfig', kubeconfig], {
    servername: SERVICE_NAME,
    startTimeoutMs: 60_000,
  });
  servers.push(server);
  return server;
}

const decode = (b64: string | undefined) => Buffer.from(b64 ?? '', 'base64').toString('utf8');

async function caBundles(): Promise<string[]> {
  const configurations = await Promise.all(
    ['validatingwebhookconfiguration', 'mutatingwebhookconfiguration'].map((kind) =>
      getObject<WebhookConfiguration>(cluster, [kind, 'provenant']),
    ),
  );
  return configurations.flatMap((c) => c.webhooks.map((w) => decode(w.clientConfig.caBundle)));
}

async function storedSecret(): Promise<Record<string, string>> {
  const secret = await getObject<{ data?: Record<string, string> }>(cluster, [
    '-n',
    RELEASE.namespace,
    'secret',
    SECRET,
  ]);
  return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, decode(v)]));
}

/** GET over HTTPS trusting only `ca`, checking the certificate for `servername`, as the API server does. */
function getTrusting(
  server: ServeProcess,
  path: string,
  ca: string,
  servername: string,
): Promise<{ status: number; body: string; certificate: PeerCertificate }> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.url}${path}`, { ca, servername, agent: false }, (res) => {
      const certificate = (res.socket as TLSSocket).getPeerCertificate();
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, certificate }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  cluster = await startClusterWithCrds();
  // ServiceAccount, RBAC and the empty Opaque Secret, then both webhook configurations (no caBundle).
  await installChartRbac(cluster);
  await kubectlOk(cluster, ['apply', '-f', '-'], await renderChart('templates/webhooks.yaml'));
  kubeconfig = await chartKubeconfig(cluster);
  args = withoutFlags(await chartServeArgs(), ['--port']);
  expect(args[0]).toBe('serve');
  args = args.slice(1);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop('SIGKILL')));
  await cluster?.stop();
});

describe('serve --kubernetes --tls-secret (the chart, self-managed certificates)', () => {
  it("starts from the chart's arguments", () => {
    expect(args).toEqual(
      expect.arrayContaining([
        '--kubernetes',
        '--tls-secret',
        `${RELEASE.namespace}/${SECRET}`,
        '--tls-san',
        SERVICE_NAME,
        '--validating-webhook-configuration',
        'provenant',
        '--mutating-webhook-configuration',
        'provenant',
      ]),
    );
  });

  it('fills the Secret, patches both caBundles and serves a certificate they trust for the Service', async () => {
    expect(await storedSecret()).toEqual({});
    const server = await serve();

    const stored = await storedSecret();
    expect(Object.keys(stored).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    const bundles = await caBundles();
    expect(bundles).toHaveLength(2);
    for (const bundle of bundles) expect(bundle.trim()).toBe(stored['ca.crt']?.trim());

    // The caBundle as the API server reads it is the only trust; the name is the Service's.
    const ready = await getTrusting(server, '/readyz', bundles[0] ?? '', SERVICE_NAME);
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({ status: 'ready' });
    const served = new X509Certificate(ready.certificate.raw);
    expect(served.raw.equals(new X509Certificate(stored['tls.crt'] ?? '').raw)).toBe(true);
    expect(served.checkHost(SERVICE_NAME)).toBe(SERVICE_NAME);
    expect(served.checkHost(`${SERVICE_NAME}.cluster.local`)).toBe(`${SERVICE_NAME}.cluster.local`);

    // Another name is refused, and so is a CA the configurations do not carry.
    await expect(
      getTrusting(server, '/readyz', bundles[0] ?? '', 'other.provenant-system.svc'),
    ).rejects.toThrow(/altnames|Hostname/i);
    await expect(getTrusting(server, '/readyz', cluster.caPem, SERVICE_NAME)).rejects.toThrow();
  });

  it("lets a second replica adopt the first one's certificate instead of replacing it", async () => {
    const before = await storedSecret();
    const second = await serve();
    expect(await storedSecret()).toEqual(before);
    const ready = await getTrusting(second, '/readyz', before['ca.crt'] ?? '', SERVICE_NAME);
    expect(ready.status).toBe(200);
    expect(
      new X509Certificate(ready.certificate.raw).raw.equals(new X509Certificate(before['tls.crt'] ?? '').raw),
    ).toBe(true);
    await second.waitForLog((l) => l['msg'] === 'webhook certificates ready' && l['generated'] === false);
  });

  it('stops cleanly on SIGTERM', async () => {
    const server = servers[0];
    expect(server).toBeDefined();
    const exit = await server?.stop('SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
  });
});
