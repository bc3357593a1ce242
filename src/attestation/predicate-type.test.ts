import { describe, expect, it } from 'vitest';
import { compilePredicateType } from './predicate-type.js';

describe('compilePredicateType', () => {
  it.each([
    ['slsa-provenance', 'https://slsa.dev/provenance/v0.2', true],
    ['slsa-provenance', 'https://slsa.dev/provenance/v1', true],
    ['slsa-provenance', 'https://slsa.dev/provenance/v1.1', false],
    ['slsa-provenance-v1', 'https://slsa.dev/provenance/v0.2', false],
    ['https://slsa.dev/provenance/v1', 'https://slsa.dev/provenance/v1', true],
    ['https://slsa.dev/provenance/v1', 'https://slsa.dev/provenance/v0.2', false],
    // SBOM types match every version of their family (formats.md §4.9)...
    ['https://spdx.dev/Document', 'https://spdx.dev/Document/v2.3', true],
    ['spdx', 'https://spdx.dev/Document', true],
    ['cyclonedx', 'https://cyclonedx.org/bom/v1.4', true],
    // ...on a path boundary only, and a versioned URI stays exact.
    ['https://spdx.dev/Document', 'https://spdx.dev/DocumentX', false],
    ['https://spdx.dev/Document/v2.3', 'https://spdx.dev/Document/v3', false],
    ['slsa-vsa', 'https://slsa.dev/verification_summary/v1', true],
    [
      'https://cosign.sigstore.dev/attestation/vuln/v1',
      'https://cosign.sigstore.dev/attestation/vuln/v1',
      true,
    ],
  ])('%s matches %s → %s', (spec, predicateType, expected) => {
    expect(compilePredicateType(spec).matches(predicateType)).toBe(expected);
  });

  it.each([
    ['slsa-provenance', true, false],
    ['https://slsa.dev/provenance/v0.2', true, false],
    ['slsa-vsa', false, true],
    ['spdx', false, false],
  ])('%s: provenance %s, vsa %s', (spec, provenance, vsa) => {
    expect(compilePredicateType(spec)).toMatchObject({ provenance, vsa });
  });

  it.each(['slsaprovenance', 'provenance/v1', '', 'not a uri'])('rejects %j', (spec) => {
    expect(() => compilePredicateType(spec)).toThrow();
  });
});
