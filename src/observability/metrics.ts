/**
 * Prometheus metrics on a registry of our own: the process-wide default registry is shared with every library
 * in the process, and tests create many instances side by side.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type AdmissionWebhook = 'validate' | 'mutate';
export type AdmissionDecisionLabel = 'allow' | 'deny';
export type CacheLookupResult = 'hit' | 'miss' | 'shared';

/** What the admission edge records: one call per answered AdmissionReview. */
export interface AdmissionMetrics {
  recordAdmission(
    webhook: AdmissionWebhook,
    decision: AdmissionDecisionLabel,
    code: string,
    seconds: number,
  ): void;
}

/** What the verification core records; pass this port in, it does no I/O of its own. */
export interface VerificationMetrics {
  /**
   * One registry HTTP request. `kind`: what was fetched (`manifest`, `blob`, `referrers`, `token`, …);
   * `status`: the HTTP status code, or `error` / `timeout` when there was none.
   */
  recordRegistryRequest(registry: string, kind: string, status: string): void;
  /** `shared`: joined an identical verification already in flight (single flight). */
  recordCacheLookup(result: CacheLookupResult): void;
}

/** What the background re-verification records (serve --kubernetes, on the replica holding the Lease). */
export interface BackgroundMetrics {
  /** Replaces every violating-workloads series with these: a policy or code no longer violated goes away. */
  replaceViolations(entries: readonly { policy: string; code: string; workloads: number }[]): void;
  recordBackgroundPass(result: 'ok' | 'error', seconds: number): void;
}

export interface ProvenantMetrics extends AdmissionMetrics, VerificationMetrics, BackgroundMetrics {
  /** A connection the webhook server closed at once because --max-connections were open. */
  recordDroppedConnection(): void;
  readonly registry: Registry;
  readonly contentType: string;
  /** The exposition text for GET /metrics. */
  render(): Promise<string>;
}

/** Label values come from registries and policies; bound them so a hostile value cannot blow up memory. */
const MAX_LABEL_LENGTH = 128;
/** The `registry` label of every host no policy names. */
export const OTHER_REGISTRY = 'other';
// HTTP statuses registries are expected to answer with; any other is counted by its class (`4xx`), since a
// hostile registry picks its status codes too.
const KNOWN_STATUSES = new Set([
  200, 201, 202, 204, 206, 301, 302, 303, 307, 308, 400, 401, 403, 404, 405, 406, 408, 409, 410, 412, 413,
  416, 429, 500, 501, 502, 503, 504,
]);

export interface MetricsOptions {
  /**
   * The registry hosts that get their own `registry` label (those the policies in force name); every other
   * host is counted as `other`. Image hosts are chosen by whoever creates Pods: one series per host would
   * let them grow /metrics and memory without bound. Without it, every host is `other`.
   */
  readonly labelledRegistries?: () => ReadonlySet<string>;
  /**
   * How many registry origins the registry client holds connections for, read at each scrape: the client
   * refuses new ones past its limit, and this shows how close a cluster (or someone naming hosts) comes.
   */
  readonly registryOrigins?: { readonly open: () => number | undefined; readonly limit: number };
}

export function createMetrics(options: MetricsOptions = {}): ProvenantMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'provenant_' });

  const admissions = new Counter({
    name: 'provenant_admissions_total',
    help: 'Answered AdmissionReviews by webhook, decision and reason code (first deny code; "none" when allowed cleanly).',
    labelNames: ['webhook', 'decision', 'code'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'provenant_admission_duration_seconds',
    help: 'Time from receiving an AdmissionReview body to answering it.',
    labelNames: ['webhook'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const registryRequests = new Counter({
    name: 'provenant_registry_requests_total',
    help: 'Registry HTTP requests by registry host (hosts the policies name; "other" for the rest), request kind and status.',
    labelNames: ['registry', 'kind', 'status'] as const,
    registers: [registry],
  });
  const cache = new Counter({
    name: 'provenant_verification_cache_total',
    help: 'Verification cache lookups: hit, miss, or shared (joined an in-flight verification).',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const dropped = new Counter({
    name: 'provenant_dropped_connections_total',
    help: 'Connections to the webhook closed at once because --max-connections were already open.',
    registers: [registry],
  });

  const registryOrigins = options.registryOrigins;
  if (registryOrigins !== undefined) {
    new Gauge({
      name: 'provenant_registry_origins',
      help: `Registry origins (scheme, host, port) the registry client holds connections for; past ${registryOrigins.limit} a new one is refused until idle ones close.`,
      registers: [registry],
      collect() {
        const open = registryOrigins.open();
        if (open !== undefined) this.set(open);
      },
    });
  }

  const violating = new Gauge({
    name: 'provenant_violating_workloads',
    help: 'Running workloads (a controller with its Pods counts once) that violate a policy, by policy and reason code, as of the last background pass. Only the replica holding the background Lease reports it.',
    labelNames: ['policy', 'code'] as const,
    registers: [registry],
  });
  const passes = new Counter({
    name: 'provenant_background_passes_total',
    help: 'Background re-verification passes by result (ok, error).',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const passDuration = new Gauge({
    name: 'provenant_background_pass_duration_seconds',
    help: 'How long the last background re-verification pass took.',
    registers: [registry],
  });

  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
    recordAdmission(webhook, decision, code, seconds) {
      admissions.inc({ webhook, decision, code: label(code) });
      duration.observe({ webhook }, Math.max(0, seconds));
    },
    recordRegistryRequest(registryHost, kind, status) {
      const named = options.labelledRegistries?.().has(registryHost) === true;
      registryRequests.inc({
        registry: named ? label(registryHost) : OTHER_REGISTRY,
        kind: label(kind),
        status: statusLabel(status),
      });
    },
    recordCacheLookup(result) {
      cache.inc({ result });
    },
    recordDroppedConnection() {
      dropped.inc();
    },
    replaceViolations(entries) {
      violating.reset();
      for (const { policy, code, workloads } of entries) {
        violating.set({ policy: label(policy), code: label(code) }, workloads);
      }
    },
    recordBackgroundPass(result, seconds) {
      passes.inc({ result });
      passDuration.set(Math.max(0, seconds));
    },
  };
}

function statusLabel(status: string): string {
  if (!/^[0-9]{3}$/.test(status)) return status === 'error' || status === 'timeout' ? status : 'other';
  return KNOWN_STATUSES.has(Number(status)) ? status : `${status[0] ?? ''}xx`;
}

function label(value: string): string {
  return value.length > MAX_LABEL_LENGTH ? value.slice(0, MAX_LABEL_LENGTH) : value;
}
