/**
 * `npm run bench`: what verification costs against a real local registry with cosign-signed images, each
 * figure beside what it is compared with in the same run (the machine may be shared and noisy: read ratios),
 * and a last column with the goal (issue #10) and whether this run met it.
 *
 *   (a) the CLI as users run it (built bundle, whole process) beside `cosign verify`; `serve` start-up and
 *       idle RSS.
 *   (b) admissions/s and p50/p99 over HTTPS on loopback (autocannon) with the real verification service, the
 *       decision log and metrics on, for a 3-container Pod by digest and by tag, beside the ceiling: a bare
 *       node:https server answering a fixed JSON to the same client. Each server's CPU time per request (from
 *       /proc, every thread) shows what an admission costs the server itself, apart from the client.
 *   (c) first-seen images: registry requests and sequential round trips per image.
 *   (d) registry requests per admission during a 10-replica Deployment rollout.
 *   (e) memory: RSS growth with 10,000 cached verdicts.
 *   (f) keyless bundle verification, CPU per bundle in process, beside stock @sigstore/verify.
 *   (g) what a workload's pull secrets add to a cached admission, CPU in process.
 *   (h) the CLI beside `cosign verify` again, through a proxy that puts the registry 10 and 40 ms away, over
 *       plain HTTP and over TLS (HTTP/2).
 *
 * Loopback only, bounded loops; under three minutes on two cores.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startServer } from '../src/admission/server.js';
import { createLogger } from '../src/observability/logger.js';
import { createMetrics } from '../src/observability/metrics.js';
import type { ImageVerifier } from '../src/verdict.js';
import { httpsRequest } from '../test/integration/admission/https-client.js';
import { readFixture } from '../test/integration/admission/fixtures.js';
import { decodePatch, applyPatch, podReview, type ReviewJson } from '../test/integration/webhook/reviews.js';
import {
  benchCertificate,
  load,
  metricTotal,
  startCeiling,
  startServe,
  targetRss,
  type AdmissionBenchResult,
  type LoadTarget,
} from './admission.js';
import { benchCli, benchServeStartup, buildCli } from './cli.js';
import { benchDistance } from './distance.js';
import { benchKeyless } from './keyless.js';
import { benchMemory } from './memory.js';
import { benchPullSecrets } from './pull-secrets.js';
import { roundTripsPerImage, sequentialRoundTrips } from './round-trips.js';
import { startSignedRegistry, type SignedRegistry } from './signed-registry.js';
import { goal, median, mib, ms, table, type Row } from './table.js';

const LOAD_SECONDS = 5;
/** Before each measured load: V8 is still tiering up the hot path in the first seconds. */
const WARMUP_SECONDS = 2;
const LOAD_CONNECTIONS = 10;
/** CPU the ceiling spins per request in the calibration rows: a little, and about what an admission costs. */
const CALIBRATION_MICROSECONDS = [10, 100];
const COLD_ADMISSIONS = 5;
const REPLICAS = 10;

/** `npm run bench -- --only b,c` runs only those sections (for working on one of them); all by default. */
function sections(): Set<string> {
  const { values } = parseArgs({ options: { only: { type: 'string' } } });
  return new Set((values.only ?? 'a,b,c,d,e,f,g,h').split(',').map((s) => s.trim()));
}

async function main(): Promise<void> {
  const begun = performance.now();
  const only = sections();
  const [world] = await Promise.all([startSignedRegistry(), buildCli()]);
  const scratch = await mkdtemp(join(tmpdir(), 'provenant-bench-'));
  try {
    const setupMs = performance.now() - begun;
    const output = [
      `Provenant bench: docker-registry on ${world.registry.host}, 3 images signed with cosign 2/3, ` +
        `node ${process.version}, setup ${ms(setupMs)}`,
    ];
    const section = async (
      name: string,
      title: string,
      columns: readonly string[],
      rows: () => Promise<Row[]>,
    ) => {
      if (only.has(name)) output.push('', table(title, columns, await rows()));
    };
    await section(
      'a',
      '(a) one key-signed image, whole process',
      ['wall', 'CPU', 'peak RSS', 'wall/cosign'],
      async () => [...(await benchCli(world, scratch)), ...(await benchServeStartup(world, scratch))],
    );
    await section(
      'b',
      `(b) warm admissions over HTTPS (autocannon ${LOAD_CONNECTIONS} conns, ${LOAD_SECONDS} s after ${WARMUP_SECONDS} s of warm-up, log + metrics on)`,
      ['adm/s', 'p50 ms', 'p99 ms', 'of ceiling', 'server CPU/adm', 'registry req/adm', 'RSS after'],
      () => benchAdmission(world, scratch),
    );
    await section(
      'c',
      `(c) first-seen images (empty cache), median of ${COLD_ADMISSIONS}`,
      ['p50', 'max', 'requests/image', 'round trips/image'],
      () => benchCold(world),
    );
    await section(
      'd',
      `(d) ${REPLICAS}-replica Deployment rollout (mutate + validate each)`,
      ['admissions', 'registry req', 'req/adm', 'time/adm'],
      () => benchRollout(world),
    );
    await section('e', '(e) memory of the verification service', ['RSS', 'growth'], benchMemory);
    await section('f', '(f) keyless bundle verification, CPU per bundle (p50)', ['CPU', 'vs stock'], () =>
      benchKeyless(scratch),
    );
    await section(
      'g',
      '(g) cached 3-container admission in process (decision, log, metrics; no HTTP), CPU per admission',
      ['CPU', 'vs none'],
      () => benchPullSecrets(world),
    );
    await section(
      'h',
      '(h) one key-signed image at a distance (built CLI; median of 5)',
      ['provenant', 'cosign 3', 'ratio', 'connections'],
      () => benchDistance(world, scratch),
    );
    output.push('', `total ${ms(performance.now() - begun)}`);
    console.log(output.join('\n'));
  } finally {
    await world.close();
    await rm(scratch, { recursive: true, force: true });
  }
}

// (b) ------------------------------------------------------------------------------------------------

async function benchAdmission(world: SignedRegistry, scratch: string): Promise<Row[]> {
  const containers = (byDigest: boolean) =>
    world.images.map((image, i) => ({ name: `c${i}`, image: byDigest ? image.digestRef : image.ref }));
  const rows: Row[] = [];
  const rates: Record<string, number> = {};
  const tls = await benchCertificate(join(scratch, 'load-tls'));
  const digestReview = podReview(containers(true));
  const answer = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid: digestReview.request.uid, allowed: true },
  });
  const loadCeiling = async (busyMicroseconds: number): Promise<AdmissionBenchResult> => {
    const ceiling = await startCeiling(tls, answer, busyMicroseconds);
    try {
      await warmUp(ceiling, digestReview);
      const result = await load(ceiling, loadOf(digestReview));
      assertClean(result);
      return result;
    } finally {
      await ceiling.close();
    }
  };
  const ceilingResult = await loadCeiling(0);
  const share = (rate: number) => `${((rate / ceilingResult.requestsPerSecond) * 100).toFixed(0)}%`;
  const cells = (result: AdmissionBenchResult) => [
    result.requestsPerSecond.toFixed(0),
    `${result.p50Ms}`,
    `${result.p99Ms}`,
    share(result.requestsPerSecond),
    `${result.serverCpuMicroseconds.toFixed(0)} µs`,
  ];
  rows.push({
    what: 'ceiling: bare node:https answering a fixed JSON (own process), same client and body',
    cells: [...cells(ceilingResult), '', ''],
  });
  // The same server spending a fixed CPU time on each request: what that much work per admission allows.
  // Its server CPU per request less the spin is what serving HTTPS costs at that pace: it grows as the server
  // slows, because the client then waits idle more often and each answer's write(2) must wake it.
  for (const spin of CALIBRATION_MICROSECONDS) {
    const busy = await loadCeiling(spin);
    rows.push({
      what: `  the same, spinning ${spin} µs of CPU per request first (for scale)`,
      cells: [...cells(busy), '', ''],
    });
  }

  for (const byDigest of [true, false]) {
    const name = byDigest ? 'digest' : 'tag';
    const review = podReview(containers(byDigest));
    const serve = await startServe(world.cliFlags, tls, join(scratch, `serve-${name}.log`));
    try {
      // Admitted once before the load starts: this measures admissions of images already seen.
      const first = await httpsRequest({
        url: `${serve.url}/validate`,
        ca: serve.ca,
        body: JSON.stringify(review),
      });
      if (first.json<{ response: { allowed: boolean } }>().response.allowed !== true) {
        throw new Error(`warm-up admission denied: ${first.text}`);
      }
      await warmUp(serve, review);
      const before = await metricTotal(serve, REGISTRY_REQUESTS);
      const result = await load(serve, loadOf(review));
      assertClean(result);
      const perAdmission =
        ((await metricTotal(serve, REGISTRY_REQUESTS)) - before) / Math.max(1, result.requests);
      const rss = await targetRss(serve);
      rates[name] = result.requestsPerSecond;
      const byDigestRate = rates['digest'] ?? 0;
      rows.push({
        what: `provenant serve, 3-container Pod, images verified, by ${name}`,
        cells: [...cells(result), perAdmission.toFixed(2), mib(rss)],
        goal: byDigest
          ? goal(
              '>= 50% of ceiling, p99 <= 5 ms',
              result.requestsPerSecond >= ceilingResult.requestsPerSecond / 2 && result.p99Ms <= 5,
            )
          : goal(
              '>= 2/3 of by-digest adm/s, <= 0.05 registry req/adm',
              result.requestsPerSecond >= (byDigestRate * 2) / 3 && perAdmission <= 0.05,
            ),
      });
    } finally {
      await serve.close();
    }
  }
  return rows;
}

const REGISTRY_REQUESTS = 'provenant_registry_requests_total';

/** Asked as the API server asks: it appends the webhook's timeoutSeconds (the chart's 10) to every call. */
function loadOf(review: unknown, durationSeconds = LOAD_SECONDS) {
  return {
    path: '/validate?timeout=10s',
    body: JSON.stringify(review),
    connections: LOAD_CONNECTIONS,
    durationSeconds,
  };
}

/** A load before the measured one, discarded: the servers compared are measured at their steady state. */
async function warmUp(target: LoadTarget, review: unknown): Promise<void> {
  assertClean(await load(target, loadOf(review, WARMUP_SECONDS)));
}

// (c) ------------------------------------------------------------------------------------------------

/**
 * First-seen images: each admission gets a verification service with empty caches (the registry client,
 * like a running webhook's, keeps its connections). The three images are verified concurrently; the round
 * trips reported are those of the image with the longest chain of sequential requests (its repository's).
 */
async function benchCold(world: SignedRegistry): Promise<Row[]> {
  const review = () => podReview(world.images.map((image, i) => ({ name: `c${i}`, image: image.ref })));
  const webhook = await startWebhook();
  try {
    const latencies: number[] = [];
    const roundTrips: number[] = [];
    let requests = 0;
    for (let i = 0; i < COLD_ADMISSIONS; i++) {
      webhook.use(world.newVerifier());
      const before = world.requests();
      const callsBefore = world.calls().length;
      const started = performance.now();
      const response = await webhook.post('/validate', review());
      latencies.push(performance.now() - started);
      requests += world.requests() - before;
      roundTrips.push(roundTripsPerImage(world.calls().slice(callsBefore)));
      if (!response.allowed) throw new Error(`cold admission denied: ${JSON.stringify(response)}`);
    }
    const perImage = requests / COLD_ADMISSIONS / world.images.length;
    const trips = median(roundTrips);
    const rows: Row[] = [
      {
        what: '3-container Pod by tag (2 legacy .sig, 1 bundle), whole admission',
        cells: [ms(median(latencies)), ms(Math.max(...latencies)), perImage.toFixed(1), trips.toFixed(0)],
        goal: goal('<= 4 requests and <= 3 round trips per image', perImage <= 4 && trips <= 3),
      },
    ];
    // Each kind of image alone, by tag and by digest, each with an empty cache.
    const [legacy, bundle] = world.images;
    for (const [kind, image] of [
      ['legacy .sig (cosign 2)', legacy],
      ['bundle referrer (cosign 3)', bundle],
    ] as const) {
      for (const ref of [image?.ref ?? '', image?.digestRef ?? '']) {
        const samples: { ms: number; requests: number; trips: number }[] = [];
        for (let i = 0; i < COLD_ADMISSIONS; i++) {
          const verifier = world.newVerifier();
          const before = world.requests();
          const started = performance.now();
          const [verdict] = await verifier.verifyImages([ref]);
          if (!verdict?.allowed) throw new Error(`cold verification denied: ${JSON.stringify(verdict)}`);
          const exchanges = world.exchanges().slice(before);
          samples.push({
            ms: performance.now() - started,
            requests: exchanges.length,
            trips: sequentialRoundTrips(exchanges),
          });
        }
        rows.push({
          what: `${kind}, by ${ref.includes('@') ? 'digest' : 'tag'}`,
          cells: [
            ms(median(samples.map((x) => x.ms))),
            ms(Math.max(...samples.map((x) => x.ms))),
            median(samples.map((x) => x.requests)).toFixed(0),
            median(samples.map((x) => x.trips)).toFixed(0),
          ],
        });
      }
    }
    return rows;
  } finally {
    await webhook.close();
  }
}

// (d) ------------------------------------------------------------------------------------------------

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
  // Kept connections, as the API server keeps them: a TLS handshake per admission is not what a cluster pays.
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca });
  return {
    use: (verifier) => {
      current = verifier;
    },
    async post(path, review) {
      const response = await httpsRequest({
        url: `${server.url}${path}`,
        ca,
        agent,
        body: JSON.stringify(review),
      });
      if (response.status !== 200) throw new Error(`POST ${path}: HTTP ${response.status}`);
      return response.json<{ response: { allowed: boolean; patch?: string } }>().response;
    },
    close: async () => {
      agent.destroy();
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

await main();
