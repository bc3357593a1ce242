import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { verifyBundleCommand } from '../../src/cli/verify-bundle.js';
import { cosignBinary } from '../support/cosign.js';
import { runTool, toolEnv } from '../support/images.js';
import { interopCases, type InteropCase } from '../support/interop-cases.js';

/**
 * The interop corpus (test/fixtures/interop/cases.json): real bundles from other Sigstore clients' test
 * data, each with the outcome that client's own test expects. Every case goes through `provenant
 * verify-bundle` and, where the artifact file is at hand, through `cosign verify-blob` (cosign 3, offline
 * with the case's trusted root). Any outcome that differs from the expected one fails, unless
 * known-differences.json lists that case and tool with that outcome and says why; a listed difference
 * that no longer occurs fails too, so the file stays true.
 *
 * Provenant runs in process (the command's own entry point, with real files), so the tier stays quick on a
 * shared machine; a few cases also run as `provenant verify-bundle` subprocesses to prove the two agree.
 */

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

type Outcome = 'pass' | 'fail';
type Tool = 'provenant' | 'cosign';

interface KnownDifference {
  readonly case: string;
  readonly tool: Tool;
  readonly outcome: Outcome;
  readonly reason: string;
}

interface Result {
  readonly outcome: Outcome;
  readonly detail: string;
}

const cases = interopCases();
const known = (
  JSON.parse(readFileSync(`${FIXTURES}interop/known-differences.json`, 'utf8')) as {
    differences: KnownDifference[];
  }
).differences;

// Subprocess checks that the command line gives what the in-process entry point gives: a pass, a
// failure and a digest-only case.
const CLI_CASES = [
  'sigstore-python/npm-provenance-sigstore-3.1.0',
  'sigstore-go/othername-private-instance',
  'sigstore-python/bundle-no-checkpoint',
];
const COSIGN_CONCURRENCY = 2;

function provenantArgs(c: InteropCase): string[] {
  const args = ['--bundle', FIXTURES + c.bundle];
  if (c.key !== undefined) args.push('--key', FIXTURES + c.key);
  else args.push('--certificate-identity', c.identity ?? '', '--certificate-oidc-issuer', c.issuer ?? '');
  args.push('--trusted-root', FIXTURES + c.trustedRoot);
  args.push(c.artifact !== undefined ? FIXTURES + c.artifact : (c.digest ?? ''));
  return args;
}

async function runProvenant(c: InteropCase): Promise<Result> {
  let output = '';
  const exit = await verifyBundleCommand(provenantArgs(c), {
    stdout: (text) => (output += text),
    stderr: (text) => (output += text),
    readFile: async (path) => new Uint8Array(await readFile(path)),
  });
  expect(exit, `${c.id}: exit ${exit} is a usage error: ${output}`).not.toBe(2);
  return { outcome: exit === 0 ? 'pass' : 'fail', detail: output };
}

function runProvenantCli(c: InteropCase): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'verify-bundle', ...provenantArgs(c)],
      { cwd: ROOT, stdio: 'ignore' },
    );
    child.on('error', reject);
    child.on('close', resolve);
  });
}

async function runCosign(c: InteropCase): Promise<Result> {
  const args = ['verify-blob', '--bundle', FIXTURES + c.bundle, '--trusted-root', FIXTURES + c.trustedRoot];
  if (c.key !== undefined) args.push('--key', FIXTURES + c.key);
  else args.push('--certificate-identity', c.identity ?? '', '--certificate-oidc-issuer', c.issuer ?? '');
  args.push(...(c.cosignArgs ?? []), FIXTURES + (c.artifact ?? ''));
  const result = await runTool(cosignBinary(3), args, { env: toolEnv(undefined), timeoutMs: 60_000 });
  const error = /^Error: (.*)$/m.exec(result.stderr)?.[1] ?? result.stderr.trim();
  return {
    outcome: result.exitCode === 0 ? 'pass' : 'fail',
    detail: result.exitCode === 0 ? 'Verified OK' : error,
  };
}

async function inParallel<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) await work(items[i] as T);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

function knownDifference(id: string, tool: Tool): KnownDifference | undefined {
  return known.find((k) => k.case === id && k.tool === tool);
}

describe('interop corpus: provenant verify-bundle and cosign verify-blob against the expected outcomes', () => {
  const provenant = new Map<string, Result>();
  const cosign = new Map<string, Result>();

  beforeAll(async () => {
    for (const c of cases) provenant.set(c.id, await runProvenant(c));
    await inParallel(
      cases.filter((c) => c.artifact !== undefined),
      COSIGN_CONCURRENCY,
      async (c) => {
        cosign.set(c.id, await runCosign(c));
      },
    );
    const agree = (results: Map<string, Result>) =>
      cases.filter((c) => results.get(c.id)?.outcome === c.expected).length;
    console.info(
      `interop corpus: ${cases.length} cases; provenant agrees with the expected outcome in ` +
        `${agree(provenant)}/${cases.length}, cosign in ${agree(cosign)}/${cosign.size} ` +
        `(${cases.length - cosign.size} digest-only cases not run by cosign); ${known.length} known differences`,
    );
  });

  it('holds at least 30 cases, every one with an expectation source, and valid known differences', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
    expect(new Set(cases.map((c) => c.id)).size).toBe(cases.length);
    for (const c of cases) expect(c.expectationSource, c.id).not.toBe('');
    for (const k of known) {
      expect(
        cases.some((c) => c.id === k.case),
        `known difference for unknown case ${k.case}`,
      ).toBe(true);
      expect(k.reason.length, `${k.case}: a known difference needs its reason`).toBeGreaterThan(20);
    }
  });

  describe.each(cases.map((c) => [c.id, c] as const))('%s', (_id, c) => {
    it.each(['provenant', 'cosign'] as const)('%s', (tool) => {
      const result = (tool === 'provenant' ? provenant : cosign).get(c.id);
      const listed = knownDifference(c.id, tool);
      if (result === undefined) {
        // cosign verify-blob needs the artifact file; a digest-only case is Provenant's alone.
        expect(tool, `${c.id}: no ${tool} result`).toBe('cosign');
        expect(listed, `${c.id}: known difference for a case cosign does not run`).toBeUndefined();
        return;
      }
      const expected = listed?.outcome ?? c.expected;
      if (listed !== undefined) {
        expect(listed.outcome, `${c.id}: a known difference must differ from the expected outcome`).not.toBe(
          c.expected,
        );
      }
      expect(
        { outcome: result.outcome, detail: result.outcome === expected ? '' : result.detail },
        `${c.id} (${c.expectationSource})`,
      ).toEqual({ outcome: expected, detail: '' });
    });
  });

  it.each(CLI_CASES)('the command line gives the in-process outcome for %s', async (id) => {
    const c = cases.find((x) => x.id === id);
    expect(c, id).toBeDefined();
    const exit = await runProvenantCli(c as InteropCase);
    expect(exit === 0 ? 'pass' : 'fail').toBe(provenant.get(id)?.outcome);
  });
});
