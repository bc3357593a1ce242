// Provenant as an operator runs it next to a cluster: the Helm chart's CRDs, RBAC and webhook configurations
// (webhook.url pointing at loopback), and `provenant serve --kubernetes` as a real subprocess that reads
// policies through the chart's own ServiceAccount, so the chart's RBAC is what lets it work.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { helm, parseObjects } from '../../chart/support.js';
import { type Cluster, createCA, freePort, waitFor } from '../harness/index.js';
import { ManagedProcess } from '../harness/process.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const CHART_DIR = join(ROOT, 'charts/provenant');
const MAIN = join(ROOT, 'src/cli/main.ts');
// An absolute specifier: `--import tsx` would resolve against the working directory, not this repository.
const TSX = fileURLToPath(import.meta.resolve('tsx'));

export const RELEASE = { name: 'provenant', namespace: 'provenant-system' } as const;
/** The chart's webhook names and its opt-out label (values.yaml webhook.excludeLabel). */
export const WEBHOOKS = { mutating: 'pin.provenant.dev', validating: 'verify.provenant.dev' } as const;
export const EXCLUDE_LABEL = { key: 'provenant.dev/exclude', value: 'true' } as const;

/** One JSON log line of `provenant serve` (pino). */
export type LogLine = Record<string, unknown> & { msg?: string };

export interface Provenant {
  readonly url: string;
  /** PEM of the CA that issued the serving certificate (for GET /metrics). */
  readonly caPem: string;
  readonly port: number;
  readonly logPath: string;
  /** Every JSON line logged so far. */
  logs(): LogLine[];
  /** Waits for a log line after the first `since` lines. */
  waitForLog(
    predicate: (line: LogLine) => boolean,
    options?: { since?: number; timeoutMs?: number },
  ): Promise<LogLine>;
  readonly running: boolean;
  /** SIGKILL, as a crash or an OOM kill would end it; resolves once it is gone. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export interface InstallOptions {
  /** Extra `helm template --set` values. */
  readonly set?: readonly string[];
}

/**
 * Renders the chart with webhook.url and webhook.caBundle for a Provenant on 127.0.0.1, applies its CRDs,
 * RBAC and webhook configurations, and starts `provenant serve --kubernetes` with the same arguments the
 * chart's Deployment would pass. Resolves once Provenant has synced policies from the API server; the
 * API server may not call the webhooks yet (see waitForWebhooks).
 */
export async function installProvenant(
  cluster: Cluster,
  serveArgs: readonly string[],
  options: InstallOptions = {},
): Promise<Provenant> {
  // Our own CA rather than serve's generated one: it is known before Provenant starts, so the chart is
  // rendered and applied once, with the CRDs in place before the informers first list them.
  const ca = await createCA('provenant-e2e-webhook-ca');
  const serving = await ca.issue({ commonName: '127.0.0.1', hosts: ['127.0.0.1'], usage: 'server' });
  const port = await freePort();
  // Per port: a second instance (a second replica) must not rewrite the first one's files.
  const certFile = join(cluster.dir, `provenant-tls-${port}.crt`);
  const keyFile = join(cluster.dir, `provenant-tls-${port}.key`);
  writeFileSync(certFile, serving.certPem);
  writeFileSync(keyFile, serving.keyPem, { mode: 0o600 });
  const url = `https://127.0.0.1:${port}`;

  const existing = await cluster.kubectl(['get', 'namespace', RELEASE.namespace]);
  if (existing.code !== 0) await cluster.createNamespace(RELEASE.namespace);
  const args = ['template', RELEASE.name, CHART_DIR, '--namespace', RELEASE.namespace, '--include-crds'];
  for (const s of [
    `webhook.url=${url}`,
    `webhook.caBundle=${Buffer.from(ca.certPem).toString('base64')}`,
    ...(options.set ?? []),
  ]) {
    args.push('--set', s);
  }
  const rendered = await helm(args);
  if (rendered.code !== 0) throw new Error(`helm template failed: ${rendered.stderr}`);
  const kinds = parseObjects(rendered.stdout).map((o) => o.kind);
  for (const kind of [
    'CustomResourceDefinition',
    'MutatingWebhookConfiguration',
    'ValidatingWebhookConfiguration',
  ]) {
    if (!kinds.includes(kind)) throw new Error(`the chart rendered no ${kind}`);
  }
  if (kinds.includes('Deployment'))
    throw new Error('with webhook.url the chart must not render a Deployment');
  const applied = await cluster.kubectl(['apply', '-f', '-'], { input: rendered.stdout });
  if (applied.code !== 0) throw new Error(`applying the chart failed: ${applied.stderr}`);
  const established = await cluster.kubectl([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/clusterimagepolicies.provenant.dev',
    'crd/imagepolicies.provenant.dev',
    'crd/trustroots.provenant.dev',
  ]);
  if (established.code !== 0) throw new Error(`CRDs not established: ${established.stderr}`);

  const kubeconfig = await serviceAccountKubeconfig(cluster, RELEASE.name, RELEASE.namespace);
  const logPath = join(cluster.dir, `provenant-${port}.log`);
  const env = { ...process.env };
  delete env['KUBECONFIG']; // the API server is named by --kubeconfig only
  const proc = new ManagedProcess(
    'provenant',
    process.execPath,
    [
      '--import',
      TSX,
      MAIN,
      'serve',
      '--kubernetes',
      '--kubeconfig',
      kubeconfig,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--tls-cert',
      certFile,
      '--tls-key',
      keyFile,
      ...serveArgs,
    ],
    logPath,
    env,
  );

  const logs = (): LogLine[] => {
    let text: string;
    try {
      text = readFileSync(logPath, 'utf8');
    } catch {
      return [];
    }
    // The log file also holds serve's human-readable stderr lines; only the JSON lines are log records.
    return text
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as LogLine];
        } catch {
          return [];
        }
      });
  };
  const waitForLog = async (
    predicate: (line: LogLine) => boolean,
    { since = 0, timeoutMs = 15_000 }: { since?: number; timeoutMs?: number } = {},
  ): Promise<LogLine> =>
    waitFor(
      () => {
        if (!proc.running) throw new Error(`provenant exited (${proc.exitCode}):\n${proc.logTail()}`);
        return logs().slice(since).find(predicate);
      },
      { timeoutMs, intervalMs: 100, description: 'a provenant log line' },
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\nprovenant log tail:\n${proc.logTail()}`);
    });

  try {
    await waitForLog((l) => l.msg === 'listening', { timeoutMs: 30_000 });
    await waitForLog((l) => l.msg === 'policies synced from the API server', { timeoutMs: 30_000 });
  } catch (e) {
    await proc.stop();
    throw e;
  }

  return {
    url,
    caPem: ca.certPem,
    port,
    logPath,
    logs,
    waitForLog,
    get running() {
      return proc.running;
    },
    kill: async () => {
      proc.killNow();
      await proc.exited;
    },
    stop: () => proc.stop(),
  };
}

/** A kubeconfig that authenticates as the ServiceAccount (a bound token from the TokenRequest API). */
async function serviceAccountKubeconfig(cluster: Cluster, name: string, namespace: string): Promise<string> {
  const token = await cluster.kubectl(['-n', namespace, 'create', 'token', name, '--duration=1h']);
  if (token.code !== 0) throw new Error(`kubectl create token failed: ${token.stderr}`);
  const path = join(cluster.dir, `kubeconfig-${name}`);
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'e2e',
          cluster: {
            server: cluster.apiServerUrl,
            'certificate-authority-data': Buffer.from(cluster.caPem).toString('base64'),
          },
        },
      ],
      users: [{ name, user: { token: token.stdout.trim() } }],
      contexts: [{ name: 'e2e', context: { cluster: 'e2e', user: name } }],
      'current-context': 'e2e',
    }),
    { mode: 0o600 },
  );
  return path;
}
