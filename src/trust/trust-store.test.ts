import { describe, expect, it } from 'vitest';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { fixtureBytes, fixtureJson } from '../../test/support/fixtures.js';
import { buildTrustRoot, createTrustStore, GITHUB, PUBLIC_GOOD, usableRoot } from './trust-store.js';

describe('createTrustStore', () => {
  const store = createTrustStore();

  it('holds public good (SCT + tlog + timestamp) and GitHub (timestamp only) with their thresholds', () => {
    expect(store.names()).toEqual([PUBLIC_GOOD, GITHUB]);
    expect(store.get(PUBLIC_GOOD)?.thresholds).toEqual({
      tlogThreshold: 1,
      ctlogThreshold: 1,
      timestampThreshold: 1,
    });
    expect(store.get(GITHUB)?.thresholds).toEqual({
      tlogThreshold: 0,
      ctlogThreshold: 0,
      timestampThreshold: 1,
    });
    expect(store.get('nope')).toBeUndefined();
  });

  it('embeds exactly the shared fixture roots', () => {
    const pg = TrustedRoot.fromJSON(fixtureJson('real/trusted-root/public-good/trusted_root.json'));
    const gh = TrustedRoot.fromJSON(fixtureJson('real/trusted-root/github/trusted_root.json'));
    expect(store.get(PUBLIC_GOOD)?.trustedRoot).toEqual(pg);
    expect(store.get(GITHUB)?.trustedRoot).toEqual(gh);
  });

  it('adds custom roots with default or given thresholds', () => {
    const custom = createTrustStore({
      staging: { trustedRoot: fixtureBytes('real/bundles/conformance/rekor2-happy-path/trusted_root.json') },
      tsaOnly: {
        trustedRoot: fixtureBytes('real/bundles/conformance/rekor2-happy-path/trusted_root.json'),
        thresholds: { tlogThreshold: 0 },
      },
    });
    expect(custom.get('staging')?.thresholds.tlogThreshold).toBe(1);
    expect(custom.get('tsaOnly')?.thresholds).toEqual({
      tlogThreshold: 0,
      ctlogThreshold: 1,
      timestampThreshold: 1,
    });
  });

  it.each<[string, () => unknown]>([
    [
      'a custom root named like a built-in one',
      () =>
        createTrustStore({
          github: { trustedRoot: fixtureBytes('real/trusted-root/github/trusted_root.json') },
        }),
    ],
    [
      'a negative threshold',
      () =>
        buildTrustRoot('x', fixtureBytes('real/trusted-root/github/trusted_root.json'), {
          tlogThreshold: -1,
          ctlogThreshold: 0,
          timestampThreshold: 1,
        }),
    ],
    // keyless certificates are only meaningful at a trusted time
    [
      'a zero timestamp threshold',
      () =>
        buildTrustRoot('x', fixtureBytes('real/trusted-root/github/trusted_root.json'), {
          tlogThreshold: 0,
          ctlogThreshold: 0,
          timestampThreshold: 0,
        }),
    ],
  ])('rejects %s with TRUST_ROOT_INVALID', (_, build) => {
    expect(build).toThrow(expect.objectContaining({ code: 'TRUST_ROOT_INVALID' }));
  });
});

describe('roots named but not in hand', () => {
  const ROOT = fixtureBytes('real/trusted-root/public-good/trusted_root.json');

  it('are in the store with no trust material, and refuse to be used with TRUST_ROOT_UNAVAILABLE', () => {
    const store = createTrustStore({}, { corp: 'trust root "corp": not fetched yet' });
    const corp = store.get('corp');
    expect(store.names()).toContain('corp');
    expect(corp?.trustMaterial.certificateAuthorities).toEqual([]);
    expect(corp?.trustMaterial.tlogs).toEqual([]);
    expect(corp?.trustMaterial.timestampAuthorities).toEqual([]);
    expect(() => usableRoot(corp as NonNullable<typeof corp>)).toThrow(
      expect.objectContaining({
        code: 'TRUST_ROOT_UNAVAILABLE',
        message: 'trust root "corp": not fetched yet',
      }),
    );
    // Never the fingerprint of real material, so no verdict reached with one is reused under the other.
    expect(corp?.fingerprint).not.toBe(
      createTrustStore({ corp: { trustedRoot: ROOT } }).get('corp')?.fingerprint,
    );
  });

  it('give way to a built-in or custom root of the same name', () => {
    const store = createTrustStore(
      { corp: { trustedRoot: ROOT } },
      { corp: 'pending', [PUBLIC_GOOD]: 'pending' },
    );
    expect(store.get('corp')?.unavailable).toBeUndefined();
    expect(store.get(PUBLIC_GOOD)?.unavailable).toBeUndefined();
    expect(store.names().filter((n) => n === PUBLIC_GOOD)).toHaveLength(1);
  });
});
