import { describe, expect, it } from 'vitest';
import { ProvenantError } from '../errors.js';
import {
  basicAuthorization,
  BearerTokens,
  canonicalRegistryHost,
  credentialIdentity,
  credentialStoreFrom,
  credentialsToTry,
  MAX_CREDENTIAL_TRIES,
  MAX_TOKEN_CHARS,
  parseChallenges,
  parseDockerConfig,
  type Challenge,
  type Credentials,
  type TokenHttpRequest,
  type TokenHttpResponse,
} from './auth.js';

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

async function codeOf(run: () => unknown): Promise<string> {
  try {
    await run();
  } catch (err) {
    return err instanceof ProvenantError ? err.code : `not a ProvenantError: ${String(err)}`;
  }
  return 'resolved';
}

describe('canonicalRegistryHost', () => {
  it.each([
    ['ghcr.io', 'ghcr.io'],
    ['GHCR.io', 'ghcr.io'],
    ['https://ghcr.io', 'ghcr.io'],
    ['https://ghcr.io/v2/', 'ghcr.io'],
    ['http://127.0.0.1:5000/v1/', '127.0.0.1:5000'],
    ['docker.io', 'docker.io'],
    ['index.docker.io', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['https://index.docker.io/v1/', 'docker.io'],
    ['[::1]:5000', '[::1]:5000'],
  ])('%s → %s', (key, host) => {
    expect(canonicalRegistryHost(key)).toBe(host);
  });
});

describe('parseDockerConfig', () => {
  const config = (auths: unknown, extra: Record<string, unknown> = {}) => JSON.stringify({ ...extra, auths });

  it('decodes `auth`, splitting user from password at the first colon', () => {
    const store = parseDockerConfig(config({ 'ghcr.io': { auth: b64('bot:pa:ss:word') } }));
    expect(store.lookup('ghcr.io')).toEqual({ kind: 'basic', username: 'bot', password: 'pa:ss:word' });
  });

  it('reads username and password fields', () => {
    const store = parseDockerConfig(config({ 'quay.io': { username: 'u', password: 'p' } }));
    expect(store.lookup('quay.io')).toEqual({ kind: 'basic', username: 'u', password: 'p' });
  });

  it('prefers `auth` over username/password, as Docker does', () => {
    const store = parseDockerConfig(
      config({ 'quay.io': { auth: b64('a:b'), username: 'u', password: 'p' } }),
    );
    expect(store.lookup('quay.io')).toEqual({ kind: 'basic', username: 'a', password: 'b' });
  });

  it('reads identity and registry tokens', () => {
    const store = parseDockerConfig(
      config({
        'a.io': { auth: b64('<token>:'), identitytoken: 'refresh-123' },
        'b.io': { registrytoken: 'bearer-456' },
      }),
    );
    expect(store.lookup('a.io')).toEqual({ kind: 'identity-token', token: 'refresh-123' });
    expect(store.lookup('b.io')).toEqual({ kind: 'registry-token', token: 'bearer-456' });
  });

  it.each(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'https://index.docker.io/v1/'])(
    'finds Docker Hub credentials stored as the legacy key, looked up as %s',
    (host) => {
      const store = parseDockerConfig(config({ 'https://index.docker.io/v1/': { auth: b64('hub:pw') } }));
      expect(store.lookup(host)).toEqual({ kind: 'basic', username: 'hub', password: 'pw' });
    },
  );

  it('matches keys that carry a scheme and a /v2/ path, and hosts case-insensitively', () => {
    const store = parseDockerConfig(
      config({ 'https://Registry.Example.com:8443/v2/': { auth: b64('x:y') } }),
    );
    expect(store.lookup('registry.example.com:8443')).toBeDefined();
    expect(store.lookup('registry.example.com')).toBeUndefined();
  });

  it('uses the first entry when two keys name the same host', () => {
    const store = parseDockerConfig(
      config({ 'docker.io': { auth: b64('first:1') }, 'index.docker.io': { auth: b64('second:2') } }),
    );
    expect(store.lookup('docker.io')).toEqual({ kind: 'basic', username: 'first', password: '1' });
  });

  it('ignores credsStore, credHelpers and entries without secrets', () => {
    const store = parseDockerConfig(
      config(
        { 'ghcr.io': {}, 'quay.io': { auth: '' } },
        { credsStore: 'desktop', credHelpers: { 'gcr.io': 'gcloud' } },
      ),
    );
    expect(store.lookup('ghcr.io')).toBeUndefined();
    expect(store.lookup('quay.io')).toBeUndefined();
    expect(store.lookup('gcr.io')).toBeUndefined();
  });

  it('accepts a config without auths', () => {
    expect(parseDockerConfig('{"credsStore":"desktop"}').lookup('ghcr.io')).toBeUndefined();
  });

  it.each([
    ['not JSON', '{'],
    ['an array', '[]'],
    ['auths not an object', '{"auths":[]}'],
    ['entry not an object', '{"auths":{"a.io":"x"}}'],
    ['auth not base64', `{"auths":{"a.io":{"auth":"%%%"}}}`],
    ['auth without a colon', `{"auths":{"a.io":{"auth":"${b64('nocolon')}"}}}`],
    ['password not a string', '{"auths":{"a.io":{"username":"u","password":1}}}'],
    ['registry token with a line break', '{"auths":{"a.io":{"registrytoken":"a\\r\\nX-Evil: 1"}}}'],
    ['identity token with a space', '{"auths":{"a.io":{"identitytoken":"a b"}}}'],
  ])('rejects %s with REGISTRY_AUTH_FAILED', async (_name, json) => {
    expect(await codeOf(() => parseDockerConfig(json))).toBe('REGISTRY_AUTH_FAILED');
  });

  it('never puts a secret into its error messages', () => {
    const secret = 'sup3r-s3cret-no-colon';
    try {
      parseDockerConfig(config({ 'a.io': { auth: b64(secret) } }));
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).not.toContain(secret);
      expect((err as Error).message).not.toContain(b64(secret));
    }
  });
});

describe('credentialStoreFrom', () => {
  it('canonicalises keys and lookups alike', () => {
    const store = credentialStoreFrom([
      ['https://index.docker.io/v1/', { kind: 'registry-token', token: 't' }],
    ]);
    expect(store.lookup('registry-1.docker.io')).toEqual({ kind: 'registry-token', token: 't' });
  });

  it('hands out frozen credentials that the entries given to it cannot change', () => {
    const given = { kind: 'basic', username: 'u', password: 'p' };
    const store = credentialStoreFrom([['ghcr.io', given as Credentials]]);
    given.password = 'changed';
    const found = store.lookup('ghcr.io');
    expect(found).toEqual({ kind: 'basic', username: 'u', password: 'p' });
    expect(Object.isFrozen(found)).toBe(true);
  });
});

describe('credentialsToTry', () => {
  const basic = (password: string): Credentials => ({ kind: 'basic', username: 'u', password });

  it("is a store's one credential, or none", () => {
    const store = credentialStoreFrom([['ghcr.io', basic('p')]]);
    expect(credentialsToTry(store, 'ghcr.io', 'acme/app')).toEqual([basic('p')]);
    expect(credentialsToTry(store, 'quay.io', 'acme/app')).toEqual([]);
    expect(credentialsToTry(undefined, 'ghcr.io')).toEqual([]);
  });

  it('is every candidate of a store that has several, in its order, up to the bound', () => {
    const all = Array.from({ length: MAX_CREDENTIAL_TRIES + 2 }, (_, i) => basic(`p${i}`));
    const asked: string[] = [];
    const store = {
      lookup: () => all[0],
      candidates: (host: string, repository?: string) => {
        asked.push(`${host}/${repository ?? ''}`);
        return all.slice(0, host === 'two.example' ? 2 : all.length);
      },
    };
    expect(credentialsToTry(store, 'two.example', 'x/y')).toEqual([basic('p0'), basic('p1')]);
    expect(credentialsToTry(store, 'many.example', 'x/y')).toEqual(all.slice(0, MAX_CREDENTIAL_TRIES));
    expect(asked).toEqual(['two.example/x/y', 'many.example/x/y']);
  });
});

describe('credentialIdentity', () => {
  it('names equal credentials alike and different ones apart, never revealing them', () => {
    const name = credentialIdentity();
    const basic = (password: string): Credentials => ({ kind: 'basic', username: 'u', password });
    expect(name(undefined)).toBe('none');
    expect(name(basic('p'))).toBe(name(basic('p')));
    expect(name(Object.freeze(basic('p')))).toBe(name(basic('p')));
    expect(name(basic('p'))).not.toBe(name(basic('q')));
    expect(name({ kind: 'registry-token', token: 'p' })).not.toBe(
      name({ kind: 'identity-token', token: 'p' }),
    );
    expect(name(basic('secret-password'))).not.toContain('secret-password');
    // Another namer has another key: names from one tell nothing about another's.
    expect(credentialIdentity()(basic('p'))).not.toBe(name(basic('p')));
  });

  it('remembers only frozen credentials: an object that changes is named for what it holds now', () => {
    const name = credentialIdentity();
    const mutable = { kind: 'basic', username: 'u', password: 'p' };
    const before = name(mutable as Credentials);
    mutable.password = 'q';
    expect(name(mutable as Credentials)).not.toBe(before);
    expect(name(mutable as Credentials)).toBe(name({ kind: 'basic', username: 'u', password: 'q' }));
    const frozen = Object.freeze({ kind: 'basic', username: 'u', password: 'p' } as const);
    expect(name(frozen)).toBe(before);
    expect(name(frozen)).toBe(before);
  });
});

describe('parseChallenges', () => {
  const simplify = (challenges: Challenge[]) =>
    challenges.map((c) => [c.scheme, Object.fromEntries(c.params)]);

  it.each([
    ['Basic realm="Registry Realm"', [['basic', { realm: 'Registry Realm' }]]],
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
      [
        [
          'bearer',
          {
            realm: 'https://auth.docker.io/token',
            service: 'registry.docker.io',
            scope: 'repository:library/nginx:pull',
          },
        ],
      ],
    ],
    [
      'Bearer realm="https://r/token", scope="repository:a:pull,push", error="insufficient_scope"',
      [
        [
          'bearer',
          { realm: 'https://r/token', scope: 'repository:a:pull,push', error: 'insufficient_scope' },
        ],
      ],
    ],
    ['BEARER Realm=https://r/t,Service=reg', [['bearer', { realm: 'https://r/t', service: 'reg' }]]],
    [
      'Basic realm="a, b", Bearer realm="https://r/t",service="s"',
      [
        ['basic', { realm: 'a, b' }],
        ['bearer', { realm: 'https://r/t', service: 's' }],
      ],
    ],
    ['Bearer realm="with \\"quotes\\" and \\\\"', [['bearer', { realm: 'with "quotes" and \\' }]]],
    ['Bearer realm="first", realm="second"', [['bearer', { realm: 'first' }]]],
    ['Negotiate', [['negotiate', {}]]],
    ['', []],
  ])('parses %j', (header, expected) => {
    expect(simplify(parseChallenges(header))).toEqual(expected);
  });

  it('reads several header values', () => {
    expect(simplify(parseChallenges(['Basic realm="x"', 'Bearer realm="https://r/t"']))).toEqual([
      ['basic', { realm: 'x' }],
      ['bearer', { realm: 'https://r/t' }],
    ]);
  });

  it.each([
    'Bearer realm="unterminated',
    '=====',
    'Bearer ,,,,',
    'Negotiate abc==',
    '"',
    'Bearer realm=',
    '\u0000\u0001',
  ])('does not throw on malformed %j', (header) => {
    expect(() => parseChallenges(header)).not.toThrow();
  });

  it('keeps parameter names like __proto__ as plain data', () => {
    const [challenge] = parseChallenges('Bearer __proto__="x",realm="https://r/t"');
    expect(challenge?.params.get('__proto__')).toBe('x');
    expect(challenge?.params.get('realm')).toBe('https://r/t');
  });
});

interface Recorded {
  readonly request: TokenHttpRequest;
  readonly registry: string;
}

function fakeService(answer: (request: TokenHttpRequest) => TokenHttpResponse | Promise<TokenHttpResponse>) {
  const calls: Recorded[] = [];
  const transport = async (request: TokenHttpRequest, registry: string) => {
    calls.push({ request, registry });
    return answer(request);
  };
  return { calls, transport };
}

const json = (status: number, body: unknown): TokenHttpResponse => ({
  status,
  body: new TextEncoder().encode(JSON.stringify(body)),
});

const challenge = (params: Record<string, string>): Challenge => ({
  scheme: 'bearer',
  params: new Map(Object.entries(params)),
});

describe('BearerTokens', () => {
  const bearer = challenge({ realm: 'https://auth.example/token', service: 'reg.example' });
  const scope = 'repository:team/app:pull';

  it('asks anonymously with service and scope when no credentials are configured', async () => {
    const service = fakeService(() => json(200, { token: 'anon' }));
    const tokens = new BearerTokens(service.transport);
    expect(await tokens.token({ registry: 'reg.example', challenge: bearer, scope })).toBe('anon');
    const [call] = service.calls;
    expect(call?.request.method).toBe('GET');
    expect(call?.request.url.href.split('?')[0]).toBe('https://auth.example/token');
    expect(call?.request.url.searchParams.get('service')).toBe('reg.example');
    expect(call?.request.url.searchParams.getAll('scope')).toEqual([scope]);
    expect(call?.request.headers['authorization']).toBeUndefined();
    expect(call?.registry).toBe('reg.example');
  });

  it('sends Basic credentials to the realm and accepts access_token', async () => {
    const service = fakeService(() => json(200, { access_token: 'oauth-style' }));
    const tokens = new BearerTokens(service.transport);
    const credentials = { kind: 'basic' as const, username: 'u', password: 'p:w' };
    expect(await tokens.token({ registry: 'reg.example', challenge: bearer, scope, credentials })).toBe(
      'oauth-style',
    );
    expect(service.calls[0]?.request.headers['authorization']).toBe(basicAuthorization('u', 'p:w'));
  });

  it('keeps realm query parameters', async () => {
    const service = fakeService(() => json(200, { token: 't' }));
    const tokens = new BearerTokens(service.transport);
    await tokens.token({ registry: 'r', challenge: challenge({ realm: 'https://a/t?tenant=x' }), scope });
    expect(service.calls[0]?.request.url.searchParams.get('tenant')).toBe('x');
    expect(service.calls[0]?.request.url.searchParams.has('service')).toBe(false);
  });

  it('trades an identity token with the OAuth2 refresh_token grant', async () => {
    const service = fakeService(() => json(200, { access_token: 'fresh' }));
    const tokens = new BearerTokens(service.transport);
    const credentials = { kind: 'identity-token' as const, token: 'refresh-me' };
    expect(await tokens.token({ registry: 'r', challenge: bearer, scope, credentials })).toBe('fresh');
    const request = service.calls[0]?.request;
    expect(request?.method).toBe('POST');
    const form = new URLSearchParams(request?.body ?? '');
    expect(form.get('grant_type')).toBe('refresh_token');
    expect(form.get('refresh_token')).toBe('refresh-me');
    expect(form.get('service')).toBe('reg.example');
    expect(form.get('scope')).toBe(scope);
  });

  it('refuses a token longer than any registry issues, so the cache never holds megabytes per entry', async () => {
    const sized = (length: number) => {
      const service = fakeService(() => json(200, { token: 'x'.repeat(length) }));
      return new BearerTokens(service.transport).token({ registry: 'r', challenge: bearer, scope });
    };
    expect(await sized(MAX_TOKEN_CHARS)).toHaveLength(MAX_TOKEN_CHARS);
    await expect(sized(MAX_TOKEN_CHARS + 1)).rejects.toThrow(/token longer than 16384 characters/);
    expect(await codeOf(() => sized(1 << 20))).toBe('REGISTRY_RESPONSE_INVALID');
  });

  it('caches per scope until shortly before expires_in, with a 60 s minimum', async () => {
    let now = 1_000_000;
    let issued = 0;
    const service = fakeService(() => json(200, { token: `t${++issued}`, expires_in: 5 }));
    const tokens = new BearerTokens(service.transport, () => now);
    const ask = (s = scope) => tokens.token({ registry: 'r', challenge: bearer, scope: s });
    expect(await ask()).toBe('t1');
    now += 45_000;
    expect(await ask()).toBe('t1');
    expect(await ask('repository:other:pull')).toBe('t2');
    now += 10_000;
    expect(await ask()).toBe('t3');
    expect(service.calls).toHaveLength(3);
  });

  it('honours a longer expires_in', async () => {
    let now = 0;
    const service = fakeService(() => json(200, { token: 'long', expires_in: 3600 }));
    const tokens = new BearerTokens(service.transport, () => now);
    await tokens.token({ registry: 'r', challenge: bearer, scope });
    now += 3_000_000;
    await tokens.token({ registry: 'r', challenge: bearer, scope });
    expect(service.calls).toHaveLength(1);
  });

  it('shares one exchange between concurrent callers', async () => {
    let release: (r: TokenHttpResponse) => void = () => undefined;
    const service = fakeService(() => new Promise<TokenHttpResponse>((resolve) => (release = resolve)));
    const tokens = new BearerTokens(service.transport);
    const both = Promise.all([1, 2].map(() => tokens.token({ registry: 'r', challenge: bearer, scope })));
    await Promise.resolve();
    release(json(200, { token: 'shared' }));
    expect(await both).toEqual(['shared', 'shared']);
    expect(service.calls).toHaveLength(1);
  });

  it('forgets the tokens one set of credentials got from a registry, and only those', async () => {
    let issued = 0;
    const service = fakeService(() => json(200, { token: `t${++issued}` }));
    const tokens = new BearerTokens(service.transport);
    const robot = { kind: 'basic' as const, username: 'robot', password: 'pw' };
    await tokens.token({ registry: 'r', challenge: bearer, scope });
    await tokens.token({ registry: 'r', challenge: bearer, scope, credentials: robot });
    tokens.forget('r');
    expect(await tokens.token({ registry: 'r', challenge: bearer, scope })).toBe('t3');
    expect(await tokens.token({ registry: 'r', challenge: bearer, scope, credentials: robot })).toBe('t2');
    tokens.forget('r', { ...robot });
    expect(await tokens.token({ registry: 'r', challenge: bearer, scope, credentials: robot })).toBe('t4');
  });

  describe('when credentials differ per request (pull secrets of different namespaces)', () => {
    const teamA = { kind: 'basic' as const, username: 'team-a', password: 'a-secret' };
    const teamB = { kind: 'basic' as const, username: 'team-b', password: 'b-secret' };

    it('never serves one set of credentials a token traded for another, or for anonymous access', async () => {
      const holders = new Map([
        [basicAuthorization('team-a', 'a-secret'), 'team-a'],
        [basicAuthorization('team-b', 'b-secret'), 'team-b'],
      ]);
      const service = fakeService((request) =>
        json(200, { token: `for-${holders.get(request.headers['authorization'] ?? '') ?? 'anonymous'}` }),
      );
      const tokens = new BearerTokens(service.transport);
      const ask = (credentials?: Credentials) =>
        tokens.token({ registry: 'r', challenge: bearer, scope, ...(credentials ? { credentials } : {}) });
      const a = await ask(teamA);
      const b = await ask(teamB);
      const anonymous = await ask();
      expect(a).toBe('for-team-a');
      expect(b).toBe('for-team-b');
      expect(anonymous).toBe('for-anonymous');
      expect(service.calls).toHaveLength(3);
      // Each is cached under its own identity: asking again costs nothing and returns the same token.
      expect([await ask(teamA), await ask(teamB), await ask()]).toEqual([a, b, anonymous]);
      expect(service.calls).toHaveLength(3);
    });

    it('tells apart credentials that differ only in the password, or only in the kind', async () => {
      let issued = 0;
      const service = fakeService(() => json(200, { token: `t${++issued}` }));
      const tokens = new BearerTokens(service.transport);
      const ask = (credentials: Credentials) =>
        tokens.token({ registry: 'r', challenge: bearer, scope, credentials });
      await ask(teamA);
      await ask({ ...teamA, password: 'rotated' });
      await ask({ kind: 'identity-token', token: 'same' });
      await ask({ kind: 'registry-token', token: 'same' });
      expect(service.calls).toHaveLength(4);
      // Equal credentials from another secret object are the same identity.
      await ask({ kind: 'basic', username: 'team-a', password: 'a-secret' });
      expect(service.calls).toHaveLength(4);
    });

    it('does not let a request join an exchange made with other credentials', async () => {
      const releases: ((r: TokenHttpResponse) => void)[] = [];
      const service = fakeService(() => new Promise<TokenHttpResponse>((resolve) => releases.push(resolve)));
      const tokens = new BearerTokens(service.transport);
      const a = tokens.token({ registry: 'r', challenge: bearer, scope, credentials: teamA });
      const b = tokens.token({ registry: 'r', challenge: bearer, scope, credentials: teamB });
      await Promise.resolve();
      expect(service.calls).toHaveLength(2);
      releases[0]?.(json(200, { token: 'a' }));
      releases[1]?.(json(401, {}));
      expect(await a).toBe('a');
      expect(await codeOf(() => b)).toBe('REGISTRY_AUTH_FAILED');
    });
  });

  it('lets a waiting caller give up without failing the others', async () => {
    let release: (r: TokenHttpResponse) => void = () => undefined;
    const service = fakeService(() => new Promise<TokenHttpResponse>((resolve) => (release = resolve)));
    const tokens = new BearerTokens(service.transport);
    const controller = new AbortController();
    const impatient = tokens.token({ registry: 'r', challenge: bearer, scope }, controller.signal);
    const patient = tokens.token({ registry: 'r', challenge: bearer, scope });
    controller.abort(new Error('deadline'));
    await expect(impatient).rejects.toThrow('deadline');
    release(json(200, { token: 'late' }));
    expect(await patient).toBe('late');
  });

  it.each([
    [401, 'REGISTRY_AUTH_FAILED'],
    [403, 'REGISTRY_AUTH_FAILED'],
    [400, 'REGISTRY_AUTH_FAILED'],
  ])('maps HTTP %d from the token service to %s', async (status, code) => {
    const service = fakeService(() => json(status, { errors: [] }));
    const tokens = new BearerTokens(service.transport);
    expect(await codeOf(() => tokens.token({ registry: 'r', challenge: bearer, scope }))).toBe(code);
  });

  it.each([
    ['not JSON', { status: 200, body: new TextEncoder().encode('<html>') }],
    ['no token', json(200, { expires_in: 300 })],
    ['empty token', json(200, { token: '' })],
    ['token with a newline', json(200, { token: 'a\nb' })],
    ['a JSON string', json(200, 'token')],
  ])('rejects an answer with %s as REGISTRY_RESPONSE_INVALID', async (_name, response) => {
    const tokens = new BearerTokens(fakeService(() => response).transport);
    expect(await codeOf(() => tokens.token({ registry: 'r', challenge: bearer, scope }))).toBe(
      'REGISTRY_RESPONSE_INVALID',
    );
  });

  it.each([{}, { realm: 'not a url' }, { realm: 'file:///etc/passwd' }, { realm: 'https://user:pw@a/t' }])(
    'rejects a challenge with realm %j as REGISTRY_RESPONSE_INVALID',
    async (params) => {
      const service = fakeService(() => json(200, { token: 't' }));
      const tokens = new BearerTokens(service.transport);
      expect(await codeOf(() => tokens.token({ registry: 'r', challenge: challenge(params), scope }))).toBe(
        'REGISTRY_RESPONSE_INVALID',
      );
      expect(service.calls).toHaveLength(0);
    },
  );

  it('keeps credentials out of its error messages', async () => {
    const tokens = new BearerTokens(fakeService(() => json(401, {})).transport);
    const credentials = { kind: 'basic' as const, username: 'robot', password: 'p4ssw0rd-value' };
    try {
      await tokens.token({ registry: 'r', challenge: bearer, scope, credentials });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).not.toContain('p4ssw0rd-value');
      expect((err as Error).message).not.toContain(b64('robot:p4ssw0rd-value'));
    }
  });
});
