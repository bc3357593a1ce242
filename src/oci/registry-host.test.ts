/**
 * Every spelling of one registry must meet in one spelling, the same way for image references and policy
 * globs (issue #15, item 2): a policy for `ghcr.io/acme/**` governs `GHCR.IO:443/acme/x`, and a
 * `docker.io/...` policy governs `registry-1.docker.io/...`. The table is run through parseReference and
 * compileGlob both, in both directions (glob written one way, image the other).
 */
import { MockAgent } from 'undici';
import { describe, expect, it } from 'vitest';
import { compileGlob } from '../policy/glob.js';
import { credentialStoreFrom } from './auth.js';
import { HttpRegistry } from './http-registry.js';
import { parseReference, repositoryName } from './reference.js';
import { canonicalRegistry, PlainHttpRegistries } from './registry-host.js';

/** [written, canonical]: each group lists every spelling of one registry. */
const SPELLINGS: readonly (readonly [string, string])[] = [
  ['ghcr.io', 'ghcr.io'],
  ['GHCR.IO', 'ghcr.io'],
  ['Ghcr.Io', 'ghcr.io'],
  ['ghcr.io:443', 'ghcr.io'],
  ['GHCR.IO:443', 'ghcr.io'],
  ['ghcr.io:0443', 'ghcr.io'],
  ['docker.io', 'docker.io'],
  ['DOCKER.IO', 'docker.io'],
  ['docker.io:443', 'docker.io'],
  ['index.docker.io', 'docker.io'],
  ['INDEX.DOCKER.IO', 'docker.io'],
  ['index.docker.io:443', 'docker.io'],
  ['registry-1.docker.io', 'docker.io'],
  ['Registry-1.Docker.IO:443', 'docker.io'],
  ['registry.example.com:5000', 'registry.example.com:5000'],
  ['REGISTRY.example.COM:5000', 'registry.example.com:5000'],
  ['registry.example.com:05000', 'registry.example.com:5000'],
  ['localhost:5000', 'localhost:5000'],
  ['LOCALHOST:5000', 'localhost:5000'],
  ['[::1]:5000', '[::1]:5000'],
  ['[0::1]:5000', '[::1]:5000'],
  ['[0:0:0:0:0:0:0:1]:5000', '[::1]:5000'],
  ['[0000::0001]:05000', '[::1]:5000'],
  ['[FD00::1]:443', '[fd00::1]'],
  ['[fd00:0:0:0:0:0:0:1]', '[fd00::1]'],
  ['[FD00:0::1]:443', '[fd00::1]'],
  ['127.0.0.1:443', '127.0.0.1'],
];

/** Spellings that are other places and must stay apart from their look-alikes. */
const DISTINCT: readonly (readonly [string, string])[] = [
  // Port 80 is the default of plain HTTP only; on an HTTPS registry `host:80` is another port.
  ['ghcr.io:80', 'ghcr.io'],
  ['ghcr.io:8443', 'ghcr.io'],
  ['registry.example.com:5000', 'registry.example.com'],
  // Not aliases of Docker Hub.
  ['hub.docker.com', 'docker.io'],
  ['docker.io.evil.example', 'docker.io'],
  ['registry-2.docker.io', 'docker.io'],
  // Another address, another port.
  ['[::2]:5000', '[::1]:5000'],
  ['[::1]:5001', '[::1]:5000'],
];

describe('canonicalRegistry', () => {
  it.each(SPELLINGS)('%s -> %s', (written, canonical) => {
    expect(canonicalRegistry(written)).toBe(canonical);
  });

  it.each(DISTINCT)('%s stays apart from %s', (a, b) => {
    expect(canonicalRegistry(a)).not.toBe(canonicalRegistry(b));
  });
});

describe('references and globs meet in one spelling', () => {
  // Docker Hub references need a namespace other spellings do not: `docker.io/acme/app` is not official.
  const path = 'acme/app';

  describe.each(SPELLINGS)('image %s/…', (written, canonical) => {
    it('parses to the canonical registry', () => {
      const ref = parseReference(`${written}/${path}:1.0`);
      expect(ref.registry).toBe(canonical);
      expect(repositoryName(ref)).toBe(`${canonical}/${path}`);
    });

    it('matches a glob written in every other spelling of its registry', () => {
      const ref = parseReference(`${written}/${path}:1.0`);
      const others = SPELLINGS.filter(([, c]) => c === canonical).map(([w]) => w);
      for (const globHost of others) {
        const glob = compileGlob(`${globHost}/acme/**`);
        expect(glob.test(repositoryName(ref)), `glob ${globHost}/acme/** vs ${written}`).toBe(true);
      }
    });

    it('matches no glob written for another registry', () => {
      const ref = parseReference(`${written}/${path}:1.0`);
      const others = SPELLINGS.filter(([, c]) => c !== canonical).map(([w]) => w);
      for (const globHost of others) {
        expect(compileGlob(`${globHost}/acme/**`).test(repositoryName(ref)), globHost).toBe(false);
      }
    });
  });

  it.each(DISTINCT)('a glob for %s does not match an image on %s (and the other way round)', (a, b) => {
    expect(compileGlob(`${a}/acme/**`).test(repositoryName(parseReference(`${b}/acme/app`)))).toBe(false);
    expect(compileGlob(`${b}/acme/**`).test(repositoryName(parseReference(`${a}/acme/app`)))).toBe(false);
  });

  it.each([
    ['nginx', 'docker.io/nginx'],
    ['nginx', 'registry-1.docker.io/library/nginx'],
    ['docker.io/nginx', 'index.docker.io/nginx'],
    ['INDEX.DOCKER.IO/nginx:1.27', 'nginx:1.27'],
    ['docker.io/library/*', 'Docker.IO/redis'],
  ])('official images: glob %s matches %s', (glob, image) => {
    const ref = parseReference(image);
    const compiled = compileGlob(glob);
    const candidates = [repositoryName(ref), `${repositoryName(ref)}:${ref.tag ?? ''}`];
    expect(candidates.some((c) => compiled.test(c))).toBe(true);
  });

  it('`docker.io/**` still means all of Docker Hub', () => {
    expect(compileGlob('docker.io/**').test(repositoryName(parseReference('index.docker.io/acme/app')))).toBe(
      true,
    );
  });

  it.each(['[::::]:5000/acme/x', '[1:2:3:4:5:6:7:8:9]/acme/x', '[12345::1]:5000/acme/x', '[:]/acme/x'])(
    'refuses a bracketed host that is not an IPv6 address (%s), in a reference and in a glob',
    (image) => {
      expect(() => parseReference(image)).toThrow(
        expect.objectContaining({ code: 'INVALID_REFERENCE', message: expect.stringContaining('IPv6') }),
      );
      expect(() => compileGlob(image.replace(/\/x$/, '/**'))).toThrow(/is not a valid IPv6 address/);
    },
  );

  it('a glob with a wildcard inside the brackets is kept as written', () => {
    expect(
      compileGlob('[fd00::*]:5000/**').test(repositoryName(parseReference('[FD00::0:1]:5000/a/b'))),
    ).toBe(true);
  });

  it.each(['ghcr.io:0/acme/x', 'ghcr.io:65536/acme/x', 'ghcr.io:99999999999999999999/acme/x'])(
    'refuses an out-of-range port (%s)',
    (image) => {
      expect(() => parseReference(image)).toThrow(expect.objectContaining({ code: 'INVALID_REFERENCE' }));
    },
  );
});

describe('PlainHttpRegistries', () => {
  const plain = new PlainHttpRegistries(['Insecure.Example', 'other.example:5000', 'eighty.example:80']);

  it.each([
    ['insecure.example', true],
    ['INSECURE.EXAMPLE:80', true],
    ['insecure.example:5000', false],
    ['other.example:5000', true],
    ['other.example', false],
    ['eighty.example', true],
    ['ghcr.io', false],
  ])('%s is plain HTTP: %s', (registry, expected) => {
    expect(plain.has(registry)).toBe(expected);
  });

  it('matches an IPv6 registry in any spelling', () => {
    const ipv6 = new PlainHttpRegistries(['[0:0:0:0:0:0:0:1]:5000', '[FD00::1]']);
    expect(ipv6.has('[::1]:5000')).toBe(true);
    expect(ipv6.has('[0::1]:5000')).toBe(true);
    expect(ipv6.has('[fd00:0::1]:80')).toBe(true);
    expect(ipv6.has('[::2]:5000')).toBe(false);
  });

  it('drops :80 only for plain-HTTP registries', () => {
    expect(plain.canonical('insecure.example:80')).toBe('insecure.example');
    expect(plain.canonical('eighty.example:80')).toBe('eighty.example');
    expect(plain.canonical('ghcr.io:80')).toBe('ghcr.io:80');
    expect(plain.canonical('other.example:5000')).toBe('other.example:5000');
  });

  it('lists both spellings of a port-80 plain-HTTP registry for glob matching', () => {
    expect(plain.spellings('insecure.example:80')).toEqual(['insecure.example', 'insecure.example:80']);
    expect(plain.spellings('other.example:5000')).toEqual(['other.example:5000']);
    expect(plain.spellings('ghcr.io')).toEqual(['ghcr.io']);
  });
});

describe('the registry client contacts the canonical host', () => {
  it.each([
    ['GHCR.IO:443/acme/x', 'https://ghcr.io', '/v2/acme/x/manifests/1.0'],
    ['Index.Docker.IO/nginx', 'https://registry-1.docker.io', '/v2/library/nginx/manifests/1.0'],
    ['registry-1.docker.io:443/acme/app', 'https://registry-1.docker.io', '/v2/acme/app/manifests/1.0'],
    ['Insecure.Example:80/team/app', 'http://insecure.example', '/v2/team/app/manifests/1.0'],
  ])('%s is fetched from %s', async (image, origin, path) => {
    const agent = new MockAgent();
    agent.disableNetConnect();
    const seen: string[] = [];
    agent
      .get(origin)
      .intercept({ path, method: 'HEAD' })
      .reply(() => {
        seen.push(`${origin}${path}`);
        return { statusCode: 404, data: '' };
      });
    const client = new HttpRegistry({
      dispatcher: agent,
      limits: { retries: 0 },
      insecureRegistries: ['insecure.example'],
    });
    try {
      expect(await client.headManifest(parseReference(image), '1.0')).toBeNull();
      expect(seen).toEqual([`${origin}${path}`]);
    } finally {
      await client.close();
      await agent.close();
    }
  });

  it('finds credentials stored under another spelling of the same registry', () => {
    const store = credentialStoreFrom([['GHCR.IO:443', { kind: 'registry-token', token: 't' }]]);
    expect(store.lookup(parseReference('ghcr.io/acme/x').registry)).toEqual({
      kind: 'registry-token',
      token: 't',
    });
  });

  it('finds credentials stored under another spelling of the same IPv6 registry', () => {
    const store = credentialStoreFrom([
      ['https://[0:0:0:0:0:0:0:1]:5000/v2/', { kind: 'registry-token', token: 't' }],
    ]);
    expect(store.lookup(parseReference('[0::1]:5000/acme/x').registry)).toEqual({
      kind: 'registry-token',
      token: 't',
    });
  });
});

describe('single-label hosts', () => {
  it.each([
    ['Registry/app', 'registry:443'],
    ['REGISTRY/app', 'registry:443'],
    ['registry:443/app', 'registry:443'],
    ['REGISTRY:5000/app', 'registry:5000'],
  ])('%s is spelled %s, which reads back as a registry, never as a Docker Hub name', (image, registry) => {
    const ref = parseReference(image);
    expect(ref.registry).toBe(registry);
    expect(parseReference(repositoryName(ref)).registry).toBe(registry);
    expect(compileGlob('Registry/**').test(repositoryName(ref))).toBe(registry === 'registry:443');
  });

  it('keeps :80 on a plain-HTTP single-label registry, whose bare name would be a Docker Hub name', () => {
    const plain = new PlainHttpRegistries(['myreg:80', 'Other']);
    expect(plain.has('myreg:80')).toBe(true);
    expect(plain.has('other:80')).toBe(true);
    expect(plain.has('Other')).toBe(false); // `Other/x` is https://other:443
    expect(plain.canonical('myreg:80')).toBe('myreg:80');
    expect(parseReference(`${plain.canonical('myreg:80')}/x`).registry).toBe('myreg:80');
  });
});
