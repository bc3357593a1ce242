/**
 * From request body bytes to the AdmissionReview answer, with its metrics and log line. Transport-free, so
 * the HTTP server stays a thin shell and the whole path is testable without sockets.
 */
import { toProvenantError } from '../errors.js';
import { logDecision, type AttestationLogEntry, type Logger } from '../observability/logger.js';
import type { ImageVerdict } from '../verdict.js';
import type { AdmissionMetrics, AdmissionWebhook } from '../observability/metrics.js';
import { decideAdmission, decideMutation, type AdmissionDecision, type DecideDeps } from './decide.js';
import {
  invalidRequestResponse,
  toReviewResponse,
  type AdmissionResponse,
  type AdmissionReviewResponse,
} from './response.js';
import { ADMISSION_V1, parseAdmissionReview, type AdmissionReview } from './review.js';
import { BodyBudget, type Release } from './body-budget.js';

export interface HandlerDeps extends DecideDeps {
  readonly metrics?: AdmissionMetrics;
  readonly logger?: Logger;
  /** Bounds the body bytes decoded and being decided at once; default: one budget for the process. */
  readonly bodyBudget?: BodyBudget;
}

/**
 * Four bodies at the 3 MiB request limit at once. With the JSON bounds on each body (see review.ts) that
 * keeps decoded requests under ~100 MiB of heap however many arrive; thousands of ordinary Pods fit.
 */
export const BODY_BUDGET_BYTES = 12 * 1024 * 1024;
/** How long a body waits for room before it is turned away with 429 (never longer than a quarter of the deadline). */
export const BODY_BUDGET_WAIT_MS = 1000;
const processBodyBudget = new BodyBudget(BODY_BUDGET_BYTES);
/**
 * Bodies this small are decided without taking from the budget: an ordinary Pod is a few KiB, and four
 * near-limit bodies whose decisions are slow (anyone reaching the port can send them) must not turn every
 * other admission away. Their decoded size is small by the same token.
 */
export const UNBUDGETED_BODY_BYTES = 64 * 1024;
const NOTHING_TO_RELEASE = (): void => undefined;

export interface HandledReview {
  /** 200 whenever there is a uid to answer; 400 when the body is not an AdmissionReview at all. */
  readonly httpStatus: number;
  readonly body: AdmissionReviewResponse;
  readonly decision?: AdmissionDecision;
}

export async function handleAdmissionBody(
  body: Uint8Array | undefined,
  webhook: AdmissionWebhook,
  deps: HandlerDeps,
  startedAt: number = performance.now(),
): Promise<HandledReview> {
  const release = await reserveBody(body?.byteLength ?? 0, deps);
  if (release === undefined) return turnedAway(webhook, deps, startedAt, overloaded(deps));
  return handleReservedBody(body, webhook, deps, startedAt, release);
}

/**
 * Room in the body budget for a body of `bytes`, taken before it is read (the server reserves by the declared
 * Content-Length) and held until its answer is built. Resolves undefined when no room came in time; a body of
 * at most UNBUDGETED_BODY_BYTES never waits.
 */
export function reserveBody(bytes: number, deps: HandlerDeps): Promise<Release | undefined> {
  if (bytes <= UNBUDGETED_BODY_BYTES) return Promise.resolve(NOTHING_TO_RELEASE);
  const waitMs = Math.min(BODY_BUDGET_WAIT_MS, Math.max(0, deps.timeoutMs / 4));
  return (deps.bodyBudget ?? processBodyBudget).acquire(bytes, waitMs);
}

/** Why a request was turned away undecided, and the HTTP status that says so. */
export interface TurnedAway {
  readonly status: 429 | 503;
  readonly code: 'OVERLOADED' | 'POLICIES_NOT_LOADED';
  readonly message: string;
}

/** No room in the body budget came in time. */
export function overloaded(deps: HandlerDeps): TurnedAway {
  const capacity = (deps.bodyBudget ?? processBodyBudget).capacityBytes;
  const message = `too many large requests are being decided at once (${capacity} bytes of bodies); try again`;
  return { status: 429, code: 'OVERLOADED', message };
}

/**
 * The answer to a request turned away undecided, logged and counted like any other. Its body was never
 * parsed, so the answer cannot carry a uid: the API server applies the webhook's failurePolicy (Fail in the
 * chart: the request is denied, not admitted).
 */
export function turnedAway(
  webhook: AdmissionWebhook,
  deps: HandlerDeps,
  startedAt: number,
  why: TurnedAway,
): HandledReview {
  const response = invalidRequestResponse('', why.status, why.code, why.message);
  record(deps, webhook, startedAt, response, [why.code], { uid: '', images: [] });
  return { httpStatus: why.status, body: toReviewResponse(response) };
}

/** Decodes and answers a body whose room `reserveBody` granted, giving the room back once answered. */
export async function handleReservedBody(
  body: Uint8Array | undefined,
  webhook: AdmissionWebhook,
  deps: HandlerDeps,
  startedAt: number,
  release: Release,
): Promise<HandledReview> {
  try {
    return await decodeAndAnswer(body, webhook, deps, startedAt);
  } finally {
    release();
  }
}

async function decodeAndAnswer(
  body: Uint8Array | undefined,
  webhook: AdmissionWebhook,
  deps: HandlerDeps,
  startedAt: number,
): Promise<HandledReview> {
  const decoded = parseAdmissionReview(body);
  if (!decoded.ok) {
    // With a uid the API server displays our INVALID_REQUEST denial; without one it cannot match any answer.
    const response = invalidRequestResponse(
      decoded.uid ?? '',
      400,
      decoded.error.code,
      decoded.error.message,
    );
    const httpStatus = decoded.uid === undefined ? 400 : 200;
    record(deps, webhook, startedAt, response, [decoded.error.code], { uid: decoded.uid ?? '', images: [] });
    return { httpStatus, body: toReviewResponse(response, decoded.apiVersion) };
  }
  return answer(decoded.review, webhook, deps, startedAt);
}

/** Decides an already decoded review; never rejects, since decide() itself turns failures into denials. */
export async function answer(
  review: AdmissionReview,
  webhook: AdmissionWebhook,
  deps: HandlerDeps,
  startedAt: number = performance.now(),
): Promise<HandledReview> {
  const request = review.request;
  let decision: AdmissionDecision;
  try {
    decision =
      webhook === 'mutate' ? await decideMutation(review, deps) : await decideAdmission(review, deps);
  } catch (err: unknown) {
    // decide() does not throw; this guards against a future bug turning into a crashed request.
    const error = toProvenantError(err);
    const response = invalidRequestResponse(request.uid, 403, error.code, error.message);
    record(deps, webhook, startedAt, response, [error.code], { uid: request.uid, images: [] });
    return { httpStatus: 200, body: toReviewResponse(response, ADMISSION_V1) };
  }
  record(deps, webhook, startedAt, decision.response, decision.codes, {
    uid: request.uid,
    operation: request.operation,
    kind: request.kind.kind,
    ...(decision.workload.namespace === undefined ? {} : { namespace: decision.workload.namespace }),
    name: decision.workload.name,
    dryRun: request.dryRun,
    images: decision.images.map((use) => use.image),
    ...(decision.skipped === undefined ? {} : { skipped: decision.skipped }),
    ...(decision.patch.length === 0 ? {} : { patched: decision.patch.length }),
    ...attestationSummaries(decision.verdicts),
  });
  return { httpStatus: 200, body: toReviewResponse(decision.response, ADMISSION_V1), decision };
}

const MAX_LOGGED_ATTESTATIONS = 50;

/** The attestation results of every verdict, flattened and bounded for one log line (absent when none). */
function attestationSummaries(verdicts: readonly ImageVerdict[]): { attestations?: AttestationLogEntry[] } {
  const attestations = verdicts
    .flatMap((verdict) =>
      verdict.outcomes.flatMap((outcome) =>
        (outcome.attestations ?? []).map((a) => {
          const slsa = a.evidence?.slsa;
          return {
            image: verdict.image,
            policy: outcome.policy,
            requirement: a.requirement,
            satisfied: a.satisfied,
            ...(slsa === undefined ? {} : { slsaLevel: slsa.level }),
            ...(slsa?.builder === undefined ? {} : { builder: slsa.builder }),
            ...(slsa?.repository === undefined ? {} : { repository: slsa.repository }),
            ...(slsa?.ref === undefined ? {} : { ref: slsa.ref }),
          };
        }),
      ),
    )
    .slice(0, MAX_LOGGED_ATTESTATIONS);
  return attestations.length === 0 ? {} : { attestations };
}

interface LogContext {
  readonly uid: string;
  readonly operation?: string;
  readonly kind?: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly dryRun?: boolean;
  readonly images: readonly string[];
  readonly skipped?: string;
  readonly patched?: number;
  readonly attestations?: readonly AttestationLogEntry[];
}

function record(
  deps: HandlerDeps,
  webhook: AdmissionWebhook,
  startedAt: number,
  response: AdmissionResponse,
  codes: readonly string[],
  context: LogContext,
): void {
  const latencyMs = Math.max(0, performance.now() - startedAt);
  const decision = response.allowed ? 'allow' : 'deny';
  // Allowed answers are labelled "none"; denials carry their first reason code.
  deps.metrics?.recordAdmission(webhook, decision, codes[0] ?? 'none', latencyMs / 1000);
  if (deps.logger !== undefined) {
    logDecision(deps.logger, {
      webhook,
      ...context,
      images: [...new Set(context.images)],
      decision,
      codes,
      latencyMs: Math.round(latencyMs * 10) / 10,
      ...(context.patched === undefined ? {} : { patched: context.patched }),
      ...(response.warnings === undefined ? {} : { warnings: response.warnings.length }),
    });
  }
}
