import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fixtureBytes, fixtureJson } from '../../test/support/fixtures.js';
import { parseTrustedRoot } from './trusted-root.js';

const CONFORMANCE = 'conformance/bundle-verify/';
const rootsIn = (suffix: string) =>
  readdirSync(new URL(`../../test/fixtures/${CONFORMANCE}`, import.meta.url), { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name.endsWith(suffix))
    .map((d) => d.name);

function codeOf(input: unknown): string | undefined {
  try {
    parseTrustedRoot(input, 'test');
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
}

describe('parseTrustedRoot', () => {
  it.each([
    'real/trusted-root/public-good/trusted_root.json',
    'real/trusted-root/public-good/trusted_root.2025-03.cosign-testdata.json',
    'real/trusted-root/github/trusted_root.json',
    'real/bundles/conformance/rekor2-happy-path/trusted_root.json',
  ])('accepts %s', (path) => {
    expect(codeOf(fixtureBytes(path))).toBeUndefined();
  });

  it('accepts every conformance trusted root except the malformed one', () => {
    const dirs = rootsIn('').filter((d) => {
      try {
        fixtureBytes(`${CONFORMANCE}${d}/trusted_root.json`);
        return true;
      } catch {
        return false;
      }
    });
    expect(dirs.length).toBeGreaterThan(20);
    for (const dir of dirs) {
      const expected =
        dir === 'trust-root-tlog-missing-validity-start_fail' ? 'TRUST_ROOT_INVALID' : undefined;
      expect([dir, codeOf(fixtureBytes(`${CONFORMANCE}${dir}/trusted_root.json`))]).toEqual([dir, expected]);
    }
  });

  it('names the defect: a tlog key without validFor.start', () => {
    expect(() =>
      parseTrustedRoot(
        fixtureBytes(`${CONFORMANCE}trust-root-tlog-missing-validity-start_fail/trusted_root.json`),
        'x',
      ),
    ).toThrow(/tlogs\[1\].*validFor\.start is missing/);
  });

  const good = fixtureJson<Record<string, unknown[]> & { mediaType: string }>(
    'real/trusted-root/public-good/trusted_root.json',
  );
  it.each<[string, unknown]>([
    ['text that is not JSON', '{'],
    ['a JSON array', '[]'],
    ['an unknown mediaType', { ...good, mediaType: 'application/json' }],
    ['nothing to trust', { mediaType: good.mediaType }],
    [
      'a CA with an empty chain',
      { ...good, certificateAuthorities: [{ validFor: { start: '2022-01-01T00:00:00Z' } }] },
    ],
    ['a tlog without a key', { ...good, tlogs: [{ baseUrl: 'x', logId: { keyId: 'AA==' } }] }],
    [
      'an end before the start',
      {
        ...good,
        timestampAuthorities: [
          {
            ...(good.timestampAuthorities?.[0] as object),
            validFor: { start: '2025-01-01T00:00:00Z', end: '2024-01-01T00:00:00Z' },
          },
        ],
      },
    ],
  ])('rejects %s with TRUST_ROOT_INVALID', (_, input) => {
    expect(codeOf(input)).toBe('TRUST_ROOT_INVALID');
  });
});
