/**
 * A second kube-apiserver on the harness cluster's etcd, started and stopped by the test itself, so that a
 * client can see a real API server go away and come back on the same address (the harness has no restart).
 * It reuses the harness's certificates and service-account keys, so the same admin credentials work.
 */
import { request } from 'node:https';
import { join } from 'node:path';
import type { Cluster } from '../../e2e/harness/index.js';
import { freePort, ManagedProcess, toolPath, waitFor } from '../../e2e/harness/process.js';
import { kubeConfigFor } from './helpers.js';

export interface ExtraApiServer {
  readonly url: string;
  stop(): Promise<void>;
  /** Starts it again on the same port and waits for /readyz. */
  start(): Promise<void>;
}

export async function startExtraApiServer(cluster: Cluster): Promise<ExtraApiServer> {
  const port = await freePort();
  const url = `https://127.0.0.1:${port}`;
  const f = (name: string) => join(cluster.dir, name);
  const args = [
    `--etcd-servers=${cluster.etcdUrl}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${port}`,
    `--cert-dir=${f(`cert-dir-${port}`)}`,
    `--tls-cert-file=${f('apiserver.crt')}`,
    `--tls-private-key-file=${f('apiserver.key')}`,
    `--client-ca-file=${f('ca.crt')}`,
    `--service-account-key-file=${f('sa.pub')}`,
    `--service-account-signing-key-file=${f('sa.key')}`,
    `--service-account-issuer=${cluster.serviceAccountIssuer}`,
    '--service-cluster-ip-range=10.0.0.0/24',
    '--authorization-mode=RBAC',
    '--endpoint-reconciler-type=none',
    '--profiling=false',
    '--v=1',
  ];
  const kc = kubeConfigFor(cluster, { server: url });
  let proc: ManagedProcess | undefined;

  const start = async () => {
    proc = new ManagedProcess(
      `kube-apiserver-${port}`,
      toolPath('kube-apiserver'),
      args,
      f(`kube-apiserver-${port}.log`),
    );
    const current = proc;
    await waitFor(
      async () => {
        if (!current.running) throw new Error(`exited: ${current.logTail()}`);
        const response = await fetchReadyz(kc);
        return response === 'ok';
      },
      { timeoutMs: 120_000, intervalMs: 250, description: `extra kube-apiserver on ${port}` },
    );
  };
  await start();
  return {
    url,
    start,
    async stop() {
      await proc?.stop();
    },
  };
}

async function fetchReadyz(kc: ReturnType<typeof kubeConfigFor>): Promise<string> {
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (!cluster || !user?.certData || !user.keyData || !cluster.caData)
    throw new Error('incomplete kubeconfig');
  const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');
  return new Promise((resolve, reject) => {
    const req = request(
      `${cluster.server}/readyz`,
      {
        ca: unb64(cluster.caData ?? ''),
        cert: unb64(user.certData ?? ''),
        key: unb64(user.keyData ?? ''),
        timeout: 5_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve(res.statusCode === 200 ? body.trim() : `HTTP ${res.statusCode}`));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}
