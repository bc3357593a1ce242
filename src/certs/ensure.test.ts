import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LogSink } from '../kube/log.js';
import { createLogger } from '../observability/logger.js';
import {
  ensureWebhookCertificates,
  startCertificateRotation,
  type StoredSecret,
  type WebhookCertificateApi,
  type WebhookCertificateOptions,
  type WebhookKind,
} from './ensure.js';
import { splitPemBundle } from './generate.js';

const DAY = 86_400_000;
const silent: LogSink = { debug() {}, info() {}, warn() {}, error() {} };
const tick = () => new Promise((resolve) => setImmediate(resolve));

/** An API server in memory: resourceVersions, create conflicts and compare-and-swap, webhook entries. */
class MemoryApi implements WebhookCertificateApi {
  readonly secrets = new Map<string, StoredSecret>();
  readonly webhooks = new Map<string, { name: string; caBundle?: string }[]>();
  readonly calls: string[] = [];
  #rv = 1;

  async readSecret(namespace: string, name: string) {
    await tick();
    return this.secrets.get(`${namespace}/${name}`);
  }
  async createSecret(namespace: string, name: string, data: Readonly<Record<string, string>>) {
    await tick();
    this.calls.push('create');
    const key = `${namespace}/${name}`;
    if (this.secrets.has(key)) return 'exists' as const;
    this.secrets.set(key, {
      resourceVersion: String(this.#rv++),
      type: 'kubernetes.io/tls',
      data: { ...data },
    });
    return 'created' as const;
  }
  async updateSecretData(
    namespace: string,
    name: string,
    resourceVersion: string,
    data: Readonly<Record<string, string>>,
  ) {
    await tick();
    this.calls.push('update');
    const key = `${namespace}/${name}`;
    const current = this.secrets.get(key);
    if (current === undefined || current.resourceVersion !== resourceVersion) return 'conflict' as const;
    this.secrets.set(key, {
      ...current,
      resourceVersion: String(this.#rv++),
      data: { ...current.data, ...data },
    });
    return 'updated' as const;
  }
  async readWebhookCaBundles(kind: WebhookKind, name: string) {
    await tick();
    return this.webhooks.get(`${kind}/${name}`)?.map((w) => ({ ...w }));
  }
  async patchWebhookCaBundles(
    kind: WebhookKind,
    name: string,
    entries: readonly { name: string; caBundle: string }[],
  ) {
    await tick();
    this.calls.push(`patch ${kind}/${name} ${entries.map((e) => e.name).join(',')}`);
    const list = this.webhooks.get(`${kind}/${name}`) ?? [];
    for (const e of entries) {
      const w = list.find((x) => x.name === e.name);
      if (w) w.caBundle = e.caBundle;
    }
  }
}

let dir: string;
let api: MemoryApi;
let now: number;
const clock = { now: () => now };
const options = (
  certDir: string,
  patch: Partial<WebhookCertificateOptions> = {},
): WebhookCertificateOptions => ({
  secretName: 'provenant-webhook-tls',
  namespace: 'provenant-system',
  serviceName: 'provenant',
  webhookNames: { validating: 'provenant-validating', mutating: 'provenant-mutating' },
  validityDays: 90,
  renewBeforeDays: 30,
  certDir,
  ...patch,
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'provenant-certs-'));
  api = new MemoryApi();
  now = Date.parse('2026-03-01T00:00:00Z');
  api.webhooks.set('validating/provenant-validating', [
    { name: 'verify.provenant.dev' },
    { name: 'verify-ephemeral.provenant.dev' },
  ]);
  api.webhooks.set('mutating/provenant-mutating', [{ name: 'pin.provenant.dev', caBundle: 'stale' }]);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ensureWebhookCertificates', () => {
  it('creates the Secret, writes the files and patches every webhook', async () => {
    const result = await ensureWebhookCertificates(options(join(dir, 'a')), { api, clock, logger: silent });
    expect(result.generated).toBe(true);
    expect(result.filesChanged).toBe(true);
    expect(result.patched).toEqual(['validating/provenant-validating', 'mutating/provenant-mutating']);

    const secret = api.secrets.get('provenant-system/provenant-webhook-tls');
    expect(secret?.type).toBe('kubernetes.io/tls');
    expect(await readFile(result.files.certFile, 'utf8')).toBe(secret?.data['tls.crt']);
    expect(await readFile(result.files.keyFile, 'utf8')).toBe(secret?.data['tls.key']);
    expect(await readFile(result.files.caFile, 'utf8')).toBe(secret?.data['ca.crt']);
    expect((await stat(result.files.keyFile)).mode & 0o777).toBe(0o600);
    for (const hooks of api.webhooks.values()) for (const w of hooks) expect(w.caBundle).toBe(result.caPem);
    expect(result.notAfter).toEqual(new Date(now + 90 * DAY));
    expect(result.renewAt).toEqual(new Date(now + 60 * DAY));
  });

  it('changes nothing when everything is already in place', async () => {
    const opts = options(join(dir, 'a'));
    await ensureWebhookCertificates(opts, { api, clock, logger: silent });
    api.calls.length = 0;
    now += 10 * DAY;
    const again = await ensureWebhookCertificates(opts, { api, clock, logger: silent });
    expect(again).toMatchObject({ generated: false, filesChanged: false, patched: [] });
    expect(api.calls).toEqual([]);
  });

  it('lets concurrent replicas converge on one certificate', async () => {
    const replicas = await Promise.all(
      ['r1', 'r2', 'r3'].map((r) =>
        ensureWebhookCertificates(options(join(dir, r)), { api, clock, logger: silent }),
      ),
    );
    expect(replicas.filter((r) => r.generated)).toHaveLength(1);
    const secret = api.secrets.get('provenant-system/provenant-webhook-tls');
    for (const r of replicas) {
      expect(await readFile(r.files.certFile, 'utf8')).toBe(secret?.data['tls.crt']);
      expect(r.caPem).toBe(secret?.data['ca.crt']);
    }
    expect(api.calls.filter((c) => c === 'create')).toHaveLength(3);
  });

  it('rotates before expiry, once across replicas, keeping the old CA in the bundle', async () => {
    await ensureWebhookCertificates(options(join(dir, 'r1')), { api, clock, logger: silent });
    const before = api.secrets.get('provenant-system/provenant-webhook-tls');
    now += 61 * DAY;
    const replicas = await Promise.all(
      ['r1', 'r2'].map((r) =>
        ensureWebhookCertificates(options(join(dir, r)), { api, clock, logger: silent }),
      ),
    );
    expect(replicas.filter((r) => r.generated)).toHaveLength(1);
    const after = api.secrets.get('provenant-system/provenant-webhook-tls');
    expect(after?.data['tls.crt']).not.toBe(before?.data['tls.crt']);
    const bundle = splitPemBundle(after?.data['ca.crt'] ?? '');
    expect(bundle).toHaveLength(2);
    expect(bundle[1]).toBe(splitPemBundle(before?.data['ca.crt'] ?? '')[0]);
    expect(new X509Certificate(after?.data['tls.crt'] ?? '').validToDate).toEqual(new Date(now + 90 * DAY));
    for (const hooks of api.webhooks.values())
      for (const w of hooks) expect(w.caBundle).toBe(after?.data['ca.crt']);
  });

  it('regenerates when the Service name changes', async () => {
    await ensureWebhookCertificates(options(join(dir, 'a')), { api, clock, logger: silent });
    const renamed = await ensureWebhookCertificates(
      options(join(dir, 'a'), { serviceName: 'provenant-webhook' }),
      {
        api,
        clock,
        logger: silent,
      },
    );
    expect(renamed.generated).toBe(true);
    const cert = new X509Certificate(await readFile(renamed.files.certFile, 'utf8'));
    expect(cert.subjectAltName).toContain('DNS:provenant-webhook.provenant-system.svc');
  });

  it("fills in the chart's empty Opaque placeholder Secret", async () => {
    api.secrets.set('provenant-system/provenant-webhook-tls', {
      resourceVersion: 'chart',
      type: 'Opaque',
      data: {},
    });
    const result = await ensureWebhookCertificates(options(join(dir, 'a')), { api, clock, logger: silent });
    expect(result.generated).toBe(true);
    expect(api.calls).toContain('update');
  });

  it('names the Secret in its log lines (the logger masks fields called secret)', async () => {
    api.secrets.set('provenant-system/provenant-webhook-tls', {
      resourceVersion: 'chart',
      type: 'Opaque',
      data: { 'tls.crt': 'not a certificate' },
    });
    let log = '';
    const logger = createLogger({
      level: 'debug',
      destination: { write: (line: string) => void (log += line) },
    });
    await ensureWebhookCertificates(options(join(dir, 'a')), { api, clock, logger });
    const renewing = log
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((line) => line['msg'] === 'generating a webhook certificate');
    expect(renewing).toMatchObject({ tlsSecret: 'provenant-system/provenant-webhook-tls' });
    expect(log).not.toContain('[REDACTED]');
  });

  it('refuses to take over a Secret of another type', async () => {
    api.secrets.set('provenant-system/provenant-webhook-tls', {
      resourceVersion: '1',
      type: 'kubernetes.io/dockerconfigjson',
      data: {},
    });
    await expect(
      ensureWebhookCertificates(options(join(dir, 'a')), { api, clock, logger: silent }),
    ).rejects.toThrow(/type "kubernetes.io\/dockerconfigjson"/);
  });

  it('still writes the files when a webhook configuration does not exist yet', async () => {
    api.webhooks.delete('mutating/provenant-mutating');
    const warnings: object[] = [];
    const result = await ensureWebhookCertificates(options(join(dir, 'a')), {
      api,
      clock,
      logger: { ...silent, warn: (f) => warnings.push(f) },
    });
    expect(result.patched).toEqual(['validating/provenant-validating']);
    expect(warnings).toEqual([{ kind: 'mutating', name: 'provenant-mutating' }]);
  });

  it('refuses a renewal margin as long as the validity', async () => {
    await expect(
      ensureWebhookCertificates(options(dir, { validityDays: 30, renewBeforeDays: 30 }), {
        api,
        clock,
        logger: silent,
      }),
    ).rejects.toThrow(/renewed 30 days before expiry/);
  });
});

describe('startCertificateRotation', () => {
  it('rotates on a later check and brings the files along', async () => {
    const opts = options(join(dir, 'a'));
    const first = await ensureWebhookCertificates(opts, { api, clock, logger: silent });
    const rotation = startCertificateRotation(opts, { api, clock, logger: silent }, { intervalMs: 20 });
    now += 70 * DAY;
    await expect
      .poll(async () => readFile(first.files.certFile, 'utf8'), { timeout: 5_000 })
      .not.toBe(await readFile(first.files.certFile, 'utf8'));
    rotation.stop();
    const secret = api.secrets.get('provenant-system/provenant-webhook-tls');
    expect(await readFile(first.files.certFile, 'utf8')).toBe(secret?.data['tls.crt']);
  });
});
