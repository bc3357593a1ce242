// A real, minimal Kubernetes control plane on loopback: etcd + kube-apiserver, nothing else (no
// controller manager, scheduler or kubelet: Pods stay Pending, namespaces get no default ServiceAccount
// unless createNamespace() makes one). Everything lives in one temporary folder that stop() removes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCA, createServiceAccountKeyPair } from './certs.js';
import { type KubectlOptions, type KubectlResult, runKubectl } from './kubectl.js';
import { ManagedProcess, forgetDir, freePort, removeOnExit, toolPath, waitFor } from './process.js';

export interface StartClusterOptions {
  /** How long to wait for etcd and then kube-apiserver's /readyz (each). Default 120 s. */
  readyTimeoutMs?: number;
  /** Admission plugins to turn off (--disable-admission-plugins); the default set stays on otherwise. */
  disableAdmissionPlugins?: string[];
  /** More kube-apiserver flags, appended last (a repeated flag overrides the harness's own). */
  extraApiServerArgs?: string[];
  /** kube-apiserver log verbosity (--v). Default 1. */
  verbosity?: number;
  /**
   * Address kube-apiserver binds to, advertises and is reached at (default 127.0.0.1): a node address for
   * the cluster tier, whose Pods cannot reach the host's loopback.
   */
  address?: string;
  /** More subject alternative names for the serving certificate (e.g. the `kubernetes` Service IP). */
  extraSans?: string[];
  /** Keep the temporary folder (logs, data, certificates) after stop(); also PROVENANT_E2E_KEEP=1. */
  keepDir?: boolean;
}

export interface Cluster {
  /** kubeconfig (client certificate of CN=provenant-e2e-admin, O=system:masters) that kubectl uses. */
  kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  apiServerUrl: string;
  /** PEM of the CA that signed the serving certificate (and the admin client certificate). */
  caPem: string;
  /** Admin client credential, for API clients other than kubectl. */
  clientCertPem: string;
  clientKeyPem: string;
  /** Issuer of service-account tokens (--service-account-issuer). */
  serviceAccountIssuer: string;
  etcdUrl: string;
  /** The temporary folder: certificates, kubeconfig, etcd data, logs (etcd.log, kube-apiserver.log). */
  dir: string;
  logs: { etcd: string; apiServer: string };
  /** Runs kubectl against this cluster: {code, stdout, stderr}; never throws for a non-zero status. */
  kubectl(args: string[], opts?: KubectlOptions): Promise<KubectlResult>;
  /**
   * Creates a namespace with labels and its "default" ServiceAccount (which the ServiceAccount admission
   * plugin requires of a Pod, and which no controller makes here).
   */
  createNamespace(name: string, labels?: Record<string, string>): Promise<void>;
  /** Kills kube-apiserver and etcd and removes the temporary folder. Safe to call twice. */
  stop(): Promise<void>;
}

const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

function get(
  url: string,
  tls?: { ca: string; cert: string; key: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = (tls ? httpsRequest : httpRequest)(url, { ...(tls ?? {}), timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Waits until ready() holds, failing at once (with its log) if the process exits first. */
async function waitReady(
  proc: ManagedProcess,
  ready: () => Promise<boolean>,
  timeoutMs: number,
  description: string,
): Promise<void> {
  await waitFor(
    async () => {
      if (!proc.running) {
        throw new ExitedError(`${proc.name} exited with ${proc.exitCode}; log tail:\n${proc.logTail()}`);
      }
      return ready();
    },
    { timeoutMs, intervalMs: 250, description },
  ).catch((e: unknown) => {
    if (e instanceof ExitedError) throw e;
    throw new Error(`${(e as Error).message}\n${proc.name} log tail:\n${proc.logTail()}`);
  });
}
class ExitedError extends Error {}

/** Starts etcd and kube-apiserver on free loopback ports and waits until /readyz answers ok. */
export async function startCluster(opts: StartClusterOptions = {}): Promise<Cluster> {
  const etcdBin = toolPath('etcd');
  const apiServerBin = toolPath('kube-apiserver');
  toolPath('kubectl');
  const timeoutMs = opts.readyTimeoutMs ?? 120_000;
  const keep = opts.keepDir ?? process.env.PROVENANT_E2E_KEEP === '1';
  const address = opts.address ?? '127.0.0.1';

  const dir = mkdtempSync(join(tmpdir(), 'provenant-e2e-'));
  if (!keep) removeOnExit(dir);
  const f = (name: string) => join(dir, name);
  let etcd: ManagedProcess | undefined;
  let apiServer: ManagedProcess | undefined;
  let stopped = false;

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await apiServer?.stop();
    await etcd?.stop();
    if (!keep) {
      rmSync(dir, { recursive: true, force: true });
      forgetDir(dir);
    }
  };

  try {
    // PKI: one CA signs the serving certificate and the admin client certificate.
    const ca = await createCA('provenant-e2e-ca');
    const serving = await ca.issue({
      commonName: 'kube-apiserver',
      hosts: [
        address,
        'localhost',
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        ...(opts.extraSans ?? []),
      ],
      usage: 'server',
    });
    const admin = await ca.issue({
      commonName: 'provenant-e2e-admin',
      organizations: ['system:masters'],
      usage: 'client',
    });
    const sa = createServiceAccountKeyPair();
    writeFileSync(f('ca.crt'), ca.certPem);
    writeFileSync(f('apiserver.crt'), serving.certPem);
    writeFileSync(f('apiserver.key'), serving.keyPem, { mode: 0o600 });
    writeFileSync(f('sa.key'), sa.privateKeyPem, { mode: 0o600 });
    writeFileSync(f('sa.pub'), sa.publicKeyPem);

    // etcd
    const [clientPort, peerPort, securePort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${clientPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    etcd = new ManagedProcess(
      'etcd',
      etcdBin,
      [
        '--name=e2e',
        `--data-dir=${f('etcd-data')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=e2e=${peerUrl}`,
        '--unsafe-no-fsync', // throwaway data: skip fsync, much faster on shared disks
        '--log-level=warn',
      ],
      f('etcd.log'),
    );
    const etcdProc = etcd;
    await waitReady(
      etcdProc,
      async () => {
        const r = await get(`${etcdUrl}/health`);
        return r.status === 200 && r.body.includes('"health":"true"');
      },
      timeoutMs,
      'etcd /health',
    );

    // kube-apiserver
    const apiServerUrl = `https://${address}:${securePort}`;
    const args = [
      `--etcd-servers=${etcdUrl}`,
      `--bind-address=${address}`,
      `--advertise-address=${address}`,
      `--secure-port=${securePort}`,
      `--cert-dir=${f('cert-dir')}`,
      `--tls-cert-file=${f('apiserver.crt')}`,
      `--tls-private-key-file=${f('apiserver.key')}`,
      `--client-ca-file=${f('ca.crt')}`,
      `--service-account-key-file=${f('sa.pub')}`,
      `--service-account-signing-key-file=${f('sa.key')}`,
      `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
      '--service-cluster-ip-range=10.0.0.0/24', // an allocation range only; nothing is ever sent there
      '--authorization-mode=RBAC',
      // The "kubernetes" Service's endpoints would be 127.0.0.1, which Endpoints validation refuses.
      '--endpoint-reconciler-type=none',
      '--profiling=false',
      `--v=${opts.verbosity ?? 1}`,
    ];
    if (opts.disableAdmissionPlugins?.length) {
      args.push(`--disable-admission-plugins=${opts.disableAdmissionPlugins.join(',')}`);
    }
    args.push(...(opts.extraApiServerArgs ?? []));
    apiServer = new ManagedProcess('kube-apiserver', apiServerBin, args, f('kube-apiserver.log'));
    const tls = { ca: ca.certPem, cert: admin.certPem, key: admin.keyPem };
    await waitReady(
      apiServer,
      async () => {
        const r = await get(`${apiServerUrl}/readyz`, tls);
        return r.status === 200 && r.body.trim() === 'ok';
      },
      timeoutMs,
      'kube-apiserver /readyz',
    );

    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const kubeconfigPath = f('kubeconfig');
    writeFileSync(
      kubeconfigPath,
      JSON.stringify(
        {
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [
            {
              name: 'provenant-e2e',
              cluster: { server: apiServerUrl, 'certificate-authority-data': b64(ca.certPem) },
            },
          ],
          users: [
            {
              name: 'provenant-e2e-admin',
              user: { 'client-certificate-data': b64(admin.certPem), 'client-key-data': b64(admin.keyPem) },
            },
          ],
          contexts: [
            { name: 'provenant-e2e', context: { cluster: 'provenant-e2e', user: 'provenant-e2e-admin' } },
          ],
          'current-context': 'provenant-e2e',
        },
        null,
        2,
      ),
      { mode: 0o600 },
    );

    const target = { kubeconfigPath, cacheDir: f('kube-cache') };
    const kubectl = (a: string[], o?: KubectlOptions) => runKubectl(target, a, o);
    const createNamespace = async (name: string, labels: Record<string, string> = {}) => {
      const list = {
        apiVersion: 'v1',
        kind: 'List',
        items: [
          { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } },
          { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: name } },
        ],
      };
      const r = await kubectl(['create', '-f', '-'], { input: JSON.stringify(list) });
      if (r.code !== 0) throw new Error(`creating namespace ${name} failed (${r.code}): ${r.stderr}`);
    };

    return {
      kubeconfigPath,
      apiServerUrl,
      caPem: ca.certPem,
      clientCertPem: admin.certPem,
      clientKeyPem: admin.keyPem,
      serviceAccountIssuer: SERVICE_ACCOUNT_ISSUER,
      etcdUrl,
      dir,
      logs: { etcd: f('etcd.log'), apiServer: f('kube-apiserver.log') },
      kubectl,
      createNamespace,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
