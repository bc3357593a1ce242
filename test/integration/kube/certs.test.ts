/**
 * Self-managed webhook certificates against a real API server, with the chart's permissions and its empty
 * Opaque Secret: concurrent replicas converge on one certificate, every webhook of both configurations
 * gets the CA bundle, a rotation keeps the previous CA trusted, and the result serves TLS for the Service
 * name the API server dials.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ensureWebhookCertificates,
  splitPemBundle,
  type WebhookCertificateOptions,
} from '../../../src/certs/index.js';
import { createWebhookCertificateApi } from '../../../src/kube/client.js';
import type { Cluster } from '../../e2e/harness/index.js';
import {
  applyObject,
  CHART_SERVICE_ACCOUNT,
  getObject,
  installChartRbac,
  kubeConfigFor,
  kubectlOk,
  RecordingLogger,
  RELEASE,
  startClusterWithCrds,
} from './helpers.js';

const DAY = 86_400_000;
const service = (path: string) => ({ service: { namespace: RELEASE.namespace, name: 'provenant', path } });
const rules = [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }];
const common = { rules, sideEffects: 'None', admissionReviewVersions: ['v1'], failurePolicy: 'Ignore' };

interface WebhookConfiguration {
  webhooks: { name: string; clientConfig: { caBundle?: string } }[];
}
interface SecretObject {
  type: string;
  metadata: { resourceVersion: string; labels?: Record<string, string> };
  data: Record<string, string>;
}

describe('ensureWebhookCertificates on a real API server', () => {
  let cluster: Cluster;
  let dir: string;
  let now = Date.now();
  const clock = { now: () => now };

  const options = (replica: string): WebhookCertificateOptions => ({
    secretName: 'provenant-tls',
    namespace: RELEASE.namespace,
    serviceName: 'provenant',
    webhookNames: { validating: 'provenant', mutating: 'provenant' },
    validityDays: 90,
    renewBeforeDays: 30,
    certDir: join(dir, replica),
  });
  const replica = (name: string) => ({
    api: createWebhookCertificateApi(kubeConfigFor(cluster, { as: CHART_SERVICE_ACCOUNT })),
    clock,
    logger: new RecordingLogger(name),
  });
  const caBundles = async () =>
    (
      await Promise.all(
        ['validatingwebhookconfiguration', 'mutatingwebhookconfiguration'].map((kind) =>
          getObject<WebhookConfiguration>(cluster, [kind, 'provenant']),
        ),
      )
    ).flatMap((c) => c.webhooks.map((w) => Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString()));
  const stored = async () => {
    const s = await getObject<SecretObject>(cluster, ['-n', RELEASE.namespace, 'secret', 'provenant-tls']);
    const text = (k: string) => Buffer.from(s.data?.[k] ?? '', 'base64').toString();
    return { ...s, ca: text('ca.crt'), cert: text('tls.crt'), key: text('tls.key') };
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provenant-certs-it-'));
    cluster = await startClusterWithCrds();
    await installChartRbac(cluster);
    await applyObject(cluster, {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: 'provenant' },
      webhooks: [
        { name: 'verify.provenant.dev', clientConfig: service('/validate'), ...common },
        { name: 'verify-ephemeral.provenant.dev', clientConfig: service('/validate'), ...common },
      ],
    });
    await applyObject(cluster, {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'provenant' },
      webhooks: [{ name: 'pin.provenant.dev', clientConfig: service('/mutate'), ...common }],
    });
  });

  afterAll(async () => {
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('fills the chart Secret once when two replicas start together, and patches every webhook', async () => {
    const before = await stored();
    expect(before.type).toBe('Opaque');
    expect(before.cert).toBe('');

    const [a, b] = await Promise.all([
      ensureWebhookCertificates(options('a'), replica('a')),
      ensureWebhookCertificates(options('b'), replica('b')),
    ]);
    expect([a.generated, b.generated].filter(Boolean)).toHaveLength(1);

    const secret = await stored();
    expect(secret.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('Helm'); // the chart's metadata stays
    for (const r of [a, b]) {
      expect(await readFile(r.files.certFile, 'utf8')).toBe(secret.cert);
      expect(await readFile(r.files.keyFile, 'utf8')).toBe(secret.key);
      expect(r.caPem).toBe(secret.ca);
    }
    expect(await caBundles()).toEqual([secret.ca, secret.ca, secret.ca]);
    const cert = new X509Certificate(secret.cert);
    expect(cert.subjectAltName).toBe(
      'DNS:provenant.provenant-system.svc, DNS:provenant.provenant-system.svc.cluster.local',
    );
  });

  it('serves TLS that a client trusting the caBundle accepts for the Service name', async () => {
    const secret = await stored();
    const server: Server = createServer({ cert: secret.cert, key: secret.key }, (_, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const [bundle] = await caBundles();
      const authorized = await new Promise<boolean>((resolve, reject) => {
        const socket = connect(
          { host: '127.0.0.1', port, ca: bundle, servername: 'provenant.provenant-system.svc' },
          () => {
            resolve(socket.authorized);
            socket.end();
          },
        );
        socket.on('error', reject);
      });
      expect(authorized).toBe(true);
    } finally {
      server.close();
    }
  });

  it('changes nothing on a later check', async () => {
    const before = await stored();
    const again = await ensureWebhookCertificates(options('a'), replica('a'));
    expect(again).toMatchObject({ generated: false, filesChanged: false, patched: [] });
    expect((await stored()).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it('rotates before expiry, once, with the old CA still in the bundle, and the other replica follows', async () => {
    const before = await stored();
    now += 61 * DAY;
    const [a, b] = await Promise.all([
      ensureWebhookCertificates(options('a'), replica('a')),
      ensureWebhookCertificates(options('b'), replica('b')),
    ]);
    expect([a.generated, b.generated].filter(Boolean)).toHaveLength(1);
    const after = await stored();
    expect(after.cert).not.toBe(before.cert);
    const bundle = splitPemBundle(after.ca);
    expect(bundle).toHaveLength(2);
    expect(bundle[1]).toBe(splitPemBundle(before.ca)[0]);
    expect(await caBundles()).toEqual([after.ca, after.ca, after.ca]);
    expect(await readFile(b.files.certFile, 'utf8')).toBe(after.cert);
    expect(await readFile(a.files.certFile, 'utf8')).toBe(after.cert);
  });

  it('puts the caBundle back when something (a chart upgrade) resets it', async () => {
    await kubectlOk(cluster, [
      'patch',
      'mutatingwebhookconfiguration',
      'provenant',
      '--type=json',
      '-p',
      JSON.stringify([{ op: 'remove', path: '/webhooks/0/clientConfig/caBundle' }]),
    ]);
    const result = await ensureWebhookCertificates(options('a'), replica('a'));
    expect(result.patched).toEqual(['mutating/provenant']);
    const secret = await stored();
    expect(await caBundles()).toEqual([secret.ca, secret.ca, secret.ca]);
  });

  it('creates a kubernetes.io/tls Secret when there is none (where RBAC allows create)', async () => {
    await kubectlOk(cluster, ['-n', RELEASE.namespace, 'delete', 'secret', 'provenant-tls']);
    const admin = {
      api: createWebhookCertificateApi(kubeConfigFor(cluster)),
      clock,
      logger: new RecordingLogger('admin'),
    };
    const result = await ensureWebhookCertificates(options('c'), admin);
    expect(result.generated).toBe(true);
    const secret = await stored();
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(await caBundles()).toEqual([secret.ca, secret.ca, secret.ca]);
  });
});
