import { describe, expect, it } from 'vitest';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { fixtureBytes, fixtureJson } from '../../test/support/fixtures.js';
import { buildTrustRoot, createTrustStore, GITHUB, PUBLIC_GOOD } from './trust-store.js';

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
