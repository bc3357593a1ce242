import { describe, expect, it } from 'vitest';
import { realAttestation } from '../../test/support/real-attestations.js';
import { compileAttestationRequirement } from '../attestation/compile.js';
import type { AttestationRequirementSpec, VerifiedAttestation } from '../attestation/types.js';
import { evaluatePolicy, type AttestationFindings, type FailedAttestation } from './evaluate.js';
import type { CompiledPolicy } from './types.js';

const AUTHORITIES = ['ci', 'release'];
const generator = realAttestation('generator-container', 'ci');
const DIGEST = generator.digest;
const NOW = new Date('2025-06-01T00:00:00Z');

function policy(
  requirements: readonly Omit<AttestationRequirementSpec, 'authorities'>[],
  signatures?: { threshold: number },
): CompiledPolicy {
  return {
    name: 'release',
    kind: 'ClusterImagePolicy',
    mode: 'Enforce',
    fingerprint: 'f',
    matches: () => true,
    authorities: AUTHORITIES.map((name) => ({ kind: 'key', name, publicKeyPem: '' })),
    ...(signatures !== undefined ? { signatures } : {}),
    attestations: requirements.map((r) =>
      compileAttestationRequirement({ authorities: ['ci'], ...r }, AUTHORITIES),
    ),
  };
}

function findings(
  verified: readonly VerifiedAttestation[],
  failed: readonly FailedAttestation[] = [],
  now = NOW,
): AttestationFindings {
  return {
    verified,
    failed,
    context: { imageDigest: DIGEST, imageReference: `r.example/app@${DIGEST}`, now },
  };
}

const NO_CHECKS = {};
const PROVENANCE = { name: 'provenance', predicateType: 'slsa-provenance', slsa: { minBuildLevel: 3 } };
const SBOM = { name: 'sbom', predicateType: 'spdx' };

describe('evaluatePolicy with attestation requirements', () => {
  it('is satisfied by attestations alone when the policy asks for no signatures', () => {
    const outcome = evaluatePolicy(policy([PROVENANCE]), NO_CHECKS, 0, findings([generator.attestation]));
    expect(outcome).toMatchObject({ satisfied: true, reasons: [], verifiedAuthorities: [] });
    expect(outcome.attestations).toEqual([
      {
        requirement: 'provenance',
        satisfied: true,
        evidence: expect.objectContaining({
          authority: 'ci',
          slsa: expect.objectContaining({ level: 3 }),
        }) as unknown,
      },
    ]);
  });

  it('needs the signatures as well when the policy asks for them', () => {
    const outcome = evaluatePolicy(
      policy([PROVENANCE], { threshold: 1 }),
      NO_CHECKS,
      0,
      findings([generator.attestation]),
    );
    expect(outcome.satisfied).toBe(false);
    expect(outcome.reasons.map((r) => r.code)).toEqual(['NO_SIGNATURE']);
    expect(outcome.attestations?.[0]?.satisfied).toBe(true);
  });

  it('needs every requirement, and names the policy on every reason', () => {
    const outcome = evaluatePolicy(
      policy([PROVENANCE, SBOM]),
      NO_CHECKS,
      0,
      findings([generator.attestation]),
    );
    expect(outcome.satisfied).toBe(false);
    expect(outcome.reasons).toEqual([
      expect.objectContaining({ policy: 'release', code: 'ATTESTATION_MISSING' }),
    ]);
    expect(outcome.attestations?.map((a) => [a.requirement, a.satisfied])).toEqual([
      ['provenance', true],
      ['sbom', false],
    ]);
  });

  it('judges maxAge against the clock of this evaluation, not of the verification', () => {
    const req = { ...PROVENANCE, maxAge: '720h' };
    const signed = generator.attestation.signedAt?.getTime() ?? 0;
    const fresh = findings([generator.attestation], [], new Date(signed + 3_600_000));
    expect(evaluatePolicy(policy([req]), NO_CHECKS, 0, fresh).satisfied).toBe(true);
    const later = findings([generator.attestation], [], new Date(signed + 800 * 3_600_000));
    expect(evaluatePolicy(policy([req]), NO_CHECKS, 0, later).reasons.map((r) => r.code)).toEqual([
      'ATTESTATION_TOO_OLD',
    ]);
  });

  it('fails closed when attestations were not looked up at all', () => {
    const outcome = evaluatePolicy(policy([PROVENANCE]), NO_CHECKS, 0);
    expect(outcome.satisfied).toBe(false);
    expect(outcome.reasons.map((r) => r.code)).toEqual(['ATTESTATION_MISSING']);
  });

  describe('when nothing of the required type verified', () => {
    const failure = (
      authority: string | undefined,
      code: FailedAttestation['code'],
      predicateType?: string,
    ) => ({
      source: `r.example/app:sha256-x.att layer ${code}`,
      ...(authority !== undefined ? { authority } : {}),
      ...(predicateType !== undefined ? { predicateType } : {}),
      code,
      message: `${code} detail`,
    });

    it('reports the most telling failure per named authority instead of "missing"', () => {
      const outcome = evaluatePolicy(
        policy([PROVENANCE]),
        NO_CHECKS,
        0,
        findings(
          [],
          [
            failure('ci', 'UNTRUSTED_SIGNER', 'https://slsa.dev/provenance/v0.2'),
            failure('ci', 'DIGEST_MISMATCH', 'https://slsa.dev/provenance/v0.2'),
            failure('release', 'UNTRUSTED_SIGNER', 'https://slsa.dev/provenance/v0.2'),
          ],
        ),
      );
      expect(outcome.reasons).toEqual([
        expect.objectContaining({ policy: 'release', authority: 'ci', code: 'DIGEST_MISMATCH' }),
      ]);
      expect(outcome.reasons[0]?.message).toContain('(2 attestations checked)');
    });

    it('ignores failures of attestations of another type', () => {
      const outcome = evaluatePolicy(
        policy([SBOM]),
        NO_CHECKS,
        0,
        findings([], [failure('ci', 'DIGEST_MISMATCH', 'https://slsa.dev/provenance/v0.2')]),
      );
      expect(outcome.reasons.map((r) => r.code)).toEqual(['ATTESTATION_MISSING']);
    });

    it('reports unreadable attestation layers, whatever their type', () => {
      const outcome = evaluatePolicy(
        policy([SBOM]),
        NO_CHECKS,
        0,
        findings([], [failure(undefined, 'SIGNATURE_INVALID')]),
      );
      expect(outcome.reasons).toEqual([expect.objectContaining({ code: 'SIGNATURE_INVALID' })]);
    });

    it('adds failures other than "another signer" to the evaluator\'s UNTRUSTED_SIGNER', () => {
      const byRelease = realAttestation('generator-container', 'release').attestation;
      const outcome = evaluatePolicy(
        policy([PROVENANCE]),
        NO_CHECKS,
        0,
        findings([byRelease], [failure('ci', 'UNTRUSTED_SIGNER', 'https://slsa.dev/provenance/v0.2')]),
      );
      expect(outcome.reasons.map((r) => r.code)).toEqual(['UNTRUSTED_SIGNER']);
      const tampered = evaluatePolicy(
        policy([PROVENANCE]),
        NO_CHECKS,
        0,
        findings([byRelease], [failure('ci', 'SIGNATURE_INVALID', 'https://slsa.dev/provenance/v0.2')]),
      );
      expect(tampered.reasons.map((r) => [r.code, r.authority])).toEqual([
        ['UNTRUSTED_SIGNER', undefined],
        ['SIGNATURE_INVALID', 'ci'],
      ]);
    });
  });
});

describe('evaluatePolicy with signature checks', () => {
  const signed = { ok: true as const, source: 's', signer: { authority: 'release', identity: 'key k' } };

  it('counts an authority whose own checks include a verified signature', () => {
    const outcome = evaluatePolicy(policy([], { threshold: 1 }), { release: [signed] }, 1);
    expect(outcome).toMatchObject({ satisfied: true, verifiedAuthorities: ['release'] });
  });

  describe('a threshold counts distinct signers', () => {
    const by = (
      authority: string,
      signer: { keyId?: string; issuer?: string; subject?: string },
      source = 's',
    ) => ({
      ok: true as const,
      source,
      signer: { authority, identity: signer.subject ?? `key ${signer.keyId}`, ...signer },
    });
    const twoOfTwo = policy([], { threshold: 2 });

    it('two keys: met', () => {
      const outcome = evaluatePolicy(
        twoOfTwo,
        { ci: [by('ci', { keyId: 'a' })], release: [by('release', { keyId: 'b' })] },
        2,
      );
      expect(outcome).toMatchObject({ satisfied: true, verifiedAuthorities: ['ci', 'release'] });
    });

    it('one key that both authorities name, even listed twice: not met, and the deny says why', () => {
      const outcome = evaluatePolicy(
        twoOfTwo,
        {
          ci: [by('ci', { keyId: 'a' }, 'layer 0'), by('ci', { keyId: 'a' }, 'layer 1')],
          release: [by('release', { keyId: 'a' }, 'layer 0'), by('release', { keyId: 'a' }, 'layer 1')],
        },
        2,
      );
      expect(outcome.satisfied).toBe(false);
      expect(outcome.reasons[0]).toMatchObject({
        code: 'THRESHOLD_NOT_MET',
        message:
          '2 of 2 required authorities signed (ci, release), 1 distinct signer among them (a key or identity counts once)',
      });
    });

    it('one person matched by a broad and a narrow keyless authority: not met; two people: met', () => {
      const philipp = { issuer: 'https://accounts.google.com', subject: 'philipp@example.com' };
      const ana = { issuer: 'https://accounts.google.com', subject: 'ana@example.com' };
      const once = evaluatePolicy(
        twoOfTwo,
        { ci: [by('ci', philipp)], release: [by('release', philipp)] },
        1,
      );
      expect(once.satisfied).toBe(false);
      // The broad authority accepts both; crediting it to Ana leaves Philipp for the narrow one.
      const twice = evaluatePolicy(
        twoOfTwo,
        { ci: [by('ci', philipp), by('ci', ana)], release: [by('release', philipp)] },
        2,
      );
      expect(twice.satisfied).toBe(true);
    });
  });

  it('reads authorities named like Object.prototype members as unchecked, never from the prototype', () => {
    const named = (name: string): CompiledPolicy => ({
      ...policy([], { threshold: 1 }),
      authorities: [{ kind: 'key', name, publicKeyPem: '' }],
    });
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const outcome = evaluatePolicy(named(name), {}, 1);
      expect(outcome.satisfied, name).toBe(false);
      expect(outcome.verifiedAuthorities).toEqual([]);
    }
  });
});
