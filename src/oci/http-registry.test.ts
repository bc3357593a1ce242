/**
 * Which credentials HttpRegistry sends when a request brings its own (a workload's pull secrets), and that
 * bearer tokens never cross from one set of credentials to another. The registry and token service are
 * undici MockAgent dispatchers recording the Authorization headers; test/integration/oci covers real ones.
 */
import { createHash } from 'node:crypto';
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { basicAuthorization, credentialStoreFrom, type Credentials, type CredentialStore } from './auth.js';
import { HttpRegistry, MAX_AUTH_STATES } from './http-registry.js';
import { OCI_INDEX, OCI_MANIFEST } from './media-types.js';
import { parseRepository } from './reference.js';
import { codeOf } from '../../test/support/error-code.js';

const MANIFEST = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [] }));
const DIGEST = `sha256:${createHash('sha256').update(MANIFEST).digest('hex')}`;
const basic = (username: string): Credentials => ({ kind: 'basic', username, password: `${username}-pw` });
const store = (entries: Record<string, Credentials>): CredentialStore =>
  credentialStoreFrom(Object.entries(entries));

/** A request header as the mock dispatcher sees it (a Headers object or a plain record). */
function header(opts: { headers?: unknown }, name: string): string | undefined {
  const headers = opts.headers;
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  if (typeof headers !== 'object' || headers === null) return undefined;
  const found = Object.entries(headers).find(([key]) => key.toLowerCase() === name);
  return typeof found?.[1] === 'string' ? found[1] : undefined;
}

let agent: MockAgent;
let client: HttpRegistry;
/** Authorization header (or "none") of every manifest request, in order. */
let sent: string[];

beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
  client = new HttpRegistry({ dispatcher: agent, limits: { retries: 0 } });
  sent = [];
});
afterEach(async () => {
  await client.close();
  await agent.close();
});

describe('with a Basic-auth registry', () => {
  const users = new Set(['pod', 'team', 'node'].map((u) => basicAuthorization(u, `${u}-pw`)));

  beforeEach(() => {
    const registry = agent.get('https://reg.example');
    const challenge = { headers: { 'www-authenticate': 'Basic realm="reg.example"' } };
    registry.intercept({ path: '/v2/' }).reply(401, '', challenge).persist();
    registry
      .intercept({ path: (p) => p.includes('/manifests/') })
      .reply((opts) => {
        const authorization = header(opts, 'authorization');
        sent.push(authorization ?? 'none');
        return authorization !== undefined && users.has(authorization)
          ? {
              statusCode: 200,
              data: MANIFEST,
              responseOptions: { headers: { 'content-type': OCI_MANIFEST } },
            }
          : { statusCode: 401, data: '', responseOptions: challenge };
      })
      .persist();
  });

  const repo = (path = 'team/app') => parseRepository(`reg.example/${path}`);

  it("prefers the request's credentials to the client's", async () => {
    client = new HttpRegistry({
      dispatcher: agent,
      limits: { retries: 0 },
      credentials: store({ 'reg.example': basic('node') }),
    });
    const manifest = await client.getManifest(repo(), 'v1', {
      credentials: store({ 'reg.example': basic('pod') }),
    });
    expect(manifest?.digest).toBe(DIGEST);
    expect(sent).toEqual([basicAuthorization('pod', 'pod-pw')]);
  });

  it("falls back to the client's credentials for a registry the request's do not cover", async () => {
    client = new HttpRegistry({
      dispatcher: agent,
      limits: { retries: 0 },
      credentials: store({ 'reg.example': basic('node') }),
    });
    await client.getManifest(repo(), 'v1', { credentials: store({ 'other.example': basic('pod') }) });
    expect(sent).toEqual([basicAuthorization('node', 'node-pw')]);
  });

  it('looks credentials up by host and repository path, so path-scoped keys can match', async () => {
    const lookups: [string, string | undefined][] = [];
    const scoped: CredentialStore = {
      lookup: (host, repository) => {
        lookups.push([host, repository]);
        return repository?.startsWith('team/') ? basic('team') : undefined;
      },
    };
    await client.getManifest(repo('team/app'), 'v1', { credentials: scoped });
    expect(await codeOf(client.getManifest(repo('other/app'), 'v1', { credentials: scoped }))).toBe(
      'REGISTRY_AUTH_FAILED',
    );
    expect(lookups).toEqual([
      ['reg.example', 'team/app'],
      ['reg.example', 'other/app'],
    ]);
    expect(sent[0]).toBe(basicAuthorization('team', 'team-pw'));
  });

  it('uses what a request brings for that request only', async () => {
    await client.getManifest(repo(), 'v1', { credentials: store({ 'reg.example': basic('pod') }) });
    expect(await codeOf(client.getManifest(repo(), 'v1'))).toBe('REGISTRY_AUTH_FAILED');
    expect(sent.slice(1).every((a) => a === 'none')).toBe(true);
  });
});

describe('with a token-auth registry', () => {
  /** Token requests, by who asked. */
  let exchanges: string[];

  beforeEach(() => {
    exchanges = [];
    const challenge = {
      headers: {
        'www-authenticate': 'Bearer realm="https://auth.example/token",service="reg.example"',
      },
    };
    const holders = new Map(['team-a', 'team-b'].map((u) => [basicAuthorization(u, `${u}-pw`), u]));
    agent
      .get('https://auth.example')
      .intercept({ path: (p) => p.startsWith('/token?') })
      .reply((opts) => {
        const who = holders.get(header(opts, 'authorization') ?? '') ?? 'anonymous';
        exchanges.push(who);
        return {
          statusCode: 200,
          data: JSON.stringify({ token: `token-of-${who}`, expires_in: 300 }),
          responseOptions: { headers: { 'content-type': 'application/json' } },
        };
      })
      .persist();
    const registry = agent.get('https://reg.example');
    registry.intercept({ path: '/v2/' }).reply(401, '', challenge).persist();
    registry
      .intercept({ path: (p) => p.includes('/manifests/') })
      .reply((opts) => {
        const authorization = header(opts, 'authorization');
        sent.push(authorization ?? 'none');
        // Only team A may pull.
        return authorization === 'Bearer token-of-team-a'
          ? {
              statusCode: 200,
              data: MANIFEST,
              responseOptions: { headers: { 'content-type': OCI_MANIFEST } },
            }
          : { statusCode: 401, data: '', responseOptions: challenge };
      })
      .persist();
  });

  const repo = parseRepository('reg.example/team/app');
  const as = (user: string) => ({ credentials: store({ 'reg.example': basic(user) }) });

  it("never sends one request's token with another's credentials, or anonymously", async () => {
    expect((await client.getManifest(repo, 'v1', as('team-a')))?.digest).toBe(DIGEST);
    // Same scope, same registry: team B must trade its own credentials, and is refused.
    expect(await codeOf(client.getManifest(repo, 'v1', as('team-b')))).toBe('REGISTRY_AUTH_FAILED');
    expect(await codeOf(client.getManifest(repo, 'v1'))).toBe('REGISTRY_AUTH_FAILED');
    // A refused token may have expired, so each is traded once more before the refusal is final.
    expect(sent).toEqual([
      'Bearer token-of-team-a',
      'Bearer token-of-team-b',
      'Bearer token-of-team-b',
      'Bearer token-of-anonymous',
      'Bearer token-of-anonymous',
    ]);
    expect(exchanges).toEqual(['team-a', 'team-b', 'team-b', 'anonymous', 'anonymous']);
  });

  it('reuses a token for later requests with the same credentials', async () => {
    await client.getManifest(repo, 'v1', as('team-a'));
    await client.getManifest(repo, 'v1', as('team-a'));
    await client.getManifest(repo, DIGEST, as('team-a'));
    expect(exchanges).toEqual(['team-a']);
  });
});

describe('credentials stay with the host they were issued for', () => {
  /** Authorization headers seen per origin. */
  let seen: Map<string, string[]>;
  const note = (origin: string, opts: { headers?: unknown }) => {
    const list = seen.get(origin) ?? [];
    list.push(header(opts, 'authorization') ?? 'none');
    seen.set(origin, list);
  };

  beforeEach(() => {
    seen = new Map();
    client = new HttpRegistry({
      dispatcher: agent,
      limits: { retries: 0 },
      credentials: store({ 'reg.example': basic('node') }),
    });
    const registry = agent.get('https://reg.example');
    registry
      .intercept({ path: '/v2/' })
      .reply(401, '', { headers: { 'www-authenticate': 'Basic realm="reg.example"' } })
      .persist();
  });

  it.each([
    ['another host', 'https://cdn.example'],
    ['another port of the same host', 'https://reg.example:8443'],
    ['a look-alike spelling', 'https://REG.example.evil'],
  ])('a redirect to %s gets no Authorization', async (_what, target) => {
    agent
      .get('https://reg.example')
      .intercept({ path: (p) => p.includes('/manifests/') })
      .reply((opts) => {
        note('https://reg.example', opts);
        return { statusCode: 307, data: '', responseOptions: { headers: { location: `${target}/m` } } };
      });
    const origin = new URL(target).origin;
    agent
      .get(origin)
      .intercept({ path: '/m' })
      .reply((opts) => {
        note(origin, opts);
        return {
          statusCode: 200,
          data: MANIFEST,
          responseOptions: { headers: { 'content-type': OCI_MANIFEST } },
        };
      });
    expect((await client.getManifest(parseRepository('reg.example/team/app'), 'v1'))?.digest).toBe(DIGEST);
    expect(seen.get('https://reg.example')).toEqual([basicAuthorization('node', 'node-pw')]);
    expect(seen.get(origin)).toEqual(['none']);
  });

  it("a 401 from a redirect's target teaches nothing: its realm never receives the registry's credentials", async () => {
    const redirected = () =>
      agent
        .get('https://reg.example')
        .intercept({ path: (p) => p.includes('/manifests/') })
        .reply((opts) => {
          note('https://reg.example', opts);
          return {
            statusCode: 307,
            data: '',
            responseOptions: { headers: { location: 'https://cdn.example/m' } },
          };
        });
    agent
      .get('https://cdn.example')
      .intercept({ path: '/m' })
      .reply(401, '', { headers: { 'www-authenticate': 'Bearer realm="https://evil.example/token"' } })
      .persist();
    agent
      .get('https://evil.example')
      .intercept({ path: (p) => p.startsWith('/token') })
      .reply((opts) => {
        note('https://evil.example', opts);
        return { statusCode: 200, data: JSON.stringify({ token: 'stolen' }) };
      })
      .persist();
    const repo = parseRepository('reg.example/team/app');
    redirected();
    await expect(client.getManifest(repo, 'v1')).rejects.toThrow(
      /redirected to https:\/\/cdn\.example, which answered HTTP 401/,
    );
    // Nor did it change how the registry is authenticated: the next request still sends Basic to it.
    redirected();
    expect(await codeOf(client.getManifest(repo, 'v1'))).toBe('REGISTRY_RESPONSE_INVALID');
    expect(seen.get('https://evil.example')).toBeUndefined();
    expect(seen.get('https://reg.example')).toEqual([
      basicAuthorization('node', 'node-pw'),
      basicAuthorization('node', 'node-pw'),
    ]);
  });

  it('a referrers page served after a redirect cannot send the next request, credentials and all, to its host', async () => {
    agent
      .get('https://reg.example')
      .intercept({ path: (p) => p.includes('/referrers/') })
      .reply(307, '', { headers: { location: 'https://mirror.example/r1' } });
    agent
      .get('https://mirror.example')
      .intercept({ path: '/r1' })
      .reply(200, JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }), {
        headers: { 'content-type': OCI_INDEX, link: '</r2>; rel="next"' },
      });
    agent
      .get('https://mirror.example')
      .intercept({ path: '/r2' })
      .reply((opts) => {
        note('https://mirror.example/r2', opts);
        return { statusCode: 200, data: '', responseOptions: { headers: { 'content-type': OCI_INDEX } } };
      });
    await expect(client.getReferrers(parseRepository('reg.example/team/app'), DIGEST)).rejects.toThrow(
      /next referrers page at another origin/,
    );
    expect(seen.get('https://mirror.example/r2')).toBeUndefined();
  });

  it('a token request carrying a refresh token is not redirected to another origin', async () => {
    const refreshing = new HttpRegistry({
      dispatcher: agent,
      limits: { retries: 0 },
      credentials: store({ 'oauth.example': { kind: 'identity-token', token: 'REFRESH-SECRET' } }),
    });
    try {
      agent
        .get('https://oauth.example')
        .intercept({ path: '/v2/' })
        .reply(401, '', { headers: { 'www-authenticate': 'Bearer realm="https://auth.example/token"' } });
      agent
        .get('https://auth.example')
        .intercept({ path: '/token', method: 'POST' })
        .reply(307, '', { headers: { location: 'https://steal.example/t' } });
      agent
        .get('https://steal.example')
        .intercept({ path: '/t', method: 'POST' })
        .reply((opts) => {
          note('https://steal.example', opts);
          return { statusCode: 200, data: JSON.stringify({ token: 't' }) };
        });
      await expect(refreshing.getManifest(parseRepository('oauth.example/team/app'), 'v1')).rejects.toThrow(
        /redirected a request with a body to another origin/,
      );
      expect(seen.get('https://steal.example')).toBeUndefined();
    } finally {
      await refreshing.close();
    }
  });

  it('credentials stored for one registry are never sent to another, however it is spelled', async () => {
    agent
      .get('https://other.example')
      .intercept({ path: (p) => p.includes('/manifests/') })
      .reply((opts) => {
        note('https://other.example', opts);
        return { statusCode: 404, data: '' };
      });
    expect(await client.getManifest(parseRepository('OTHER.example:443/team/app'), 'v1')).toBeNull();
    expect(seen.get('https://other.example')).toEqual(['none']);
  });
});

describe('a registry whose token service moves', () => {
  it('re-learns the challenge after the remembered token service fails, without a restart', async () => {
    let realm = 'https://auth-old.example/token';
    const tokenCalls: string[] = [];
    const registry = agent.get('https://moving.example');
    registry
      .intercept({ path: (p) => p.includes('/manifests/') })
      .reply((opts) => {
        if (header(opts, 'authorization') === 'Bearer fresh') {
          return {
            statusCode: 200,
            data: MANIFEST,
            responseOptions: { headers: { 'content-type': OCI_MANIFEST } },
          };
        }
        return {
          statusCode: 401,
          data: '',
          responseOptions: { headers: { 'www-authenticate': `Bearer realm="${realm}",service="moving"` } },
        };
      })
      .persist();
    agent
      .get('https://auth-old.example')
      .intercept({ path: (p) => p.startsWith('/token') })
      .reply(() => {
        tokenCalls.push('old');
        return { statusCode: 503, data: '' };
      })
      .persist();
    agent
      .get('https://auth-new.example')
      .intercept({ path: (p) => p.startsWith('/token') })
      .reply(() => {
        tokenCalls.push('new');
        return { statusCode: 200, data: JSON.stringify({ token: 'fresh', expires_in: 300 }) };
      })
      .persist();
    const repo = parseRepository('moving.example/team/app');

    expect(await codeOf(client.getManifest(repo, 'v1'))).toBe('REGISTRY_UNAVAILABLE');
    realm = 'https://auth-new.example/token';
    expect((await client.getManifest(repo, 'v1'))?.digest).toBe(DIGEST);
    // The remembered (old) service was tried once more, then the registry's new challenge was followed.
    expect(tokenCalls).toEqual(['old', 'old', 'new']);
  });
});

describe('a manifest without a mediaType field', () => {
  const INDEX_BYTES = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
  const IMAGE_BYTES = Buffer.from(JSON.stringify({ schemaVersion: 2, config: {}, layers: [] }));
  const digestOfBytes = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const serve = (bytes: Buffer, contentType: string) =>
    agent
      .get('https://plain.example')
      .intercept({ path: (p) => p.includes('/manifests/') })
      .reply(200, bytes, { headers: { 'content-type': contentType } });
  const fetch = (bytes: Buffer) =>
    client.getManifest(parseRepository('plain.example/team/app'), digestOfBytes(bytes));

  it('takes its type from Content-Type when the content agrees', async () => {
    serve(INDEX_BYTES, OCI_INDEX);
    expect((await fetch(INDEX_BYTES))?.mediaType).toBe(OCI_INDEX);
    serve(IMAGE_BYTES, OCI_MANIFEST);
    expect((await fetch(IMAGE_BYTES))?.mediaType).toBe(OCI_MANIFEST);
  });

  it('is refused when Content-Type (which no digest covers) passes an index off as an image, or back', async () => {
    serve(INDEX_BYTES, OCI_MANIFEST);
    await expect(fetch(INDEX_BYTES)).rejects.toThrow(
      /content is not a application\/vnd\.oci\.image\.manifest/,
    );
    serve(IMAGE_BYTES, OCI_INDEX);
    expect(await codeOf(fetch(IMAGE_BYTES))).toBe('REGISTRY_RESPONSE_INVALID');
  });
});

describe('what the client remembers of registries', () => {
  it(`keeps the auth scheme of the last ${MAX_AUTH_STATES} registries only (workloads may name any host)`, async () => {
    const pings = new Map<string, number>();
    const registry = (i: number) => `r${i}.example`;
    for (let i = 0; i <= MAX_AUTH_STATES; i++) {
      const host = registry(i);
      const origin = agent.get(`https://${host}`);
      origin
        .intercept({ path: '/v2/' })
        .reply(() => {
          pings.set(host, (pings.get(host) ?? 0) + 1);
          return {
            statusCode: 401,
            data: '',
            responseOptions: { headers: { 'www-authenticate': 'Basic realm="r"' } },
          };
        })
        .persist();
      origin
        .intercept({ path: (p) => p.includes('/manifests/') })
        .reply(200, MANIFEST, { headers: { 'content-type': OCI_MANIFEST } })
        .persist();
    }
    const remembering = new HttpRegistry({
      dispatcher: agent,
      limits: { retries: 0 },
      credentials: credentialStoreFrom(
        Array.from({ length: MAX_AUTH_STATES + 1 }, (_, i) => [registry(i), basic('u')] as const),
      ),
    });
    try {
      const fetch = (i: number) =>
        remembering.getManifest(parseRepository(`${registry(i)}/team/app`), DIGEST);
      for (let i = 0; i <= MAX_AUTH_STATES; i++) await fetch(i);
      // The most recent are remembered; the first was forgotten and is asked again.
      await fetch(MAX_AUTH_STATES);
      await fetch(0);
      expect(pings.get(registry(MAX_AUTH_STATES))).toBe(1);
      expect(pings.get(registry(0))).toBe(2);
    } finally {
      await remembering.close();
    }
  });
});
