import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { verifyBundleCommand } from './verify-bundle.js';

const CASES = new URL('../../test/fixtures/conformance/bundle-verify/', import.meta.url);
const path = (p: string) => new URL(p, CASES).pathname;
const IDENTITY =
  'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';

async function run(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await verifyBundleCommand(argv, {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    readFile: (p) => readFile(p),
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const keyless = (bundle: string) => [
  '--bundle',
  path(bundle),
  '--certificate-identity',
  IDENTITY,
  '--certificate-oidc-issuer',
  ISSUER,
];

describe('verifyBundleCommand', () => {
  it('exits 0 for a valid bundle, with the file or its digest', async () => {
    expect((await run([...keyless('happy-path-v0.3/bundle.sigstore.json'), path('a.txt')])).code).toBe(0);
    const digest = `sha256:${createHash('sha256')
      .update(await readFile(path('a.txt')))
      .digest('hex')}`;
    expect((await run([...keyless('happy-path-v0.3/bundle.sigstore.json'), digest])).code).toBe(0);
  });

  it('exits 1 and prints the reason code for an identity mismatch', async () => {
    const argv = keyless('happy-path-v0.3/bundle.sigstore.json');
    argv[3] = 'https://github.com/evil/repo/.github/workflows/x.yml@refs/heads/main';
    const result = await run([...argv, path('a.txt')]);
    expect([result.code, result.err.split(':')[0]]).toEqual([1, 'UNTRUSTED_SIGNER']);
  });

  it.each<[string, string[]]>([
    ['no --bundle', [path('a.txt')]],
    ['no artifact', keyless('happy-path-v0.3/bundle.sigstore.json')],
    ['an identity without issuer', ['--bundle', 'b', '--certificate-identity', 'x', 'a']],
    ['a key together with an identity', ['--bundle', 'b', '--key', 'k', '--certificate-identity', 'x', 'a']],
    ['an unknown flag', ['--bundle', 'b', '--key', 'k', '--offline', 'a']],
    ['a flag without value', ['--bundle']],
  ])('exits 2 for usage errors: %s', async (_, argv) => {
    expect((await run(argv)).code).toBe(2);
  });

  it('exits 1, not 2 or a crash, when a file cannot be read', async () => {
    const result = await run([...keyless('does-not-exist.json'), path('a.txt')]);
    expect(result.code).toBe(1);
  });

  it('accepts --flag=value', async () => {
    const argv = [
      `--bundle=${path('happy-path-v0.3/bundle.sigstore.json')}`,
      `--certificate-identity=${IDENTITY}`,
    ];
    expect((await run([...argv, `--certificate-oidc-issuer=${ISSUER}`, path('a.txt')])).code).toBe(0);
  });
});
