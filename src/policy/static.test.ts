import { readFileSync } from 'node:fs';
import { loadAll } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { parseReference } from '../oci/reference.js';
import { createTrustStore } from '../trust/trust-store.js';
import { authorityCompiler } from './authorities.js';
import { compileDocument, compilePolicies } from './compile.js';
import type { CompiledPolicy } from './types.js';
import type { PolicyProblem } from './validate.js';

const KEY = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEg9OXvOgC4fj8LRAMTsPZ2zoqlji4
mqHovQTttY6ASunw3TeLbsY7g40z1zWz4VMPf9ykzvwv8nsyIv46d/XMeA==
-----END PUBLIC KEY-----
`;
const AUTHORITIES = [{ name: 'ci', key: { publicKey: KEY } }];

function compile(spec: Record<string, unknown>): CompiledPolicy | { problems: PolicyProblem[] } {
  return compileDocument(
    {
      source: 'test.yaml',
      index: 0,
      value: {
        apiVersion: 'provenant.dev/v1alpha1',
        kind: 'ClusterImagePolicy',
        metadata: { name: 'p' },
        spec: { images: [{ glob: 'docker.io/**' }], ...spec },
      },
    },
    authorityCompiler(createTrustStore()),
  );
}

function problems(spec: Record<string, unknown>): PolicyProblem[] {
  const result = compile(spec);
  return 'problems' in result ? result.problems : [];
}

describe('spec.static', () => {
  it.each(['Allow', 'Deny'] as const)('compiles a static %s with no authorities', (action) => {
    const result = compile({ static: { action, message: 'not from Docker Hub' } });
    if ('problems' in result) throw new Error(JSON.stringify(result.problems));
    expect(result.static).toEqual({ action, message: 'not from Docker Hub' });
    expect(result.authorities).toEqual([]);
  });

  it('refuses an unknown action and an empty message', () => {
    expect(problems({ static: { action: 'pass' } })).toEqual([
      { field: 'spec.static.action', message: 'must be one of Allow, Deny' },
    ]);
    expect(problems({ static: { action: 'Deny', message: '' } })[0]?.field).toBe('spec.static.message');
  });

  it.each([
    ['authorities', { authorities: AUTHORITIES }],
    ['signatures', { signatures: {} }],
    ['platforms', { platforms: ['all'] }],
    ['signatureRepository', { signatureRepository: 'registry.example/sigs' }],
    ['signaturePullSecrets', { signaturePullSecrets: [{ name: 's', namespace: 'n' }] }],
  ])('refuses to mix static with %s', (field, extra) => {
    expect(problems({ static: { action: 'Allow' }, ...extra })).toEqual([
      {
        field: `spec.${field}`,
        message: `a static policy decides without verification: remove ${field} (or remove static)`,
      },
    ]);
  });

  it('still requires authorities and a requirement of a policy that is not static', () => {
    expect(problems({ signatures: {} })).toContainEqual({
      field: 'spec',
      message: 'missing required field "authorities" (or set spec.static)',
    });
    expect(problems({ authorities: AUTHORITIES })).toEqual([
      {
        field: 'spec',
        message: 'the policy requires nothing: set spec.signatures or spec.attestations (or spec.static)',
      },
    ]);
  });
});

describe('spec.platforms', () => {
  const verifying = { authorities: AUTHORITIES, signatures: {} };

  it.each([
    [['index'], { kind: 'index' }],
    [['all'], { kind: 'all' }],
    [['linux/amd64', 'linux/arm64/v8'], { kind: 'list', platforms: ['linux/amd64', 'linux/arm64/v8'] }],
  ])('compiles %j', (platforms, expected) => {
    const result = compile({ ...verifying, platforms });
    if ('problems' in result) throw new Error(JSON.stringify(result.problems));
    expect(result.platforms).toEqual(expected);
  });

  it('leaves the default (index) unset', () => {
    const result = compile(verifying);
    expect('problems' in result ? result : result.platforms).toBeUndefined();
  });

  it.each([
    [
      ['all', 'linux/amd64'],
      'spec.platforms',
      'all stands alone: give [index], [all], or a list of platforms',
    ],
    [['linux/amd64', 'linux/amd64'], 'spec.platforms[1]', 'duplicate platform "linux/amd64"'],
    [['linux'], 'spec.platforms[0]', 'must match pattern "^(index|all|[a-z0-9]+/[a-z0-9_]+(/[a-z0-9.]+)?)$"'],
    [[], 'spec.platforms', 'must NOT have fewer than 1 items'],
  ])('refuses %j', (platforms, field, message) => {
    expect(problems({ ...verifying, platforms })).toEqual([{ field, message }]);
  });
});

describe("the chart's registry allow-list example", () => {
  const file = new URL(
    '../../charts/provenant/examples/clusterimagepolicy-registry-allowlist.yaml',
    import.meta.url,
  );
  const documents = (loadAll(readFileSync(file, 'utf8')) as unknown[]).map((value, index) => ({
    source: 'clusterimagepolicy-registry-allowlist.yaml',
    index,
    value,
  }));
  const set = compilePolicies(documents, authorityCompiler(createTrustStore()));
  const matching = (image: string) =>
    set
      .matching(parseReference(image))
      .map((p) => p.name)
      .sort();

  it.each([
    ['nginx', ['no-docker-hub']],
    ['library/nginx:1.27', ['no-docker-hub']],
    ['docker.io/library/nginx', ['no-docker-hub']],
    ['index.docker.io/library/nginx@sha256:' + 'a'.repeat(64), ['no-docker-hub']],
    ['bitnami/redis', ['no-docker-hub']],
    ['registry-1.docker.io/library/nginx', ['no-docker-hub']],
    ['Docker.IO/library/nginx', ['no-docker-hub']],
    ['MIRROR.example.com:443/library/nginx', ['trusted-mirror']],
    ['mirror.example.com/library/nginx:1.27', ['trusted-mirror']],
    ['registry.example.com/team/app:v1', ['own-registry-signed']],
    ['ghcr.io/someone/app', []],
  ])('%s is matched by %j', (image, expected) => {
    expect(matching(image)).toEqual(expected);
  });
});

describe('key.timestampTrustRoot', () => {
  const withRoot = (timestampTrustRoot: string) => ({
    authorities: [{ name: 'ci', key: { publicKey: KEY, timestampTrustRoot } }],
    signatures: {},
  });

  it('names a trust root the store holds', () => {
    const result = compile(withRoot('public-good'));
    if ('problems' in result) throw new Error(JSON.stringify(result.problems));
    expect(result.authorities[0]).toMatchObject({ kind: 'key', timestampTrustRoot: 'public-good' });
  });

  it('refuses one the store does not hold', () => {
    expect(problems(withRoot('corp-tsa'))).toEqual([
      {
        field: 'spec.authorities[0].key.timestampTrustRoot',
        message: expect.stringContaining('names timestamp trust root "corp-tsa"; known: public-good, github'),
      },
    ]);
  });
});
