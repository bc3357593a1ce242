import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthoritySpec } from '../../../src/policy/types.js';
import { verifyAttested, writeAttestationPolicy } from '../../support/attestation-policy.js';
import { cosignAttest } from '../../support/cosign-attestation.js';
import { cosignBinary, generateKeyPair, registryArgs, type CosignKeyPair } from '../../support/cosign.js';
import { pushRandomImage, runToolOrThrow, toolEnv, type PushedImage } from '../../support/images.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { startPrivateSigstore, type PrivateSigstore } from '../../support/sigstore.js';

// Key-signed attestations with an RFC 3161 timestamp from a real TSA protocol exchange (the private Sigstore's
// TSA), made by real cosign 2 (legacy .att, timestamp in an annotation) and cosign 3 (bundle). A timestamp
// proves only that the signature existed then (anyone can have an old one stamped again), so a key-signed
// attestation is as old as the time its signed predicate states, or an earlier verified timestamp; with the
// key authority's timestampTrustRoot the timestamp is verified (another root: TIMESTAMP_INVALID) and shown.

const PROVENANCE = fileURLToPath(
  new URL('../../fixtures/predicates/slsa-provenance-v0.2.json', import.meta.url),
);

let registry: TestRegistry;
let sigstore: PrivateSigstore;
let key: CosignKeyPair;
const images = {} as Record<'legacy2' | 'bundle3' | 'untimed' | 'restamped', PushedImage>;
/** The provenance fixture built just now: its buildStartedOn/buildFinishedOn say so. */
let freshProvenance: string;

async function attestWithTimestamp(
  version: 2 | 3,
  image: PushedImage,
  predicate = freshProvenance,
): Promise<void> {
  const args = ['attest', '--key', key.privateKeyPath, '--yes', ...registryArgs(registry)];
  if (version === 2) {
    args.push('--tlog-upload=false', '--timestamp-server-url', `${sigstore.tsaUrl}/api/v1/timestamp`);
  } else {
    // Only the TSA: no Fulcio (a key signs), no Rekor.
    const config = join(sigstore.dir, 'signing_config_tsa_only.json');
    await writeFile(config, JSON.stringify({ ...sigstore.signingConfig, rekorTlogUrls: [], caUrls: [] }));
    args.push('--signing-config', config, '--trusted-root', sigstore.trustedRootPath);
  }
  args.push('--type', 'slsaprovenance02', '--predicate', predicate, image.digestRef);
  await runToolOrThrow(cosignBinary(version), args, {
    env: toolEnv(registry, { COSIGN_PASSWORD: key.password }),
    timeoutMs: 60_000,
  });
}

function authority(timestampTrustRoot?: string): AuthoritySpec {
  return {
    name: 'ci',
    key: { publicKey: key.publicKeyPem, ...(timestampTrustRoot ? { timestampTrustRoot } : {}) },
  };
}

async function verify(image: PushedImage, maxAge: string, timestampTrustRoot?: string) {
  const policy = await writeAttestationPolicy({
    glob: `${registry.host}/**`,
    authorities: [authority(timestampTrustRoot)],
    attestations: [{ name: 'provenance', predicateType: 'slsa-provenance', authorities: ['ci'], maxAge }],
  });
  return verifyAttested(image.ref, policy, registry.host, [
    '--trust-root',
    `private=${sigstore.trustedRootPath}`,
  ]);
}

beforeAll(async () => {
  [registry, sigstore, key] = await Promise.all([
    startRegistry(),
    startPrivateSigstore(),
    generateKeyPair('ecdsa-p256'),
  ]);
  images.legacy2 = await pushRandomImage(registry, 'timestamped/legacy2', 'v1');
  images.bundle3 = await pushRandomImage(registry, 'timestamped/bundle3', 'v1');
  images.untimed = await pushRandomImage(registry, 'timestamped/untimed', 'v1');
  images.restamped = await pushRandomImage(registry, 'timestamped/restamped', 'v1');
  const predicate = JSON.parse(await readFile(PROVENANCE, 'utf8')) as { metadata: Record<string, string> };
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  predicate.metadata = { ...predicate.metadata, buildStartedOn: now, buildFinishedOn: now };
  freshProvenance = join(sigstore.dir, 'fresh-provenance.json');
  await writeFile(freshProvenance, JSON.stringify(predicate));
  await attestWithTimestamp(2, images.legacy2);
  await attestWithTimestamp(3, images.bundle3);
  // A statement made days ago (the fixture's own build times), stamped fresh: what a re-stamped old
  // signature looks like.
  await attestWithTimestamp(3, images.restamped, PROVENANCE);
  await cosignAttest(3, key, images.untimed.digestRef, registry, {
    type: 'slsaprovenance02',
    predicate: freshProvenance,
  });
});

afterAll(async () => {
  await sigstore?.stop();
  await registry?.stop();
});

describe('maxAge of key-signed attestations with an RFC 3161 timestamp', () => {
  it.each(['legacy2', 'bundle3'] as const)(
    "%s: the timestamp is verified against the trusted TSA and shown; the age is the signed statement's",
    async (name) => {
      const fresh = await verify(images[name], '1h', 'private');
      expect(fresh.codes, JSON.stringify(fresh.result.reasons)).toEqual([]);
      const signedAt = Date.parse(fresh.result.attestations[0]?.signedAt ?? '');
      expect(Math.abs(Date.now() - signedAt)).toBeLessThan(10 * 60_000);
      // The same attestation, older than a tiny maxAge: the time is real and is compared.
      expect((await verify(images[name], '1ms', 'private')).codes).toEqual(['ATTESTATION_TOO_OLD']);
    },
  );

  it.each(['legacy2', 'bundle3'] as const)(
    '%s: without timestampTrustRoot no timestamp is read, and the signed statement still tells its age',
    async (name) => {
      const { codes, result } = await verify(images[name], '1h');
      expect(codes).toEqual([]);
      expect(result.attestations[0]?.signedAt ?? null).toBeNull();
    },
  );

  it('a statement made days ago with a fresh timestamp is as old as the statement says', async () => {
    const { codes, result } = await verify(images.restamped, '24h', 'private');
    expect(codes).toEqual(['ATTESTATION_TOO_OLD']);
    expect(JSON.stringify(result.reasons)).toContain('made (as its predicate states) 2026-11-20T10:16:41');
    // Its timestamp is fresh and verified: it is only not taken for the time the statement was made.
    const stamped = await verify(images.restamped, '8760h', 'private');
    expect(stamped.codes).toEqual([]);
    expect(Math.abs(Date.now() - Date.parse(stamped.result.attestations[0]?.signedAt ?? ''))).toBeLessThan(
      10 * 60_000,
    );
  });

  it.each(['legacy2', 'bundle3'] as const)(
    '%s: a timestamp from a TSA the named trust root does not hold fails with TIMESTAMP_INVALID',
    async (name) => {
      const { codes } = await verify(images[name], '1h', 'public-good');
      expect(codes).toEqual(['TIMESTAMP_INVALID']);
    },
  );

  it('cosign 2 verify-attestation accepts the legacy timestamp with the same TSA chain (cross-check)', async () => {
    const result = await runToolOrThrow(
      cosignBinary(2),
      [
        'verify-attestation',
        '--key',
        key.publicKeyPath,
        '--insecure-ignore-tlog',
        '--type',
        'slsaprovenance02',
        '--timestamp-certificate-chain',
        sigstore.files.tsaChain,
        ...registryArgs(registry),
        images.legacy2.digestRef,
      ],
      { env: toolEnv(registry), timeoutMs: 60_000 },
    );
    expect(result.exitCode).toBe(0);
  });

  it('an attestation with no timestamp is as old as its signed statement says', async () => {
    expect((await verify(images.untimed, '1h', 'private')).codes).toEqual([]);
    expect((await verify(images.untimed, '1ms', 'private')).codes).toEqual(['ATTESTATION_TOO_OLD']);
  });
});
