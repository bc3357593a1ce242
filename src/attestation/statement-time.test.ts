import { describe, expect, it } from 'vitest';
import { realAttestation } from '../../test/support/real-attestations.js';
import { statementTime } from './statement-time.js';

const T = '2026-11-20T10:16:41Z';

describe('statementTime', () => {
  it.each([
    [
      'https://slsa.dev/provenance/v1',
      { runDetails: { metadata: { startedOn: '2026-11-20T10:00:00Z', finishedOn: T } } },
    ],
    [
      'https://slsa.dev/provenance/v0.2',
      { metadata: { buildStartedOn: '2026-11-20T10:00:00Z', buildFinishedOn: T } },
    ],
    ['https://slsa.dev/verification_summary/v1', { timeVerified: T }],
    ['https://spdx.dev/Document/v2.3', { creationInfo: { created: T } }],
    ['https://cyclonedx.org/bom', { metadata: { timestamp: '2026-11-20T11:16:41+01:00' } }],
    ['https://cosign.sigstore.dev/attestation/vuln/v1', { metadata: { scanFinishedOn: T } }],
  ])('%s: the time it says it was made (finished, where it says both)', (type, predicate) => {
    expect(statementTime(type, predicate)?.toISOString()).toBe('2026-11-20T10:16:41.000Z');
  });

  it('falls back to the start when no finish is stated', () => {
    const predicate = { metadata: { buildStartedOn: T } };
    expect(statementTime('https://slsa.dev/provenance/v0.2', predicate)?.toISOString()).toBe(
      '2026-11-20T10:16:41.000Z',
    );
  });

  it.each([
    ['a type that states no time', 'https://example.com/custom/v1', { created: T }],
    ['a date without a time', 'https://slsa.dev/verification_summary/v1', { timeVerified: '2026-11-20' }],
    [
      'a time without a zone',
      'https://slsa.dev/verification_summary/v1',
      { timeVerified: '2026-11-20T10:16:41' },
    ],
    ['another shape', 'https://slsa.dev/verification_summary/v1', { timeVerified: 1_763_633_801 }],
    [
      'an impossible date',
      'https://slsa.dev/verification_summary/v1',
      { timeVerified: '2026-13-45T10:16:41Z' },
    ],
  ])('reads nothing from %s', (_, type, predicate) => {
    expect(statementTime(type, predicate)).toBeUndefined();
  });

  it('reads the real GKE VSA; slsa-github-generator provenance states no time (it is signed keyless)', () => {
    const generator = realAttestation('generator-container').attestation.statement;
    expect(statementTime(generator.predicateType, generator.predicate)).toBeUndefined();
    const vsa = realAttestation('gke-vsa').attestation.statement;
    expect(statementTime(vsa.predicateType, vsa.predicate)?.toISOString()).toBe('2024-06-12T07:24:34.351Z');
  });
});
