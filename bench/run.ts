/**
 * `npm run bench`: what verification costs against a real local registry with cosign-signed images.
 *
 *   (a) `provenant verify` of a signed image: cold, repeated in one process (shared cache), and as separate
 *       CLI processes; registry requests per image.
 *   (b) admissions/s and p50/p99 over HTTPS on loopback (autocannon) with the real verification service,
 *       for a 3-container Pod whose images are verified, and cold admissions of first-seen images.
 *   (c) registry requests per admission during a 10-replica Deployment rollout.
 *
 * Loopback only, bounded loops; about a minute on two cores.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startServer } from '../src/admission/server.js';
import { createLogger } from '../src/observability/logger.js';
import { createMetrics } from '../src/observability/metrics.js';
import type { ImageVerifier } from '../src/verdict.js';
import { httpsRequest } from '../test/integration/admission/https-client.js';
import { readFixture } from '../test/integration/admission/fixtures.js';
import { decodePatch, applyPatch, podReview, type ReviewJson } from '../test/integration/webhook/reviews.js';
import { runAdmissionBench, type AdmissionBenchResult } from './admission.js';
import { startSignedRegistry, type SignedRegistry } from './signed-registry.js';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
const run = promisify(execFile);

const WARM_REPEATS = 20;
const CLI_RUNS = 3;
const LOAD_SECONDS = 5;
const LOAD_CONNECTIONS = 10;
const COLD_ADMISSIONS = 5;
const REPLICAS = 10;

interface Row {
  readonly what: string;
  readonly cells: readonly string[];
}

async function main(): Promise<void> {
  const begun = performance.now();
  const world = await startSignedRegistry();
  const scratch = await mkdtemp(join(tmpdir(), 'provenant-bench-'));
  try {
    const setupMs = performance.now() - begun;
    const verify = await benchVerify(world);
    const admission = await benchAdmission(world, scratch);
    const rollout = await benchRollout(world);
    print(world, setupMs, verify, admission, rollout, performance.now() - begun);
  } finally {
    await world.close();
    await rm(scratch, { recursive: true, force: true });
  }
}

// (a) ------------------------------------------------------------------------------------------------

async function benchVerify(world: SignedRegistry): Promise<Row[]> {
  const [image] = world.images;
  if (image === undefined) throw new Error('no image');
  const verifier = world.newVerifier();
  const timed = async (ref: string) => {
    const before = world.requests();
    const started = performance.now();
    const [verdict] = await verifier.verifyImages([ref], { signal: AbortSignal.timeout(30_000) });
    if (!verdict?.allowed) throw new Error(`bench image ${ref} was not admitted: ${JSON.stringify(verdict)}`);
    return { ms: performance.now() - started, requests: world.requests() - before };
  };
  const cold = await timed(image.ref);
  const warmTag: { ms: number; requests: number }[] = [];
  const warmDigest: { ms: number; requests: number }[] = [];
  for (let i = 0; i < WARM_REPEATS; i++) warmTag.push(await timed(image.ref));
  for (let i = 0; i < WARM_REPEATS; i++) warmDigest.push(await timed(image.digestRef));

  const cli = async (args: string[]): Promise<number> => {
    const started = performance.now();
    await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: REPO_ROOT,
      timeout: 60_000,
    });
    return performance.now() - started;
  };
  const startup = await cli(['help']);
  const runs: number[] = [];
  for (let i = 0; i < CLI_RUNS; i++) runs.push(await cli(['verify', image.ref, ...world.cliFlags]));

  return [
    { what: 'cold: first verification in the process (by tag)', cells: [ms(cold.ms), `${cold.requests}`] },
    {
      what: `repeated, same process, shared cache, by tag (median of ${WARM_REPEATS})`,
      cells: [ms(median(warmTag.map((t) => t.ms))), perCall(warmTag)],
    },
    {
      what: `repeated, same process, shared cache, by digest (median of ${WARM_REPEATS})`,
      cells: [ms(median(warmDigest.map((t) => t.ms))), perCall(warmDigest)],
    },
    {
      what: `separate CLI runs, node + tsx (median of ${CLI_RUNS})`,
      cells: [ms(median(runs)), `${cold.requests} (empty cache, as cold)`],
    },
    { what: 'of which CLI start-up alone (provenant help)', cells: [ms(startup), '0'] },
  ];
}

// (b) ------------------------------------------------------------------------------------------------

async function benchAdmission(world: SignedRegistry, scratch: string): Promise<Row[]> {
  const containers = (byDigest: boolean) =>
    world.images.map((image, i) => ({ name: `c${i}`, image: byDigest ? image.digestRef : image.ref }));
  const rows: Row[] = [];

  for (const byDigest of [true, false]) {
    const verifier = world.newVerifier();
    const review = podReview(containers(byDigest));
    // Verified once before the load starts: this measures admissions of images already seen.
    await verifier.verifyImages(containers(byDigest).map((c) => c.image));
    const fixture = join(scratch, `pod-${byDigest ? 'digest' : 'tag'}.json`);
    await writeFile(fixture, JSON.stringify(review));
    const before = world.requests();
    const result = await runAdmissionBench({
      verifier,
      fixture,
      path: '/validate',
      durationSeconds: LOAD_SECONDS,
      connections: LOAD_CONNECTIONS,
    });
    assertClean(result);
    const perAdmission = (world.requests() - before) / Math.max(1, result.requests);
    rows.push({
      what: `3-container Pod, images verified, by ${byDigest ? 'digest' : 'tag'}`,
      cells: [
        result.requestsPerSecond.toFixed(0),
        `${result.p50Ms}`,
        `${result.p99Ms}`,
        perAdmission.toFixed(1),
      ],
    });
  }

  // First-seen images: each admission gets a verification service with an empty cache (the registry client,
  // like a running webhook's, keeps its connections).
  const webhook = await startWebhook();
  try {
    const latencies: number[] = [];
    let requests = 0;
    for (let i = 0; i < COLD_ADMISSIONS; i++) {
      webhook.use(world.newVerifier());
      const before = world.requests();
      const started = performance.now();
      const response = await webhook.post('/validate', podReview(containers(false)));
      latencies.push(performance.now() - started);
      requests += world.requests() - before;
      if (!response.allowed) throw new Error(`cold admission denied: ${JSON.stringify(response)}`);
    }
    rows.push({
      what: `3-container Pod, first-seen images (empty cache), ${COLD_ADMISSIONS} sequential (p99: max)`,
      cells: [
        (1000 / median(latencies)).toFixed(1),
        median(latencies).toFixed(1),
        Math.max(...latencies).toFixed(1),
        (requests / COLD_ADMISSIONS).toFixed(1),
      ],
    });
  } finally {
    await webhook.close();
  }
  return rows;
}

// (c) ------------------------------------------------------------------------------------------------

/**
 * A rollout as the API server sends it: the Deployment (tags) through /mutate, which pins the digests, and
 * /validate with the pinned object; then the ReplicaSet and each Pod the controllers create from that pinned
 * template, each through both webhooks.
 */
async function benchRollout(world: SignedRegistry): Promise<Row[]> {
  const webhook = await startWebhook();
  webhook.use(world.newVerifier());
  const rows: Row[] = [];
  try {
    const admit = async (what: string, reviews: ReviewJson[]): Promise<Record<string, unknown>[]> => {
      const before = world.requests();
      const started = performance.now();
      const objects: Record<string, unknown>[] = [];
      for (const review of reviews) {
        const mutated = await webhook.post('/mutate', review);
        if (!mutated.allowed) throw new Error(`${what} denied: ${JSON.stringify(mutated)}`);
        const object = applyPatch(review.request.object, decodePatch(mutated.patch)) as Record<
          string,
          unknown
        >;
        const validated = await webhook.post('/validate', {
          ...review,
          request: { ...review.request, object },
        });
        if (!validated.allowed) throw new Error(`${what} denied: ${JSON.stringify(validated)}`);
        objects.push(object);
      }
      const requests = world.requests() - before;
      rows.push({
        what,
        cells: [
          `${reviews.length * 2}`,
          `${requests}`,
          (requests / (reviews.length * 2)).toFixed(1),
          ms((performance.now() - started) / (reviews.length * 2)),
        ],
      });
      return objects;
    };

    const deployment = controllerReview(
      'deployment-create.json',
      'Deployment',
      'web',
      podTemplate(world, false),
    );
    const [pinned] = await admit('Deployment (tags; /mutate pins them)', [deployment]);
    const template = (pinned?.['spec'] as { template: Record<string, unknown> }).template;
    await admit('ReplicaSet (pinned template)', [
      controllerReview('replicaset-create.json', 'ReplicaSet', 'web-6d4cf56db6', template),
    ]);
    await admit(
      `Pods x${REPLICAS} (pinned images)`,
      Array.from({ length: REPLICAS }, (_, i) => podFromTemplate(template, `web-6d4cf56db6-${i}`)),
    );
  } finally {
    await webhook.close();
  }
  return rows;
}

function podTemplate(world: SignedRegistry, byDigest: boolean): Record<string, unknown> {
  return {
    metadata: { labels: { app: 'web' } },
    spec: {
      containers: world.images.map((image, i) => ({
        name: `c${i}`,
        image: byDigest ? image.digestRef : image.ref,
      })),
    },
  };
}

function controllerReview(
  fixture: string,
  kind: string,
  name: string,
  template: Record<string, unknown>,
): ReviewJson {
  const review = readFixture(`rendered/${fixture}`) as unknown as ReviewJson;
  const object = review.request.object as {
    metadata: Record<string, unknown>;
    spec: Record<string, unknown>;
  };
  if (object.metadata['name'] === undefined) throw new Error(`${fixture} is not a ${kind}`);
  object.metadata['name'] = name;
  object.spec['replicas'] = REPLICAS;
  object.spec['template'] = structuredClone(template);
  review.request['name'] = name;
  review.request.uid = randomUUID();
  return review;
}

function podFromTemplate(template: Record<string, unknown>, name: string): ReviewJson {
  const review = readFixture('rendered/pod-create.json') as unknown as ReviewJson;
  const object = review.request.object as { metadata: Record<string, unknown>; spec: unknown };
  object.metadata['name'] = name;
  object.spec = structuredClone((template as { spec: unknown }).spec);
  review.request['name'] = name;
  review.request['userInfo'] = { username: 'system:serviceaccount:kube-system:replicaset-controller' };
  review.request.uid = randomUUID();
  return review;
}

// ------------------------------------------------------------------------------------------------------

interface Webhook {
  /** Swaps the verifier answering from now on (a fresh one is an empty cache). */
  use(verifier: ImageVerifier): void;
  post(
    path: '/validate' | '/mutate',
    review: unknown,
  ): Promise<{ allowed: boolean; patch?: string; status?: unknown }>;
  close(): Promise<void>;
}

async function startWebhook(): Promise<Webhook> {
  const dir = await mkdtemp(join(tmpdir(), 'provenant-bench-tls-'));
  let current: ImageVerifier | undefined;
  const server = await startServer({
    deps: {
      verifier: {
        verifyImages: (images, options) => {
          if (current === undefined) throw new Error('no verifier');
          return current.verifyImages(images, options);
        },
      },
      timeoutMs: 8000,
      excludedNamespaces: [],
      isReady: () => true,
      metrics: createMetrics(),
      logger: createLogger({ level: 'silent' }),
    },
    port: 0,
    host: '127.0.0.1',
    tls: { kind: 'generate', dir },
  });
  const ca = await readFile(server.caFile ?? '', 'utf8');
  return {
    use: (verifier) => {
      current = verifier;
    },
    async post(path, review) {
      const response = await httpsRequest({ url: `${server.url}${path}`, ca, body: JSON.stringify(review) });
      if (response.status !== 200) throw new Error(`POST ${path}: HTTP ${response.status}`);
      return response.json<{ response: { allowed: boolean; patch?: string } }>().response;
    },
    close: async () => {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function assertClean(result: AdmissionBenchResult): void {
  if (result.errors > 0 || result.timeouts > 0 || result.non2xx > 0) {
    throw new Error(`load run had failures: ${JSON.stringify(result)}`);
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function perCall(samples: readonly { requests: number }[]): string {
  return (samples.reduce((sum, s) => sum + s.requests, 0) / samples.length).toFixed(1);
}

function ms(value: number): string {
  return `${value.toFixed(value >= 100 ? 0 : value >= 1 ? 1 : 2)} ms`;
}

function table(title: string, header: readonly string[], rows: readonly Row[]): string {
  const width = Math.max(title.length, ...rows.map((r) => r.what.length + 2));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r.cells[i] ?? '').length)));
  const line = (first: string, cells: readonly string[]) =>
    `${first.padEnd(width)}  ${cells.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ')}`.trimEnd();
  return [line(title, header), ...rows.map((r) => line(`  ${r.what}`, r.cells))].join('\n');
}

function print(
  world: SignedRegistry,
  setupMs: number,
  verify: Row[],
  admission: Row[],
  rollout: Row[],
  totalMs: number,
): void {
  console.log(
    [
      `Provenant bench: docker-registry on ${world.registry.host}, 3 images signed with cosign 2/3, ` +
        `node ${process.version}, setup ${ms(setupMs)}`,
      '',
      table('(a) provenant verify, one signed image', ['time', 'registry requests'], verify),
      '',
      table(
        `(b) admissions over HTTPS (autocannon ${LOAD_CONNECTIONS} conns, ${LOAD_SECONDS} s)`,
        ['adm/s', 'p50 ms', 'p99 ms', 'registry req/adm'],
        admission,
      ),
      '',
      table(
        `(c) ${REPLICAS}-replica Deployment rollout (mutate + validate each)`,
        ['admissions', 'registry req', 'req/adm', 'time/adm'],
        rollout,
      ),
      '',
      `total ${ms(totalMs)}`,
    ].join('\n'),
  );
}

await main();
