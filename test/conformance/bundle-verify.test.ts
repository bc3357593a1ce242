import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * Every case of sigstore-conformance `bundle-verify` (test/fixtures/conformance, copied byte for byte),
 * run through the real command line exactly as the upstream suite drives a client: once with the artifact
 * file and once with `sha256:<hex>` of it. A `_fail` case must exit 1 (a verification failure, never a usage
 * error or crash) with the reason code recorded below; any other case must exit 0.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CASES = `${ROOT}test/fixtures/conformance/bundle-verify/`;
const ENTRY = ['--import', 'tsx', 'src/cli/main.ts', 'verify-bundle'];
const DEFAULT_IDENTITY =
  'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const DEFAULT_ISSUER = 'https://token.actions.githubusercontent.com';

/** Why each `_fail` case fails, in Provenant's reason codes; the same in file and digest mode. */
const FAILURE_CODES: Readonly<Record<string, string>> = {
  'bundle-empty-certificate-chain_fail': 'SIGNATURE_INVALID',
  'bundle-from-wrong-instance_fail': 'UNTRUSTED_SIGNER',
  'bundle-invalid-base64-signature_fail': 'TLOG_INVALID',
  'bundle-malformed-json_fail': 'SIGNATURE_INVALID',
  'bundle-negative-log-index_fail': 'TLOG_INVALID',
  'bundle-unknown-version_fail': 'UNSUPPORTED_FORMAT',
  'bundle-with-root-cert_fail': 'CERTIFICATE_INVALID',
  'checkpoint-bad-keyhint_fail': 'TLOG_INVALID',
  'checkpoint-wrong-roothash_fail': 'TLOG_INVALID',
  'dsse-invalid-sig_fail': 'TLOG_INVALID',
  'dsse-mismatch-envelope_fail': 'TLOG_INVALID',
  'dsse-mismatch-sig_fail': 'TLOG_INVALID',
  'inclusion-proof-corrupted-hash_fail': 'TLOG_INVALID',
  'incorrect-public-key_fail': 'TLOG_INVALID',
  'integrated-time-in-future_fail': 'CERTIFICATE_INVALID',
  'intoto-expired-certificate_fail': 'CERTIFICATE_INVALID',
  'intoto-log-entry-mismatch_fail': 'TLOG_INVALID',
  'intoto-missing-inclusion-proof_fail': 'SIGNATURE_INVALID',
  'intoto-set-outside-signing-cert-validity_fail': 'CERTIFICATE_INVALID',
  'intoto-tsa-timestamp-outside-cert-validity_fail': 'CERTIFICATE_INVALID',
  'invalid-checkpoint-signature_fail': 'TLOG_INVALID',
  'invalid-ct-key_fail': 'CERTIFICATE_INVALID',
  'invalid-inclusion-proof_fail': 'SIGNATURE_INVALID',
  'managed-key-no-key_fail': 'UNTRUSTED_SIGNER',
  'managed-key-wrong-key_fail': 'INVALID_POLICY', // the key file itself is corrupted
  'message-digest-mismatch_fail': 'TLOG_INVALID',
  'rekor2-checkpoint-missing-log-signature_fail': 'TLOG_INVALID',
  'rekor2-checkpoint-missing-origin_fail': 'TLOG_INVALID',
  'rekor2-checkpoint-missing-root-hash_fail': 'TLOG_INVALID',
  'rekor2-checkpoint-missing-size_fail': 'TLOG_INVALID',
  'rekor2-checkpoint-no-matching-signature_fail': 'TLOG_INVALID',
  'rekor2-dsse-invalid-sig_fail': 'TLOG_INVALID',
  'rekor2-dsse-mismatch-envelope_fail': 'TLOG_INVALID',
  'rekor2-dsse-mismatch-sig_fail': 'TLOG_INVALID',
  'rekor2-no-inclusion-proof_fail': 'SIGNATURE_INVALID',
  'rekor2-no-timestamp_fail': 'TIMESTAMP_INVALID',
  'rekor2-timestamp-outside-trust-root-tsa-validity_fail': 'TIMESTAMP_INVALID',
  'rekor2-timestamp-outside-tsa-cert-validity_fail': 'TIMESTAMP_INVALID',
  'rekor2-timestamp-payload-mismatch_fail': 'TIMESTAMP_INVALID',
  'rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail': 'TIMESTAMP_INVALID',
  'rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail': 'TIMESTAMP_INVALID',
  'rekor2-timestamp-with-incorrect-time_fail': 'CERTIFICATE_INVALID',
  'set-invalid-signature_fail': 'TLOG_INVALID',
  'signature-mismatch_fail': 'TLOG_INVALID',
  // @sigstore/verify accepts this root (a missing start means "forever"); Provenant refuses the root.
  'trust-root-tlog-missing-validity-start_fail': 'TRUST_ROOT_INVALID',
  'wrong-hashedrekord-artifact_fail': 'TLOG_INVALID',
  'wrong-hashedrekord-cert-and-sig_fail': 'TLOG_INVALID',
  'wrong-hashedrekord-entry_fail': 'TLOG_INVALID',
  'wrong-material_fail': 'SIGNATURE_INVALID',
};

interface Run {
  readonly name: string;
  readonly mode: 'file' | 'digest';
  readonly args: readonly string[];
}

interface Result {
  readonly exitCode: number | null;
  readonly output: string;
}

const names = readdirSync(CASES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

function runsFor(name: string): Run[] {
  const file = (f: string) => `${CASES}${name}/${f}`;
  const optional = (f: string) => (existsSync(file(f)) ? readFileSync(file(f), 'utf8').trim() : undefined);
  const args = ['--bundle', file('bundle.sigstore.json')];
  if (existsSync(file('key.pub'))) args.push('--key', file('key.pub'));
  else {
    args.push('--certificate-identity', optional('identity') ?? DEFAULT_IDENTITY);
    args.push('--certificate-oidc-issuer', optional('issuer') ?? DEFAULT_ISSUER);
  }
  if (existsSync(file('trusted_root.json'))) args.push('--trusted-root', file('trusted_root.json'));
  const artifact = existsSync(file('artifact')) ? file('artifact') : `${CASES}a.txt`;
  const digest = `sha256:${createHash('sha256').update(readFileSync(artifact)).digest('hex')}`;
  return [
    { name, mode: 'file', args: [...args, artifact] },
    { name, mode: 'digest', args: [...args, digest] },
  ];
}

function run(args: readonly string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...ENTRY, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (exitCode) => resolve({ exitCode, output }));
  });
}

// Each run is a fresh Node process (tsx compiles on start-up): run a few at a time, not 140 at once.
async function runAll(runs: readonly Run[], concurrency: number): Promise<Map<string, Result>> {
  const results = new Map<string, Result>();
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < runs.length; i = next++) {
      const r = runs[i] as Run;
      results.set(`${r.name}|${r.mode}`, await run(r.args));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

/** The reason code a failed run printed: `CODE: message`, or `provenant verify-bundle: CODE: message`. */
function reasonOf(output: string): string | undefined {
  return /^(?:provenant verify-bundle: )?([A-Z][A-Z_]+):/m.exec(output)?.[1];
}

describe('sigstore-conformance bundle-verify through `provenant verify-bundle`', () => {
  let results = new Map<string, Result>();

  beforeAll(async () => {
    const probe = await run(['--help']);
    if (probe.exitCode !== 0) {
      throw new Error(
        `src/cli/main.ts does not dispatch verify-bundle (exit ${probe.exitCode}): ${probe.output}`,
      );
    }
    results = await runAll(names.flatMap(runsFor), Math.max(2, Math.min(6, availableParallelism() * 2)));
  });

  it('finds all 70 cases', () => {
    expect(names).toHaveLength(70);
    expect(Object.keys(FAILURE_CODES).every((name) => names.includes(name))).toBe(true);
  });

  describe.each(names)('%s', (name) => {
    it.each(['file', 'digest'] as const)('with the %s', (mode) => {
      const result = results.get(`${name}|${mode}`);
      if (name.endsWith('_fail')) {
        expect([result?.exitCode, reasonOf(result?.output ?? '')]).toEqual([1, FAILURE_CODES[name]]);
      } else {
        expect([result?.exitCode, result?.output]).toEqual([0, expect.stringMatching(/^OK: verified/)]);
      }
    });
  });
});
