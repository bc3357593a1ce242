import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import { getHeapStatistics } from 'node:v8';
import { PIN_DIGESTS, type PinDigests } from '../admission/decide.js';
import { startServer, type RunningServer, type TlsSource } from '../admission/server.js';
import { readKeyMaterial } from '../admission/tls.js';
import type { CacheOutcome } from '../cache/single-flight-cache.js';
import type {
  CertificateFilePaths,
  CertificateRotation,
  EnsuredCertificates,
  WebhookCertificateApi,
  WebhookCertificateOptions,
} from '../certs/index.js';
import { systemClock } from '../clock.js';
import { describeError } from '../kube/log.js';
import { MAX_REGISTRY_ORIGINS, type HttpRegistry, type RegistryRequestEvent } from '../oci/http-registry.js';
import { batchedDestination, createLogger, type Logger } from '../observability/logger.js';
import { createMetrics } from '../observability/metrics.js';
import { policyRegistries } from '../policy/compile.js';
import { startBackground, type BackgroundFlags, type RunningBackground } from './background.js';
import { parseDuration } from './duration.js';
import { parseFlags, VERIFY_FLAGS, VERIFY_FLAGS_HELP, verifyFlags, type VerifyFlags } from './flags.js';
import { EXIT, type CommandIo } from './io.js';
import {
  createKubeServiceRuntime,
  createServiceRuntime,
  type KubeServiceRuntime,
  type PolicySource,
} from './runtime.js';
import { UsageError } from './usage-error.js';

// `verify`'s --timeout and --output do not apply to a server; every other shared flag (policies,
// registries, trust) does, including ones added later.
const SHARED_FLAGS = omit(VERIFY_FLAGS, ['output', 'timeout']);
const SHARED_FLAGS_HELP = VERIFY_FLAGS_HELP.split('\n')
  .filter((line) => !/^ {2}--(output|timeout) /.test(line))
  .join('\n');

export const SERVE_USAGE = `Usage: provenant serve (--policy PATH | --kubernetes) [flags]

Runs the admission webhook over HTTPS: POST /validate and /mutate (AdmissionReview v1), GET /healthz,
/readyz (ready once policies are loaded) and /metrics. Policy files are watched and reloaded atomically;
an invalid edit keeps the last good set. Logs are JSON lines on stdout, one per decision.
Stops cleanly on SIGTERM or SIGINT.

Policies, registries and trust:
${SHARED_FLAGS_HELP}
  --kubernetes               read ClusterImagePolicy, ImagePolicy and TrustRoot objects from the API
                             server instead of --policy files
  --kubeconfig FILE          with --kubernetes: the cluster to read (default $KUBECONFIG, ~/.kube/config,
                             or the in-cluster service account)

Background re-verification (with --kubernetes; one replica at a time, chosen by a Lease):
  --background-interval DURATION  re-decide every running Pod and pod controller this often, and write
                             PolicyReports, Events, policy status counts and a gauge (default 1h; 0 turns
                             it off). Passes also run when a policy or trust root changes, and when the
                             verification cache (--cache-ttl) expires, if that is sooner
  --background-rate N        image verifications a second a pass may start (default 5)
  --background-concurrency N objects a pass decides at once (default 2)
  --lease-namespace NS       namespace of the Lease (default $POD_NAMESPACE, else "default")
  --lease-name NAME          name of the Lease (default provenant-background)

Server:
  --port PORT                HTTPS port (default 8443; 0 picks a free one)
  --host ADDRESS             address to listen on (default 0.0.0.0)
  --max-connections N        open connections at most (default 512); more are closed at once and counted
                             in provenant_dropped_connections_total
  --tls-cert FILE            serving certificate (PEM); reloaded when the file changes
  --tls-key FILE             its private key (PEM); reloaded when the file changes
  --tls-dir DIR              without --tls-cert/--tls-key: where to write a generated CA and serving
                             certificate (default: a temporary directory, removed on exit)
  --tls-san NAME             extra DNS name or IP for the generated certificate (repeatable); with
                             --tls-secret: the webhook Service's name, SERVICE.NAMESPACE.svc
  --tls-secret NAMESPACE/NAME  with --kubernetes, self-managed certificates: keep a CA and serving
                             certificate for the Service in this Secret (created, or filled when empty),
                             renew them before they expire, and serve them (written under --tls-dir)
  --validating-webhook-configuration NAME  with --tls-secret: put the CA into the caBundle of every
                             webhook of this ValidatingWebhookConfiguration
  --mutating-webhook-configuration NAME  with --tls-secret: the same for this MutatingWebhookConfiguration

Admission:
  --admission-timeout DURATION  budget for one admission decision (default 8s; keep it below the
                             webhook's timeoutSeconds)
  --exclude-namespace NS     namespace whose requests are admitted unchecked (repeatable; default
                             kube-system; giving the flag replaces the default, --exclude-namespace=
                             excludes none)
  --pin-digests all|pods|off  which admitted objects /mutate pins to the verified digest: every Pod and
                             pod controller (default all), Pods only (GitOps-managed controllers and
                             immutable Job templates keep their tags), or none
  --cache-ttl DURATION       how long a satisfied verification is reused (default 10m)
  --negative-cache-ttl DURATION  how long a failed one is reused (default 30s)
  --tag-cache-ttl DURATION   how long a tag's digest is reused (default 30s; 0 resolves every tag on every
                             admission); safe, since /mutate pins the digest that was verified
  --cache-size N             verifications kept (default 10000)
  --log-level LEVEL          fatal, error, warn, info, debug, trace or silent (default info)`;

export const SERVE_FLAGS = {
  ...SHARED_FLAGS,
  kubernetes: { type: 'boolean' },
  kubeconfig: { type: 'string' },
  port: { type: 'string', default: '8443' },
  host: { type: 'string', default: '0.0.0.0' },
  'max-connections': { type: 'string', default: '512' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-dir': { type: 'string' },
  'tls-san': { type: 'string', multiple: true },
  'tls-secret': { type: 'string' },
  'validating-webhook-configuration': { type: 'string' },
  'mutating-webhook-configuration': { type: 'string' },
  'admission-timeout': { type: 'string', default: '8s' },
  'exclude-namespace': { type: 'string', multiple: true, default: ['kube-system'] as string[] },
  'pin-digests': { type: 'string', default: 'all' },
  'cache-ttl': { type: 'string', default: '10m' },
  'negative-cache-ttl': { type: 'string', default: '30s' },
  'tag-cache-ttl': { type: 'string', default: '30s' },
  'cache-size': { type: 'string', default: '10000' },
  'log-level': { type: 'string', default: 'info' },
  'background-interval': { type: 'string' },
  'background-rate': { type: 'string', default: '5' },
  'background-concurrency': { type: 'string', default: '2' },
  'lease-namespace': { type: 'string' },
  'lease-name': { type: 'string', default: 'provenant-background' },
} as const satisfies ParseArgsConfig['options'];

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface ServeFlags {
  /** Registry, trust and no-match flags; `policyPaths` only when policies come from files. */
  readonly verify: VerifyFlags;
  readonly policies:
    { readonly kind: 'files' } | { readonly kind: 'kubernetes'; readonly kubeconfig?: string };
  readonly port: number;
  readonly host: string;
  /** Open connections at most (--max-connections). */
  readonly maxConnections: number;
  /**
   * Certificate files; or where to generate them (undefined: a temporary directory); or a Secret holding
   * self-managed ones, written for the server to `dir` (undefined: a temporary directory).
   */
  readonly tls:
    | { readonly kind: 'files'; readonly certFile: string; readonly keyFile: string }
    | { readonly kind: 'generate'; readonly dir?: string; readonly names: readonly string[] }
    | SecretTlsFlags;
  readonly admissionTimeoutMs: number;
  readonly excludedNamespaces: readonly string[];
  readonly pinDigests: PinDigests;
  readonly cacheTtlMs: number;
  readonly negativeCacheTtlMs: number;
  readonly tagCacheTtlMs: number;
  readonly cacheMaxEntries: number;
  readonly logLevel: string;
  /** With --kubernetes and an interval above 0. */
  readonly background?: BackgroundFlags;
}

export interface SecretTlsFlags {
  readonly kind: 'secret';
  readonly namespace: string;
  readonly secretName: string;
  /** The webhook Service, in `namespace`: the certificate is for `<serviceName>.<namespace>.svc`. */
  readonly serviceName: string;
  readonly webhookNames: { readonly validating?: string; readonly mutating?: string };
  readonly dir?: string;
}

type ServeValues = ReturnType<typeof parseFlags<typeof SERVE_FLAGS>>['values'];

// DNS-1123 label (a namespace, a Service) and subdomain (a Secret, a webhook configuration).
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * --tls-secret NAMESPACE/NAME with its companions. The Service comes from the one --tls-san, which must
 * be the name the API server dials, `<service>.<namespace>.svc` in the Secret's namespace: that is what
 * the chart passes, and the only name a self-managed certificate is issued for.
 */
function secretTlsFlags(values: ServeValues, kubernetes: boolean): SecretTlsFlags | undefined {
  const secret = values['tls-secret'];
  const validating = values['validating-webhook-configuration'];
  const mutating = values['mutating-webhook-configuration'];
  if (secret === undefined) {
    if (validating !== undefined || mutating !== undefined) {
      throw new UsageError(
        '--validating-webhook-configuration and --mutating-webhook-configuration only apply with --tls-secret',
      );
    }
    return undefined;
  }
  if (values['tls-cert'] !== undefined || values['tls-key'] !== undefined) {
    throw new UsageError(
      '--tls-secret and --tls-cert/--tls-key are alternatives: a self-managed certificate, or certificate files',
    );
  }
  if (!kubernetes) throw new UsageError('--tls-secret needs --kubernetes: the Secret is in the cluster');
  const [namespace = '', secretName = '', ...rest] = secret.split('/');
  if (rest.length > 0 || !DNS_LABEL.test(namespace) || !DNS_SUBDOMAIN.test(secretName)) {
    throw new UsageError(`--tls-secret takes NAMESPACE/NAME (got "${secret}")`);
  }
  const sans = values['tls-san'] ?? [];
  const [san] = sans;
  const parts = san?.split('.') ?? [];
  const [serviceName = ''] = parts;
  if (
    sans.length !== 1 ||
    parts.length !== 3 ||
    parts[1] !== namespace ||
    parts[2] !== 'svc' ||
    !DNS_LABEL.test(serviceName)
  ) {
    throw new UsageError(
      `--tls-secret needs exactly one --tls-san naming the webhook Service as SERVICE.${namespace}.svc` +
        ` (got ${sans.length === 0 ? 'none' : sans.map((n) => `"${n}"`).join(', ')})`,
    );
  }
  for (const [flag, name] of [
    ['--validating-webhook-configuration', validating],
    ['--mutating-webhook-configuration', mutating],
  ] as const) {
    if (name !== undefined && !DNS_SUBDOMAIN.test(name)) {
      throw new UsageError(`${flag} takes the name of the configuration (got "${name}")`);
    }
  }
  return {
    kind: 'secret',
    namespace,
    secretName,
    serviceName,
    webhookNames: {
      ...(validating === undefined ? {} : { validating }),
      ...(mutating === undefined ? {} : { mutating }),
    },
    ...(values['tls-dir'] === undefined ? {} : { dir: values['tls-dir'] }),
  };
}

export function serveFlags(values: ServeValues): ServeFlags {
  const kubernetes = values.kubernetes === true;
  if (kubernetes && values.policy !== undefined) {
    throw new UsageError(
      '--policy and --kubernetes are alternatives: policies come from files or the API server',
    );
  }
  if (!kubernetes && values.kubeconfig !== undefined) {
    throw new UsageError('--kubeconfig only applies with --kubernetes');
  }
  const verify = verifyFlags({
    ...values,
    // verifyFlags insists on --policy, which --kubernetes replaces; its other checks still apply.
    ...(kubernetes ? { policy: ['(the API server)'] } : {}),
    output: 'text',
    timeout: VERIFY_FLAGS.timeout.default,
  });

  const port = Number(values.port);
  if (!/^\d{1,5}$/.test(values.port) || port > 65535) {
    throw new UsageError(`--port must be 0-65535 (got "${values.port}")`);
  }
  const secretTls = secretTlsFlags(values, kubernetes);
  const certFile = values['tls-cert'];
  const keyFile = values['tls-key'];
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new UsageError('--tls-cert and --tls-key go together');
  }
  if (certFile !== undefined && (values['tls-dir'] !== undefined || values['tls-san'] !== undefined)) {
    throw new UsageError('--tls-dir and --tls-san only apply to a generated certificate, not to --tls-cert');
  }
  const host = values.host;
  // A specific listening address is one clients will use: put it in the generated certificate too.
  const hostNames = host === '0.0.0.0' || host === '::' || host === '' ? [] : [host];
  const admissionTimeoutMs = duration('--admission-timeout', values['admission-timeout']);
  if (admissionTimeoutMs <= 0) throw new UsageError('--admission-timeout must be more than 0');
  const maxConnections = Number(values['max-connections']);
  if (!/^\d+$/.test(values['max-connections']) || maxConnections < 1) {
    throw new UsageError(
      `--max-connections must be a whole number of at least 1 (got "${values['max-connections']}")`,
    );
  }
  const cacheMaxEntries = Number(values['cache-size']);
  if (!/^\d+$/.test(values['cache-size']) || cacheMaxEntries < 1) {
    throw new UsageError(`--cache-size must be a whole number of at least 1 (got "${values['cache-size']}")`);
  }
  const pinDigests = PIN_DIGESTS.find((mode) => mode === values['pin-digests']);
  if (pinDigests === undefined) {
    throw new UsageError(`--pin-digests must be all, pods or off (got "${values['pin-digests']}")`);
  }
  const logLevel = values['log-level'];
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')} (got "${logLevel}")`);
  }
  return {
    verify,
    policies: kubernetes
      ? { kind: 'kubernetes', ...(values.kubeconfig === undefined ? {} : { kubeconfig: values.kubeconfig }) }
      : { kind: 'files' },
    port,
    host,
    maxConnections,
    tls:
      secretTls ??
      (certFile !== undefined && keyFile !== undefined
        ? { kind: 'files', certFile, keyFile }
        : {
            kind: 'generate',
            ...(values['tls-dir'] === undefined ? {} : { dir: values['tls-dir'] }),
            names: [...hostNames, ...(values['tls-san'] ?? [])],
          }),
    admissionTimeoutMs,
    excludedNamespaces: values['exclude-namespace'].filter((ns) => ns !== ''),
    pinDigests,
    cacheTtlMs: duration('--cache-ttl', values['cache-ttl']),
    negativeCacheTtlMs: duration('--negative-cache-ttl', values['negative-cache-ttl']),
    tagCacheTtlMs: duration('--tag-cache-ttl', values['tag-cache-ttl']),
    cacheMaxEntries,
    logLevel,
    ...backgroundFlags(values, kubernetes),
  };
}

function backgroundFlags(values: ServeValues, kubernetes: boolean): { background?: BackgroundFlags } {
  const given = values['background-interval'];
  if (!kubernetes) {
    if (given !== undefined) throw new UsageError('--background-interval only applies with --kubernetes');
    return {};
  }
  const intervalMs = duration('--background-interval', given ?? '1h');
  if (intervalMs === 0) return {};
  if (intervalMs < 1000) throw new UsageError('--background-interval must be 0 (off) or at least 1s');
  const rate = Number(values['background-rate']);
  if (!/^\d+(\.\d+)?$/.test(values['background-rate']) || !(rate > 0) || rate > 1000) {
    throw new UsageError(
      `--background-rate must be a number above 0, at most 1000 (got "${values['background-rate']}")`,
    );
  }
  const concurrency = Number(values['background-concurrency']);
  if (!/^\d+$/.test(values['background-concurrency']) || concurrency < 1 || concurrency > 64) {
    throw new UsageError(
      `--background-concurrency must be a whole number from 1 to 64 (got "${values['background-concurrency']}")`,
    );
  }
  const leaseNamespace = values['lease-namespace'] ?? process.env['POD_NAMESPACE'] ?? 'default';
  const leaseName = values['lease-name'];
  if (!DNS_LABEL.test(leaseNamespace))
    throw new UsageError(`--lease-namespace: "${leaseNamespace}" is not a namespace name`);
  if (!DNS_SUBDOMAIN.test(leaseName))
    throw new UsageError(`--lease-name: "${leaseName}" is not a valid name`);
  return { background: { intervalMs, ratePerSecond: rate, concurrency, leaseNamespace, leaseName } };
}

export async function serveCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, SERVE_FLAGS);
  if (values.help) {
    io.stdout(SERVE_USAGE);
    return EXIT.allowed;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const flags = serveFlags(values);

  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => stop.abort(signal);
  // `once`: a second Ctrl-C falls through to Node's default and ends the process at once.
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    return await serve(flags, io, stop.signal);
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

/**
 * The webhook process: one metrics registry, one registry client and one verification cache for its whole
 * life. Resolves with exit status 0 once `stop` fires and the server, registry client and watchers are closed.
 */
export async function serve(flags: ServeFlags, io: CommandIo, stop: AbortSignal): Promise<number> {
  if (flags.tls.kind === 'files') {
    // A missing or mismatched pair is a usage error, found before anything starts.
    await readKeyMaterial(flags.tls).catch((err: unknown) => {
      throw new UsageError(`--tls-cert/--tls-key: ${(err as Error).message}`);
    });
  }
  // JSON lines through the command's stdout, so the process (or a test) decides where they go; a turn's
  // lines are written together.
  const logLines = batchedDestination((text) => io.stdout(text));
  const logger = createLogger({ level: flags.logLevel, destination: logLines });
  // Registry hosts get their own metrics label only if a policy in force names them (issue #15, item 7).
  const inForce: { policies?: PolicySource; registry?: HttpRegistry } = {};
  const metrics = createMetrics({
    labelledRegistries: () =>
      inForce.policies === undefined ? new Set() : policyRegistries(inForce.policies.current),
    registryOrigins: { open: () => inForce.registry?.openOrigins(), limit: MAX_REGISTRY_ORIGINS },
  });
  const cache = {
    cacheTtlMs: flags.cacheTtlMs,
    negativeCacheTtlMs: flags.negativeCacheTtlMs,
    tagCacheTtlMs: flags.tagCacheTtlMs,
    cacheMaxEntries: flags.cacheMaxEntries,
    onCache: (outcome: CacheOutcome) => metrics.recordCacheLookup(outcome),
  };
  const registryHooks = {
    onRequest: (event: RegistryRequestEvent) =>
      metrics.recordRegistryRequest(event.registry, event.kind, String(event.status)),
  };
  let fingerprint: string | undefined;
  let background: RunningBackground | undefined;
  const kube: KubeServiceRuntime | undefined =
    flags.policies.kind === 'kubernetes'
      ? await createKubeServiceRuntime(flags.verify, {
          cache,
          registryHooks,
          logger,
          onPolicySetReplaced: () => background?.policiesChanged(),
          ...(flags.policies.kubeconfig === undefined ? {} : { kubeconfig: flags.policies.kubeconfig }),
        })
      : undefined;
  const runtime =
    kube ??
    (await createServiceRuntime(flags.verify, {
      cache,
      registryHooks,
      logger,
      policyEvents: {
        loaded: (set) => {
          // Folders are watched, so unrelated files trigger reloads too; only a real change is worth a line.
          if (set.fingerprint === fingerprint) return;
          logger.info(
            { policies: set.policies.map((p) => p.name), fingerprint: set.fingerprint.slice(0, 12) },
            fingerprint === undefined ? 'policies loaded' : 'policies reloaded',
          );
          fingerprint = set.fingerprint;
        },
        rejected: (reason) => logger.error({ reason }, 'policy change rejected; keeping the last good set'),
      },
    }));
  inForce.policies = runtime.policies;
  inForce.registry = runtime.registry;

  let temporaryTlsDir: string | undefined;
  let rotation: CertificateRotation | undefined;
  /** With --tls-secret: the CA bundle the webhook configurations now trust, as a file. */
  let secretCaFile: string | undefined;
  let running: RunningServer | undefined;
  try {
    let tls: TlsSource;
    if (flags.tls.kind === 'files') {
      tls = flags.tls;
    } else if (flags.tls.kind === 'secret') {
      if (kube === undefined) throw new UsageError('--tls-secret needs --kubernetes');
      // The chart's root filesystem is read-only; the OS temporary directory (an emptyDir there) is not.
      const certDir = flags.tls.dir ?? (temporaryTlsDir = await mkdtemp(join(tmpdir(), 'provenant-tls-')));
      const managed = await selfManagedCertificates(flags.tls, certDir, kube.webhookCertificates, logger);
      rotation = managed.rotation;
      secretCaFile = managed.files.caFile;
      tls = { kind: 'files', certFile: managed.files.certFile, keyFile: managed.files.keyFile };
    } else {
      const dir = flags.tls.dir ?? (temporaryTlsDir = await mkdtemp(join(tmpdir(), 'provenant-tls-')));
      tls = { kind: 'generate', dir, names: flags.tls.names };
    }
    running = await startServer({
      deps: {
        verifier: runtime.verifier,
        timeoutMs: flags.admissionTimeoutMs,
        excludedNamespaces: flags.excludedNamespaces,
        pinDigests: flags.pinDigests,
        isReady: () => runtime.policies.ready,
        ...(kube === undefined ? {} : { workloadCredentials: kube.workloadCredentials }),
        metrics,
        logger,
      },
      port: flags.port,
      host: flags.host,
      maxConnections: flags.maxConnections,
      tls,
    });
    const caFile = running.caFile ?? secretCaFile;
    logger.info(
      {
        url: running.url,
        port: running.port,
        ...(caFile === undefined ? {} : { caFile }),
        certFile: running.certFile,
        keyFile: running.keyFile,
        admissionTimeoutMs: flags.admissionTimeoutMs,
        excludedNamespaces: flags.excludedNamespaces,
        pinDigests: flags.pinDigests,
        cacheTtlMs: flags.cacheTtlMs,
        negativeCacheTtlMs: flags.negativeCacheTtlMs,
        tagCacheTtlMs: flags.tagCacheTtlMs,
        cacheSize: flags.cacheMaxEntries,
        ...memorySizing(),
      },
      'listening',
    );
    io.stderr(`provenant serve: listening on ${running.url} (POST /validate, /mutate)`);
    if (kube !== undefined && flags.background !== undefined) {
      background = await startBackground(flags.background, {
        runtime: kube,
        metrics,
        logger,
        admissionTimeoutMs: flags.admissionTimeoutMs,
        cacheTtlMs: flags.cacheTtlMs,
        excludedNamespaces: flags.excludedNamespaces,
      });
    }
    if (running.caFile !== undefined) {
      io.stderr(
        `provenant serve: generated a self-signed CA for this run\n` +
          `  CA certificate:      ${running.caFile}   (base64 of it is the webhook caBundle)\n` +
          `  serving certificate: ${running.certFile}\n` +
          `  serving key:         ${running.keyFile}`,
      );
    }

    const reason = await aborted(stop);
    logger.info({ signal: reason }, 'shutting down');
    await drain(running, flags.admissionTimeoutMs + 1000);
    running = undefined;
    return EXIT.allowed;
  } finally {
    rotation?.stop();
    await background?.stop();
    await running?.close();
    await runtime.close();
    if (temporaryTlsDir !== undefined) await rm(temporaryTlsDir, { recursive: true, force: true });
    logger.info('stopped');
    logLines.flush();
  }
}

/** Self-managed certificates live a year and are renewed a month before they expire. */
const CERTIFICATE_VALIDITY_DAYS = 365;
const CERTIFICATE_RENEW_BEFORE_DAYS = 30;

/**
 * --tls-secret: before anything listens, the Secret holds a valid certificate for the Service (created or
 * renewed here, or adopted from another replica), both webhook configurations trust its CA, and the files
 * the server loads are current. Then the same check runs periodically: it renews before expiry, picks up
 * another replica's renewal (the server reloads the rewritten files) and restores a caBundle that a chart
 * upgrade reset. A failure at start is fatal: without a certificate the API server cannot call us anyway.
 */
async function selfManagedCertificates(
  tls: SecretTlsFlags,
  certDir: string,
  api: WebhookCertificateApi,
  logger: Logger,
): Promise<{ files: CertificateFilePaths; rotation: CertificateRotation }> {
  const secret = `${tls.namespace}/${tls.secretName}`;
  const options: WebhookCertificateOptions = {
    secretName: tls.secretName,
    namespace: tls.namespace,
    serviceName: tls.serviceName,
    webhookNames: tls.webhookNames,
    validityDays: CERTIFICATE_VALIDITY_DAYS,
    renewBeforeDays: CERTIFICATE_RENEW_BEFORE_DAYS,
    certDir,
  };
  const deps = { api, clock: systemClock, logger };
  // Loaded only for self-managed certificates: the X.509 toolkit is large.
  const { ensureWebhookCertificates, startCertificateRotation } = await import('../certs/index.js');
  let ensured: EnsuredCertificates;
  try {
    ensured = await ensureWebhookCertificates(options, deps);
  } catch (err) {
    logger.error({ tlsSecret: secret, ...describeError(err) }, 'webhook certificates could not be set up');
    throw err;
  }
  logger.info(
    {
      tlsSecret: secret,
      notAfter: ensured.notAfter.toISOString(),
      renewAt: ensured.renewAt.toISOString(),
      generated: ensured.generated,
      patched: ensured.patched,
    },
    'webhook certificates ready',
  );
  return { files: ensured.files, rotation: startCertificateRotation(options, deps) };
}

/** Stops accepting connections and lets admissions in flight finish, up to `graceMs`; then closes the rest. */
async function drain(running: RunningServer, graceMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const closed = new Promise<void>((resolve) => {
    running.server.close(() => resolve());
    running.server.closeIdleConnections();
  });
  const grace = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, graceMs);
  });
  await Promise.race([closed, grace]);
  clearTimeout(timer);
  await running.close();
}

function aborted(signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((resolve) =>
    signal.addEventListener('abort', () => resolve(signal.reason), { once: true }),
  );
}

function duration(flag: string, text: string): number {
  try {
    return parseDuration(text);
  } catch (err) {
    throw new UsageError(`${flag}: ${(err as Error).message}`);
  }
}

function omit<T extends object, K extends keyof T>(value: T, keys: readonly K[]): Omit<T, K> {
  return Object.fromEntries(
    Object.entries(value).filter(([key]) => !(keys as readonly PropertyKey[]).includes(key)),
  ) as Omit<T, K>;
}

/**
 * The container's memory limit as Node sees it (cgroup v1 or v2; absent when there is none) and the heap
 * limit V8 was given, so an operator can check the two fit (the chart sizes the heap from the limit).
 */
function memorySizing(): { memoryLimitBytes?: number; heapLimitBytes: number } {
  const constrained = process.constrainedMemory();
  const heapLimitBytes = getHeapStatistics().heap_size_limit;
  // libuv answers 0 without a limit, and a huge number for a cgroup whose limit is "max".
  return constrained > 0 && constrained < Number.MAX_SAFE_INTEGER && constrained < totalmem()
    ? { memoryLimitBytes: constrained, heapLimitBytes }
    : { heapLimitBytes };
}
