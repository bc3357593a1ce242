/**
 * `provenant serve` flags that need no signed images: the admission deadline against a registry that never
 * answers, certificate files reloaded in place, and invalid flags refused with exit status 2.
 */
import { generateKeyPairSync } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateServingCertificate } from '../../../src/admission/tls.js';
import { provenant, writeKeyPolicy } from '../../support/cli.js';
import { httpsRequest } from '../admission/https-client.js';
import { podReview } from './reviews.js';
import { startServe, type ServeProcess } from './serve-process.js';

// A "registry" that accepts connections and never says a word: the worst case for a deadline.
let blackhole: Server;
let blackholeHost: string;
const sockets = new Set<Socket>();
let policy: string;
const started: ServeProcess[] = [];

beforeAll(async () => {
  blackhole = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
  const address = blackhole.address();
  blackholeHost = `127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  const publicKeyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .publicKey.export({ type: 'spki', format: 'pem' })
    .toString();
  policy = await writeKeyPolicy({ glob: `${blackholeHost}/**`, keys: { k: publicKeyPem } });
});

afterAll(async () => {
  await Promise.all(started.map((s) => s.stop('SIGKILL')));
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => blackhole?.close(resolve));
});

async function serve(args: string[], options: { caPem?: string } = {}): Promise<ServeProcess> {
  const server = await startServe(args, options);
  started.push(server);
  return server;
}

describe('--admission-timeout', () => {
  let server: ServeProcess;
  beforeAll(async () => {
    server = await serve([
      '--policy',
      policy,
      '--insecure-registry',
      blackholeHost,
      '--admission-timeout',
      '2s',
    ]);
  });

  it('answers TIMEOUT within the budget when the registry never replies', async () => {
    const begun = performance.now();
    const response = await server.review(
      '/validate',
      podReview([{ name: 'app', image: `${blackholeHost}/app:v1` }]),
    );
    const elapsed = performance.now() - begun;
    expect(response).toMatchObject({
      allowed: false,
      status: { code: 403, details: { causes: [{ reason: 'TIMEOUT' }] } },
    });
    expect(response.status?.message).toMatch(
      /^Pod shop\/web: 1 of 1 image failed verification \(TIMEOUT\)\n/,
    );
    expect(elapsed).toBeGreaterThan(1000);
    expect(elapsed).toBeLessThan(3000);
    expect((await server.get('/healthz')).status).toBe(200);
  });

  it("answers within the API server's shorter ?timeout=", async () => {
    const begun = performance.now();
    const response = await server.post(
      '/validate?timeout=1s',
      JSON.stringify(podReview([{ name: 'app', image: `${blackholeHost}/other@sha256:${'a'.repeat(64)}` }])),
    );
    expect(performance.now() - begun).toBeLessThan(1500);
    expect(
      response.json<{ response: { status: { details: { causes: { reason: string }[] } } } }>().response.status
        .details.causes[0]?.reason,
    ).toBe('TIMEOUT');
  });

  it('admits requests from excluded namespaces without looking at the registry', async () => {
    const response = await server.review(
      '/validate',
      podReview([{ name: 'app', image: `${blackholeHost}/app:v1` }], { namespace: 'kube-system' }),
    );
    expect(response.allowed).toBe(true);
  });
});

describe('--tls-cert and --tls-key', () => {
  it('serves the given certificate and reloads it when the files change', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'provenant-serve-tls-'));
    const mounted = join(dir, 'mounted');
    await mkdir(mounted);
    const first = await generateServingCertificate({ dir: join(dir, 'first') });
    await copyFile(first.certFile, join(mounted, 'tls.crt'));
    await copyFile(first.keyFile, join(mounted, 'tls.key'));
    const server = await serve(
      ['--policy', policy, '--tls-cert', join(mounted, 'tls.crt'), '--tls-key', join(mounted, 'tls.key')],
      { caPem: first.caPem },
    );
    expect(server.listening['caFile']).toBeUndefined();
    const second = await generateServingCertificate({ dir: join(dir, 'second') });
    await writeFile(join(mounted, 'tls.key'), await readFile(second.keyFile));
    await writeFile(join(mounted, 'tls.crt'), await readFile(second.certFile));
    await expect
      .poll(
        async () =>
          (await httpsRequest({ url: `${server.url}/healthz`, ca: second.caPem }).catch(() => undefined))
            ?.status,
        { timeout: 10_000, interval: 100 },
      )
      .toBe(200);
    await server.waitForLog((l) => l['msg'] === 'reloaded serving certificate');
  });
});

describe('invalid flags exit 2 before anything starts', () => {
  it.each([
    ['no policy', []],
    ['a bad port', ['--port', '70000']],
    ['a certificate without its key', ['--tls-cert', '/tmp/x.crt']],
    [
      '--tls-dir with certificate files',
      ['--tls-cert', '/tmp/x.crt', '--tls-key', '/tmp/x.key', '--tls-dir', '/tmp'],
    ],
    ['a zero admission timeout', ['--admission-timeout', '0s']],
    ['a bad cache size', ['--cache-size', 'many']],
    ['an unknown log level', ['--log-level', 'loud']],
    ["verify's --timeout", ['--timeout', '5s']],
    ['--policy together with --kubernetes', ['--kubernetes']],
    ['--kubeconfig without --kubernetes', ['--kubeconfig', '/tmp/kubeconfig']],
  ])('%s', async (_name, args) => {
    const withPolicy = _name === 'no policy' ? args : ['--policy', policy, ...args];
    const result = await provenant(['serve', ...withPolicy]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^provenant serve: /);
  });

  it('--kubernetes with a kubeconfig that does not exist', async () => {
    const result = await provenant(['serve', '--kubernetes', '--kubeconfig', '/nonexistent/kubeconfig']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--kubeconfig');
  });

  it('certificate files that cannot be read', async () => {
    const result = await provenant([
      'serve',
      '--policy',
      policy,
      '--tls-cert',
      '/nonexistent/tls.crt',
      '--tls-key',
      '/nonexistent/tls.key',
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--tls-cert/--tls-key');
  });

  it('an invalid policy file, naming it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'provenant-serve-bad-'));
    const bad = join(dir, 'bad.yaml');
    await writeFile(
      bad,
      'apiVersion: provenant.dev/v1alpha1\nkind: ClusterImagePolicy\nmetadata: {name: x}\n',
    );
    const result = await provenant(['serve', '--policy', bad, '--port', '0']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('INVALID_POLICY');
    expect(result.stderr).toContain(bad);
  });
});
