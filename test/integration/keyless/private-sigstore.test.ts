import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVerifyJson, provenant, writeKeylessPolicy } from '../../support/cli.js';
import { pushRandomImage, type PushedImage } from '../../support/images.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import {
  expiredValidity,
  GITHUB_ACTIONS_ISSUER,
  githubActionsIdentity,
  startPrivateSigstore,
  tamperBundle,
  type PrivateSigstore,
  type SerializedBundle,
  type SigstoreIdentity,
} from '../../support/sigstore.js';
import {
  cosignSignKeyless,
  cosignVerifyKeyless,
  type CosignVersion,
  type KeylessVerifyOptions,
} from '../../support/sigstore-cosign.js';
import { attachBundleReferrer } from '../../support/sigstore-oci.js';
import type { KeylessAuthoritySpec } from '../../../src/policy/types.js';

// `provenant verify` on images signed keylessly by real cosign 2 (legacy .sig: certificate, chain and Rekor
// bundle annotations) and cosign 3 (bundle referrers) against a private Sigstore on loopback, named by a
// policy as a custom trust root and passed with --trust-root. Every verdict is cross-checked with cosign 3.

/** The name policies use for the private instance: any name but the built-in public-good and github. */
const TRUST_ROOT = 'acme-sigstore';
const REPO = 'keyless/app';

const RELEASE = {
  repository: 'acme/app',
  ref: 'refs/tags/v1.2.3',
  workflow: '.github/workflows/release.yml',
};
const BUILDER = githubActionsIdentity(RELEASE);

/** Who signs, and which policies must admit the signature. */
interface Signer {
  readonly identity: SigstoreIdentity;
  readonly admittedBy: readonly PolicyName[];
  /** What the deny message must show of the identity found in the certificate. */
  readonly shows: string;
}

const SIGNERS = {
  builder: {
    identity: BUILDER,
    admittedBy: ['identity', 'identity-regexp', 'release'],
    shows: BUILDER.subject,
  },
  otherSubject: {
    identity: githubActionsIdentity({ ...RELEASE, repository: 'evil/app' }),
    admittedBy: [],
    shows: 'https://github.com/evil/app/.github/workflows/release.yml@refs/tags/v1.2.3',
  },
  otherIssuer: {
    identity: { ...BUILDER, issuer: 'https://accounts.example.com' },
    admittedBy: [],
    shows: 'https://accounts.example.com',
  },
  // The release workflow, reused from a branch build: same SAN (the reusable workflow), but the source ref
  // (.14, and the legacy .6 cosign reads) is the branch. Only the certificate constraint can tell.
  branchBuild: {
    identity: githubActionsIdentity({
      ...RELEASE,
      ref: 'refs/heads/feature',
      jobWorkflowRef: `acme/app/${RELEASE.workflow}@${RELEASE.ref}`,
    }),
    admittedBy: ['identity', 'identity-regexp'],
    shows: 'refs/heads/feature',
  },
} as const satisfies Record<string, Signer>;
type SignerName = keyof typeof SIGNERS;

const POLICIES = {
  identity: { identities: [{ issuer: GITHUB_ACTIONS_ISSUER, subject: BUILDER.subject }] },
  'identity-regexp': {
    identities: [
      {
        issuerRegExp: 'https://token\\.actions\\.githubusercontent\\.com',
        subjectRegExp: 'https://github\\.com/acme/app/\\.github/workflows/release\\.yml@refs/tags/v.+',
      },
    ],
  },
  release: {
    identities: [{ issuer: GITHUB_ACTIONS_ISSUER, subject: BUILDER.subject }],
    certificate: {
      sourceRepositoryURI: 'https://github.com/acme/app',
      sourceRepositoryRefRegExp: 'refs/tags/v\\d+\\.\\d+\\.\\d+',
      runnerEnvironment: 'github-hosted',
    },
  },
} as const satisfies Record<string, Omit<KeylessAuthoritySpec, 'trustRoot'>>;
type PolicyName = keyof typeof POLICIES;

/** cosign 3's flags for each policy; its GitHub workflow checks read the legacy OIDs .5 and .6. */
const COSIGN_FLAGS: Record<PolicyName, KeylessVerifyOptions> = {
  identity: { certificateIdentity: BUILDER.subject, certificateOidcIssuer: GITHUB_ACTIONS_ISSUER },
  'identity-regexp': {
    certificateIdentityRegexp: `^${POLICIES['identity-regexp'].identities[0].subjectRegExp}$`,
    certificateOidcIssuerRegexp: `^${POLICIES['identity-regexp'].identities[0].issuerRegExp}$`,
  },
  release: {
    certificateIdentity: BUILDER.subject,
    certificateOidcIssuer: GITHUB_ACTIONS_ISSUER,
    githubWorkflow: { repository: RELEASE.repository, ref: RELEASE.ref },
  },
};

let registry: TestRegistry;
let sigstore: PrivateSigstore;
/** A second instance that shares nothing with the first: the untrusted CA. */
let untrusted: PrivateSigstore;
let tags = 0;
const policies = new Map<string, string>();

beforeAll(async () => {
  [registry, sigstore, untrusted] = await Promise.all([
    startRegistry(),
    startPrivateSigstore({ name: 'acme' }),
    startPrivateSigstore({ name: 'untrusted' }),
  ]);
});

afterAll(async () => {
  await Promise.all([registry?.stop(), sigstore?.stop(), untrusted?.stop()]);
});

const freshImage = (): Promise<PushedImage> => pushRandomImage(registry, REPO, `t${++tags}`);

async function policyFor(name: PolicyName, trustRoot = TRUST_ROOT): Promise<string> {
  const key = `${name}|${trustRoot}`;
  let path = policies.get(key);
  if (path === undefined) {
    path = await writeKeylessPolicy({
      name: `keyless-${name}`,
      glob: `${registry.host}/**`,
      authorities: { [`ci-${name}`]: { trustRoot, ...POLICIES[name] } },
    });
    policies.set(key, path);
  }
  return path;
}

async function verify(
  image: PushedImage,
  policy: string,
  trustRoots = [`${TRUST_ROOT}=${sigstore.trustedRootPath}`],
) {
  const result = await provenant([
    'verify',
    image.digestRef,
    '--policy',
    policy,
    ...trustRoots.flatMap((root) => ['--trust-root', root]),
    '--insecure-registry',
    registry.host,
    '--output',
    'json',
  ]);
  const json = parseVerifyJson(result);
  expect(json.results).toHaveLength(1);
  const verdict = json.results[0];
  if (verdict === undefined) throw new Error('no verdict');
  expect(verdict.digest).toBe(image.digest);
  expect(result.code).toBe(verdict.allowed ? 0 : 1);
  return verdict;
}

async function cosign3(trust: PrivateSigstore, image: PushedImage, flags: KeylessVerifyOptions) {
  const answer = await cosignVerifyKeyless(3, trust, image.digestRef, registry, flags);
  return { ...answer, why: `${answer.command}\n${answer.error}` };
}

async function attach(image: PushedImage, bundle: SerializedBundle): Promise<void> {
  await attachBundleReferrer(registry, REPO, image.digest, bundle);
}

describe.each<[string, CosignVersion]>([
  ['cosign 3 bundle referrer', 3],
  ['cosign 2 legacy .sig', 2],
])('keyless signatures by %s under a custom trust root', (_how, version) => {
  const signed = new Map<SignerName, PushedImage>();

  beforeAll(async () => {
    for (const name of Object.keys(SIGNERS) as SignerName[]) {
      const image = await freshImage();
      await cosignSignKeyless(version, sigstore, image.digestRef, registry, {
        identity: SIGNERS[name].identity,
      });
      signed.set(name, image);
    }
  });

  const cases = (Object.keys(SIGNERS) as SignerName[]).flatMap((signer) =>
    (Object.keys(POLICIES) as PolicyName[]).map((policy) => ({
      signer,
      policy,
      admitted: (SIGNERS[signer].admittedBy as readonly PolicyName[]).includes(policy),
    })),
  );

  it.each(cases)('$signer under policy $policy: admitted $admitted', async ({ signer, policy, admitted }) => {
    const image = signed.get(signer);
    if (image === undefined) throw new Error(`${signer} was not signed`);
    const verdict = await verify(image, await policyFor(policy));
    if (admitted) {
      expect(verdict).toMatchObject({ allowed: true, reasons: [] });
    } else {
      expect(verdict.allowed).toBe(false);
      expect(verdict.reasons).toEqual([
        expect.objectContaining({ authority: `ci-${policy}`, code: 'UNTRUSTED_SIGNER' }),
      ]);
      // A person must see who signed, not only that someone else did.
      expect(verdict.reasons[0]?.message).toContain(SIGNERS[signer].shows);
    }
    const cosign = await cosign3(sigstore, image, COSIGN_FLAGS[policy]);
    expect(cosign.verified, cosign.why).toBe(admitted);
  });
});

describe('keyless signatures that must not verify under the custom trust root', () => {
  it('denies a signature from another Sigstore instance as UNTRUSTED_SIGNER, and admits it under that root', async () => {
    const viaCosign3 = await freshImage();
    await cosignSignKeyless(3, untrusted, viaCosign3.digestRef, registry, { identity: BUILDER });
    const viaCosign2 = await freshImage();
    await cosignSignKeyless(2, untrusted, viaCosign2.digestRef, registry, { identity: BUILDER });
    const viaBundle = await freshImage();
    await attach(viaBundle, await untrusted.signImage(viaBundle.digest, BUILDER));

    for (const image of [viaCosign3, viaCosign2, viaBundle]) {
      const verdict = await verify(image, await policyFor('identity'));
      expect(
        verdict.reasons.map((r) => r.code),
        JSON.stringify(verdict.reasons),
      ).toEqual(['UNTRUSTED_SIGNER']);
      expect((await cosign3(sigstore, image, COSIGN_FLAGS.identity)).verified).toBe(false);

      // The signature itself is sound: under the other instance's root both verifiers accept it.
      const other = await verify(image, await policyFor('identity', 'other'), [
        `other=${untrusted.trustedRootPath}`,
      ]);
      expect(other).toMatchObject({ allowed: true, reasons: [] });
      const cosign = await cosign3(untrusted, image, COSIGN_FLAGS.identity);
      expect(cosign.verified, cosign.why).toBe(true);
    }
  });

  it('denies a certificate that had expired when the signature was logged as CERTIFICATE_INVALID', async () => {
    const image = await freshImage();
    await attach(image, await sigstore.signImage(image.digest, { ...BUILDER, validity: expiredValidity() }));
    const verdict = await verify(image, await policyFor('identity'));
    expect(verdict.reasons.map((r) => r.code)).toEqual(['CERTIFICATE_INVALID']);
    const cosign = await cosign3(sigstore, image, COSIGN_FLAGS.identity);
    expect(cosign.verified).toBe(false);
    expect(cosign.error).toMatch(/integrated time outside certificate validity/);
  });

  it('denies a tampered transparency-log entry as TLOG_INVALID', async () => {
    const image = await freshImage();
    const genuine = await sigstore.signImage(image.digest, BUILDER);
    await attach(image, tamperBundle(genuine, 'canonicalizedBody'));
    const verdict = await verify(image, await policyFor('identity'));
    expect(verdict.reasons.map((r) => r.code)).toEqual(['TLOG_INVALID']);
    const cosign = await cosign3(sigstore, image, COSIGN_FLAGS.identity);
    expect(cosign.verified).toBe(false);
    expect(cosign.error).toMatch(/not enough verified log entries/);

    // Control: the untampered bundle admits the same image.
    const control = await freshImage();
    await attach(control, await sigstore.signImage(control.digest, BUILDER));
    expect(await verify(control, await policyFor('identity'))).toMatchObject({ allowed: true });
  });

  it('refuses the policy when its trust root is not passed with --trust-root (exit 2, INVALID_POLICY)', async () => {
    const image = await freshImage();
    const result = await provenant([
      'verify',
      image.digestRef,
      '--policy',
      await policyFor('identity'),
      '--insecure-registry',
      registry.host,
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('INVALID_POLICY');
    expect(result.stderr).toContain(TRUST_ROOT);
  });
});
