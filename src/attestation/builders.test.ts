import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { realAttestation, type RealAttestationName } from '../../test/support/real-attestations.js';
import { rateBuilder } from './builders.js';
import { readProvenance, type ProvenanceFacts } from './provenance.js';
import type { AttestationSigner, CompiledBuilder, InTotoStatement } from './types.js';
import { compileUriGlob } from './uri-glob.js';

const GENERATOR =
  'https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml';

function real(name: RealAttestationName): { facts: ProvenanceFacts; signer: AttestationSigner } {
  const { attestation } = realAttestation(name);
  const facts = readProvenance(attestation.statement);
  if (typeof facts === 'string') throw new Error(facts);
  return { facts, signer: attestation.signer };
}

/**
 * The generator provenance re-signed at another ref: the builder.id and the certificate SAN move together,
 * as they would for a real build at that ref, so only the tag rule decides.
 */
function generatorAt(ref: string): { facts: ProvenanceFacts; signer: AttestationSigner } {
  const { facts, signer } = real('generator-container');
  const id = `${GENERATOR}@${ref}`;
  return { facts: { ...facts, builderId: id }, signer: { ...signer, identity: id } };
}

const DELEGATOR =
  'https://github.com/slsa-framework/slsa-github-generator/.github/workflows/delegator_lowperms-generic_slsa3.yml';
const BAZEL_TRW =
  'https://github.com/slsa-framework/slsa-github-generator/.github/workflows/builder_bazel_slsa3.yml';

/**
 * slsa-verifier's BYOB test provenance (test/fixtures/slsa-byob), signed, as there, by the low-permission
 * delegator at `ref` on a GitHub-hosted runner; the other certificate fields are those of a real GitHub
 * Actions certificate (the container generator's), with the delegator as Build Signer URI.
 */
function byob(
  ref = 'refs/tags/v1.8.0',
  builderId?: string,
): { facts: ProvenanceFacts; signer: AttestationSigner } {
  const envelope = JSON.parse(
    readFileSync(
      new URL('../../test/fixtures/slsa-byob/bazel-trusted-dsseEnvelope.build.slsa', import.meta.url),
      'utf8',
    ),
  ) as { payload: string };
  const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as InTotoStatement;
  const facts = readProvenance(statement);
  if (typeof facts === 'string') throw new Error(facts);
  const { signer } = real('generator-container');
  const identity = `${DELEGATOR}@${ref}`;
  return {
    facts: builderId === undefined ? facts : { ...facts, builderId },
    signer: { ...signer, identity, certificate: { ...signer.certificate, buildSignerURI: identity } },
  };
}

const GHE = { issuer: 'https://ghe.example.com/_services/token', url: 'https://ghe.example.com' };

/** A real github.com attestation as a GitHub Enterprise Server instance would issue it: same fields, its host and issuer. */
function onEnterprise(r: { facts: ProvenanceFacts; signer: AttestationSigner }) {
  const move = <T>(value: T): T =>
    JSON.parse(JSON.stringify(value).replaceAll('https://github.com/', `${GHE.url}/`)) as T;
  return { facts: move(r.facts), signer: { ...move(r.signer), issuer: GHE.issuer } };
}

const builders = (...entries: [string, number?][]): CompiledBuilder[] =>
  entries.map(([id, level]) => ({ id: compileUriGlob(id), ...(level !== undefined ? { level } : {}) }));

describe('rateBuilder', () => {
  it.each<
    [
      string,
      { facts: ProvenanceFacts; signer: AttestationSigner },
      CompiledBuilder[] | undefined,
      number | 'untrusted',
    ]
  >([
    ['generator at v2.1.0', real('generator-container'), undefined, 3],
    // slsa-verifier IsValidBuilderTag: only vX.Y.Z release tags are trusted.
    ['generator at v2.1.0-rc.1', generatorAt('refs/tags/v2.1.0-rc.1'), undefined, 1],
    ['generator at v2.1', generatorAt('refs/tags/v2.1'), undefined, 1],
    ['generator at v02.1.0', generatorAt('refs/tags/v02.1.0'), undefined, 1],
    ['generator at main', generatorAt('refs/heads/main'), undefined, 1],
    [
      'generator at main, trusted at 3 by the policy',
      generatorAt('refs/heads/main'),
      builders([GENERATOR, 3]),
      3,
    ],
    ['generator, policy lists it without a level', real('generator-container'), builders([GENERATOR]), 3],
    ['generator, policy caps it at 2', real('generator-container'), builders([GENERATOR, 2]), 2],
    [
      'generator, policy pins another tag',
      real('generator-container'),
      builders([`${GENERATOR}@refs/tags/v2.0.0`]),
      'untrusted',
    ],
    [
      'generator, policy pins tags by glob',
      real('generator-container'),
      builders([`${GENERATOR}@refs/tags/v2.*`]),
      3,
    ],
    ['GitHub attestation', real('bcr-module'), undefined, 2],
    [
      'GitHub attestation from an allow-listed reusable workflow',
      real('bcr-module'),
      builders(['https://github.com/bazel-contrib/**', 3]),
      3,
    ],
    [
      'GitHub attestation signed by its own workflow, rated 3',
      real('opa-provider'),
      builders(['https://github.com/github/**', 3]),
      2,
    ],
    [
      'reusable workflow on a self-hosted runner, rated 3',
      (() => {
        const r = real('bcr-module');
        return {
          ...r,
          signer: { ...r.signer, certificate: { ...r.signer.certificate, runnerEnvironment: 'self-hosted' } },
        };
      })(),
      builders(['https://github.com/bazel-contrib/**', 3]),
      2,
    ],
    [
      'reusable workflow whose certificate names no runner environment, rated 3',
      (() => {
        const r = real('bcr-module');
        const certificate = { ...r.signer.certificate };
        delete certificate.runnerEnvironment;
        return { ...r, signer: { ...r.signer, certificate } };
      })(),
      builders(['https://github.com/bazel-contrib/**', 3]),
      2,
    ],
    ['forged builder.id', real('bcr-wrong-signer'), undefined, 'untrusted'],
    // BYOB: the delegator signs and names the tool workflow as builder; the framework attests L3.
    ['BYOB: Bazel builder through the delegator at v1.8.0', byob(), undefined, 3],
    ['BYOB: delegator at a branch', byob('refs/heads/main'), undefined, 1],
    ['BYOB: the policy accepts the tool workflow', byob(), builders([`${BAZEL_TRW}@refs/tags/v1.*`]), 3],
    [
      'BYOB: the policy accepts another tool only',
      byob(),
      builders(['https://github.com/acme/**']),
      'untrusted',
    ],
    [
      'BYOB: a builder.id that is not a GitHub workflow',
      byob('refs/tags/v1.8.0', 'https://cloudbuild.googleapis.com/GoogleHostedWorker'),
      undefined,
      'untrusted',
    ],
    ...(
      [
        ['release.yml', 'release.yml'],
        ['release.yml@', 'release.yml'],
        ['release.yml@refs/heads/main', 'release.yml'],
        ['release.yml', '**'],
        ['../.GitHub/Workflows/release.yml', '**'],
      ] as const
    ).map(
      ([claimed, glob]): [
        string,
        { facts: ProvenanceFacts; signer: AttestationSigner },
        CompiledBuilder[],
        'untrusted',
      ] => {
        const workflows = 'https://github.com/acme/infra/.github/workflows/';
        const r = real('bcr-module');
        return [
          `a key claiming the GitHub workflow ${claimed} as builder, policy lists ${glob} at 3`,
          {
            facts: { ...r.facts, builderId: `${workflows}${claimed}` },
            signer: { authority: 'ci-key', identity: 'sha256:ab' },
          },
          builders([glob === '**' ? 'https://github.com/acme/**' : `${workflows}${glob}`, 3]),
          'untrusted',
        ];
      },
    ),
    [
      'unknown non-GitHub builder signed by a key',
      (() => {
        const r = real('bcr-module');
        return {
          facts: { ...r.facts, builderId: 'https://cloudbuild.googleapis.com/GoogleHostedWorker' },
          signer: { authority: 'gcb', identity: 'sha256:ab' },
        };
      })(),
      undefined,
      1,
    ],
    [
      'non-GitHub builder signed by a key, trusted by the policy',
      (() => {
        const r = real('bcr-module');
        return {
          facts: { ...r.facts, builderId: 'https://cloudbuild.googleapis.com/GoogleHostedWorker' },
          signer: { authority: 'gcb', identity: 'sha256:ab' },
        };
      })(),
      builders(['https://cloudbuild.googleapis.com/GoogleHostedWorker', 3]),
      3,
    ],
  ])('%s', (_, { facts, signer }, list, expected) => {
    const rating = rateBuilder(facts, signer, list);
    if (expected === 'untrusted') expect(rating.ok).toBe(false);
    else expect(rating).toMatchObject({ ok: true, level: expected });
  });
});

describe('rateBuilder: who may claim a listed builder (slsa.builders[].authorities)', () => {
  const GCB = 'https://cloudbuild.googleapis.com/GoogleHostedWorker';
  const facts = (() => {
    const r = real('bcr-module');
    return { ...r.facts, builderId: GCB };
  })();
  const gcbKey = { authority: 'gcb', identity: 'sha256:ab' };
  const ciKey = { authority: 'ci', identity: 'sha256:cd' };

  it("grants an entry's level only to provenance one of its authorities signed", () => {
    const list: CompiledBuilder[] = [{ id: compileUriGlob(GCB), level: 3, authorities: ['gcb'] }];
    expect(rateBuilder(facts, gcbKey, list)).toMatchObject({ ok: true, level: 3 });
    const claimed = rateBuilder(facts, ciKey, list);
    expect(claimed).toEqual({
      ok: false,
      message: `provenance in the name of builder ${GCB} signed by authority ci; that builder is accepted from gcb`,
    });
  });

  it('falls through to an entry naming the signer', () => {
    const list: CompiledBuilder[] = [
      { id: compileUriGlob(GCB), level: 3, authorities: ['gcb'] },
      { id: compileUriGlob('https://cloudbuild.googleapis.com/**'), level: 2, authorities: ['ci'] },
    ];
    expect(rateBuilder(facts, ciKey, list)).toMatchObject({ ok: true, level: 2 });
  });

  it('withholds the level of an entry that names no authority among several', () => {
    const list: CompiledBuilder[] = [{ id: compileUriGlob(GCB), level: 3, levelWithheld: true }];
    expect(rateBuilder(facts, ciKey, list)).toMatchObject({
      ok: true,
      level: 1,
      basis: expect.stringContaining('so that level is not granted') as unknown,
    });
  });
});

describe('rateBuilder on GitHub Enterprise instances (slsa.githubEnterprise)', () => {
  const attestation = onEnterprise(real('bcr-module'));

  it('rates a GitHub Enterprise artifact attestation like github.com only when the instance is configured', () => {
    expect(rateBuilder(attestation.facts, attestation.signer, undefined)).toMatchObject({
      ok: true,
      level: 1,
    });
    expect(rateBuilder(attestation.facts, attestation.signer, undefined, [GHE])).toMatchObject({
      ok: true,
      level: 2,
      basis: expect.stringContaining('from https://ghe.example.com'),
    });
  });

  it('applies the reusable-workflow and runner caps to a configured instance', () => {
    const listed = builders([`${GHE.url}/bazel-contrib/**`, 3]);
    expect(rateBuilder(attestation.facts, attestation.signer, listed, [GHE])).toMatchObject({ level: 3 });
    const selfHosted = {
      ...attestation.signer,
      certificate: { ...attestation.signer.certificate, runnerEnvironment: 'self-hosted' },
    };
    expect(rateBuilder(attestation.facts, selfHosted, listed, [GHE])).toMatchObject({ level: 2 });
  });

  it('refuses a builder.id that is not the signing workflow, and a key claiming an instance workflow', () => {
    const forged = {
      ...attestation.facts,
      builderId: `${GHE.url}/other/repo/.github/workflows/x.yml@refs/heads/main`,
    };
    expect(rateBuilder(forged, attestation.signer, undefined, [GHE]).ok).toBe(false);
    const key = { authority: 'k', identity: 'sha256:ab' };
    expect(rateBuilder(attestation.facts, key, undefined, [GHE]).ok).toBe(false);
  });

  it('never rates slsa-github-generator or BYOB workflows on an enterprise instance as the built-in L3', () => {
    const generator = onEnterprise(real('generator-container'));
    expect(rateBuilder(generator.facts, generator.signer, undefined, [GHE])).toMatchObject({ level: 1 });
  });
});
