import { describe, expect, it } from 'vitest';
import type { Credentials } from '../oci/auth.js';
import { createLogger } from '../observability/logger.js';
import type { LogSink } from './log.js';
import {
  DOCKER_CFG,
  DOCKER_CONFIG_JSON,
  keyringFromSecrets,
  matchHostPart,
  MAX_PULL_SECRETS,
  PULL_SECRET_LIMITS,
  PullSecretResolver,
  type KubeSecretsReader,
  type PullSecret,
  type ServiceAccountPullSecrets,
} from './pull-secrets.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const basic = (username: string): Credentials => ({ kind: 'basic', username, password: `${username}-pw` });
const entry = (username: string) => ({ auth: b64(`${username}:${username}-pw`) });

function dockerConfigJson(auths: Record<string, unknown>): PullSecret {
  return { type: DOCKER_CONFIG_JSON, data: { '.dockerconfigjson': b64(JSON.stringify({ auths })) } };
}
function dockercfg(auths: Record<string, unknown>): PullSecret {
  return { type: DOCKER_CFG, data: { '.dockercfg': b64(JSON.stringify(auths)) } };
}
const named = (secret: PullSecret, source = 'ns/s') => ({ source, secret });

describe('matchHostPart (Go path.Match)', () => {
  it.each([
    ['*', 'registry', true],
    ['reg*', 'registry', true],
    ['r?gistry', 'registry', true],
    ['[a-r]egistry', 'registry', true],
    ['[^r]egistry', 'registry', false],
    ['registry', 'registry2', false],
    ['[', 'x', false],
    ['a\\*', 'a*', true],
    ['*', '', true],
    ['a*', 'a', true],
    ['*a*b', 'xaxxb', true],
    ['*a*b', 'xaxxbx', false],
    ['r[e-f]g*', 'registry', true],
    ['[]', 'x', false],
    ['a\\', 'a', false],
  ])('%s vs %s → %s', (pattern, name, expected) => {
    expect(matchHostPart(pattern, name)).toBe(expected);
  });

  it('agrees with a regular-expression reading of the pattern on every short pattern and name', () => {
    // The reference: what path.Match means, as a RegExp (fine for names this short).
    const reference = (pattern: string, name: string): boolean => {
      const source = [...pattern]
        .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')))
        .join('');
      return new RegExp(`^${source}$`, 's').test(name);
    };
    const words = (alphabet: readonly string[], maxLength: number): string[] => {
      let all = [''];
      let layer = [''];
      for (let length = 1; length <= maxLength; length++) {
        layer = layer.flatMap((prefix) => alphabet.map((c) => prefix + c));
        all = all.concat(layer);
      }
      return all;
    };
    const names = words(['a', 'b'], 5);
    let compared = 0;
    for (const pattern of words(['a', 'b', '*', '?'], 4)) {
      for (const name of names) {
        expect(matchHostPart(pattern, name), `${pattern} vs ${name}`).toBe(reference(pattern, name));
        compared++;
      }
    }
    expect(compared).toBe(341 * 63);
  });

  it('matches in linear time, so a Secret with many wildcards cannot stall admissions', () => {
    // A backtracking RegExp of this pattern takes longer than any test timeout on a name this long.
    const pattern = `${'*a'.repeat(30)}*b`;
    expect(matchHostPart(pattern, 'a'.repeat(63))).toBe(false);
    expect(matchHostPart('*'.repeat(40) + 'b', 'a'.repeat(63))).toBe(false);
    expect(matchHostPart(pattern, `${'a'.repeat(62)}b`)).toBe(true);
  });
});

describe('keyringFromSecrets', () => {
  it('matches host-only keys, with scheme and /v1/ or /v2/ dropped', () => {
    const keyring = keyringFromSecrets([
      named(dockerConfigJson({ 'https://ghcr.io/v2/': entry('gh'), 'quay.io': entry('quay') })),
    ]);
    expect(keyring.lookup('ghcr.io', 'acme/app')).toEqual(basic('gh'));
    expect(keyring.lookup('ghcr.io')).toEqual(basic('gh'));
    expect(keyring.lookup('quay.io', 'x/y')).toEqual(basic('quay'));
    expect(keyring.lookup('gcr.io', 'x/y')).toBeUndefined();
  });

  it('prefers the longest matching path, and needs the repository to use a path key', () => {
    const keyring = keyringFromSecrets([
      named(
        dockerConfigJson({
          'ghcr.io': entry('org'),
          'ghcr.io/acme': entry('acme'),
          'ghcr.io/acme/api': entry('api'),
        }),
      ),
    ]);
    expect(keyring.lookup('ghcr.io', 'acme/api')).toEqual(basic('api'));
    expect(keyring.lookup('ghcr.io', 'acme/web')).toEqual(basic('acme'));
    expect(keyring.lookup('ghcr.io', 'other/web')).toEqual(basic('org'));
    expect(keyring.lookup('ghcr.io')).toEqual(basic('org'));
    expect(keyring.candidates('ghcr.io', 'acme/api')).toEqual([basic('api'), basic('acme'), basic('org')]);
  });

  it('matches the path as a plain string prefix, as the kubelet does', () => {
    const keyring = keyringFromSecrets([named(dockerConfigJson({ 'ghcr.io/acme': entry('acme') }))]);
    expect(keyring.lookup('ghcr.io', 'acme-tools/x')).toEqual(basic('acme'));
    expect(keyring.lookup('ghcr.io', 'acm')).toBeUndefined();
  });

  it('matches *. globs part by part, never across parts', () => {
    const keyring = keyringFromSecrets([
      named(dockerConfigJson({ '*.azurecr.io': entry('acr'), '*.io': entry('io') })),
    ]);
    expect(keyring.lookup('corp.azurecr.io', 'app')).toEqual(basic('acr'));
    expect(keyring.lookup('a.b.azurecr.io', 'app')).toBeUndefined();
    expect(keyring.lookup('azurecr.io', 'app')).toEqual(basic('io'));
    expect(keyring.lookup('quay.io', 'app')).toEqual(basic('io'));
  });

  it('puts an exact host before a glob of the same host', () => {
    const keyring = keyringFromSecrets([
      named(dockerConfigJson({ '*.example.com': entry('glob') }), 'ns/a'),
      named(dockerConfigJson({ 'eu.example.com': entry('exact') }), 'ns/b'),
    ]);
    expect(keyring.lookup('eu.example.com', 'x')).toEqual(basic('exact'));
  });

  it('requires the same port', () => {
    const keyring = keyringFromSecrets([named(dockerConfigJson({ 'registry.local:5000': entry('five') }))]);
    expect(keyring.lookup('registry.local:5000', 'x')).toEqual(basic('five'));
    expect(keyring.lookup('registry.local', 'x')).toBeUndefined();
    expect(keyring.lookup('registry.local:5001', 'x')).toBeUndefined();
  });

  it('matches an IPv6 registry in any spelling of its address', () => {
    const keyring = keyringFromSecrets([
      named(dockerConfigJson({ 'https://[0:0:0:0:0:0:0:1]:5000/v2/': entry('six') })),
    ]);
    expect(keyring.lookup('[::1]:5000', 'x')).toEqual(basic('six'));
    expect(keyring.lookup('[0::1]:5000', 'x')).toEqual(basic('six'));
    expect(keyring.lookup('[::2]:5000', 'x')).toBeUndefined();
  });

  it('folds Docker Hub aliases', () => {
    const keyring = keyringFromSecrets([
      named(dockerConfigJson({ 'https://index.docker.io/v1/': entry('hub') })),
    ]);
    expect(keyring.lookup('docker.io', 'library/nginx')).toEqual(basic('hub'));
    expect(keyring.lookup('registry-1.docker.io', 'library/nginx')).toEqual(basic('hub'));
  });

  it('reads legacy dockercfg secrets and ignores secrets of other types', () => {
    const keyring = keyringFromSecrets([
      named({
        type: 'Opaque',
        data: { '.dockerconfigjson': b64(JSON.stringify({ auths: { 'quay.io': entry('opaque') } })) },
      }),
      named(dockercfg({ 'quay.io': entry('legacy') })),
    ]);
    expect(keyring.lookup('quay.io', 'x')).toEqual(basic('legacy'));
  });

  it('keeps the order of the secrets for the same key', () => {
    const keyring = keyringFromSecrets([
      named(dockerConfigJson({ 'quay.io': entry('first') }), 'ns/a'),
      named(dockerConfigJson({ 'https://quay.io': entry('second') }), 'ns/b'),
    ]);
    expect(keyring.candidates('quay.io', 'x')).toEqual([basic('first'), basic('second')]);
  });

  it('reads tokens and username/password entries like oci/auth does', () => {
    const keyring = keyringFromSecrets([
      named(
        dockerConfigJson({
          'a.io': { identitytoken: 'refresh' },
          'b.io': { username: 'u', password: 'p' },
          'c.io': { email: 'only@example.com' },
        }),
      ),
    ]);
    expect(keyring.lookup('a.io', 'x')).toEqual({ kind: 'identity-token', token: 'refresh' });
    expect(keyring.lookup('b.io', 'x')).toEqual({ kind: 'basic', username: 'u', password: 'p' });
    expect(keyring.lookup('c.io', 'x')).toBeUndefined();
  });

  it('skips a malformed secret as a whole and reports it by name only', () => {
    const problems: string[] = [];
    const keyring = keyringFromSecrets(
      [
        named({ type: DOCKER_CONFIG_JSON, data: { '.dockerconfigjson': b64('{not json') } }, 'ns/broken'),
        named(dockerConfigJson({ 'quay.io': { auth: '!!!' }, 'ghcr.io': entry('half') }), 'ns/half'),
        named(dockerConfigJson({ 'quay.io': entry('good') }), 'ns/good'),
      ],
      (source, problem) => problems.push(`${source}: ${problem}`),
    );
    expect(keyring.lookup('quay.io', 'x')).toEqual(basic('good'));
    expect(keyring.lookup('ghcr.io', 'x')).toBeUndefined();
    expect(problems.map((p) => p.split(':')[0])).toEqual(['ns/broken', 'ns/half']);
    expect(problems.join('\n')).not.toContain('half-pw');
    expect(problems.join('\n')).not.toContain('not json');
  });

  it('never quotes a secret that is not JSON: JSON.parse quotes the text around the mistake', () => {
    const password = 'hunter2';
    const auth = b64(`robot:${password}`);
    const raw = (field: string, text: string): PullSecret => ({
      type: field === '.dockercfg' ? DOCKER_CFG : DOCKER_CONFIG_JSON,
      data: { [field]: b64(text) },
    });
    const problems: string[] = [];
    keyringFromSecrets(
      [
        named(raw('.dockerconfigjson', `{"auths":{"r.io":{"password":${password}}}}`), 'ns/unquoted'),
        named(raw('.dockerconfigjson', `{"auths":{"r.io":{"auth":${auth}}}}`), 'ns/auth'),
        named(raw('.dockerconfigjson', `{"auths":{"r.io":{"auth":"${auth}"}}} ${password}`), 'ns/trailing'),
        named(raw('.dockercfg', `{"r.io":{"auth":${auth}}}`), 'ns/cfg'),
        named(raw('.dockerconfigjson', `{"auths":{"r.io":{"auth":"${auth}\\u00"}}}`), 'ns/escape'),
      ],
      (source, problem) => problems.push(`${source}: ${problem}`),
    );
    expect(problems).toEqual([
      'ns/unquoted: its .dockerconfigjson is not valid JSON',
      'ns/auth: its .dockerconfigjson is not valid JSON',
      'ns/trailing: its .dockerconfigjson is not valid JSON',
      'ns/cfg: its .dockercfg is not valid JSON',
      'ns/escape: its .dockerconfigjson is not valid JSON',
    ]);
    for (const secret of [password, auth.slice(0, 6), 'robot'])
      expect(problems.join('\n')).not.toContain(secret);
  });

  it('skips a secret that names too many registries, or too long a key or entry, before parsing its entries', () => {
    const { maxConfigChars, maxRegistries, maxKeyChars, maxEntryChars } = PULL_SECRET_LIMITS;
    const many = (count: number) =>
      Object.fromEntries(Array.from({ length: count }, (_, i) => [`r${i}.example.com`, entry(`u${i}`)]));
    const problems: string[] = [];
    const keyring = keyringFromSecrets(
      [
        named(dockerConfigJson(many(maxRegistries + 1)), 'ns/many'),
        named(dockerConfigJson({ [`${'a'.repeat(maxKeyChars)}.example.com`]: entry('long') }), 'ns/key'),
        named(
          dockerConfigJson({ 'quay.io': { ...entry('big'), extra: 'x'.repeat(maxEntryChars) } }),
          'ns/big',
        ),
        named(
          dockerConfigJson({ 'quay.io': { ...entry('huge'), extra: 'x'.repeat(maxConfigChars) } }),
          'ns/huge',
        ),
        named(dockerConfigJson(many(maxRegistries)), 'ns/fits'),
      ],
      (source, problem) => problems.push(`${source}: ${problem}`),
    );
    expect(problems).toEqual([
      `ns/many: names ${maxRegistries + 1} registries; at most ${maxRegistries} are read`,
      `ns/key: a registry key is longer than ${maxKeyChars} characters`,
      `ns/big: the entry for a registry is larger than ${maxEntryChars} characters`,
      `ns/huge: its .dockerconfigjson is larger than ${maxConfigChars} characters (base64)`,
    ]);
    expect(keyring.lookup('quay.io', 'x')).toBeUndefined();
    expect(keyring.lookup(`r${maxRegistries - 1}.example.com`, 'x')).toEqual(basic(`u${maxRegistries - 1}`));
  });
});

class FakeReader implements KubeSecretsReader {
  readonly secrets = new Map<string, PullSecret>();
  readonly accounts = new Map<string, ServiceAccountPullSecrets>();
  readonly reads: string[] = [];
  failing = new Set<string>();

  async readSecret(namespace: string, name: string) {
    this.reads.push(`secret ${namespace}/${name}`);
    if (this.failing.has(`${namespace}/${name}`)) throw Object.assign(new Error('forbidden'), { code: 403 });
    return this.secrets.get(`${namespace}/${name}`);
  }
  async readServiceAccount(namespace: string, name: string) {
    this.reads.push(`sa ${namespace}/${name}`);
    return this.accounts.get(`${namespace}/${name}`);
  }
}

const silent: LogSink = { debug() {}, info() {}, warn() {}, error() {} };

describe('PullSecretResolver', () => {
  it('combines pod secrets, then the service account, then the policy signature secrets', async () => {
    const reader = new FakeReader();
    reader.secrets.set('apps/pod-secret', dockerConfigJson({ 'ghcr.io': entry('pod') }));
    reader.secrets.set(
      'apps/sa-secret',
      dockerConfigJson({ 'ghcr.io': entry('sa'), 'quay.io': entry('sa-quay') }),
    );
    reader.secrets.set('provenant/sigs', dockerConfigJson({ 'ghcr.io/acme-sigs': entry('sigs') }));
    reader.accounts.set('apps/builder', { imagePullSecrets: [{ name: 'sa-secret' }, { name: 'missing' }] });
    const resolver = new PullSecretResolver(reader, { logger: silent });
    const keyring = await resolver.forPod({
      namespace: 'apps',
      serviceAccountName: 'builder',
      imagePullSecrets: [{ name: 'pod-secret' }, {}],
      signaturePullSecrets: [{ namespace: 'provenant', name: 'sigs' }],
    });
    expect(keyring.candidates('ghcr.io', 'acme/app')).toEqual([basic('pod'), basic('sa')]);
    expect(keyring.lookup('quay.io', 'x')).toEqual(basic('sa-quay'));
    expect(keyring.lookup('ghcr.io', 'acme-sigs/app')).toEqual(basic('sigs'));
  });

  it('never asks the API server for a name that is not a DNS subdomain (`..` would read the namespace)', async () => {
    const reader = new FakeReader();
    reader.secrets.set('apps/ok', dockerConfigJson({ 'ghcr.io': entry('ok') }));
    const resolver = new PullSecretResolver(reader, { logger: silent });
    const keyring = await resolver.forPod({
      namespace: 'apps',
      serviceAccountName: '..',
      imagePullSecrets: [{ name: '..' }, { name: '.' }, { name: 'UPPER' }, { name: 'a/b' }, { name: 'ok' }],
    });
    expect(reader.reads).toEqual(['secret apps/ok']);
    expect(keyring.lookup('ghcr.io', 'x')).toEqual(basic('ok'));
  });

  it(`reads at most ${MAX_PULL_SECRETS} secrets per workload, a few at a time, and refuses more without reading any`, async () => {
    let inFlight = 0;
    let peak = 0;
    const reader = new FakeReader();
    const slow: KubeSecretsReader = {
      readServiceAccount: (namespace, name) => reader.readServiceAccount(namespace, name),
      readSecret: async (namespace, name) => {
        peak = Math.max(peak, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, 1));
        inFlight--;
        return reader.readSecret(namespace, name);
      },
    };
    const resolver = new PullSecretResolver(slow, { logger: silent });
    const naming = (n: number) => ({
      namespace: 'apps',
      imagePullSecrets: Array.from({ length: n }, (_, i) => ({ name: `s${i}` })),
    });
    await resolver.forPod(naming(MAX_PULL_SECRETS));
    expect(reader.reads.filter((r) => r.startsWith('secret'))).toHaveLength(MAX_PULL_SECRETS);
    expect(peak).toBeLessThanOrEqual(8);

    reader.reads.length = 0;
    await expect(resolver.forPod(naming(50_000))).rejects.toThrow(
      expect.objectContaining({
        code: 'INVALID_REQUEST',
        message: `the workload and its service account name 50000 pull secrets; at most ${MAX_PULL_SECRETS} are read`,
      }),
    );
    expect(reader.reads.filter((r) => r.startsWith('secret'))).toEqual([]);
  });

  it('uses the "default" service account and works with no secrets at all', async () => {
    const reader = new FakeReader();
    const resolver = new PullSecretResolver(reader, { logger: silent });
    const keyring = await resolver.forPod({ namespace: 'apps' });
    expect(reader.reads).toEqual(['sa apps/default']);
    expect(keyring.lookup('ghcr.io', 'x')).toBeUndefined();
  });

  it('caches reads (found or missing) for the TTL and shares concurrent ones', async () => {
    const reader = new FakeReader();
    reader.secrets.set('apps/s', dockerConfigJson({ 'ghcr.io': entry('one') }));
    let now = 0;
    const resolver = new PullSecretResolver(reader, {
      logger: silent,
      clock: { now: () => now },
      ttlMs: 30_000,
    });
    const pod = { namespace: 'apps', imagePullSecrets: [{ name: 's' }, { name: 'gone' }] };
    await Promise.all([resolver.forPod(pod), resolver.forPod(pod)]);
    await resolver.forPod(pod);
    expect(reader.reads.sort()).toEqual(['sa apps/default', 'secret apps/gone', 'secret apps/s']);

    reader.secrets.set('apps/s', dockerConfigJson({ 'ghcr.io': entry('two') }));
    now = 29_999;
    expect((await resolver.forPod(pod)).lookup('ghcr.io')).toEqual(basic('one'));
    now = 30_001;
    expect((await resolver.forPod(pod)).lookup('ghcr.io')).toEqual(basic('two'));
  });

  it('keeps a cached secret parsed: its credentials are the same frozen object on every admission', async () => {
    const reader = new FakeReader();
    reader.secrets.set('apps/s', dockerConfigJson({ 'ghcr.io': entry('one') }));
    const resolver = new PullSecretResolver(reader, { logger: silent });
    const pod = { namespace: 'apps', imagePullSecrets: [{ name: 's' }] };
    const first = (await resolver.forPod(pod)).lookup('ghcr.io', 'acme/app');
    const second = (await resolver.forPod(pod)).lookup('ghcr.io', 'acme/app');
    expect(first).toEqual(basic('one'));
    expect(second).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
  });

  it('reports a secret that is not a Docker config on every admission that would use it', async () => {
    const reader = new FakeReader();
    reader.secrets.set('apps/bad', { type: DOCKER_CONFIG_JSON, data: { '.dockerconfigjson': b64('{') } });
    reader.secrets.set('apps/good', dockerConfigJson({ 'ghcr.io': entry('good') }));
    const warnings: object[] = [];
    const resolver = new PullSecretResolver(reader, { logger: { ...silent, warn: (f) => warnings.push(f) } });
    const pod = { namespace: 'apps', imagePullSecrets: [{ name: 'bad' }, { name: 'good' }] };
    expect((await resolver.forPod(pod)).lookup('ghcr.io')).toEqual(basic('good'));
    expect((await resolver.forPod(pod)).lookup('ghcr.io')).toEqual(basic('good'));
    expect(warnings).toEqual([
      expect.objectContaining({ pullSecret: 'apps/bad' }),
      expect.objectContaining({ pullSecret: 'apps/bad' }),
    ]);
    expect(reader.reads.filter((r) => r === 'secret apps/bad')).toHaveLength(1);
  });

  it('logs which pull secret is not JSON, and nothing of what it holds', async () => {
    const reader = new FakeReader();
    const text = '{"auths":{"ghcr.io":{"username":"robot","password":hunter2}}}';
    reader.secrets.set('apps/regcred', {
      type: DOCKER_CONFIG_JSON,
      data: { '.dockerconfigjson': b64(text) },
    });
    let log = '';
    const logger = createLogger({ destination: { write: (line: string) => void (log += line) } });
    const resolver = new PullSecretResolver(reader, { logger });
    await resolver.forPod({ namespace: 'apps', imagePullSecrets: [{ name: 'regcred' }] });
    const lines = log
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toContainEqual(
      expect.objectContaining({
        pullSecret: 'apps/regcred',
        problem: 'its .dockerconfigjson is not valid JSON',
        msg: 'pull secret ignored: not a valid Docker config',
      }),
    );
    expect(log).not.toContain('hunter2');
    expect(log).not.toContain('robot');
  });

  it('goes on without a secret it cannot read, and does not cache the failure', async () => {
    const reader = new FakeReader();
    reader.secrets.set('apps/s', dockerConfigJson({ 'ghcr.io': entry('one') }));
    reader.failing.add('apps/s');
    const warnings: object[] = [];
    const resolver = new PullSecretResolver(reader, { logger: { ...silent, warn: (f) => warnings.push(f) } });
    const pod = { namespace: 'apps', imagePullSecrets: [{ name: 's' }] };
    expect((await resolver.forPod(pod)).lookup('ghcr.io')).toBeUndefined();
    expect(warnings).toEqual([expect.objectContaining({ pullSecret: 'apps/s', status: 403 })]);
    reader.failing.clear();
    expect((await resolver.forPod(pod)).lookup('ghcr.io')).toEqual(basic('one'));
  });
});
