import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, toolPath, type RegistryOptions } from '../../support/registry.js';

// Async on purpose: the token server runs in this process, so a synchronous child would deadlock it.
const run = promisify(execFile);

function listening(host: string): Promise<boolean> {
  const [hostname, port] = host.split(':');
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('test registry harness', () => {
  let work: string;
  let emptyConfig: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'provenant-harness-'));
    emptyConfig = join(work, 'empty');
    await run('mkdir', ['-p', emptyConfig]);
    await writeFile(join(emptyConfig, 'config.json'), '{"auths":{}}');
    await writeFile(join(work, 'file.txt'), 'harness');
    await run('tar', ['-cf', join(work, 'layer.tar'), '-C', work, 'file.txt']);
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('finds tools in the tools folder or on PATH', () => {
    expect(toolPath('docker-registry')).toMatch(/docker-registry$/);
    expect(() => toolPath('no-such-tool-provenant')).toThrow();
  });

  it.each<[string, RegistryOptions]>([
    ['plain, anonymous', {}],
    ['TLS', { tls: true }],
    ['htpasswd', { auth: 'htpasswd' }],
    ['token', { auth: 'token' }],
    ['TLS and token', { tls: true, auth: 'token' }],
  ])(
    'serves %s: crane pushes and reads with DOCKER_CONFIG; anonymous access matches the auth mode',
    async (_name, options) => {
      const registry = await startRegistry(options);
      const root = dirname(registry.dockerConfigDir ?? '');
      try {
        expect(registry.host).toMatch(/^127\.0\.0\.1:\d+$/);
        expect(registry.tls).toBe(options.tls ?? false);
        expect(registry.caPem !== undefined).toBe(options.tls ?? false);
        expect(registry.caFile === undefined || existsSync(registry.caFile)).toBe(true);
        expect(registry.username !== undefined).toBe((options.auth ?? 'none') !== 'none');
        const env = {
          PATH: process.env['PATH'] ?? '',
          HOME: work,
          DOCKER_CONFIG: registry.dockerConfigDir ?? '',
          ...(registry.caFile === undefined ? {} : { SSL_CERT_FILE: registry.caFile }),
        };
        const flags = registry.tls ? [] : ['--insecure'];
        const ref = `${registry.host}/harness/app:v1`;
        const crane = toolPath('crane');
        await run(crane, ['append', '-f', join(work, 'layer.tar'), '-t', ref, ...flags], { env });
        const { stdout } = await run(crane, ['digest', ref, ...flags], { env });
        expect(stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);

        const anonymous = run(crane, ['digest', ref, ...flags], {
          env: { ...env, DOCKER_CONFIG: emptyConfig },
        });
        if ((options.auth ?? 'none') === 'none') await expect(anonymous).resolves.toBeDefined();
        else await expect(anonymous).rejects.toThrow();
      } finally {
        await registry.stop();
      }
      expect(await listening(registry.host)).toBe(false);
      expect(existsSync(root)).toBe(false);
    },
  );

  it('stops idempotently', async () => {
    const registry = await startRegistry();
    await Promise.all([registry.stop(), registry.stop()]);
    await registry.stop();
    expect(await listening(registry.host)).toBe(false);
  });
});
