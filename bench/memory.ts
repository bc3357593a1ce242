/**
 * RSS growth of the verification service with 10,000 cached verdicts, measured in a child process (so the
 * bench's own load generator is not counted): the service is wired as `provenant serve` wires it, with one
 * key policy, over an in-memory registry that serves, for each of 10,000 digests, a legacy cosign `.sig`
 * signed by the policy's key. Every verdict is a real verification that is allowed, then cached. The child
 * runs under the image's Node flags (Dockerfile ENTRYPOINT), and its baseline is taken once its code is
 * warm (2,000 verifications that cache nothing), as in a webhook that has been serving for a while.
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
import { imageNodeFlags } from './processes.js';
import { SERVE_CACHE } from './signed-registry.js';

const VERDICTS = 10_000;
const WARM_UP_VERIFICATIONS = 2_000;
const SETTLE_MS = 500;
const RUNS = 3;
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
  const flags = await imageNodeFlags();
  // The median of a few runs: when V8 last compacted and what the allocator kept vary from run to run.
  const runs: MemoryReport[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await measure(flags));
  const growthOf = (r: MemoryReport) => r.loadedRss - r.baselineRss;
  const report = [...runs].sort((a, b) => growthOf(a) - growthOf(b))[Math.floor(RUNS / 2)] as MemoryReport;
  // Without the image's flags, as `node dist/cli/main.js serve` runs with Node's defaults: V8's young
  // generation grows to its default maximum during the burst.
  const defaults = await measure([]);
  const growth = report.loadedRss - report.baselineRss;
  const defaultGrowth = defaults.loadedRss - defaults.baselineRss;
  return [
    {
      what: `service with one policy, empty cache (child process, ${flags.join(' ') || 'no flags'})`,
      cells: [mib(report.baselineRss), ''],
    },
    {
      what: `after ${report.cached} cached verdicts (real verifications; median of ${RUNS} runs)`,
      cells: [mib(report.loadedRss), `+${mib(growth)}`],
      goal: goal('<= +40 MiB', growth <= 40 * 1024 * 1024),
    },
    { what: 'of which live heap', cells: ['', `+${mib(report.heapGrowth)}`] },
    {
      what: "the same under Node's default flags (not as the image runs it)",
      cells: [mib(defaults.loadedRss), `+${mib(defaultGrowth)}`],
    },
  ];
}

/**
 * A registry port over memory: each of `imageHexes` (in repository `repo`) has a `.sig` whose one layer signs
 * it. Signatures and payload digests are made up front, before the baseline is taken: this process is measured
 * for the service's memory, and a registry's storage and signing are not part of it. Payloads and manifests
 * are made again on each fetch, as a registry's answers arrive afresh.
 */
function signedMemoryRegistry(
  privateKey: ReturnType<typeof generateKeyPairSync>['privateKey'],
  repo: Repository,
  imageHexes: readonly string[],
): Registry {
  const payloadFor = (imageHex: string) =>
    Buffer.from(
      JSON.stringify({
        critical: {
          identity: { 'docker-reference': `${repo.registry}/${repo.path}` },
          image: { 'docker-manifest-digest': `sha256:${imageHex}` },
          type: 'cosign container image signature',
        },
        optional: null,
      }),
    );
  const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const imageOfPayload = new Map<string, string>();
  const signatureOf = new Map<string, { payloadDigest: string; size: number; signature: string }>();
  for (const imageHex of imageHexes) {
    const payload = payloadFor(imageHex);
    const payloadDigest = sha256(payload);
    imageOfPayload.set(payloadDigest, imageHex);
    signatureOf.set(imageHex, {
      payloadDigest,
      size: payload.length,
      signature: sign('sha256', payload, privateKey).toString('base64'),
    });
  }
  const manifest = (json: unknown): FetchedManifest => {
    const bytes = Buffer.from(JSON.stringify(json));
    return { bytes, mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(bytes) };
  };
  return {
    async headManifest(_repo: Repository, reference: string) {
      return reference;
    },
    async getReferrers() {
      return [];
    },
    async getBlob(_repo: Repository, digest: string) {
      const imageHex = imageOfPayload.get(digest);
      if (imageHex === undefined) throw new Error(`no blob ${digest}`);
      return payloadFor(imageHex);
    },
    async getManifest(_repo: Repository, reference: string) {
      const signed = signatureOf.get(/^sha256-([0-9a-f]{64})\.sig$/.exec(reference)?.[1] ?? '');
      if (signed === undefined) return null;
      return manifest({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        layers: [
          {
            mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
            digest: signed.payloadDigest,
            size: signed.size,
            annotations: { 'dev.cosignproject.cosign/signature': signed.signature },
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
  const digest = (i: number) => createHash('sha256').update(`image ${i}`).digest('hex');
  const imageHexes = Array.from({ length: VERDICTS + 1 }, (_, i) => digest(i - 1));
  const registry = signedMemoryRegistry(privateKey, { registry: REGISTRY, path: 'app' }, imageHexes);
  let cached = 0;
  const verifier = createVerifier(
    registry,
    () => policies,
    'deny',
    { ...SERVE_CACHE, onCache: (outcome) => (cached += outcome === 'miss' ? 1 : 0) },
    () => trustStore,
  );
  // Collected twice, then a moment for V8's background threads to hand freed pages back to the system.
  const settle = async () => {
    gc();
    gc();
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  };
  // A running webhook has long compiled its hot code: warm it up first, with real verifications through a
  // verifier that keeps nothing, so that the JIT's and the allocator's one-time growth is in the baseline and
  // the growth measured is what the 10,000 cached verdicts cost. Then one through the measured verifier.
  const warmUp = createVerifier(
    registry,
    () => policies,
    'deny',
    { ...SERVE_CACHE, cacheMaxEntries: 0 },
    () => trustStore,
  );
  for (let i = 0; i < WARM_UP_VERIFICATIONS; i++) {
    await warmUp.verifyImages([`${REGISTRY}/app@sha256:${digest(-1)}`]);
  }
  await verifier.verifyImages([`${REGISTRY}/app@sha256:${digest(-1)}`]);
  await settle();
  const baselineRss = process.memoryUsage().rss;
  const baselineHeap = process.memoryUsage().heapUsed;
  for (let start = 0; start < VERDICTS; start += 100) {
    const images = Array.from({ length: 100 }, (_, k) => `${REGISTRY}/app@sha256:${digest(start + k)}`);
    const verdicts = await verifier.verifyImages(images);
    if (!verdicts.every((v) => v.allowed)) throw new Error(`not allowed: ${JSON.stringify(verdicts[0])}`);
  }
  await settle();
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
