import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeKeyPolicy } from '../../support/cli.js';
import { cosignSign, generateKeyPair } from '../../support/cosign.js';
import { pushRandomImage } from '../../support/images.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';

// There is no Docker engine here, so the Dockerfile's build stage is replayed step by step on the build
// context that .dockerignore lets through: npm ci, npm run build, npm prune --omit=dev. The pruned tree
// is what the runtime image holds; running it proves the production dependencies are complete (nothing
// imports a devDependency) and that dist/ runs as ES modules with plain node.

const run = promisify(execFile);
const repo = new URL('../../../', import.meta.url).pathname;
let context: string;
let registry: TestRegistry;

async function npm(args: string[]) {
  return run('npm', args, { cwd: context, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 });
}

/** Copies what .dockerignore's allow-list admits: `*` then `!path` entries, minus the `src/**\/*.test.ts` rule. */
async function copyBuildContext(target: string) {
  const rules = (await readFile(join(repo, '.dockerignore'), 'utf8'))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('!'))
    .map((l) => l.slice(1).replace(/\/$/, ''));
  for (const path of rules) {
    await cp(join(repo, path), join(target, path), {
      recursive: true,
      filter: (source) => !source.endsWith('.test.ts'),
    });
  }
}

beforeAll(async () => {
  context = await mkdtemp(join(tmpdir(), 'provenant-image-'));
  await copyBuildContext(context);
  await npm(['ci', '--ignore-scripts', '--no-audit', '--no-fund']);
  await npm(['run', 'build']);
  await npm(['prune', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund']);
  registry = await startRegistry();
}, 600_000);

afterAll(async () => {
  await registry?.stop();
  if (context) await rm(context, { recursive: true, force: true });
});

describe('the production build (Dockerfile build stage)', () => {
  it('keeps no development tooling', async () => {
    const modules = await readdir(join(context, 'node_modules'));
    for (const dev of ['typescript', 'vitest', 'tsx', 'eslint', 'prettier'])
      expect(modules).not.toContain(dev);
    const tests = await readdir(join(context, 'dist', 'cli'));
    expect(tests.some((f) => f.includes('.test.'))).toBe(false);
  });

  it('verifies a cosign-signed image with plain node and production dependencies only', async () => {
    const key = await generateKeyPair('ecdsa-p256');
    const signed = await pushRandomImage(registry, 'image/app', 'v1');
    const unsigned = await pushRandomImage(registry, 'image/app', 'v2');
    await cosignSign(2, key, signed.digestRef, registry);
    const policy = await writeKeyPolicy({
      glob: `${registry.host}/image/**`,
      keys: { release: key.publicKeyPem },
    });
    const base = ['dist/cli/main.js', 'verify', '--policy', policy, '--insecure-registry', registry.host];

    const allowed = await run('node', [...base, signed.ref], { cwd: context });
    expect(allowed.stdout).toMatch(/^allowed /);

    const denied = await run('node', [...base, unsigned.ref], { cwd: context }).catch((err: unknown) => err);
    expect((denied as { code: number }).code).toBe(1);
    expect((denied as { stdout: string }).stdout).toContain('NO_SIGNATURE');
  });

  it('loads the RE2 and CEL libraries, which only policies that use them load, from the pruned tree', async () => {
    const image = await pushRandomImage(registry, 'image/lazy', 'v1');
    const policy = join(context, 'lazy-policy.yaml');
    await writeFile(
      policy,
      [
        'apiVersion: provenant.dev/v1alpha1',
        'kind: ClusterImagePolicy',
        'metadata: { name: lazy }',
        'spec:',
        `  images: [{ glob: "${registry.host}/image/**" }]`,
        '  authorities:',
        '    - name: ci',
        '      keyless:',
        '        identities:',
        '          - issuer: https://token.actions.githubusercontent.com',
        '            subjectRegExp: "https://github.com/acme/.+"',
        '  attestations:',
        '    - name: sbom',
        '      predicateType: https://spdx.dev/Document',
        '      authorities: [ci]',
        '      conditions: [{ expression: "size(predicate.packages) > 0" }]',
      ].join('\n'),
    );
    const args = ['dist/cli/main.js', 'verify', '--policy', policy, '--insecure-registry', registry.host];
    // Compiled (both libraries loaded) and judged: denied for want of the attestation, not refused as input.
    const denied = await run('node', [...args, image.ref], { cwd: context }).catch((err: unknown) => err);
    expect(denied).toMatchObject({ code: 1 });
    expect((denied as { stdout: string }).stdout).toContain('ATTESTATION_MISSING');
  });

  it('starts every command from the compiled tree', async () => {
    for (const command of ['serve', 'check', 'verify-bundle']) {
      const { stdout } = await run('node', ['dist/cli/main.js', command, '--help'], { cwd: context });
      expect(stdout).toContain('Usage');
    }
  });
});
