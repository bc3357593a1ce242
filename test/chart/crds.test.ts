// The CRDs on a real kube-apiserver: they are what scripts/generate-crds.ts makes of src/policy/schema.ts,
// the API server accepts them (CEL cost included), every invalid policy in invalid-policies/ is refused
// with the error its `# REASON:` line names, and valid policies and the chart's examples apply cleanly.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCrds, renderCrd, toCrdSchema } from '../../scripts/generate-crds.js';
import { authorityCompiler } from '../../src/policy/authorities.js';
import { compilePolicies } from '../../src/policy/compile.js';
import { compileGlob } from '../../src/policy/glob.js';
import type { SchemaNode } from '../../src/policy/schema.js';
import { createTrustStore } from '../../src/trust/index.js';
import { type Cluster, startCluster } from '../e2e/harness/index.js';
import { REGEXP_DIALECT } from '../support/regexp-dialect.js';
import {
  CHART_DIR,
  CRD_DIR,
  ROOT,
  namespacesOf,
  parseObjects,
  readPolicyCases,
  requireTools,
} from './support.js';

const INVALID = readPolicyCases(join(import.meta.dirname, 'invalid-policies'));
const VALID = [
  ...readPolicyCases(join(import.meta.dirname, 'valid-policies')),
  ...readPolicyCases(join(CHART_DIR, 'examples')),
];
const EXAMPLE_POLICY = parseObjects(
  readFileSync(join(CHART_DIR, 'examples/clusterimagepolicy-key.yaml'), 'utf8'),
)[0] as unknown as {
  spec: { authorities: { key: { publicKey: string } }[] };
};
const PUBLIC_KEY = EXAMPLE_POLICY.spec.authorities[0]!.key.publicKey;

function policy(name: string, spec: object, kind = 'ClusterImagePolicy'): string {
  return JSON.stringify({ apiVersion: 'provenant.dev/v1alpha1', kind, metadata: { name }, spec });
}

describe('generated CRDs', () => {
  it('are up to date with src/policy/schema.ts (run: npx tsx scripts/generate-crds.ts)', () => {
    for (const [file, crd] of buildCrds()) {
      expect(readFileSync(join(CRD_DIR, file), 'utf8'), file).toBe(renderCrd(crd));
    }
  });

  it('document every field and bound every string and list', () => {
    const walk = (node: Record<string, unknown>, path: string): void => {
      const props = (node.properties ?? {}) as Record<string, Record<string, unknown>>;
      for (const [key, child] of Object.entries(props)) {
        if (path === '' && key === 'metadata') continue;
        expect(child.description, `${path}.${key} has a description`).toBeTruthy();
        if (
          child.type === 'string' &&
          !child.enum &&
          child.format !== 'date-time' &&
          !(path === '' && ['apiVersion', 'kind'].includes(key))
        ) {
          expect(child.maxLength, `${path}.${key} has maxLength`).toBeDefined();
        }
        if (child.type === 'array') expect(child.maxItems, `${path}.${key} has maxItems`).toBeDefined();
        walk(child, `${path}.${key}`);
        if (child.items) walk(child.items as Record<string, unknown>, `${path}.${key}[]`);
      }
    };
    for (const [, crd] of buildCrds())
      walk(crd.spec.versions[0]!.schema.openAPIV3Schema as Record<string, unknown>, '');
  });

  it('refuse a schema keyword they would drop from the CRD', () => {
    const schema = { type: 'string', description: 'x', maxLength: 8, uniqueItems: true } as SchemaNode;
    expect(() => toCrdSchema(schema, 'spec.x', 'x')).toThrow(/uniqueItems not translated/);
  });

  it('refuse an unclassified authority field, so the trust-anchor rule never silently goes stale', () => {
    const schema: SchemaNode = {
      type: 'object',
      description: 'x',
      properties: {
        images: { type: 'array', description: 'x', maxItems: 1, items: { type: 'object', properties: {} } },
        signatures: { type: 'object', description: 'x', properties: {} },
        authorities: {
          type: 'array',
          description: 'x',
          maxItems: 2,
          items: {
            type: 'object',
            required: ['name'],
            properties: {
              name: { type: 'string', description: 'x', maxLength: 63 },
              key: { type: 'object', description: 'x', properties: {} },
              ctlog: { type: 'object', description: 'x', properties: {} },
            },
          },
        },
      },
    };
    expect(() => toCrdSchema(schema)).toThrow(/ctlog.*classify/);
  });
});

describe('CRDs on a real API server', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    requireTools('etcd', 'kube-apiserver', 'kubectl');
    cluster = await startCluster();
    const applied = await cluster.kubectl(['apply', '-f', CRD_DIR]);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    const established = await cluster.kubectl([
      'wait',
      '--for=condition=Established',
      'crd',
      '--all',
      '--timeout=60s',
    ]);
    expect(established.code, established.stderr).toBe(0);
    for (const ns of new Set([...namespacesOf(INVALID), ...namespacesOf(VALID)])) {
      await cluster.createNamespace(ns);
    }
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('has a REASON line in every invalid policy', () => {
    expect(INVALID.length).toBeGreaterThan(20);
    for (const c of INVALID) expect(c.reason, `${c.file} has a # REASON: line`).toBeTruthy();
  });

  it.each(INVALID.map((c) => [c.file, c] as const))('refuses %s', async (_file, c) => {
    const r = await cluster.kubectl(['apply', '-f', c.path]);
    expect(r.code, `${c.file} was accepted:\n${r.stdout}`).not.toBe(0);
    expect(r.stderr).toContain(c.reason);
  });

  it.each(VALID.map((c) => [c.file, c] as const))('accepts %s', async (_file, c) => {
    const r = await cluster.kubectl(['apply', '-f', c.path]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('accepts a real inline trusted_root.json (GitHub’s)', async () => {
    const trustedRoot = JSON.parse(
      readFileSync(join(ROOT, 'test/fixtures/real/trusted-root/github/trusted_root.json'), 'utf8'),
    ) as object;
    const input = JSON.stringify({
      apiVersion: 'provenant.dev/v1alpha1',
      kind: 'TrustRoot',
      metadata: { name: 'github-inline' },
      spec: { trustedRoot },
    });
    const r = await cluster.kubectl(['apply', '-f', '-'], { input });
    expect(r.stderr).toBe('');
    // Unknown fields inside trustedRoot are kept, not pruned: the controller reads the whole document.
    const got = await cluster.kubectl(['get', 'tr', 'github-inline', '-o', 'json']);
    expect((JSON.parse(got.stdout) as { spec: { trustedRoot: unknown } }).spec.trustedRoot).toEqual(
      trustedRoot,
    );
  });

  it('defaults mode to Enforce and refreshInterval to 24h', async () => {
    const cip = await cluster.kubectl(['get', 'cip', 'all-must-sign', '-o', 'jsonpath={.spec.mode}']);
    expect(cip.stdout).toBe('Enforce');
    const tr = await cluster.kubectl([
      'get',
      'tr',
      'airgapped-mirror',
      '-o',
      'jsonpath={.spec.tuf.refreshInterval}',
    ]);
    expect(tr.stdout).toBe('24h');
  });

  it('prunes unknown fields that skip client-side validation', async () => {
    const input = policy('pruned', {
      images: [{ glob: 'ghcr.io/acme/**' }],
      authorities: [{ name: 'a', key: { publicKey: PUBLIC_KEY } }],
      signatures: {},
      surprise: true,
    });
    const r = await cluster.kubectl(['apply', '--validate=false', '-f', '-'], { input });
    expect(r.code, r.stderr).toBe(0);
    const got = await cluster.kubectl(['get', 'cip', 'pruned', '-o', 'json']);
    expect(JSON.parse(got.stdout).spec).not.toHaveProperty('surprise');
  });

  it('lists policies with Mode, Images, Ready, Violations and Age columns, by short name and category', async () => {
    const status = {
      status: {
        observedGeneration: 1,
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'Compiled',
            message: 'policy is in force',
            lastTransitionTime: '2026-01-01T00:00:00Z',
            observedGeneration: 1,
          },
        ],
        violatingWorkloads: 3,
        lastBackgroundCheck: '2026-01-01T00:05:00Z',
      },
    };
    const patched = await cluster.kubectl([
      'patch',
      'cip',
      'acme-signed',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify(status),
    ]);
    expect(patched.code, patched.stderr).toBe(0);

    const r = await cluster.kubectl(['get', 'cip', 'acme-signed']);
    expect(r.stdout.split('\n')[0]).toMatch(/^NAME\s+MODE\s+IMAGES\s+READY\s+VIOLATIONS\s+AGE$/);
    expect(r.stdout).toMatch(/acme-signed\s+Enforce\s+ghcr\.io\/acme\/\*\*\s+True\s+3\s+\d+s/);

    const wide = await cluster.kubectl(['get', 'cip', 'acme-signed', '-o', 'wide']);
    expect(wide.stdout).toMatch(/REASON/);
    expect(wide.stdout).toMatch(/Compiled/);

    const all = await cluster.kubectl(['get', 'provenant', '-A']);
    expect(all.stdout).toContain('clusterimagepolicy.provenant.dev/acme-signed');
    expect(all.stdout).toContain('imagepolicy.provenant.dev/team-a-signed');
    expect(all.stdout).toContain('trustroot.provenant.dev/sigstore-public-good');
    for (const short of ['ip', 'tr']) {
      const s = await cluster.kubectl(['get', short, '-A']);
      expect(s.code, s.stderr).toBe(0);
    }
    const byMode = await cluster.kubectl(['get', 'cip', '--field-selector', 'spec.mode=Warn', '-o', 'name']);
    expect(byMode.stdout.trim()).toBe('clusterimagepolicy.provenant.dev/payments-two-of-three');
  });

  it('keeps status out of spec updates (status subresource)', async () => {
    const r = await cluster.kubectl(['get', 'cip', 'acme-signed', '-o', 'json']);
    const obj = JSON.parse(r.stdout) as { status?: unknown; metadata: { generation: number } };
    expect(obj.status).toBeDefined();
    const replaced = await cluster.kubectl([
      'apply',
      '-f',
      join(CHART_DIR, 'examples/clusterimagepolicy-key.yaml'),
    ]);
    expect(replaced.code).toBe(0);
    const after = JSON.parse((await cluster.kubectl(['get', 'cip', 'acme-signed', '-o', 'json'])).stdout);
    expect(after.status).toEqual(obj.status);
    expect(after.metadata.generation).toBe(obj.metadata.generation);
  });

  it('documents fields for kubectl explain', async () => {
    const authorities = await cluster.kubectl(['explain', 'clusterimagepolicy.spec.authorities']);
    expect(authorities.stdout).toContain('Named trust anchors');
    expect(authorities.stdout).toMatch(/key\s+<Object>/);
    const threshold = await cluster.kubectl(['explain', 'imagepolicy.spec.signatures.threshold']);
    expect(threshold.stdout).toContain('distinct authorities');
    const tuf = await cluster.kubectl(['explain', 'trustroot.spec.tuf.root']);
    expect(tuf.stdout).toContain('base64');
    const conditions = await cluster.kubectl(['explain', 'cip.status.conditions.reason']);
    expect(conditions.stdout).toContain('CamelCase');
  });

  it('agrees with the glob compiler on which globs are valid', async () => {
    const globs = [
      'nginx',
      'ghcr.io/acme/**',
      'ghcr.io/acme/*',
      'localhost:5000/a/b',
      'ghcr.io/acme/app@sha256:*',
      'ghcr.io/acme/app:v1.?',
      'ghcr.io/[x]',
      '**',
      'ghcr.io/acme/ app',
      'ghcr.io/acme/(a|b)',
      'ghcr.io/***',
      'ghcr.io/acme/app$',
      'ghcr.io/ü',
      'ghcr.io/a\\b',
      'ghcr.io/a+b',
      'ghcr.io/a,b',
      'ghcr.io/a#b',
    ];
    for (const [i, glob] of globs.entries()) {
      let compilerAccepts = true;
      try {
        compileGlob(glob);
      } catch {
        compilerAccepts = false;
      }
      const input = policy(`glob-${i}`, {
        images: [{ glob }],
        authorities: [{ name: 'a', key: { publicKey: PUBLIC_KEY } }],
        signatures: {},
      });
      const r = await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], { input });
      expect(
        r.code === 0,
        `glob ${JSON.stringify(glob)}: compiler ${compilerAccepts}, API server: ${r.stderr}`,
      ).toBe(compilerAccepts);
    }
  });

  it.each([
    ['subjectRegExp', (re: string) => ({ issuer: 'https://issuer.example', subjectRegExp: re })],
    ['certificate.buildSignerURIRegExp', () => ({ issuer: 'https://i.example', subject: 's' })],
  ] as const)(
    'agrees with the policy compiler and RE2 on which regular expressions are valid: %s',
    async (field, identity) => {
      const compile = authorityCompiler(createTrustStore());
      for (const [i, c] of REGEXP_DIALECT.entries()) {
        const keyless = {
          identities: [identity(c.pattern)],
          ...(field.startsWith('certificate.') ? { certificate: { buildSignerURIRegExp: c.pattern } } : {}),
        };
        const doc = {
          apiVersion: 'provenant.dev/v1alpha1',
          kind: 'ClusterImagePolicy',
          metadata: { name: `re-${i}` },
          spec: {
            images: [{ glob: 'ghcr.io/acme/**' }],
            authorities: [{ name: 'ci', keyless }],
            signatures: {},
          },
        };
        let compilerAccepts = true;
        try {
          compilePolicies([{ source: 'table', index: i, value: doc }], compile);
        } catch {
          compilerAccepts = false;
        }
        const r = await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], {
          input: JSON.stringify(doc),
        });
        const what = `${field} ${JSON.stringify(c.pattern)} (${c.why})`;
        expect(r.code === 0, `${what}: API server: ${r.stderr}`).toBe(c.valid);
        expect(compilerAccepts, `${what}: policy compiler`).toBe(c.valid);
        if (!c.valid) expect(r.stderr, what).toContain('must be a valid regular expression (RE2 syntax)');
      }
    },
  );

  it('checks any field named *RegExp as a regular expression (for authorities to come)', async () => {
    // A stand-in for future keyless fields, run through the same generator and applied as its own CRD.
    const spec = toCrdSchema(
      {
        type: 'object',
        description: 'x',
        properties: {
          subjectRegExp: { type: 'string', description: 'x', maxLength: 256 },
        },
      },
      'probe',
      'probe',
    );
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'probes.test.provenant.dev' },
      spec: {
        group: 'test.provenant.dev',
        scope: 'Cluster',
        names: { kind: 'Probe', plural: 'probes', singular: 'probe' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', properties: { spec } } },
          },
        ],
      },
    };
    const created = await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(crd) });
    expect(created.code, created.stderr).toBe(0);
    await cluster.kubectl([
      'wait',
      '--for=condition=Established',
      'crd/probes.test.provenant.dev',
      '--timeout=60s',
    ]);
    const probe = (name: string, re: string) =>
      JSON.stringify({
        apiVersion: 'test.provenant.dev/v1',
        kind: 'Probe',
        metadata: { name },
        spec: { subjectRegExp: re },
      });
    const good = await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], {
      input: probe('good', '^https://github\\.com/acme/.+$'),
    });
    expect(good.code, good.stderr).toBe(0);
    const bad = await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], {
      input: probe('bad', '^(acme'),
    });
    expect(bad.stderr).toContain('error parsing regexp: missing closing )');
    const lookahead = await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], {
      input: probe('la', '(?=x)'),
    });
    expect(lookahead.stderr).toContain('must be a valid regular expression (RE2 syntax)');
  });

  it('round-trips every valid policy unchanged, apart from defaults', async () => {
    for (const c of VALID) {
      for (const obj of parseObjects(c.content)) {
        const args = ['get', obj.kind, obj.metadata.name, '-o', 'json'];
        if (obj.metadata.namespace) args.push('-n', obj.metadata.namespace);
        const got = JSON.parse((await cluster.kubectl(args)).stdout) as { spec: Record<string, unknown> };
        expect(got.spec, c.file).toMatchObject(obj.spec as Record<string, unknown>);
      }
    }
  });
});
