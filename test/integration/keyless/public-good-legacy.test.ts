import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVerifyJson, provenant, writeKeylessPolicy } from '../../support/cli.js';
import { expectationCases, type ExpectationCase } from '../../support/fixtures.js';
import { fetchManifest, sha256Digest } from '../../support/images.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import type { KeylessIdentity } from '../../../src/verify/types.js';
import {
  cosign3VerifyPublicGood,
  pushRealKeylessSignature,
  REAL_SIGNER,
  type CosignIdentityFlags,
  type ServedSignature,
} from './real-keyless-signature.js';

// The real keyless legacy signature (public good, 2024) served from a local registry and verified through
// `provenant verify` with nothing but the embedded public-good root. Cases come from expectations.json
// (connaisseur's TestValidateImageKeyless); cosign 3 judges each one under the same root.

let registry: TestRegistry;
let served: ServedSignature;

beforeAll(async () => {
  registry = await startRegistry();
  served = await pushRealKeylessSignature(registry);
});

afterAll(async () => {
  await registry?.stop();
});

interface UpstreamPolicy {
  readonly certificateIdentity?: string;
  readonly certificateIdentityRegExp?: string;
  readonly certificateOidcIssuer?: string;
  readonly certificateOidcIssuerRegExp?: string;
  readonly exact?: UpstreamPolicy;
}

const CASES = expectationCases().filter((c) => c.id.startsWith('cosign-legacy/keyless/'));

/**
 * Upstream RegExps are unanchored (Go `MatchString`: "contains"); Provenant anchors every RegExp, so the same
 * intent is written `.*philipp.*`. Exact values carry over as they are.
 */
function identityFor(policy: UpstreamPolicy): KeylessIdentity {
  const contains = (re: string): string => `.*${re}.*`;
  return {
    ...(policy.certificateIdentity !== undefined ? { subject: policy.certificateIdentity } : {}),
    ...(policy.certificateIdentityRegExp !== undefined
      ? { subjectRegExp: contains(policy.certificateIdentityRegExp) }
      : {}),
    ...(policy.certificateOidcIssuer !== undefined ? { issuer: policy.certificateOidcIssuer } : {}),
    ...(policy.certificateOidcIssuerRegExp !== undefined
      ? { issuerRegExp: contains(policy.certificateOidcIssuerRegExp) }
      : {}),
  };
}

/** cosign reads upstream's RegExps with upstream's (unanchored) semantics: pass them as they are. */
function cosignFlagsFor(policy: UpstreamPolicy): CosignIdentityFlags {
  return {
    ...(policy.certificateIdentity !== undefined ? { certificateIdentity: policy.certificateIdentity } : {}),
    ...(policy.certificateIdentityRegExp !== undefined
      ? { certificateIdentityRegexp: policy.certificateIdentityRegExp }
      : {}),
    ...(policy.certificateOidcIssuer !== undefined
      ? { certificateOidcIssuer: policy.certificateOidcIssuer }
      : {}),
    ...(policy.certificateOidcIssuerRegExp !== undefined
      ? { certificateOidcIssuerRegexp: policy.certificateOidcIssuerRegExp }
      : {}),
  };
}

/** Each case as written upstream, and with its exact identity where expectations.json gives one. */
const RUNS = CASES.flatMap((c: ExpectationCase) => {
  const policy = c.policy as UpstreamPolicy;
  const runs = [{ id: c.id, form: 'as written', expected: c.expected, policy }];
  if (policy.exact !== undefined)
    runs.push({ id: c.id, form: 'exact', expected: c.expected, policy: policy.exact });
  return runs;
});

async function verifyWith(identity: KeylessIdentity, trustRoot?: string) {
  const policy = await writeKeylessPolicy({
    name: 'real-keyless',
    glob: `${registry.host}/phbelitz/**`,
    // No trustRoot means public good; the exact form names it, so both spellings are exercised.
    authorities: { 'public-good-signer': { ...(trustRoot ? { trustRoot } : {}), identities: [identity] } },
  });
  const result = await provenant([
    'verify',
    served.digestRef,
    '--policy',
    policy,
    '--insecure-registry',
    registry.host,
    '--output',
    'json',
  ]);
  const verdict = parseVerifyJson(result).results[0];
  if (verdict === undefined) throw new Error(`no verdict: ${result.stdout}${result.stderr}`);
  expect(result.code).toBe(verdict.allowed ? 0 : 1);
  return verdict;
}

describe('the real public-good keyless .sig, served from a local registry', () => {
  it('is served byte for byte at the digest the fixture was recorded under', async () => {
    expect(new Set(CASES.map((c) => c.expected))).toEqual(new Set(['pass', 'fail']));
    const bytes = await fetchManifest(registry, served.sigTagRef);
    expect(bytes && sha256Digest(bytes)).toBe(
      'sha256:7410e337e0f2d5528bbaf93fdc93623052b19649456a13b80534cfc7435967a3',
    );
    expect(served.sigDigest).toBe(bytes && sha256Digest(bytes));
  });

  it.each(RUNS)('$id ($form): $expected', async ({ expected, policy, form }) => {
    const verdict = await verifyWith(identityFor(policy), form === 'exact' ? 'public-good' : undefined);
    if (expected === 'pass') {
      expect(verdict).toMatchObject({ allowed: true, digest: served.imageDigest, reasons: [] });
    } else {
      expect(verdict.allowed).toBe(false);
      expect(verdict.reasons).toEqual([
        expect.objectContaining({ authority: 'public-good-signer', code: 'UNTRUSTED_SIGNER' }),
      ]);
      expect(verdict.reasons[0]?.message).toContain(REAL_SIGNER.subject);
      expect(verdict.reasons[0]?.message).toContain(REAL_SIGNER.issuer);
    }
    const cosign = await cosign3VerifyPublicGood(registry, served.digestRef, cosignFlagsFor(policy));
    expect(cosign.verified, cosign.stderr).toBe(expected === 'pass');
  });

  // Where Provenant deliberately differs from cosign: `philipp` is a substring match to cosign, but an
  // anchored RegExp here, so it does not admit philipp.belitz@securesystems.de (nor evil-philipp@…).
  it('anchors RegExps: subjectRegExp "philipp" alone denies, where cosign admits', async () => {
    const verdict = await verifyWith({ issuerRegExp: '.*github.*', subjectRegExp: 'philipp' });
    expect(verdict.reasons.map((r) => r.code)).toEqual(['UNTRUSTED_SIGNER']);
    const cosign = await cosign3VerifyPublicGood(registry, served.digestRef, {
      certificateIdentityRegexp: 'philipp',
      certificateOidcIssuerRegexp: 'github',
    });
    expect(cosign.verified, cosign.stderr).toBe(true);
  });
});
