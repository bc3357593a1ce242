/**
 * The SSRF guard: link-local and cloud metadata addresses are never connected to unless allowed, whether a
 * registry names them as IP literals or by a name that resolves to them, and the refusal is a final
 * REGISTRY_ADDRESS_REFUSED (no retry), for registry and token-service hosts alike.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { codeOf } from '../../test/support/error-code.js';
import { Agent } from 'undici';
import { checkAddressRange, guardedConnector, RegistryAddressPolicy } from './address-guard.js';
import { HttpRegistry } from './http-registry.js';
import { parseReference } from './reference.js';

describe('RegistryAddressPolicy', () => {
  const policy = new RegistryAddressPolicy();

  it.each([
    '169.254.169.254',
    '169.254.0.1',
    '100.100.100.200',
    '0.0.0.0',
    'fe80::1',
    '[fe80::1]',
    'fd00:ec2::254',
    'fd20:ce::254',
    '::',
    '::ffff:169.254.169.254',
    '64:ff9b::a9fe:a9fe',
    '::169.254.169.254',
    '2002:a9fe:a9fe::1',
  ])('refuses %s', (address) => {
    expect(policy.refuses(address)).toBe(true);
  });

  it.each([
    '127.0.0.1',
    '::1',
    '10.0.0.5',
    '192.168.1.10',
    'fd00::1',
    '140.82.112.34',
    'ghcr.io',
    '2002:8c52:7022::1',
    '64:ff9b::8c52:7022',
  ])('allows %s', (address) => {
    expect(policy.refuses(address)).toBe(false);
  });

  it.each(['10.0.0.0/8', '192.168.1.1', 'fe80::/10', '::ffff:10.0.0.1', '2001:db8::/32', '::/0'])(
    'accepts the range %s',
    (range) => {
      expect(checkAddressRange(range)).toBeUndefined();
    },
  );

  it('lets --allow-registry-address ranges through, and only those', () => {
    const allowing = new RegistryAddressPolicy(['169.254.10.0/24', 'fd00:ec2::254']);
    expect(allowing.refuses('169.254.10.7')).toBe(false);
    expect(allowing.refuses('fd00:ec2::254')).toBe(false);
    expect(allowing.refuses('169.254.169.254')).toBe(true);
  });

  it.each([
    '10.0.0.0/33',
    'fe80::/129',
    'example.com',
    '1.2.3.4/8/1',
    '::1/x',
    '1.2.3/8',
    '01.2.3.4',
    '1.2.3.4.5',
    'fe80:::1',
    '',
    '/8',
  ])('rejects the range %s', (range) => {
    expect(checkAddressRange(range)).toBeDefined();
  });

  it('checks what a name resolves to, at lookup time', async () => {
    const resolve = (host: string) =>
      new Promise<unknown>((resolve) => {
        policy.lookup(host, { all: true }, (err, addresses) => resolve(err ?? addresses));
      });
    // dns.lookup on a literal runs the same resolution path without a network.
    expect(await resolve('169.254.169.254')).toMatchObject({ code: 'REGISTRY_ADDRESS_REFUSED' });
    expect(await resolve('localhost')).toEqual(
      expect.arrayContaining([expect.objectContaining({ address: expect.stringMatching(/^(127\.|::1)/) })]),
    );
  });
});

describe('guardedConnector', () => {
  // Loopback stands in for a metadata address here: it is where a test can run a server.
  const refuseLoopback = () => new RegistryAddressPolicy([], ['127.0.0.0/8', '::1/128']);

  async function withServer(run: (port: number) => Promise<void>): Promise<void> {
    const server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      await run((server.address() as AddressInfo).port);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }

  async function get(agent: Agent, url: string): Promise<string> {
    try {
      const response = await agent.request({ origin: url, path: '/', method: 'GET' });
      return await response.body.text();
    } catch (err) {
      return (err as { code?: string }).code ?? String(err);
    } finally {
      await agent.close();
    }
  }

  it('checks the address a name resolves to when connecting, and IP literals before connecting', async () => {
    await withServer(async (port) => {
      expect(
        await get(new Agent({ connect: guardedConnector(refuseLoopback(), {}) }), `http://localhost:${port}`),
      ).toBe('REGISTRY_ADDRESS_REFUSED');
      expect(
        await get(new Agent({ connect: guardedConnector(refuseLoopback(), {}) }), `http://127.0.0.1:${port}`),
      ).toBe('REGISTRY_ADDRESS_REFUSED');
      // The same server through the default policy (loopback allowed) and an allow-listed range.
      expect(
        await get(
          new Agent({ connect: guardedConnector(new RegistryAddressPolicy(), {}) }),
          `http://localhost:${port}`,
        ),
      ).toBe('ok');
      const allowing = new RegistryAddressPolicy(['127.0.0.1/32'], ['127.0.0.0/8']);
      expect(
        await get(new Agent({ connect: guardedConnector(allowing, {}) }), `http://localhost:${port}`),
      ).toBe('ok');
    });
  });
});

describe('HttpRegistry refuses link-local and metadata registries', () => {
  it.each(['169.254.169.254/latest/meta-data', '[fd00:ec2::254]/x', '[::ffff:a9fe:a9fe]:8080/x'])(
    '%s: REGISTRY_ADDRESS_REFUSED, before connecting',
    async (name) => {
      const client = new HttpRegistry({ limits: { retries: 2 } });
      try {
        expect(await codeOf(client.headManifest(parseReference(`${name}:1`), '1'))).toBe(
          'REGISTRY_ADDRESS_REFUSED',
        );
      } finally {
        await client.close();
      }
    },
  );

  it.each(['http', 'https'])('refuses a %s token realm on a metadata address', async (scheme) => {
    const server = createServer((_req, res) => {
      res.writeHead(401, {
        'www-authenticate': `Bearer realm="${scheme}://169.254.169.254/token",service="x"`,
      });
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const client = new HttpRegistry({ insecureRegistries: [host], limits: { retries: 0 } });
    try {
      expect(await codeOf(client.headManifest(parseReference(`${host}/a/b:1`), '1'))).toBe(
        'REGISTRY_ADDRESS_REFUSED',
      );
    } finally {
      await client.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
