import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAll } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { runCommand } from './commands.js';

const fixture = (name: string) =>
  fileURLToPath(new URL(`../../test/fixtures/policy-controller/${name}`, import.meta.url));

async function convert(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCommand(['convert', ...args], {
    stdout: (t) => (stdout += `${t}\n`),
    stderr: (t) => (stderr += `${t}\n`),
  });
  return { code, stdout, stderr };
}

describe('provenant convert', () => {
  it('exits 0 and writes the policy when everything maps exactly', async () => {
    const { code, stdout, stderr } = await convert(['-f', fixture('cip-static-fail.yaml')]);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(loadAll(stdout)).toEqual([
      {
        apiVersion: 'provenant.dev/v1alpha1',
        kind: 'ClusterImagePolicy',
        metadata: { name: 'image-policy-static-fail' },
        spec: {
          images: [{ glob: 'registry.local:5000/policy-controller/demo*' }],
          static: { action: 'Deny' },
        },
      },
    ]);
  });

  it('exits 1 listing every field it could not map, on stderr and as comments; --allow-partial exits 0', async () => {
    const file = fixture('cip-requires-two-signatures-and-two-attestations.yaml');
    const strict = await convert(['-f', file]);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain('unmapped: ');
    expect(strict.stderr).toContain('spec.policy: the policy-level CUE policy');
    expect(strict.stderr).toContain('approximated: ');
    expect(strict.stderr).toContain('11 field(s) could not be converted exactly');
    expect(strict.stdout).toContain('# unmapped: spec.authorities[0].attestations[0].policy:');
    const partial = await convert(['-f', file, '--allow-partial']);
    expect(partial.code).toBe(0);
    expect(partial.stdout).toBe(strict.stdout);
  });

  it('writes the policy exactly, bidi and zero-width characters included (it is a document to apply)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'provenant-convert-exact-'));
    const file = join(dir, 'cip.yaml');
    const subject = 'release\u202E@acme.example\u200B';
    await writeFile(
      file,
      `apiVersion: policy.sigstore.dev/v1alpha1
kind: ClusterImagePolicy
metadata: {name: exact}
spec:
  images: [{glob: "ghcr.io/acme/**"}]
  authorities:
    - keyless:
        identities: [{issuer: "https://accounts.example", subject: "${subject}"}]
`,
    );
    const { code, stdout, stderr } = await convert(['-f', file, '--allow-partial']);
    expect(code, stderr).toBe(0);
    expect(JSON.stringify(loadAll(stdout))).toContain(JSON.stringify(subject).slice(1, -1));
  });

  it('converts several files and documents into one multi-document stream', async () => {
    const { stdout } = await convert([
      '-f',
      fixture('docs-sample-policies.yaml'),
      '-f',
      fixture('cip-static-pass.yaml'),
      '--allow-partial',
    ]);
    const docs = loadAll(stdout) as ({ metadata: { name: string } } | null)[];
    // The KMS-only policy is not written: its section holds only comments.
    expect(docs.map((d) => d?.metadata.name ?? null)).toEqual([
      'custom-key-attestation-sbom-spdxjson',
      'keyless-attestation-sbom-spdxjson',
      null,
      'image-policy-static-pass',
    ]);
    expect(stdout).toContain('# (nothing written for this document)');
  });

  it.each([
    ['no file', [], 'name at least one policy-controller file'],
    ['a missing file', ['-f', '/nonexistent/cip.yaml'], 'ENOENT'],
  ])('exits 2 on %s', async (_what, args, message) => {
    const { code, stderr } = await convert(args);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
  });

  it('exits 2 on YAML aliases (a billion laughs would be copied out in full)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'provenant-convert-'));
    const levels = Array.from({ length: 30 }, (_, i) =>
      i === 0 ? 'l0: &l0 [x, x]' : `l${i}: &l${i} [*l${i - 1}, *l${i - 1}]`,
    );
    const laughs = `apiVersion: policy.sigstore.dev/v1alpha1
kind: ClusterImagePolicy
metadata: {name: laughs}
x:
${levels.map((l) => `  ${l}`).join('\n')}
spec:
  images: [{glob: "**"}]
  authorities: [{static: {action: pass, message: *l29}}]
`;
    await writeFile(join(dir, 'laughs.yaml'), laughs);
    const { code, stdout, stderr } = await convert(['-f', join(dir, 'laughs.yaml')]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain('YAML aliases are not accepted');
  });

  it('exits 2 on YAML it cannot parse and on a file over 4 MiB', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'provenant-convert-'));
    await writeFile(join(dir, 'bad.yaml'), 'spec: [unclosed');
    await writeFile(join(dir, 'big.yaml'), `# ${'x'.repeat(4 * 1024 * 1024)}\n`);
    for (const name of ['bad.yaml', 'big.yaml']) {
      const { code, stdout } = await convert(['-f', join(dir, name)]);
      expect(code).toBe(2);
      expect(stdout).toBe('');
    }
  });
});
