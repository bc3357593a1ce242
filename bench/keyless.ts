/**
 * CPU per keyless bundle, in process: Provenant's verification (trust material built once per trust root, as
 * the webhook and `verify` hold it) against stock @sigstore/verify used as its README shows, which builds the
 * trust material from the trusted root for each bundle. Both verify the same real public-good bundle
 * (sigstore-conformance happy-path-v0.3, test/fixtures/real) against the same trusted root.
 *
 * Measured in a child process running this file bundled by esbuild, as the CLI ships (scripts/bundle.ts),
 * not under tsx: tsx keeps function names by wrapping our closures (never node_modules' code) in a helper
 * call, ~0.2 ms of one bundle's verification that the shipped build does not spend.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { buildTrustRoot } from '../src/trust/trust-store.js';
import { verifyArtifactBundle } from '../src/verify/artifact-bundle.js';
import type { Authority } from '../src/verify/types.js';
import { goal, interleavedMeans, median, ms, ratio, type Row } from './table.js';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
const CASE = 'bundles/conformance/happy-path-v0.3';
const IDENTITY =
  'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';
const WARM_UP = 20;
const SAMPLES = 200;

function cpuMsOf(work: () => void): number {
  const before = process.cpuUsage();
  work();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

export async function benchKeyless(scratch: string): Promise<Row[]> {
  const bundled = join(scratch, 'keyless-bench.mjs');
  await build({
    entryPoints: [fileURLToPath(import.meta.url)],
    outfile: bundled,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    // As scripts/bundle.ts: bundled CommonJS dependencies call require() for Node's built-in modules.
    banner: {
      js: "import { createRequire as __benchRequire } from 'node:module'; const require = __benchRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
  const { stdout } = await promisify(execFile)(process.execPath, [bundled, '--child', REPO_ROOT]);
  const { oursMs, stockMs } = JSON.parse(stdout) as { oursMs: number; stockMs: number };
  return [
    {
      what: 'Provenant (trust material per trust root, cached)',
      cells: [ms(oursMs), ratio(oursMs / stockMs)],
      goal: goal('<= 2 ms p50', oursMs <= 2),
    },
    { what: 'stock @sigstore/verify (trust material per bundle)', cells: [ms(stockMs), ratio(1)] },
  ];
}

/** In the bundled child: median CPU per bundle of each, interleaved. */
async function measure(repoRoot: string): Promise<{ oursMs: number; stockMs: number }> {
  const FIXTURES = pathToFileURL(join(repoRoot, 'test/fixtures/real/'));
  const bundle = await readFile(new URL(`${CASE}/bundle.sigstore.json`, FIXTURES));
  const artifact = await readFile(new URL('bundles/conformance/a.txt', FIXTURES));
  const rootJson = JSON.parse(
    await readFile(new URL('trusted-root/public-good/trusted_root.json', FIXTURES), 'utf8'),
  );
  const thresholds = { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 };
  const root = buildTrustRoot('bench', rootJson, thresholds);
  const authority: Authority = {
    kind: 'keyless',
    name: 'bench',
    trustRoot: 'bench',
    identities: [{ subject: IDENTITY, issuer: ISSUER }],
  };

  const ours = () => {
    const check = verifyArtifactBundle(bundle, { bytes: artifact }, authority, root);
    if (!check.ok) throw new Error(`bench bundle did not verify: ${check.code}: ${check.message}`);
  };
  const stock = () => {
    const entity = toSignedEntity(bundleFromJSON(JSON.parse(bundle.toString('utf8'))), artifact);
    const verifier = new Verifier(toTrustMaterial(TrustedRoot.fromJSON(rootJson)), thresholds);
    verifier.verify(entity, { subjectAlternativeName: IDENTITY, extensions: { issuer: ISSUER } });
  };
  const sample = (work: () => void) => {
    for (let i = 0; i < WARM_UP; i++) work();
    return median(Array.from({ length: SAMPLES }, () => cpuMsOf(work)));
  };
  const [oursMs, stockMs] = await interleavedMeans(
    () => sample(ours),
    () => sample(stock),
  );
  return { oursMs, stockMs };
}

if (process.argv[2] === '--child' && import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(JSON.stringify(await measure(process.argv[3] ?? '')));
}
