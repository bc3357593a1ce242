import { describe, expect, it } from 'vitest';
import { realAttestation } from '../../test/support/real-attestations.js';
import { certificateSources, readProvenance, type SourceClaim } from './provenance.js';
import { settleSource, sourceMismatch } from './source.js';
import { compileUriGlob } from './uri-glob.js';

/** Every source claim of the real generator attestation: three from the provenance, two from its certificate. */
function generatorClaims(): SourceClaim[] {
  const { attestation } = realAttestation('generator-container');
  const facts = readProvenance(attestation.statement);
  if (typeof facts === 'string') throw new Error(facts);
  return [...facts.sources, ...certificateSources(attestation.signer)];
}

const EXAMPLE = 'https://github.com/slsa-framework/example-package';

describe('settleSource', () => {
  it('settles the real generator claims on one repository, ref and commit', () => {
    expect(generatorClaims()).toHaveLength(5);
    expect(settleSource(generatorClaims())).toEqual({
      repository: EXAMPLE,
      ref: 'refs/heads/main',
      commit: '4d329c75e7ec1725f7c9ce917a8799d408d06be3',
    });
  });

  it.each<[keyof SourceClaim, string]>([
    ['repository', 'https://github.com/evil/app'],
    ['ref', 'refs/heads/release'],
    ['commit', '0000000000000000000000000000000000000000'],
  ])('reports claims that disagree on the %s, naming each', (key, value) => {
    const claims = generatorClaims().map((c, i) => (i === 0 ? { ...c, [key]: value } : c));
    const settled = settleSource(claims);
    expect(settled).toHaveProperty('problem');
    expect((settled as { problem: string }).problem).toContain(`invocation.configSource names ${value}`);
  });
});

describe('sourceMismatch', () => {
  const found = { repository: EXAMPLE, ref: 'refs/heads/main' };
  it.each<[string, { repository?: string; refs?: string[] }, typeof found | Record<string, never>, boolean]>([
    ['same repository', { repository: EXAMPLE }, found, false],
    ['org glob', { repository: 'https://github.com/slsa-framework/*' }, found, false],
    ['other repository', { repository: 'https://github.com/acme/app' }, found, true],
    ['ref listed', { refs: ['refs/tags/v*', 'refs/heads/main'] }, found, false],
    ['ref not listed', { refs: ['refs/tags/v*'] }, found, true],
    ['no repository found', { repository: EXAMPLE }, {}, true],
    ['no ref found', { refs: ['refs/heads/main'] }, {}, true],
  ])('%s', (_, required, source, mismatch) => {
    const compiled = {
      ...(required.repository !== undefined ? { repository: compileUriGlob(required.repository) } : {}),
      ...(required.refs !== undefined ? { refs: required.refs.map(compileUriGlob) } : {}),
    };
    expect(sourceMismatch(source, compiled) !== undefined).toBe(mismatch);
  });
});
