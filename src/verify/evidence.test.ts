/**
 * What a bundle may carry before any of it is verified: as many transparency-log entries and RFC 3161
 * timestamps as sigstore-go accepts, and no more, refused at parse time with the code of what is too many.
 */
import { describe, expect, it } from 'vitest';
import { fixtureJson } from '../../test/support/fixtures.js';
import { ProvenantError } from '../errors.js';
import { MAX_RFC3161_TIMESTAMPS, MAX_TLOG_ENTRIES, parseBundle, prepareBundle } from './evidence.js';

// A real bundle (sigstore-python, Rekor v2 on staging) with one tlog entry and one RFC 3161 timestamp.
const BUNDLE = 'interop/sigstore-python/staging-rekor-v2/staging-rekor-v2.txt.sigstore.json';

interface BundleJson {
  verificationMaterial: {
    tlogEntries: unknown[];
    timestampVerificationData: { rfc3161Timestamps: unknown[] };
  };
}

function codeOf(parse: () => unknown): string {
  try {
    parse();
  } catch (err) {
    return err instanceof ProvenantError ? err.code : `not a ProvenantError: ${String(err)}`;
  }
  return 'parsed';
}

function withCopies(entries: number, timestamps: number): Uint8Array {
  const json = fixtureJson<BundleJson>(BUNDLE);
  const material = json.verificationMaterial;
  const [entry] = material.tlogEntries;
  const [timestamp] = material.timestampVerificationData.rfc3161Timestamps;
  material.tlogEntries = Array.from({ length: entries }, () => entry);
  material.timestampVerificationData.rfc3161Timestamps = Array.from({ length: timestamps }, () => timestamp);
  return Buffer.from(JSON.stringify(json));
}

describe('parseBundle bounds', () => {
  it(`accepts ${MAX_TLOG_ENTRIES} tlog entries and ${MAX_RFC3161_TIMESTAMPS} timestamps`, () => {
    const bundle = parseBundle(withCopies(MAX_TLOG_ENTRIES, MAX_RFC3161_TIMESTAMPS));
    expect(bundle.verificationMaterial.tlogEntries).toHaveLength(MAX_TLOG_ENTRIES);
  });

  it('refuses one tlog entry more as TLOG_INVALID', () => {
    expect(() => parseBundle(withCopies(MAX_TLOG_ENTRIES + 1, 1))).toThrow(
      `bundle carries ${MAX_TLOG_ENTRIES + 1} transparency-log entries; at most ${MAX_TLOG_ENTRIES} are accepted`,
    );
    expect(codeOf(() => parseBundle(withCopies(MAX_TLOG_ENTRIES + 1, 1)))).toBe('TLOG_INVALID');
  });

  it('refuses one RFC 3161 timestamp more as TIMESTAMP_INVALID', () => {
    expect(() => parseBundle(withCopies(1, MAX_RFC3161_TIMESTAMPS + 1))).toThrow(
      `bundle carries ${MAX_RFC3161_TIMESTAMPS + 1} RFC 3161 timestamps; at most ${MAX_RFC3161_TIMESTAMPS} are accepted`,
    );
    expect(codeOf(() => parseBundle(withCopies(1, MAX_RFC3161_TIMESTAMPS + 1)))).toBe('TIMESTAMP_INVALID');
  });
});

describe('messages about what a bundle holds', () => {
  // What is refused before any signature check is anyone's to write; its messages are kept in cached verdicts.
  const messageOf = (prepare: () => unknown): string => {
    try {
      prepare();
    } catch (err) {
      return err instanceof ProvenantError ? `${err.code}: ${err.message}` : String(err);
    }
    return 'prepared';
  };

  it('quote at most 128 characters of a 1 MB payloadType or mediaType', () => {
    const dsse = fixtureJson<{ mediaType: string; dsseEnvelope: { payloadType: string } }>(
      'real/slsa/github-attestation-container-opa-provider/bundle.sigstore.json',
    );
    dsse.dsseEnvelope.payloadType = 'p'.repeat(1024 * 1024);
    const payloadType = messageOf(() => prepareBundle(Buffer.from(JSON.stringify(dsse))));
    expect(payloadType).toMatch(
      /^SIGNATURE_INVALID: DSSE payloadType is "p+… \(1048578 characters\), not in-toto$/,
    );
    expect(payloadType.length).toBeLessThan(250);

    dsse.mediaType = 'm'.repeat(1024 * 1024);
    const mediaType = messageOf(() => parseBundle(Buffer.from(JSON.stringify(dsse))));
    expect(mediaType).toMatch(/^UNSUPPORTED_FORMAT: bundle mediaType "m+… \(1048578 characters\) is not/);
    expect(mediaType.length).toBeLessThan(250);
  });
});
