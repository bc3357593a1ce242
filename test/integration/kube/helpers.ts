/**
 * Shared pieces for the tests against a real kube-apiserver: a cluster with Provenant's CRDs (the chart's,
 * charts/provenant/crds/), client-node configuration for it, a logger that records, and kubectl helpers.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { LogSink } from '../../../src/kube/log.js';
import { startCluster, toolPath, waitFor, type Cluster } from '../../e2e/harness/index.js';

const CHART_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../../charts/provenant');
export const CRD_DIR = join(CHART_DIR, 'crds');
/** Where the chart installs Provenant in these tests, and the identity its pods run as. */
export const RELEASE = { name: 'provenant', namespace: 'provenant-system' } as const;
export const CHART_SERVICE_ACCOUNT = `system:serviceaccount:${RELEASE.namespace}:provenant`;
const CRDS = ['clusterimagepolicies', 'imagepolicies', 'trustroots'].map((p) => `crd/${p}.provenant.dev`);

/** A fresh cluster with the chart's CRDs installed and established. */
export async function startClusterWithCrds(): Promise<Cluster> {
  if (!existsSync(CRD_DIR)) throw new Error(`${CRD_DIR} is missing: the chart's CRDs are needed`);
  const cluster = await startCluster();
  try {
    await kubectlOk(cluster, ['apply', '--server-side', '-f', CRD_DIR]);
    await kubectlOk(cluster, ['wait', '--for=condition=Established', '--timeout=60s', ...CRDS]);
    // Established CRDs are served a moment later; probe until the list works.
    await waitFor(
      async () =>
        (await cluster.kubectl(['get', 'clusterimagepolicies,trustroots,imagepolicies', '-A'])).code === 0,
      {
        timeoutMs: 30_000,
        description: 'CRDs served',
      },
    );
    return cluster;
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

/** The wgpolicyk8s.io report CRDs the chart ships (charts/provenant/files), installed and established. */
export async function installReportCrds(cluster: Cluster): Promise<void> {
  const reports = ['policyreports', 'clusterpolicyreports'];
  await kubectlOk(cluster, [
    'apply',
    '--server-side',
    ...reports.flatMap((p) => ['-f', join(CHART_DIR, 'files', `wgpolicyk8s.io_${p}.yaml`)]),
  ]);
  await kubectlOk(cluster, [
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    ...reports.map((p) => `crd/${p}.wgpolicyk8s.io`),
  ]);
}

/**
 * Installs what the chart grants Provenant (its ServiceAccount, RBAC and the empty TLS Secret), rendered
 * with helm, so that clients impersonating CHART_SERVICE_ACCOUNT have exactly the chart's permissions.
 */
export async function installChartRbac(cluster: Cluster): Promise<void> {
  await cluster.createNamespace(RELEASE.namespace);
  const { stdout } = await promisify(execFile)(toolPath('helm'), [
    'template',
    RELEASE.name,
    CHART_DIR,
    '--namespace',
    RELEASE.namespace,
    '--show-only',
    'templates/serviceaccount.yaml',
    '--show-only',
    'templates/rbac.yaml',
    '--show-only',
    'templates/tls-secret.yaml',
  ]);
  await kubectlOk(cluster, ['apply', '-f', '-'], stdout);
}

export async function kubectlOk(cluster: Cluster, args: string[], input?: string): Promise<string> {
  const result = await cluster.kubectl(args, input === undefined ? {} : { input });
  if (result.code !== 0)
    throw new Error(`kubectl ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

export async function applyObject(cluster: Cluster, object: unknown): Promise<void> {
  await kubectlOk(cluster, ['apply', '-f', '-'], JSON.stringify(object));
}

export async function getObject<T = Record<string, unknown>>(cluster: Cluster, args: string[]): Promise<T> {
  return JSON.parse(await kubectlOk(cluster, ['get', ...args, '-o', 'json'])) as T;
}

/**
 * client-node configuration for the harness's admin user, optionally against another API server URL and
 * impersonating another user (the admin may impersonate anyone).
 */
export function kubeConfigFor(
  cluster: Cluster,
  options: { server?: string | undefined; as?: string | undefined } = {},
): KubeConfig {
  const server = options.server ?? cluster.apiServerUrl;
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server, caData: b64(cluster.caPem), skipTLSVerify: false }],
    users: [
      {
        name: 'admin',
        certData: b64(cluster.clientCertPem),
        keyData: b64(cluster.clientKeyPem),
        ...(options.as === undefined ? {} : { impersonateUser: options.as }),
      },
    ],
    contexts: [{ name: 'test', cluster: 'test', user: 'admin' }],
    currentContext: 'test',
  });
  return kc;
}

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields: object;
}

/** Keeps every line; PROVENANT_TEST_LOG=1 also prints them. */
export class RecordingLogger implements LogSink {
  readonly lines: LogLine[] = [];
  constructor(private readonly name = '') {}
  debug(fields: object, message: string) {
    this.#add('debug', fields, message);
  }
  info(fields: object, message: string) {
    this.#add('info', fields, message);
  }
  warn(fields: object, message: string) {
    this.#add('warn', fields, message);
  }
  error(fields: object, message: string) {
    this.#add('error', fields, message);
  }
  has(message: string): boolean {
    return this.lines.some((l) => l.message === message);
  }
  #add(level: LogLine['level'], fields: object, message: string) {
    this.lines.push({ level, message, fields });
    if (process.env.PROVENANT_TEST_LOG === '1')
      console.log(`[${this.name}] ${level} ${message} ${JSON.stringify(fields)}`);
  }
}

/** A fresh ECDSA P-256 public key (SPKI PEM), as a key authority would carry. */
export function publicKeyPem(): string {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return publicKey.export({ format: 'pem', type: 'spki' }).toString();
}

export { waitFor };
