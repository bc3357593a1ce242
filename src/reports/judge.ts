/**
 * Decides audit subjects (Pods as they run, controllers by their template) through the webhook's own
 * decision code, decideAdmission, as a CREATE of the object: the same extraction, verification, deadline and
 * pull-secret credentials as an admission, so a report can never disagree with what the webhook would do.
 * Then splits each decision into one result per policy, which is what a PolicyReport lists.
 */
import { decideAdmission, type AdmissionDecision, type DecideDeps } from '../admission/decide.js';
import { reviewForManifest } from '../admission/review.js';
import { sanitizeText } from '../admission/text.js';
import { mapWithConcurrency } from '../concurrency.js';
import { REASONS, type ReasonCode } from '../errors.js';
import { distinctImages, extractImageUses, type ImageUse } from '../kube/extract.js';
import type { AuditSubject } from '../kube/workload-inventory.js';
import type { PolicyMode } from '../policy/types.js';
import type { Reason } from '../verdict.js';

/** PolicyReport result values Provenant uses: skip is not used (a policy that matches no image has no result). */
export type ReportResult = 'pass' | 'fail' | 'warn' | 'error';

/** Results that are not about a policy the cluster holds, named so they cannot clash with an object name. */
export const NO_MATCH_POLICY = 'provenant:no-match';
export const VERIFICATION_POLICY = 'provenant:verification';

export interface PolicyResult {
  /** As decisions name it: `name` for a ClusterImagePolicy, `namespace/name` for an ImagePolicy. */
  readonly policy: string;
  readonly mode?: PolicyMode;
  readonly result: ReportResult;
  /** Distinct codes behind a fail, warn or error, in order. */
  readonly codes: readonly ReasonCode[];
  readonly message: string;
  /** The images the policy judged, as decided (pinned to what runs where known). */
  readonly images: readonly string[];
}

export interface Judgement {
  readonly subject: AuditSubject;
  readonly decision: AdmissionDecision;
  /** What the webhook would answer if the object were created now. */
  readonly allowed: boolean;
  readonly policies: readonly PolicyResult[];
}

/** Spaces out registry work: acquire(n) resolves when n more image verifications may start. */
export interface RateLimiter {
  acquire(count: number, signal?: AbortSignal): Promise<void>;
}

export interface JudgeOptions {
  readonly decide: Pick<DecideDeps, 'verifier' | 'timeoutMs' | 'workloadCredentials' | 'clock'>;
  /** Subjects decided at once (each decides its images with the verifier's own concurrency). */
  readonly concurrency: number;
  readonly limiter?: RateLimiter;
  readonly signal?: AbortSignal;
}

export async function judgeSubjects(
  subjects: readonly AuditSubject[],
  options: JudgeOptions,
): Promise<Judgement[]> {
  return mapWithConcurrency(subjects, Math.max(1, options.concurrency), async (subject) => {
    options.signal?.throwIfAborted();
    const decoded = reviewForManifest(
      // Items of a list response carry no apiVersion and kind: put them back.
      { ...objectFields(subject.object), apiVersion: subject.ref.apiVersion, kind: subject.ref.kind },
      { namespace: subject.ref.namespace, uid: `provenant-audit-${subject.ref.uid ?? subject.ref.name}` },
    );
    if (!decoded.ok) throw decoded.error;
    const images = imageCount(subject);
    if (options.limiter !== undefined && images > 0) await options.limiter.acquire(images, options.signal);
    // Excluded namespaces are the caller's to skip: an audit reports on what it was asked about.
    const decision = await decideAdmission(decoded.review, { ...options.decide, excludedNamespaces: [] });
    return {
      subject,
      decision,
      allowed: decision.response.allowed,
      policies: policyResults(decision),
    };
  });
}

function objectFields(object: unknown): Record<string, unknown> {
  return typeof object === 'object' && object !== null && !Array.isArray(object)
    ? (object as Record<string, unknown>)
    : {};
}

/** For the rate limiter; a malformed object counts 0 here, and its decision reports why. */
function imageCount(subject: AuditSubject): number {
  try {
    return distinctImages(extractImageUses(subject.kind, subject.object)).length;
  } catch {
    return 0;
  }
}

/** Whether a code means "could not be checked" rather than "checked and failed". */
function isError(code: ReasonCode): boolean {
  return REASONS[code].category === 'unavailable' || code === 'INTERNAL_ERROR';
}

const MAX_MESSAGE_CHARS = 1024;

interface Group {
  mode?: PolicyMode;
  satisfied: boolean;
  images: string[];
  failures: string[];
  codes: ReasonCode[];
  warned: boolean;
}

/**
 * One result per policy that judged any of the decision's images: pass when it was satisfied for every one,
 * fail when it was not (whatever its mode: under Audit or Warn the report is how a violation is seen),
 * error when it could not be checked (registry unreachable, timeout). Images no policy matched give a
 * `provenant:no-match` result when --no-match denies or warns; a request-level failure a
 * `provenant:verification` error.
 */
export function policyResults(decision: AdmissionDecision): PolicyResult[] {
  const groups = new Map<string, Group>();
  const group = (policy: string): Group => {
    let found = groups.get(policy);
    if (found === undefined) {
      found = { satisfied: true, images: [], failures: [], codes: [], warned: false };
      groups.set(policy, found);
    }
    return found;
  };
  const users = new Map<string, ImageUse[]>();
  for (const use of decision.images) users.set(use.image, [...(users.get(use.image) ?? []), use]);
  // Containers and image volumes are named as what they are, as the webhook's deny lines do.
  const named = (uses: readonly ImageUse[], one: string, many: string): string[] =>
    uses.length === 0
      ? []
      : [`${uses.length === 1 ? one : many} ${uses.map((u) => `"${u.container}"`).join(', ')}`];
  const where = (image: string): string => {
    const uses = users.get(image) ?? [];
    const volumes = uses.filter((u) => u.kind === 'imageVolume');
    const containers = uses.filter((u) => u.kind !== 'imageVolume');
    const who = [...named(containers, 'container', 'containers'), ...named(volumes, 'volume', 'volumes')];
    return `${who.join(' and ')} image ${image}`;
  };
  const fail = (g: Group, image: string, reason: Reason): void => {
    g.satisfied = false;
    if (!g.codes.includes(reason.code)) g.codes.push(reason.code);
    // Reasons quote registries, signatures and certificates: one line of printable text in a PolicyReport, an
    // Event and `provenant audit`'s output, as in the webhook's messages.
    g.failures.push(
      sanitizeText(
        `${where(image)}: ${reason.authority === undefined ? '' : `authority ${reason.authority}: `}${reason.code}: ${reason.message}`,
      ),
    );
  };

  for (const verdict of decision.verdicts) {
    for (const outcome of verdict.outcomes) {
      const g = group(outcome.policy);
      g.mode = outcome.mode;
      if (!g.images.includes(verdict.image)) g.images.push(verdict.image);
      if (!outcome.satisfied) for (const reason of outcome.reasons) fail(g, verdict.image, reason);
    }
    // Reasons that name no policy: no policy matched, or the image could not be looked at all.
    const unowned = (list: readonly Reason[], warned: boolean): void => {
      for (const reason of list) {
        if (reason.policy !== undefined) continue;
        const g = group(reason.code === 'NO_MATCHING_POLICY' ? NO_MATCH_POLICY : VERIFICATION_POLICY);
        if (!g.images.includes(verdict.image)) g.images.push(verdict.image);
        g.warned ||= warned;
        fail(g, verdict.image, reason);
      }
    };
    unowned(verdict.reasons, false);
    unowned(
      verdict.warnings.filter((r) => r.code === 'NO_MATCHING_POLICY'),
      true,
    );
  }
  if (decision.verdicts.length === 0 && decision.codes.length > 0) {
    const g = group(VERIFICATION_POLICY);
    g.satisfied = false;
    g.codes.push(...decision.codes);
    g.failures.push(decision.response.status?.message ?? decision.codes.join(', '));
  }

  return [...groups.entries()].map(([policy, g]) => {
    const result: ReportResult = g.satisfied
      ? 'pass'
      : g.codes.every(isError)
        ? 'error'
        : g.warned
          ? 'warn'
          : 'fail';
    const count = g.images.length;
    const message = g.satisfied
      ? `${count} ${count === 1 ? 'image satisfies' : 'images satisfy'} the policy`
      : g.failures.join('; ');
    return {
      policy,
      ...(g.mode === undefined ? {} : { mode: g.mode }),
      result,
      codes: g.codes,
      message: message.length > MAX_MESSAGE_CHARS ? `${message.slice(0, MAX_MESSAGE_CHARS - 1)}…` : message,
      images: g.images,
    };
  });
}
