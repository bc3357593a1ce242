/**
 * RSS growth of the verification service with 10,000 cached verdicts, measured in a child process (so the
 * bench's own load generator is not counted): the service is wired as `provenant serve` wires it, with one
 * key policy, over an in-memory registry that serves, for each of 10,000 digests, a legacy cosign `.sig`
 * signed by the policy's key. Every verdict is a real verification that is allowed, then cached.
 *
 *   node --expose-gc --import tsx bench/memory.ts --child
 */
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { createVerifier } from '../src/cli/runtime.js';
import { compilePolicies } from '../src/policy/compile.js';
import { authorityCompiler } from '../src/policy/authorities.js';
import type { FetchedManifest, Registry } from '../src/oci/registry.js';
import type { Repository } from '../src/oci/reference.js';
import { createTrustStore } from '../src/trust/index.js';
import { goal, mib, type Row } from './table.js';
import { SERVE_CACHE } from './signed-registry.js';

const VERDICTS = 10_000;
const SMALL_SEMI_SPACE_MB = 4;
const REGISTRY = 'memory.bench.invalid';
const run = promisify(execFile);

interface MemoryReport {
  readonly baselineRss: number;
  readonly loadedRss: number;
  readonly heapGrowth: number;
  readonly cached: number;
}

export async function benchMemory(): Promise<Row[]> {
  const measure = async (v8Flags: readonly string[]): Promise<MemoryReport> => {
    const { stdout } = await run(
      process.execPath,
      ['--expose-gc', ...v8Flags, '--import', 'tsx', fileURLToPath(import.meta.url), '--child'],
      { cwd: fileURLToPath(new URL('../', import.meta.url)), timeout: 120_000, maxBuffer: 1024 * 1024 },
    );
    return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as MemoryReport;
  };
  const report = await measure([]);
  // Most of the growth is V8's young generation expanding during the burst, not live data: shown with it capped.
  const capped = await measure([`--max-semi-space-size=${SMALL_SEMI_SPACE_MB}`]);
  const growth = report.loadedRss - report.baselineRss;
  const cappedGrowth = capped.loadedRss - capped.baselineRss;
  return [
    { what: 'service with one policy, empty cache (child process)', cells: [mib(report.baselineRss), ''] },
    {
      what: `after ${report.cached} cached verdicts (real verifications)`,
      cells: [mib(report.loadedRss), `+${mib(growth)}`],
      goal: goal('<= +40 MiB', growth <= 40 * 1024 * 1024),
    },
    { what: 'of which live heap', cells: ['', `+${mib(report.heapGrowth)}`] },
    {
      what: `the same with --max-semi-space-size=${SMALL_SEMI_SPACE_MB}`,
      cells: [mib(capped.loadedRss), `+${mib(cappedGrowth)}`],
    },
  ];
}

/** A registry port over memory: `repo@digest` has a `.sig` whose one layer signs that digest. */
function signedMemoryRegistry(privateKey: ReturnType<typeof generateKeyPairSync>['privateKey']): Registry {
  const blobs = new Map<string, Uint8Array>();
  const manifest = (json: unknown): FetchedManifest => {
    const bytes = Buffer.from(JSON.stringify(json));
    return {
      bytes,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
    };
  };
  return {
    async headManifest(_repo: Repository, reference: string) {
      return reference;
    },
    async getReferrers() {
      return [];
    },
    async getBlob(_repo: Repository, digest: string) {
      const blob = blobs.get(digest);
      if (blob === undefined) throw new Error(`no blob ${digest}`);
      return blob;
    },
    async getManifest(repo: Repository, reference: string) {
      const match = /^sha256-([0-9a-f]{64})\.sig$/.exec(reference);
      if (match === null) return null;
      const payload = Buffer.from(
        JSON.stringify({
          critical: {
            identity: { 'docker-reference': `${repo.registry}/${repo.path}` },
            image: { 'docker-manifest-digest': `sha256:${match[1]}` },
            type: 'cosign container image signature',
          },
          optional: null,
        }),
      );
      const digest = `sha256:${createHash('sha256').update(payload).digest('hex')}`;
      blobs.set(digest, payload);
      return manifest({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        layers: [
          {
            mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
            digest,
            size: payload.length,
            annotations: {
              'dev.cosignproject.cosign/signature': sign('sha256', payload, privateKey).toString('base64'),
            },
          },
        ],
      });
    },
  };
}

async function child(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const trustStore = createTrustStore();
  const policies = compilePolicies(
    [
      {
        source: 'bench',
        index: 0,
        value: {
          apiVersion: 'provenant.dev/v1alpha1',
          kind: 'ClusterImagePolicy',
          metadata: { name: 'release' },
          spec: {
            images: [{ glob: `${REGISTRY}/**` }],
            authorities: [
              { name: 'release-key', key: { publicKey: publicKey.export({ type: 'spki', format: 'pem' }) } },
            ],
            signatures: { threshold: 1 },
          },
        },
      },
    ],
    authorityCompiler(trustStore),
  );
  const registry = signedMemoryRegistry(privateKey);
  let cached = 0;
  const verifier = createVerifier(
    registry,
    () => policies,
    'deny',
    { ...SERVE_CACHE, onCache: (outcome) => (cached += outcome === 'miss' ? 1 : 0) },
    () => trustStore,
  );
  const digest = (i: number) => createHash('sha256').update(`image ${i}`).digest('hex');
  const settle = () => {
    gc();
    gc();
  };
  // One verification first, so that code paths and lazily built tables are in the baseline.
  await verifier.verifyImages([`${REGISTRY}/app@sha256:${digest(-1)}`]);
  settle();
  const baselineRss = process.memoryUsage().rss;
  const baselineHeap = process.memoryUsage().heapUsed;
  for (let start = 0; start < VERDICTS; start += 100) {
    const images = Array.from({ length: 100 }, (_, k) => `${REGISTRY}/app@sha256:${digest(start + k)}`);
    const verdicts = await verifier.verifyImages(images);
    if (!verdicts.every((v) => v.allowed)) throw new Error(`not allowed: ${JSON.stringify(verdicts[0])}`);
  }
  settle();
  const report: MemoryReport = {
    baselineRss,
    loadedRss: process.memoryUsage().rss,
    heapGrowth: process.memoryUsage().heapUsed - baselineHeap,
    cached,
  };
  console.log(JSON.stringify(report));
}

if (process.argv.includes('--child') && import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await child();
}
