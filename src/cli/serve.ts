import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import { startServer, type RunningServer, type TlsSource } from '../admission/server.js';
import { readKeyMaterial } from '../admission/tls.js';
import type { CacheOutcome } from '../cache/single-flight-cache.js';
import type { RegistryRequestEvent } from '../oci/http-registry.js';
import { createLogger } from '../observability/logger.js';
import { createMetrics } from '../observability/metrics.js';
import { parseDuration } from './duration.js';
import { parseFlags, VERIFY_FLAGS, VERIFY_FLAGS_HELP, verifyFlags, type VerifyFlags } from './flags.js';
import { EXIT, type CommandIo } from './io.js';
import { createKubeServiceRuntime, createServiceRuntime } from './runtime.js';
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

Server:
  --port PORT                HTTPS port (default 8443; 0 picks a free one)
  --host ADDRESS             address to listen on (default 0.0.0.0)
  --tls-cert FILE            serving certificate (PEM); reloaded when the file changes
  --tls-key FILE             its private key (PEM); reloaded when the file changes
  --tls-dir DIR              without --tls-cert/--tls-key: where to write a generated CA and serving
                             certificate (default: a temporary directory, removed on exit)
  --tls-san NAME             extra DNS name or IP for the generated certificate (repeatable)

Admission:
  --admission-timeout DURATION  budget for one admission decision (default 8s; keep it below the
                             webhook's timeoutSeconds)
  --exclude-namespace NS     namespace whose requests are admitted unchecked (repeatable; default
                             kube-system; giving the flag replaces the default, --exclude-namespace=
                             excludes none)
  --cache-ttl DURATION       how long a satisfied verification is reused (default 10m)
  --negative-cache-ttl DURATION  how long a failed one is reused (default 30s)
  --cache-size N             verifications kept (default 10000)
  --log-level LEVEL          fatal, error, warn, info, debug, trace or silent (default info)`;

const SERVE_FLAGS = {
  ...SHARED_FLAGS,
  kubernetes: { type: 'boolean' },
  kubeconfig: { type: 'string' },
  port: { type: 'string', default: '8443' },
  host: { type: 'string', default: '0.0.0.0' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-dir': { type: 'string' },
  'tls-san': { type: 'string', multiple: true },
  'admission-timeout': { type: 'string', default: '8s' },
  'exclude-namespace': { type: 'string', multiple: true, default: ['kube-system'] as string[] },
  'cache-ttl': { type: 'string', default: '10m' },
  'negative-cache-ttl': { type: 'string', default: '30s' },
  'cache-size': { type: 'string', default: '10000' },
  'log-level': { type: 'string', default: 'info' },
} as const satisfies ParseArgsConfig['options'];

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface ServeFlags {
  /** Registry, trust and no-match flags; `policyPaths` only when policies come from files. */
  readonly verify: VerifyFlags;
  readonly policies:
    { readonly kind: 'files' } | { readonly kind: 'kubernetes'; readonly kubeconfig?: string };
  readonly port: number;
  readonly host: string;
  /** Certificate files, or where to generate them (undefined: a temporary directory). */
  readonly tls:
    | { readonly kind: 'files'; readonly certFile: string; readonly keyFile: string }
    | { readonly kind: 'generate'; readonly dir?: string; readonly names: readonly string[] };
  readonly admissionTimeoutMs: number;
  readonly excludedNamespaces: readonly string[];
  readonly cacheTtlMs: number;
  readonly negativeCacheTtlMs: number;
  readonly cacheMaxEntries: number;
  readonly logLevel: string;
}

type ServeValues = ReturnType<typeof parseFlags<typeof SERVE_FLAGS>>['values'];

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
  const cacheMaxEntries = Number(values['cache-size']);
  if (!/^\d+$/.test(values['cache-size']) || cacheMaxEntries < 1) {
    throw new UsageError(`--cache-size must be a whole number of at least 1 (got "${values['cache-size']}")`);
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
    tls:
      certFile !== undefined && keyFile !== undefined
        ? { kind: 'files', certFile, keyFile }
        : {
            kind: 'generate',
            ...(values['tls-dir'] === undefined ? {} : { dir: values['tls-dir'] }),
            names: [...hostNames, ...(values['tls-san'] ?? [])],
          },
    admissionTimeoutMs,
    excludedNamespaces: values['exclude-namespace'].filter((ns) => ns !== ''),
    cacheTtlMs: duration('--cache-ttl', values['cache-ttl']),
    negativeCacheTtlMs: duration('--negative-cache-ttl', values['negative-cache-ttl']),
    cacheMaxEntries,
    logLevel,
  };
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
  // JSON lines through the command's stdout, so the process (or a test) decides where they go.
  const logger = createLogger({ level: flags.logLevel, destination: { write: (line) => io.stdout(line) } });
  const metrics = createMetrics();
  const cache = {
    cacheTtlMs: flags.cacheTtlMs,
    negativeCacheTtlMs: flags.negativeCacheTtlMs,
    cacheMaxEntries: flags.cacheMaxEntries,
    onCache: (outcome: CacheOutcome) => metrics.recordCacheLookup(outcome),
  };
  const registryHooks = {
    onRequest: (event: RegistryRequestEvent) =>
      metrics.recordRegistryRequest(event.registry, event.kind, String(event.status)),
  };
  let fingerprint: string | undefined;
  const runtime =
    flags.policies.kind === 'kubernetes'
      ? await createKubeServiceRuntime(flags.verify, {
          cache,
          registryHooks,
          logger,
          ...(flags.policies.kubeconfig === undefined ? {} : { kubeconfig: flags.policies.kubeconfig }),
        })
      : await createServiceRuntime(flags.verify, {
          cache,
          registryHooks,
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
            rejected: (reason) =>
              logger.error({ reason }, 'policy change rejected; keeping the last good set'),
          },
        });

  let temporaryTlsDir: string | undefined;
  let running: RunningServer | undefined;
  try {
    let tls: TlsSource;
    if (flags.tls.kind === 'files') {
      tls = flags.tls;
    } else {
      const dir = flags.tls.dir ?? (temporaryTlsDir = await mkdtemp(join(tmpdir(), 'provenant-tls-')));
      tls = { kind: 'generate', dir, names: flags.tls.names };
    }
    running = await startServer({
      deps: {
        verifier: runtime.verifier,
        timeoutMs: flags.admissionTimeoutMs,
        excludedNamespaces: flags.excludedNamespaces,
        isReady: () => runtime.policies.ready,
        metrics,
        logger,
      },
      port: flags.port,
      host: flags.host,
      tls,
    });
    logger.info(
      {
        url: running.url,
        port: running.port,
        ...(running.caFile === undefined ? {} : { caFile: running.caFile }),
        certFile: running.certFile,
        keyFile: running.keyFile,
        admissionTimeoutMs: flags.admissionTimeoutMs,
        excludedNamespaces: flags.excludedNamespaces,
        cacheTtlMs: flags.cacheTtlMs,
        negativeCacheTtlMs: flags.negativeCacheTtlMs,
        cacheSize: flags.cacheMaxEntries,
      },
      'listening',
    );
    io.stderr(`provenant serve: listening on ${running.url} (POST /validate, /mutate)`);
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
    await running?.close();
    await runtime.close();
    if (temporaryTlsDir !== undefined) await rm(temporaryTlsDir, { recursive: true, force: true });
    logger.info('stopped');
  }
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
