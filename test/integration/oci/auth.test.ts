import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProvenantError } from '../../../src/errors.js';
import { credentialStoreFrom, parseDockerConfig, type Credentials } from '../../../src/oci/auth.js';
import { HttpRegistry, type RegistryRequestEvent } from '../../../src/oci/http-registry.js';
import { parseRepository } from '../../../src/oci/reference.js';
import { keyringWithPasswords } from '../../support/pull-secrets.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { pushImage, targetOf, type Pushed } from './helpers.js';
import { codeOf } from '../../support/error-code.js';

async function dockerConfigOf(registry: TestRegistry) {
  return parseDockerConfig(await readFile(join(registry.dockerConfigDir ?? '', 'config.json'), 'utf8'));
}

function clientWith(
  registry: TestRegistry,
  credentials?: Credentials,
  onRequest?: (e: RegistryRequestEvent) => void,
) {
  return new HttpRegistry({
    insecureRegistries: registry.tls ? [] : [registry.host],
    caCertificates: registry.caPem === undefined ? [] : [registry.caPem],
    ...(credentials === undefined
      ? {}
      : { credentials: credentialStoreFrom([[registry.host, credentials]]) }),
    ...(onRequest === undefined ? {} : { onRequest }),
  });
}

describe.each([
  ['htpasswd Basic auth', { auth: 'htpasswd' as const }],
  ['htpasswd Basic auth over TLS', { auth: 'htpasswd' as const, tls: true }],
  ['Bearer token auth', { auth: 'token' as const }],
  ['Bearer token auth over TLS', { auth: 'token' as const, tls: true }],
])('%s', (_name, options) => {
  let registry: TestRegistry;
  let image: Pushed & { layer: Pushed };

  beforeAll(async () => {
    registry = await startRegistry(options);
    image = await pushImage(targetOf(registry), 'team/app', 'v1');
  });
  afterAll(async () => {
    await registry?.stop();
  });

  const repo = () => parseRepository(`${registry.host}/team/app`);

  it('pulls with the credentials from the docker config.json', async () => {
    const client = new HttpRegistry({
      insecureRegistries: registry.tls ? [] : [registry.host],
      caCertificates: registry.caPem === undefined ? [] : [registry.caPem],
      credentials: await dockerConfigOf(registry),
    });
    try {
      expect((await client.getManifest(repo(), 'v1'))?.digest).toBe(image.digest);
      expect(await client.headManifest(repo(), 'v1')).toBe(image.digest);
      expect(
        Buffer.from(await client.getBlob(repo(), image.layer.digest, 4096)).equals(image.layer.bytes),
      ).toBe(true);
      expect(await client.getReferrers(repo(), image.digest)).toBeNull();
      expect(await client.getManifest(repo(), 'missing')).toBeNull();
    } finally {
      await client.close();
    }
  });

  it('fails with REGISTRY_AUTH_FAILED for a wrong password', async () => {
    const client = clientWith(registry, {
      kind: 'basic',
      username: registry.username ?? '',
      password: 'wrong',
    });
    try {
      expect(await codeOf(client.getManifest(repo(), 'v1'))).toBe('REGISTRY_AUTH_FAILED');
    } finally {
      await client.close();
    }
  });

  it('fails with REGISTRY_AUTH_FAILED without credentials', async () => {
    const client = clientWith(registry);
    try {
      expect(await codeOf(client.getManifest(repo(), 'v1'))).toBe('REGISTRY_AUTH_FAILED');
      expect(await codeOf(client.headManifest(repo(), 'v1'))).toBe('REGISTRY_AUTH_FAILED');
    } finally {
      await client.close();
    }
  });

  it("tries each of a workload's matching pull secrets in turn, as the kubelet does", async () => {
    // Real pull secrets, as a rotation leaves them: the retired password first, the current one after.
    const keyring = (...passwords: string[]) => keyringWithPasswords(registry, ...passwords);
    const events: RegistryRequestEvent[] = [];
    const client = clientWith(registry, undefined, (e) => events.push(e));
    const right = registry.password ?? '';
    try {
      const rotated = { credentials: keyring('retired', right) };
      expect((await client.getManifest(repo(), 'v1', rotated))?.digest).toBe(image.digest);
      expect(await client.headManifest(repo(), 'v1', rotated)).toBe(image.digest);
      expect(events.filter((e) => e.kind === 'manifest').at(-1)?.status).toBe(200);

      const current = { credentials: keyring(right, 'retired') };
      events.length = 0;
      expect((await client.getManifest(repo(), 'v1', current))?.digest).toBe(image.digest);
      // The first is accepted: the retired one is never sent.
      expect(events.filter((e) => e.status === 401 && e.kind === 'manifest')).toEqual([]);

      const neither = client.getManifest(repo(), 'v1', { credentials: keyring('retired', 'older') });
      await expect(neither).rejects.toThrow(/refused .*; the 1 other matching credentials were refused too/);
      expect(await codeOf(client.getManifest(repo(), 'v1', { credentials: keyring('a', 'b') }))).toBe(
        'REGISTRY_AUTH_FAILED',
      );
    } finally {
      await client.close();
    }
  });

  it('keeps the password out of the error message', async () => {
    const password = 'hunter2-secret-value';
    const client = clientWith(registry, { kind: 'basic', username: 'someone', password });
    try {
      await client.getManifest(repo(), 'v1');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ProvenantError);
      const text = `${(err as Error).message} ${JSON.stringify(err)}`;
      expect(text).not.toContain(password);
      expect(text).not.toContain(Buffer.from(`someone:${password}`).toString('base64'));
    } finally {
      await client.close();
    }
  });
});

describe('token service specifics', () => {
  let registry: TestRegistry;
  let image: Pushed;

  beforeAll(async () => {
    registry = await startRegistry({ auth: 'token' });
    image = await pushImage(targetOf(registry), 'team/app', 'v1');
  });
  afterAll(async () => {
    await registry?.stop();
  });

  const repo = () => parseRepository(`${registry.host}/team/app`);
  const basic = () => ({
    kind: 'basic' as const,
    username: registry.username ?? '',
    password: registry.password ?? '',
  });

  async function tokenFromServer(query: string): Promise<Record<string, unknown>> {
    const challenge = await request(`http://${registry.host}/v2/`);
    await challenge.body.dump();
    const realm = /realm="([^"]+)"/.exec(String(challenge.headers['www-authenticate']))?.[1] ?? '';
    const service = /service="([^"]+)"/.exec(String(challenge.headers['www-authenticate']))?.[1] ?? '';
    const res = await request(`${realm}?service=${encodeURIComponent(service)}&${query}`, {
      headers: {
        authorization: `Basic ${Buffer.from(`${basic().username}:${basic().password}`).toString('base64')}`,
      },
    });
    return (await res.body.json()) as Record<string, unknown>;
  }

  it('caches the token per repository scope', async () => {
    const events: RegistryRequestEvent[] = [];
    const client = clientWith(registry, basic(), (e) => events.push(e));
    try {
      const before = registry.tokenRequests?.() ?? 0;
      await client.getManifest(repo(), 'v1');
      await client.getManifest(repo(), 'v1');
      await client.headManifest(repo(), 'v1');
      expect((registry.tokenRequests?.() ?? 0) - before).toBe(1);
      expect(events.filter((e) => e.kind === 'token').map((e) => e.status)).toEqual([200]);
      expect(events.filter((e) => e.kind === 'ping').map((e) => e.status)).toEqual([401]);
      // Credentials are sent from the start once the scheme is known: no 401 on the manifest requests.
      expect(events.filter((e) => e.kind === 'manifest').map((e) => e.status)).toEqual([200, 200, 200]);
    } finally {
      await client.close();
    }
  });

  it("keeps each request's credentials and tokens to that request", async () => {
    const events: RegistryRequestEvent[] = [];
    const client = clientWith(registry, undefined, (e) => events.push(e));
    const as = (credentials: Credentials) => ({
      credentials: credentialStoreFrom([[registry.host, credentials]]),
    });
    try {
      expect((await client.getManifest(repo(), 'v1', as(basic())))?.digest).toBe(image.digest);
      // Same registry and scope, a token already cached: other credentials still trade their own, and fail.
      expect(await codeOf(client.getManifest(repo(), 'v1', as({ ...basic(), password: 'wrong' })))).toBe(
        'REGISTRY_AUTH_FAILED',
      );
      expect(await codeOf(client.getManifest(repo(), 'v1'))).toBe('REGISTRY_AUTH_FAILED');
      expect((await client.getManifest(repo(), 'v1', as(basic())))?.digest).toBe(image.digest);
      const manifests = events.filter((e) => e.kind === 'manifest').map((e) => e.status);
      expect(manifests[0]).toBe(200);
      expect(manifests.at(-1)).toBe(200);
    } finally {
      await client.close();
    }
  });

  it('trades an identity token (OAuth2 refresh token) for access', async () => {
    const refresh = (await tokenFromServer('scope=repository:team/app:pull&offline_token=true'))[
      'refresh_token'
    ];
    expect(typeof refresh).toBe('string');
    const client = clientWith(registry, { kind: 'identity-token', token: String(refresh) });
    try {
      expect((await client.getManifest(repo(), 'v1'))?.digest).toBe(image.digest);
    } finally {
      await client.close();
    }
  });

  it('fails with REGISTRY_AUTH_FAILED for an identity token the service does not know', async () => {
    const client = clientWith(registry, { kind: 'identity-token', token: 'not-a-refresh-token' });
    try {
      expect(await codeOf(client.getManifest(repo(), 'v1'))).toBe('REGISTRY_AUTH_FAILED');
    } finally {
      await client.close();
    }
  });

  it('sends a registry token as is', async () => {
    const token = (await tokenFromServer('scope=repository:team/app:pull'))['token'];
    const client = clientWith(registry, { kind: 'registry-token', token: String(token) });
    try {
      expect((await client.getManifest(repo(), 'v1'))?.digest).toBe(image.digest);
      // The token grants team/app only.
      expect(await codeOf(client.getManifest(parseRepository(`${registry.host}/team/other`), 'v1'))).toBe(
        'REGISTRY_AUTH_FAILED',
      );
    } finally {
      await client.close();
    }
  });
});
