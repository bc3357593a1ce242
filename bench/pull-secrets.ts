/**
 * What a workload's pull secrets add to a cached admission, in process (the decision, its log line and its
 * metrics; no HTTP): the same 3-container Pod with and without an imagePullSecrets entry, against the bench's
 * real registry and verifier. In a cluster the Secret is read from the API server once and cached (30 s);
 * here the reader hands over that Secret, as the API returns it, so only what each admission does is
 * measured: finding the workload's credentials and naming them in each image's verdict key.
 */
import { openSync, closeSync, writeSync } from 'node:fs';
import { handleAdmissionBody, type HandlerDeps } from '../src/admission/handle.js';
import { PullSecretResolver, DOCKER_CONFIG_JSON, type KubeSecretsReader } from '../src/kube/pull-secrets.js';
import { pullSecretCredentials } from '../src/kube/workload-pull-secrets.js';
import { batchedDestination, createLogger } from '../src/observability/logger.js';
import { createMetrics } from '../src/observability/metrics.js';
import { podReview } from '../test/integration/webhook/reviews.js';
import type { SignedRegistry } from './signed-registry.js';
import { interleavedMeans, ratio, type Row } from './table.js';

const QUIET = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
const WARM_UP = 3000;
const ADMISSIONS = 20_000;
/** Admissions per event-loop turn, as under load; the decision log is written once per turn. */
const PER_TURN = 10;

export async function benchPullSecrets(world: SignedRegistry): Promise<Row[]> {
  const auth = Buffer.from('bench:not-a-secret').toString('base64');
  const dockerConfig = JSON.stringify({ auths: { [world.registry.host]: { auth } } });
  const reader: KubeSecretsReader = {
    readSecret: () =>
      Promise.resolve({
        type: DOCKER_CONFIG_JSON,
        data: { '.dockerconfigjson': Buffer.from(dockerConfig).toString('base64') },
      }),
    readServiceAccount: () => Promise.resolve({ imagePullSecrets: [] }),
  };
  const log = openSync('/dev/null', 'w');
  try {
    const deps: HandlerDeps = {
      verifier: world.newVerifier(),
      timeoutMs: 8000,
      excludedNamespaces: [],
      metrics: createMetrics(),
      logger: createLogger({ destination: batchedDestination((text) => writeSync(log, text)) }),
      workloadCredentials: pullSecretCredentials(new PullSecretResolver(reader, { logger: QUIET })),
    };
    const body = (withSecret: boolean) => {
      const review = podReview(world.images.map((image, i) => ({ name: `c${i}`, image: image.digestRef })));
      const pod = review.request.object as { spec: Record<string, unknown> };
      if (withSecret) pod.spec['imagePullSecrets'] = [{ name: 'registry-credentials' }];
      return Buffer.from(JSON.stringify(review));
    };
    const without = body(false);
    const withSecret = body(true);
    const cpuPerAdmission = async (review: Buffer): Promise<number> => {
      const admit = async () => {
        const handled = await handleAdmissionBody(review, 'validate', deps);
        if (!handled.body.response.allowed)
          throw new Error(`bench admission denied: ${JSON.stringify(handled.body)}`);
      };
      for (let i = 0; i < WARM_UP; i++) await admit();
      const before = process.cpuUsage();
      for (let i = 0; i < ADMISSIONS; i++) {
        await admit();
        if (i % PER_TURN === PER_TURN - 1) await new Promise((resolve) => setImmediate(resolve));
      }
      const used = process.cpuUsage(before);
      return (used.user + used.system) / ADMISSIONS;
    };
    const [noneUs, secretUs] = await interleavedMeans(
      () => cpuPerAdmission(without),
      () => cpuPerAdmission(withSecret),
    );
    return [
      { what: 'Pod without pull secrets', cells: [`${noneUs.toFixed(0)} µs`, ratio(1)] },
      {
        what: 'the same Pod with an imagePullSecrets entry (Secret cached)',
        cells: [`${secretUs.toFixed(0)} µs`, ratio(secretUs / noneUs)],
      },
    ];
  } finally {
    closeSync(log);
  }
}
