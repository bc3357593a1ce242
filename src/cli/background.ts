/**
 * Wires the background re-verification into `serve --kubernetes`: a Lease decides which replica runs it,
 * the scheduler decides when, and BackgroundVerifier does a pass. Passes share the webhook's verifier and
 * cache but never its admission path: they run with bounded concurrency, a token bucket on image
 * verifications, and the admission budget per object, so an admission never waits behind a pass.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { describeError } from '../kube/log.js';
import type { Logger } from '../observability/logger.js';
import type { BackgroundMetrics } from '../observability/metrics.js';
import { BackgroundVerifier } from '../reports/background.js';
import { TokenBucket } from '../reports/rate-limit.js';
import { PassScheduler, type PassReason } from '../reports/scheduler.js';
import type { KubeServiceRuntime } from './runtime.js';

export interface BackgroundFlags {
  /** Time between passes; 0 turns the background re-verification off. */
  readonly intervalMs: number;
  /** Image verifications a second that passes may start (token bucket; bursts up to 2 s worth). */
  readonly ratePerSecond: number;
  /** Objects decided at once. */
  readonly concurrency: number;
  readonly leaseNamespace: string;
  readonly leaseName: string;
}

export interface BackgroundContext {
  readonly runtime: KubeServiceRuntime;
  readonly metrics: BackgroundMetrics;
  readonly logger: Logger;
  readonly admissionTimeoutMs: number;
  readonly cacheTtlMs: number;
  readonly excludedNamespaces: readonly string[];
}

export interface RunningBackground {
  /** A policy or the trust material changed: re-verify soon (if this replica leads). */
  policiesChanged(): void;
  stop(): Promise<void>;
}

/** Collects a burst of policy changes (one `kubectl apply -f dir/`) into one pass. */
const DEBOUNCE_MS = 2_000;

/** This replica in the Lease: the Pod name (the chart sets POD_NAME), plus randomness for restarts. */
function leaseIdentity(): string {
  return `${process.env['POD_NAME'] ?? hostname()}_${randomBytes(4).toString('hex')}`;
}

export async function startBackground(
  flags: BackgroundFlags,
  context: BackgroundContext,
): Promise<RunningBackground> {
  const { runtime, metrics, logger } = context;
  const client = await import('../kube/background-client.js');
  const { LeaderElector } = await import('../kube/lease.js');
  const kc = runtime.kubeConfig;
  const identity = leaseIdentity();
  const verifier = new BackgroundVerifier({
    lister: client.createWorkloadLister(kc),
    reports: client.createReportStore(kc),
    events: client.createEventSink(kc, identity),
    status: client.createViolationStatusWriter(kc),
    gauge: { replace: (entries) => metrics.replaceViolations(entries) },
    policies: () => runtime.policies.current,
    judge: {
      decide: {
        verifier: runtime.verifier,
        timeoutMs: context.admissionTimeoutMs,
        workloadCredentials: runtime.workloadCredentials,
      },
      concurrency: flags.concurrency,
      limiter: new TokenBucket({
        ratePerSecond: flags.ratePerSecond,
        burst: Math.max(1, flags.ratePerSecond * 2),
      }),
    },
    excludedNamespaces: context.excludedNamespaces,
    logger,
  });

  let abort = new AbortController();
  const run = async (reason: PassReason): Promise<void> => {
    // Policies first: a pass over an empty set before the first sync would report nothing as violating.
    await runtime.synced;
    const started = performance.now();
    try {
      const summary = await verifier.runPass(reason, abort.signal);
      metrics.recordBackgroundPass('ok', (performance.now() - started) / 1000);
      logger.info({ ...summary }, 'background re-verification pass done');
    } catch (err) {
      metrics.recordBackgroundPass('error', (performance.now() - started) / 1000);
      logger.warn({ reason, ...describeError(err) }, 'background re-verification pass failed');
      throw err;
    }
  };
  const scheduler = new PassScheduler({
    intervalMs: flags.intervalMs,
    cacheTtlMs: context.cacheTtlMs,
    debounceMs: DEBOUNCE_MS,
    run,
  });
  const elector = new LeaderElector({
    api: client.createLeaseApi(kc),
    namespace: flags.leaseNamespace,
    name: flags.leaseName,
    identity,
    logger,
    onStartedLeading: () => {
      verifier.reset();
      abort = new AbortController();
      scheduler.start();
    },
    onStoppedLeading: () => {
      abort.abort(new Error('lost the background lease'));
      void scheduler.stop();
      // Only the leader's numbers are current: another replica reports from now on.
      metrics.replaceViolations([]);
    },
  });
  elector.start();
  logger.info(
    { intervalMs: flags.intervalMs, lease: `${flags.leaseNamespace}/${flags.leaseName}`, identity },
    'background re-verification enabled',
  );
  return {
    policiesChanged: () => scheduler.trigger('policy-change'),
    async stop() {
      abort.abort(new Error('shutting down'));
      await scheduler.stop();
      await elector.stop();
    },
  };
}
