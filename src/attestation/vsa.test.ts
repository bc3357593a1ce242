import { describe, expect, it } from 'vitest';
import { realAttestation } from '../../test/support/real-attestations.js';
import type { CompiledVerifier, InTotoStatement } from './types.js';
import { compileUriGlob } from './uri-glob.js';
import { checkVsa, validateRequiredLevel } from './vsa.js';

const BCID = 'https://bcid.corp.google.com/verifier/bcid_package_enforcer/v0.1';
const RESOURCE = 'gce_image://gke-node-images:gke-12615-gke1418000-cos-101-17162-463-29-c-cgpv1-pre';

const verifier = (
  verifiedLevels: string[] = [],
  level?: number,
  resourceUri = RESOURCE,
  id = BCID,
): CompiledVerifier => ({
  id: compileUriGlob(id),
  resourceUri: compileUriGlob(resourceUri),
  verifiedLevels,
  ...(level !== undefined ? { level } : {}),
  authorities: ['bcid'],
});

function vsa(edit: (predicate: Record<string, unknown>) => void = () => {}): InTotoStatement {
  const { statement } = realAttestation('gke-vsa').attestation;
  const predicate = structuredClone(statement.predicate) as Record<string, unknown>;
  edit(predicate);
  return { ...statement, predicate };
}

describe('checkVsa on the real GKE VSA', () => {
  it.each<
    [string, InTotoStatement, CompiledVerifier[], { ok: true; level: number } | { ok: false; code: string }]
  >([
    ['upstream pass case', vsa(), [verifier(['BCID_L1', 'SLSA_BUILD_LEVEL_2'])], { ok: true, level: 2 }],
    // SLSA_BUILD_LEVEL_2 implies 1; levels compare numerically per track.
    [
      'a lower level on the same track is met',
      vsa(),
      [verifier(['SLSA_BUILD_LEVEL_1'])],
      { ok: true, level: 2 },
    ],
    [
      'a higher level is not',
      vsa(),
      [verifier(['SLSA_BUILD_LEVEL_3'])],
      { ok: false, code: 'SLSA_LEVEL_TOO_LOW' },
    ],
    [
      'another track is not',
      vsa(),
      [verifier(['SLSA_SOURCE_LEVEL_1'])],
      { ok: false, code: 'SLSA_LEVEL_TOO_LOW' },
    ],
    [
      'a custom level must be listed as written',
      vsa(),
      [verifier(['BCID_L2'])],
      { ok: false, code: 'SLSA_LEVEL_TOO_LOW' },
    ],
    ['the entry caps the level', vsa(), [verifier([], 1)], { ok: true, level: 1 }],
    [
      'resource glob',
      vsa(),
      [verifier([], undefined, 'gce_image://gke-node-images:*')],
      { ok: true, level: 2 },
    ],
    [
      'other resource',
      vsa(),
      [verifier([], undefined, 'gce_image://cos-cloud:*')],
      { ok: false, code: 'VSA_RESOURCE_MISMATCH' },
    ],
    [
      'other verifier',
      vsa(),
      [verifier([], undefined, RESOURCE, 'https://slsa.example/verifier')],
      { ok: false, code: 'VSA_VERIFIER_UNTRUSTED' },
    ],
    [
      'the second entry for the verifier allows the resource',
      vsa(),
      [
        verifier([], undefined, 'gce_image://cos-cloud:*'),
        verifier([], undefined, 'gce_image://gke-node-images:*'),
      ],
      { ok: true, level: 2 },
    ],
    [
      'FAILED',
      vsa((p) => (p.verificationResult = 'FAILED')),
      [verifier()],
      { ok: false, code: 'VSA_FAILED' },
    ],
    ['no level at all', vsa((p) => (p.verifiedLevels = [])), [verifier()], { ok: true, level: 0 }],
    [
      'two levels on one track',
      vsa((p) => (p.verifiedLevels = ['SLSA_BUILD_LEVEL_2', 'SLSA_BUILD_LEVEL_3'])),
      [verifier()],
      { ok: false, code: 'ATTESTATION_INVALID' },
    ],
    [
      'a custom level posing as SLSA',
      vsa((p) => (p.verifiedLevels = ['SLSA_L3'])),
      [verifier()],
      { ok: false, code: 'ATTESTATION_INVALID' },
    ],
    [
      'levels not strings',
      vsa((p) => (p.verifiedLevels = [3])),
      [verifier()],
      { ok: false, code: 'ATTESTATION_INVALID' },
    ],
    [
      'no verifier id',
      vsa((p) => (p.verifier = {})),
      [verifier()],
      { ok: false, code: 'ATTESTATION_INVALID' },
    ],
  ])('%s', (_, statement, verifiers, expected) => {
    expect(checkVsa(statement, verifiers, 'bcid')).toMatchObject(expected);
  });

  it("refuses a VSA in a listed verifier's name from an authority that verifier does not sign as", () => {
    expect(checkVsa(vsa(), [verifier()], 'ci')).toMatchObject({
      ok: false,
      code: 'VSA_VERIFIER_UNTRUSTED',
      message: `VSA in the name of verifier ${BCID} signed by authority ci; that verifier's VSAs are accepted from bcid`,
    });
  });
});

describe('validateRequiredLevel', () => {
  it.each(['SLSA_BUILD_LEVEL_3', 'BCID_L1'])('accepts %s', (level) => {
    expect(() => validateRequiredLevel(level)).not.toThrow();
  });
  it.each(['SLSA_BUILD_3', 'BCID L1', ''])('rejects %j', (level) => {
    expect(() => validateRequiredLevel(level)).toThrow();
  });
});
