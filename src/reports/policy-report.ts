/**
 * Judgements as `wgpolicyk8s.io/v1alpha2` reports, the format Kyverno, Policy Reporter and other viewers
 * read: a PolicyReport named `provenant` in every namespace with audited workloads, one result per workload
 * and policy, and a ClusterPolicyReport `provenant` with one result per policy over the whole cluster.
 * Pure: the background verifier writes what this builds. Results carry no timestamps, so a pass that finds
 * nothing new builds an identical report and nothing is written.
 */
import type { ObjectIdentity } from '../kube/workload-inventory.js';
import { workloadKey } from '../kube/workload-inventory.js';
import type { Judgement, PolicyResult, ReportResult } from './judge.js';

export const REPORT_API_VERSION = 'wgpolicyk8s.io/v1alpha2';
export const REPORT_NAME = 'provenant';
const REPORT_SOURCE = 'provenant';
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'provenant' } as const;
/** The rule a result is for: Provenant policies have one, "verify the images". */
const REPORT_RULE = 'verify-images';
/** Results a report lists at most. */
const MAX_RESULTS_PER_REPORT = 1000;
/**
 * Bytes of a report's results as JSON, whatever their count: etcd stores at most 1.5 MiB an object, and a
 * report the API server refuses keeps saying what the last one written said. A result may hold ~3 KiB
 * (253-character names, 1 KiB of message and of images), so 1000 of them do not fit.
 */
export const MAX_RESULTS_BYTES = 1024 * 1024;
/** On a report whose results were cut: how many were left out (the summary still counts them). */
export const OMITTED_ANNOTATION = 'provenant.dev/omitted-results';

export interface ReportSummary {
  pass: number;
  fail: number;
  warn: number;
  error: number;
  skip: number;
}

export interface ReportResource {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
}

export interface ReportEntry {
  readonly policy: string;
  readonly rule: string;
  readonly result: ReportResult;
  readonly message: string;
  readonly source: string;
  readonly category: string;
  readonly severity: 'high' | 'medium' | 'low';
  readonly resources: readonly ReportResource[];
  readonly properties: Readonly<Record<string, string>>;
}

export interface PolicyReportObject {
  readonly apiVersion: string;
  readonly kind: 'PolicyReport' | 'ClusterPolicyReport';
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  readonly summary: ReportSummary;
  readonly results: readonly ReportEntry[];
}

const ORDER: Record<ReportResult, number> = { fail: 0, error: 1, warn: 2, pass: 3 };

function resourceOf(ref: ObjectIdentity): ReportResource {
  return {
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    namespace: ref.namespace,
    name: ref.name,
    ...(ref.uid === undefined ? {} : { uid: ref.uid }),
  };
}

function entryFor(judgement: Judgement, result: PolicyResult): ReportEntry {
  const { subject } = judgement;
  const properties: Record<string, string> = { images: listedImages(result.images) };
  if (result.mode !== undefined) properties['mode'] = result.mode;
  if (result.codes.length > 0) properties['codes'] = result.codes.join(', ');
  if (subject.owner !== undefined) properties['owner'] = `${subject.owner.kind}/${subject.owner.name}`;
  // Containers decided by the digest the kubelet reported, not by the tag in the spec.
  if (subject.running.length > 0) properties['runningDigests'] = 'true';
  return {
    policy: result.policy,
    rule: REPORT_RULE,
    result: result.result,
    message: result.message,
    source: REPORT_SOURCE,
    category: 'Image verification',
    severity: result.result === 'pass' ? 'low' : result.mode === 'Enforce' ? 'high' : 'medium',
    resources: [resourceOf(subject.ref)],
    properties,
  };
}

/**
 * Characters of a result's `images` property: a workload may name hundreds of long image strings, and a
 * PolicyReport over the API server's object size limit could not be written at all.
 */
export const MAX_IMAGES_PROPERTY_CHARS = 1024;

function listedImages(images: readonly string[]): string {
  let text = '';
  for (const [i, image] of images.entries()) {
    const next = i === 0 ? image : `${text}, ${image}`;
    if (next.length > MAX_IMAGES_PROPERTY_CHARS)
      return `${text}${i === 0 ? '' : ', '}… (${images.length - i} more)`;
    text = next;
  }
  return text;
}

function emptySummary(): ReportSummary {
  return { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
}

function summarise(entries: readonly { result: ReportResult }[]): ReportSummary {
  const summary = emptySummary();
  for (const entry of entries) summary[entry.result]++;
  return summary;
}

/** Failures first, then by resource and policy, so reports are stable and a cut keeps what matters. */
function compareEntries(a: ReportEntry, b: ReportEntry): number {
  const ra = a.resources[0];
  const rb = b.resources[0];
  return (
    ORDER[a.result] - ORDER[b.result] ||
    (ra?.kind ?? '').localeCompare(rb?.kind ?? '') ||
    (ra?.name ?? '').localeCompare(rb?.name ?? '') ||
    a.policy.localeCompare(b.policy)
  );
}

/** The first results that fit in a report: at most MAX_RESULTS_PER_REPORT, and MAX_RESULTS_BYTES as JSON. */
function withinBounds(entries: readonly ReportEntry[]): ReportEntry[] {
  const kept: ReportEntry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (kept.length >= MAX_RESULTS_PER_REPORT) break;
    bytes += Buffer.byteLength(JSON.stringify(entry)) + 1;
    if (bytes > MAX_RESULTS_BYTES) break;
    kept.push(entry);
  }
  return kept;
}

/** One PolicyReport per namespace that has audited workloads, keyed by namespace. */
export function buildPolicyReports(judgements: readonly Judgement[]): Map<string, PolicyReportObject> {
  const byNamespace = new Map<string, ReportEntry[]>();
  for (const judgement of judgements) {
    const namespace = judgement.subject.ref.namespace;
    const entries = byNamespace.get(namespace) ?? [];
    for (const result of judgement.policies) entries.push(entryFor(judgement, result));
    byNamespace.set(namespace, entries);
  }
  const reports = new Map<string, PolicyReportObject>();
  for (const [namespace, entries] of [...byNamespace.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    entries.sort(compareEntries);
    const kept = withinBounds(entries);
    const omitted = entries.length - kept.length;
    reports.set(namespace, {
      apiVersion: REPORT_API_VERSION,
      kind: 'PolicyReport',
      metadata: {
        name: REPORT_NAME,
        namespace,
        labels: { ...MANAGED_BY },
        // The summary counts every result, also those cut from the list.
        ...(omitted > 0 ? { annotations: { [OMITTED_ANNOTATION]: String(omitted) } } : {}),
      },
      summary: summarise(entries),
      results: kept,
    });
  }
  return reports;
}

/** Workload keys that violate each policy: a result of fail or error (it would be denied, or could not be checked). */
export function violatingWorkloads(judgements: readonly Judgement[]): Map<string, Set<string>> {
  const byPolicy = new Map<string, Set<string>>();
  for (const judgement of judgements) {
    for (const result of judgement.policies) {
      const set = byPolicy.get(result.policy) ?? new Set<string>();
      if (result.result === 'fail' || result.result === 'error') set.add(workloadKey(judgement.subject));
      byPolicy.set(result.policy, set);
    }
  }
  return byPolicy;
}

/** Violating workloads per policy and reason code, for the gauge: a workload counts once per code. */
export function violationsByCode(
  judgements: readonly Judgement[],
): { policy: string; code: string; workloads: number }[] {
  const sets = new Map<string, Set<string>>();
  for (const judgement of judgements) {
    for (const result of judgement.policies) {
      if (result.result !== 'fail' && result.result !== 'error') continue;
      for (const code of result.codes) {
        const key = `${result.policy}\u0000${code}`;
        const set = sets.get(key) ?? new Set<string>();
        set.add(workloadKey(judgement.subject));
        sets.set(key, set);
      }
    }
  }
  return [...sets.entries()].map(([key, set]) => {
    const [policy = '', code = ''] = key.split('\u0000');
    return { policy, code, workloads: set.size };
  });
}

const MAX_LISTED_WORKLOADS = 20;

/** The cluster view: per policy, pass when no audited workload violates it, else fail naming them. */
export function buildClusterReport(judgements: readonly Judgement[]): PolicyReportObject {
  const violating = violatingWorkloads(judgements);
  const results: ReportEntry[] = [...violating.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([policy, workloads]) => {
      const names = [...workloads].sort();
      const listed = names.slice(0, MAX_LISTED_WORKLOADS).join(', ');
      const more =
        names.length > MAX_LISTED_WORKLOADS ? ` and ${names.length - MAX_LISTED_WORKLOADS} more` : '';
      return {
        policy,
        rule: REPORT_RULE,
        result: names.length === 0 ? 'pass' : 'fail',
        message:
          names.length === 0
            ? 'no audited workload violates the policy'
            : `${names.length} ${names.length === 1 ? 'workload violates' : 'workloads violate'} the policy: ${listed}${more}`,
        source: REPORT_SOURCE,
        category: 'Image verification',
        severity: names.length === 0 ? 'low' : 'high',
        resources: [],
        properties: { violatingWorkloads: String(names.length) },
      };
    });
  // Tenants' ImagePolicies count too: failures first, so that a cut keeps them.
  const ordered = [...results].sort((a, b) => ORDER[a.result] - ORDER[b.result]);
  const kept = withinBounds(ordered);
  const omitted = results.length - kept.length;
  return {
    apiVersion: REPORT_API_VERSION,
    kind: 'ClusterPolicyReport',
    metadata: {
      name: REPORT_NAME,
      labels: { ...MANAGED_BY },
      ...(omitted > 0 ? { annotations: { [OMITTED_ANNOTATION]: String(omitted) } } : {}),
    },
    summary: summarise(results),
    results: kept,
  };
}

/**
 * The failing policies per resource that a report records (by uid, else kind/namespace/name), so a restarted
 * replica remembers what was already failing and does not announce it again. Only resources of the report's
 * own namespace count: whoever may write one namespace's report must not silence another's Events.
 */
export function failingPoliciesIn(report: unknown, namespace: string): Map<string, Set<string>> {
  const failing = new Map<string, Set<string>>();
  const results = isObject(report) && Array.isArray(report['results']) ? report['results'] : [];
  for (const result of results as unknown[]) {
    if (!isObject(result) || typeof result['policy'] !== 'string') continue;
    const resources = Array.isArray(result['resources']) ? (result['resources'] as unknown[]) : [];
    for (const resource of resources) {
      if (!isObject(resource) || resource['namespace'] !== namespace) continue;
      const key = resourceKey(resource);
      if (key === undefined) continue;
      const set = failing.get(key) ?? new Set<string>();
      if (result['result'] === 'fail') set.add(result['policy']);
      failing.set(key, set);
    }
  }
  return failing;
}

export function resourceKey(resource: Record<string, unknown> | ObjectIdentity): string | undefined {
  const uid = resource['uid' as keyof typeof resource];
  if (typeof uid === 'string' && uid !== '') return uid;
  const { kind, namespace, name } = resource as Record<string, unknown>;
  return typeof kind === 'string' && typeof name === 'string'
    ? `${kind}/${typeof namespace === 'string' ? namespace : ''}/${name}`
    : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
