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
    ['an unknown output format', ['--bundle', 'b', '--key', 'k', '--output', 'yaml', 'a']],
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

  it('--output json says which timestamps counted and which were left out', async () => {
    const dir = new URL(
      '../../test/fixtures/interop/derived/rekor2-extra-timestamp-over-other-signature/',
      import.meta.url,
    ).pathname;
    const argv = ['--bundle', `${dir}bundle.sigstore.json`, '--certificate-identity', IDENTITY];
    argv.push('--certificate-oidc-issuer', ISSUER, '--trusted-root', `${dir}trusted_root.json`);
    const result = await run([...argv, '--output', 'json', path('a.txt')]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.out)).toMatchObject({
      verified: true,
      signer: { subject: IDENTITY, issuer: ISSUER },
      timestamps: [
        { kind: 'rfc3161', index: 0, authority: 'https://timestamp.sigstage.dev/api/v1/timestamp' },
      ],
      ignoredTimestamps: [{ index: 1, reason: 'timestamp could not be verified' }],
    });
  });

  it('--output json reports a failure as data, with exit 1', async () => {
    const argv = keyless('happy-path-v0.3/bundle.sigstore.json');
    argv[3] = 'someone@example.com';
    const result = await run([...argv, '--output', 'json', path('a.txt')]);
    expect([result.code, JSON.parse(result.out)]).toEqual([
      1,
      { verified: false, code: 'UNTRUSTED_SIGNER', message: expect.any(String) as unknown as string },
    ]);
  });

  it('takes a sha512 digest of the artifact (npm provenance lists only sha512)', async () => {
    const dir = new URL('../../test/fixtures/interop/sigstore-python/npm-sigstore-3.1.0/', import.meta.url)
      .pathname;
    const tarball = await readFile(`${dir}sigstore-3.1.0.tgz`);
    const argv = ['--bundle', `${dir}bundle.sigstore.json`, '--certificate-identity'];
    argv.push('https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main');
    argv.push('--certificate-oidc-issuer', ISSUER);
    const sha512 = `sha512:${createHash('sha512').update(tarball).digest('hex')}`;
    expect((await run([...argv, sha512])).code).toBe(0);
  });
});
