import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVerifyJson, provenant, writeKeylessPolicy } from '../../support/cli.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import type { KeylessAuthoritySpec } from '../../../src/policy/types.js';
import {
  PUBLIC_GOOD_TRUSTED_ROOT,
  pushRealKeylessSignature,
  REAL_SIGNER,
  type ServedSignature,
} from './real-keyless-signature.js';

// How a keyless authority's `trustRoot` name is resolved: the embedded `public-good` and `github`, names
// given with --trust-root NAME=FILE, and anything else refused as an invalid policy before any image is
// looked at. Judged on the real public-good signature, so a root that is used has something to decide.

let registry: TestRegistry;
let served: ServedSignature;

beforeAll(async () => {
  registry = await startRegistry();
  served = await pushRealKeylessSignature(registry);
});

afterAll(async () => {
  await registry?.stop();
});

const PHILIPP = { identities: [{ issuer: REAL_SIGNER.issuer, subject: REAL_SIGNER.subject }] };

async function verify(authorities: Record<string, KeylessAuthoritySpec>, flags: string[] = []) {
  const policy = await writeKeylessPolicy({ name: 'trust-roots', glob: `${registry.host}/**`, authorities });
  const result = await provenant([
    'verify',
    served.digestRef,
    '--policy',
    policy,
    '--insecure-registry',
    registry.host,
    '--output',
    'json',
    ...flags,
  ]);
  return { ...result, policy };
}

describe('keyless trustRoot names', () => {
  it('compiles trustRoot: github and applies it: a public-good certificate is not GitHub’s', async () => {
    const result = await verify({ 'github-signer': { trustRoot: 'github', ...PHILIPP } });
    expect(result.code, result.stderr).toBe(1);
    expect(parseVerifyJson(result).results[0]?.reasons).toEqual([
      expect.objectContaining({ authority: 'github-signer', code: 'UNTRUSTED_SIGNER' }),
    ]);
  });

  it('judges each authority under its own root: public-good admits where github does not', async () => {
    const result = await verify({
      'github-signer': { trustRoot: 'github', ...PHILIPP },
      'public-good-signer': { trustRoot: 'public-good', ...PHILIPP },
    });
    expect(result.code, result.stderr).toBe(0);
    expect(parseVerifyJson(result).results[0]).toMatchObject({ allowed: true, digest: served.imageDigest });
  });

  it('resolves a name given with --trust-root NAME=FILE', async () => {
    const result = await verify({ 'corp-signer': { trustRoot: 'corp', ...PHILIPP } }, [
      '--trust-root',
      `corp=${PUBLIC_GOOD_TRUSTED_ROOT}`,
    ]);
    expect(result.code, result.stderr).toBe(0);
  });

  it.each([
    ['with only the embedded roots', [], 'public-good, github'],
    ['with a custom root', ['--trust-root', `corp=${PUBLIC_GOOD_TRUSTED_ROOT}`], 'public-good, github, corp'],
  ])(
    'refuses an unknown name %s as INVALID_POLICY (exit 2), naming the file and the roots known',
    async (_when, flags, known) => {
      const result = await verify({ 'typo-signer': { trustRoot: 'crop', ...PHILIPP } }, flags);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain('INVALID_POLICY');
      expect(result.stderr).toContain(result.policy);
      expect(result.stderr).toContain('"crop"');
      expect(result.stderr).toContain(`known: ${known}`);
    },
  );
});
