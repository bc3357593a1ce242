// Leader election against a real kube-apiserver, through a connection that stops answering: the holder
// must stop leading by itself before another replica can take the Lease over, even while its request hangs.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLeaseApi } from '../../../src/kube/background-client.js';
import { LeaderElector } from '../../../src/kube/lease.js';
import { startCluster, waitFor, type Cluster } from '../../e2e/harness/index.js';
import { kubeConfigFor } from './helpers.js';

const NS = 'lease-test';
const silent = { debug() {}, info() {}, warn() {}, error() {} };

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster();
  await cluster.createNamespace(NS);
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

/** A TCP proxy to the API server that, once frozen, keeps every connection open and passes nothing on. */
async function freezableProxy(target: URL): Promise<{ url: string; freeze(): void; close(): void }> {
  const sockets = new Set<Socket>();
  let frozen = false;
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('error', () => {});
    if (frozen) return; // accepted, never forwarded
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('data', (d: Buffer) => {
      if (!frozen) upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (!frozen) client.write(d);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no proxy address');
  return {
    url: `https://127.0.0.1:${address.port}`,
    freeze: () => (frozen = true),
    close: () => {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}

it('a holder whose API server stops answering stops leading before another replica takes over', async () => {
  const proxy = await freezableProxy(new URL(cluster.apiServerUrl));
  const events: string[] = [];
  const replica = (identity: string, server?: string) =>
    new LeaderElector({
      api: createLeaseApi(kubeConfigFor(cluster, { server })),
      namespace: NS,
      name: 'provenant-background',
      identity,
      leaseDurationMs: 3_000,
      renewIntervalMs: 1_000,
      logger: silent,
      onStartedLeading: () => events.push(`${identity} started`),
      onStoppedLeading: () => events.push(`${identity} stopped`),
    });
  const a = replica('a', proxy.url);
  const b = replica('b');
  try {
    a.start();
    await waitFor(() => a.leading, { timeoutMs: 30_000, description: 'a leading' });
    proxy.freeze();
    b.start();
    await waitFor(() => b.leading, { timeoutMs: 30_000, description: 'b taking the lease over' });
    // When b started leading, a had already stopped: never two leaders at once.
    expect(events).toEqual(['a started', 'a stopped', 'b started']);
    expect(a.leading).toBe(false);
  } finally {
    proxy.close();
    await Promise.all([a.stop(), b.stop()]);
  }
}, 120_000);
