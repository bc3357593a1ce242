/**
 * Self-managed webhook certificates. The Secret is the single source of truth that every replica reads:
 * whoever finds it missing, empty, expiring or naming the wrong Service generates a new pair and writes it
 * with compare-and-swap (create, or an update conditional on resourceVersion); a replica that loses the
 * race re-reads and adopts the winner's. Each replica then writes the pair to its certificate directory
 * (the HTTPS server reloads on change) and puts the CA bundle into every webhook of the Provenant
 * ValidatingWebhookConfiguration and MutatingWebhookConfiguration that does not already carry it.
 *
 * The Secret is kubernetes.io/tls when Provenant creates it, or the empty Opaque Secret the Helm chart
 * creates (a kubernetes.io/tls Secret cannot be created without its keys); it holds tls.crt, tls.key and
 * ca.crt either way.
 *
 * RBAC: in the Secret's namespace get and update on secrets (a Role, limited by resourceNames), plus create
 * when the Secret is not created beforehand (create cannot be limited by name); cluster-wide get and patch
 * on validatingwebhookconfigurations and mutatingwebhookconfigurations (limited by resourceNames).
 */
import type { Clock } from '../clock.js';
import { describeError, type LogSink } from '../kube/log.js';
import { assessCertificate, type StoredCertificate } from './assess.js';
import { certificateFilePaths, writeCertificateFiles, type CertificateFilePaths } from './files.js';
import { generateWebhookCertificate, serviceDnsNames, type WebhookCertificate } from './generate.js';

export type WebhookKind = 'validating' | 'mutating';

/** A Secret's contents, decoded: `data` maps keys to text (PEM here). */
export interface StoredSecret {
  readonly resourceVersion: string;
  readonly type: string;
  readonly data: Readonly<Record<string, string>>;
}

/** The API calls certificate management needs; implemented over client-node in kube/client.ts. */
export interface WebhookCertificateApi {
  readSecret(namespace: string, name: string): Promise<StoredSecret | undefined>;
  /** Creates a kubernetes.io/tls Secret; 'exists' when someone else created it first. */
  createSecret(
    namespace: string,
    name: string,
    data: Readonly<Record<string, string>>,
  ): Promise<'created' | 'exists'>;
  /** Sets these data keys (keeping others) if the Secret is still at `resourceVersion`; 'conflict' otherwise. */
  updateSecretData(
    namespace: string,
    name: string,
    resourceVersion: string,
    data: Readonly<Record<string, string>>,
  ): Promise<'updated' | 'conflict'>;
  /** Each webhook's name and caBundle (PEM); undefined when the configuration does not exist. */
  readWebhookCaBundles(
    kind: WebhookKind,
    name: string,
  ): Promise<readonly { readonly name: string; readonly caBundle?: string }[] | undefined>;
  /** Sets caBundle (PEM) on the named webhooks, leaving everything else alone. */
  patchWebhookCaBundles(
    kind: WebhookKind,
    name: string,
    entries: readonly { readonly name: string; readonly caBundle: string }[],
  ): Promise<void>;
}

export interface WebhookCertificateOptions {
  readonly secretName: string;
  readonly namespace: string;
  readonly serviceName: string;
  /** The Provenant webhook configurations whose every webhook gets the caBundle. */
  readonly webhookNames: { readonly validating?: string; readonly mutating?: string };
  readonly validityDays: number;
  readonly renewBeforeDays: number;
  /** Where tls.crt, tls.key and ca.crt are written for the HTTPS server. */
  readonly certDir: string;
}

export interface WebhookCertificateDeps {
  readonly api: WebhookCertificateApi;
  readonly clock: Clock;
  readonly logger: LogSink;
}

export interface EnsuredCertificates {
  readonly files: CertificateFilePaths;
  readonly caPem: string;
  readonly notAfter: Date;
  readonly renewAt: Date;
  /** This call generated and stored a new pair. */
  readonly generated: boolean;
  /** The files in certDir were rewritten. */
  readonly filesChanged: boolean;
  /** Webhook configurations this call patched. */
  readonly patched: readonly string[];
}

export const TLS_SECRET_TYPE = 'kubernetes.io/tls';
/** Types a certificate Secret may have: ours, or the chart's empty placeholder. */
const USABLE_SECRET_TYPES = new Set([TLS_SECRET_TYPE, 'Opaque']);
const DAY_MS = 86_400_000;
const MAX_ATTEMPTS = 5;

function stored(secret: StoredSecret | undefined): StoredCertificate | undefined {
  if (secret === undefined) return undefined;
  return { caPem: secret.data['ca.crt'], certPem: secret.data['tls.crt'], keyPem: secret.data['tls.key'] };
}

function secretData(cert: WebhookCertificate): Record<string, string> {
  return { 'tls.crt': cert.certPem, 'tls.key': cert.keyPem, 'ca.crt': cert.caPem };
}

function checkOptions(options: WebhookCertificateOptions): void {
  if (!(options.validityDays > 0) || !(options.renewBeforeDays > 0)) {
    throw new Error('webhook certificate validity and renewal margin must be positive numbers of days');
  }
  if (options.renewBeforeDays >= options.validityDays) {
    throw new Error(
      `webhook certificates renewed ${options.renewBeforeDays} days before expiry cannot be valid for only ${options.validityDays} days`,
    );
  }
}

/** Makes sure a valid serving certificate exists, is on disk and is trusted by the webhook configurations. */
export async function ensureWebhookCertificates(
  options: WebhookCertificateOptions,
  deps: WebhookCertificateDeps,
): Promise<EnsuredCertificates> {
  checkOptions(options);
  const { api, clock, logger } = deps;
  const { namespace, secretName } = options;
  const where = `${namespace}/${secretName}`;
  const expect = {
    dnsNames: serviceDnsNames(options.serviceName, namespace),
    renewBeforeMs: options.renewBeforeDays * DAY_MS,
  };

  let generated = false;
  let chosen: { pems: WebhookCertificate; notAfter: Date; renewAt: Date } | undefined;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS && chosen === undefined; attempt++) {
    const secret = await api.readSecret(namespace, secretName);
    if (secret !== undefined && !USABLE_SECRET_TYPES.has(secret.type)) {
      throw new Error(
        `Secret ${where} has type "${secret.type}", not ${TLS_SECRET_TYPE} or Opaque: delete it or choose another name`,
      );
    }
    const current = stored(secret);
    const now = clock.now();
    const assessment = assessCertificate(current, expect, now);
    if (assessment.action === 'keep' && current?.caPem && current.certPem && current.keyPem) {
      chosen = {
        pems: { caPem: current.caPem, certPem: current.certPem, keyPem: current.keyPem },
        notAfter: assessment.notAfter,
        renewAt: assessment.renewAt,
      };
      break;
    }
    if (assessment.action === 'renew') {
      logger.info(
        { tlsSecret: where, reason: assessment.reason, detail: assessment.detail },
        'generating a webhook certificate',
      );
    }
    const fresh = await generateWebhookCertificate({
      dnsNames: expect.dnsNames,
      validityDays: options.validityDays,
      now: new Date(now),
      previousCaPem: current?.caPem,
    });
    const outcome =
      secret === undefined
        ? await api.createSecret(namespace, secretName, secretData(fresh))
        : await api.updateSecretData(namespace, secretName, secret.resourceVersion, secretData(fresh));
    if (outcome === 'exists' || outcome === 'conflict') {
      logger.info(
        { tlsSecret: where, attempt },
        'another replica wrote the webhook certificate first; adopting it',
      );
      continue;
    }
    const check = assessCertificate(
      stored({ resourceVersion: '', type: TLS_SECRET_TYPE, data: secretData(fresh) }),
      expect,
      now,
    );
    if (check.action !== 'keep')
      throw new Error(`generated webhook certificate is unusable: ${check.detail}`);
    generated = true;
    chosen = { pems: fresh, notAfter: check.notAfter, renewAt: check.renewAt };
  }
  if (chosen === undefined) {
    throw new Error(`Secret ${where} kept changing under us; gave up after ${MAX_ATTEMPTS} attempts`);
  }

  const filesChanged = await writeCertificateFiles(options.certDir, chosen.pems);
  if (filesChanged)
    logger.info(
      { dir: options.certDir, notAfter: chosen.notAfter.toISOString() },
      'webhook certificate files written',
    );
  const patched = await patchCaBundles(options, api, logger, chosen.pems.caPem);
  return {
    files: certificateFilePaths(options.certDir),
    caPem: chosen.pems.caPem,
    notAfter: chosen.notAfter,
    renewAt: chosen.renewAt,
    generated,
    filesChanged,
    patched,
  };
}

const normalise = (pem: string | undefined) => (pem ?? '').trim();

async function patchCaBundles(
  options: WebhookCertificateOptions,
  api: WebhookCertificateApi,
  logger: LogSink,
  caPem: string,
): Promise<string[]> {
  const patched: string[] = [];
  const targets = (['validating', 'mutating'] as const).flatMap((kind) => {
    const name = options.webhookNames[kind];
    return name === undefined ? [] : [{ kind, name }];
  });
  for (const { kind, name } of targets) {
    const webhooks = await api.readWebhookCaBundles(kind, name);
    if (webhooks === undefined) {
      // Installed later, or by another release: the periodic check patches it once it exists.
      logger.warn({ kind, name }, 'webhook configuration not found; caBundle not set yet');
      continue;
    }
    const stale = webhooks.filter((w) => normalise(w.caBundle) !== normalise(caPem));
    if (stale.length === 0) continue;
    await api.patchWebhookCaBundles(
      kind,
      name,
      stale.map((w) => ({ name: w.name, caBundle: caPem })),
    );
    logger.info({ kind, name, webhooks: stale.map((w) => w.name) }, 'webhook caBundle updated');
    patched.push(`${kind}/${name}`);
  }
  return patched;
}

export interface CertificateRotation {
  stop(): void;
}

/**
 * Re-runs ensureWebhookCertificates periodically: rotates before expiry, adopts a rotation made by another
 * replica (rewriting this replica's files), and restores a caBundle that a chart upgrade reset. Failures
 * are logged and retried sooner.
 */
export function startCertificateRotation(
  options: WebhookCertificateOptions,
  deps: WebhookCertificateDeps,
  schedule: { readonly intervalMs?: number; readonly retryMs?: number } = {},
): CertificateRotation {
  const intervalMs = schedule.intervalMs ?? 10 * 60_000;
  const retryMs = Math.min(schedule.retryMs ?? 30_000, intervalMs);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const next = (delay: number) => {
    if (stopped) return;
    timer = setTimeout(() => void run(), delay);
    timer.unref();
  };
  const run = async () => {
    try {
      const result = await ensureWebhookCertificates(options, deps);
      if (result.generated || result.filesChanged || result.patched.length > 0) {
        deps.logger.info(
          { generated: result.generated, filesChanged: result.filesChanged, patched: result.patched },
          'webhook certificates refreshed',
        );
      }
      next(intervalMs);
    } catch (err) {
      deps.logger.error(
        { ...describeError(err), retryInMs: retryMs },
        'checking webhook certificates failed',
      );
      next(retryMs);
    }
  };
  next(intervalMs);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
