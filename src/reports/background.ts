/**
 * One background pass of `serve --kubernetes`: list the cluster's Pods and pod controllers, decide each as
 * the webhook would (Pods by the digests they run), and publish what was found: PolicyReports and the
 * ClusterPolicyReport, a Warning Event on each workload that newly violates a policy, the count of
 * violating workloads in each policy's status, and a gauge by policy and reason code. Nothing here changes
 * what runs: no Pod is evicted, no workload deleted or patched. The edges (listing, writing) are ports, so
 * a pass is tested with plain objects; the scheduler and the Lease decide when and where passes run.
 */
import { systemClock, type Clock } from '../clock.js';
import { describeError, type LogSink } from '../kube/log.js';
import { auditSubjects, type ListedObject, type ObjectIdentity } from '../kube/workload-inventory.js';
import type { PolicySet } from '../policy/compile.js';
import type { PolicyKind } from '../policy/types.js';
import { judgeSubjects, type JudgeOptions, type Judgement } from './judge.js';
import {
  buildClusterReport,
  buildPolicyReports,
  failingPoliciesIn,
  OMITTED_ANNOTATION,
  REPORT_NAME,
  resourceKey,
  violatingWorkloads,
  violationsByCode,
  type PolicyReportObject,
} from './policy-report.js';
import type { PassReason } from './scheduler.js';

export interface WorkloadLister {
  /** Pods and pod controllers, in one namespace or (undefined) all. */
  list(namespace?: string): Promise<ListedObject[]>;
}

export interface StoredReport {
  readonly namespace?: string;
  readonly name: string;
  readonly object: unknown;
}

/** RBAC: get, list, create, update, delete on policyreports; get, create, update on clusterpolicyreports. */
export interface ReportStore {
  /** PolicyReports labelled as Provenant's, in every namespace. */
  listReports(): Promise<StoredReport[]>;
  readClusterReport(name: string): Promise<StoredReport | undefined>;
  /** Creates the report, or replaces the one of that name. */
  putReport(report: PolicyReportObject): Promise<void>;
  deleteReport(namespace: string, name: string): Promise<void>;
}

/** RBAC: create on events. */
export interface EventSink {
  warning(regarding: ObjectIdentity, reason: string, message: string): Promise<void>;
}

export interface PolicyRef {
  readonly kind: PolicyKind;
  readonly name: string;
  readonly namespace?: string;
}

/** RBAC: patch on clusterimagepolicies/status and imagepolicies/status. */
export interface ViolationStatusWriter {
  write(policy: PolicyRef, violatingWorkloads: number, checkedAt: Date): Promise<void>;
}

export interface ViolationGauge {
  /** Replaces every series with these (series no longer listed go away). */
  replace(entries: readonly { policy: string; code: string; workloads: number }[]): void;
}

export interface BackgroundVerifierOptions {
  readonly lister: WorkloadLister;
  readonly reports: ReportStore;
  readonly events: EventSink;
  readonly status: ViolationStatusWriter;
  readonly gauge: ViolationGauge;
  readonly policies: () => PolicySet;
  readonly judge: Omit<JudgeOptions, 'signal'>;
  /** The webhook's excluded namespaces: it never decides them, so neither does a pass. */
  readonly excludedNamespaces: readonly string[];
  readonly logger: LogSink;
  readonly clock?: Clock;
}

export interface PassSummary {
  readonly reason: PassReason;
  readonly objects: number;
  /** Results that are fail or error. */
  readonly violations: number;
  readonly violatingWorkloads: number;
  readonly reportsWritten: number;
  readonly events: number;
  readonly durationMs: number;
}

/** The Event reason on a workload that newly violates a policy. */
const VIOLATION_EVENT_REASON = 'PolicyViolation';

export class BackgroundVerifier {
  readonly #o: BackgroundVerifierOptions;
  readonly #clock: Clock;
  /** Counts last written to each policy's status; forgotten when leadership changes hands. */
  #writtenCounts = new Map<string, number>();

  constructor(options: BackgroundVerifierOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** What this replica's last pass found failing, for Events when the stored reports cannot tell. */
  #lastFailing = new Map<string, Set<string>>();

  /** Leadership changed: another replica may have written statuses meanwhile, so write them all again. */
  reset(): void {
    this.#writtenCounts = new Map();
    this.#lastFailing = new Map();
  }

  /**
   * Per resource, the policies it failed before this pass: as the stored reports say (so a replica that
   * just took over does not announce old news), joined with what this replica's last pass found (for
   * results a report could not hold or a write that failed).
   */
  #previousFailures(existing: readonly StoredReport[]): Map<string, Set<string>> {
    const previous = new Map<string, Set<string>>();
    const add = (key: string, policies: Iterable<string>) => {
      const set = previous.get(key) ?? new Set<string>();
      for (const policy of policies) set.add(policy);
      previous.set(key, set);
    };
    for (const report of existing) {
      if (report.namespace === undefined || report.name !== REPORT_NAME) continue;
      for (const [key, policies] of failingPoliciesIn(report.object, report.namespace)) add(key, policies);
    }
    for (const [key, policies] of this.#lastFailing) add(key, policies);
    return previous;
  }

  async runPass(reason: PassReason, signal?: AbortSignal): Promise<PassSummary> {
    const started = this.#clock.now();
    const excluded = new Set(this.#o.excludedNamespaces);
    const listed = await this.#o.lister.list();
    const subjects = auditSubjects(listed).filter((s) => !excluded.has(s.ref.namespace));
    const judgements = await judgeSubjects(subjects, { ...this.#o.judge, ...(signal ? { signal } : {}) });
    signal?.throwIfAborted();

    // Reports that cannot be read or written (CRDs missing, RBAC) are logged; Events, statuses and the
    // gauge are still published.
    let existing: readonly StoredReport[] | undefined;
    try {
      existing = await this.#o.reports.listReports();
    } catch (err) {
      this.#o.logger.warn(
        { ...describeError(err) },
        'could not read PolicyReports; not writing them this pass',
      );
    }
    const written = existing === undefined ? 0 : await this.#writeReports(judgements, existing);
    const events = await this.#announce(judgements, this.#previousFailures(existing ?? []));
    this.#lastFailing = failingNow(judgements);
    const violating = violatingWorkloads(judgements);
    await this.#writeStatuses(violating, new Date(this.#clock.now()));
    this.#o.gauge.replace(violationsByCode(judgements));

    const workloads = new Set<string>();
    for (const set of violating.values()) for (const key of set) workloads.add(key);
    return {
      reason,
      objects: subjects.length,
      violations: judgements.reduce(
        (n, j) => n + j.policies.filter((p) => p.result === 'fail' || p.result === 'error').length,
        0,
      ),
      violatingWorkloads: workloads.size,
      reportsWritten: written,
      events,
      durationMs: Math.max(0, this.#clock.now() - started),
    };
  }

  /** Writes the reports that changed, and removes Provenant's reports where nothing is audited any more. */
  async #writeReports(judgements: readonly Judgement[], existing: readonly StoredReport[]): Promise<number> {
    const stored = new Map<string, StoredReport>();
    for (const report of existing) {
      if (report.namespace !== undefined && report.name === REPORT_NAME) stored.set(report.namespace, report);
    }
    let written = 0;
    const attempt = async (what: string, write: () => Promise<void>): Promise<void> => {
      try {
        await write();
        written++;
      } catch (err) {
        this.#o.logger.warn({ report: what, ...describeError(err) }, 'could not write a PolicyReport');
      }
    };
    const reports = buildPolicyReports(judgements);
    for (const [namespace, report] of reports) {
      if (sameContent(stored.get(namespace)?.object, report)) continue;
      await attempt(`${namespace}/${REPORT_NAME}`, () => this.#o.reports.putReport(report));
    }
    for (const namespace of stored.keys()) {
      if (reports.has(namespace)) continue;
      await attempt(`${namespace}/${REPORT_NAME}`, () =>
        this.#o.reports.deleteReport(namespace, REPORT_NAME),
      );
    }
    const cluster = buildClusterReport(judgements);
    let storedCluster: StoredReport | undefined;
    try {
      storedCluster = await this.#o.reports.readClusterReport(REPORT_NAME);
    } catch (err) {
      this.#o.logger.warn(
        { report: REPORT_NAME, ...describeError(err) },
        'could not read the ClusterPolicyReport',
      );
    }
    if (!sameContent(storedCluster?.object, cluster)) {
      await attempt(REPORT_NAME, () => this.#o.reports.putReport(cluster));
    }
    return written;
  }

  /** A Warning Event on each object that fails a policy it did not fail at the previous pass. */
  async #announce(judgements: readonly Judgement[], previous: Map<string, Set<string>>): Promise<number> {
    let sent = 0;
    for (const judgement of judgements) {
      const before = previous.get(resourceKey(judgement.subject.ref) ?? '') ?? new Set<string>();
      const newly = judgement.policies.filter((p) => p.result === 'fail' && !before.has(p.policy));
      if (newly.length === 0) continue;
      const message = newly
        .map((p) => `no longer satisfies policy ${p.policy} (${p.codes.join(', ')}): ${p.message}`)
        .join('; ');
      try {
        await this.#o.events.warning(judgement.subject.ref, VIOLATION_EVENT_REASON, message);
        sent++;
      } catch (err) {
        this.#o.logger.warn(
          { object: describe(judgement.subject.ref), ...describeError(err) },
          'could not record a violation Event',
        );
      }
    }
    return sent;
  }

  async #writeStatuses(violating: Map<string, Set<string>>, checkedAt: Date): Promise<void> {
    for (const policy of this.#o.policies().policies) {
      const count = violating.get(policy.name)?.size ?? 0;
      const key = `${policy.kind}/${policy.name}`;
      if (this.#writtenCounts.get(key) === count) continue;
      const ref: PolicyRef =
        policy.namespace === undefined
          ? { kind: policy.kind, name: policy.name }
          : {
              kind: policy.kind,
              namespace: policy.namespace,
              name: policy.name.slice(policy.namespace.length + 1),
            };
      try {
        await this.#o.status.write(ref, count, checkedAt);
        this.#writtenCounts.set(key, count);
      } catch (err) {
        this.#o.logger.warn({ policy: key, ...describeError(err) }, 'could not write the violation count');
      }
    }
  }
}

/** Per resource, the policies it fails in this pass. */
function failingNow(judgements: readonly Judgement[]): Map<string, Set<string>> {
  const failing = new Map<string, Set<string>>();
  for (const judgement of judgements) {
    const key = resourceKey(judgement.subject.ref);
    if (key === undefined) continue;
    failing.set(key, new Set(judgement.policies.filter((p) => p.result === 'fail').map((p) => p.policy)));
  }
  return failing;
}

function describe(ref: ObjectIdentity): string {
  return `${ref.kind} ${ref.namespace}/${ref.name}`;
}

/** Whether a stored report already says what `report` says (summary, results, omitted count). */
function sameContent(stored: unknown, report: PolicyReportObject): boolean {
  if (typeof stored !== 'object' || stored === null) return false;
  const s = stored as {
    results?: unknown;
    summary?: unknown;
    metadata?: { annotations?: Record<string, unknown> };
  };
  const omitted = (annotations?: Readonly<Record<string, unknown>>) =>
    annotations?.[OMITTED_ANNOTATION] ?? null;
  return (
    canonical([s.results ?? [], s.summary ?? {}, omitted(s.metadata?.annotations)]) ===
    canonical([report.results, report.summary, omitted(report.metadata.annotations)])
  );
}

/** JSON with object keys sorted: the API server hands back objects with its own key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
