/**
 * One admission decision, shared by the webhook and `provenant check`: which images to verify, verification
 * under a deadline, and the answer. Every path ends in an answer: errors deny with their code (fail closed),
 * and a verifier that never returns is cut off by a backstop with an explicit TIMEOUT, so the API server never
 * has to report "context deadline exceeded" on our behalf.
 */
import { systemClock, type Clock } from '../clock.js';
import { ProvenantError, toProvenantError, type ReasonCode } from '../errors.js';
import {
  distinctImages,
  extractImageUses,
  imageUsesToVerify,
  type ImageUse,
  type ObjectKind,
} from '../kube/extract.js';
import { describeWorkload, type WorkloadRef } from '../kube/workload.js';
import type { CredentialStore } from '../oci/auth.js';
import type { ImageVerdict, ImageVerifier, Reason } from '../verdict.js';
import {
  distinctCodes,
  formatContainerReason,
  formatDenyMessage,
  formatRequestError,
  type ContainerReason,
} from './message.js';
import {
  allowResponse,
  auditAnnotationsFor,
  denyResponse,
  type AdmissionResponse,
  type JsonPatchReplace,
} from './response.js';
import type { AdmissionReview } from './review.js';

export interface DecideDeps {
  readonly verifier: ImageVerifier;
  /** The whole decision's budget; keep it below the webhook's timeoutSeconds. */
  readonly timeoutMs: number;
  readonly excludedNamespaces: readonly string[];
  /** For `durationMs` only; deadlines use real timers. */
  readonly clock?: Clock;
  /** Registry credentials the workload itself brings; without it only the verifier's own are used. */
  readonly workloadCredentials?: WorkloadCredentials;
  /** Which objects a mutation pins to verified digests (default `all`). */
  readonly pinDigests?: PinDigests;
}

/**
 * Which admitted objects get their images pinned to the verified digest (`--pin-digests`):
 * - `all`: Pods and every pod controller's template; the node pulls exactly what was checked.
 * - `pods`: Pods only. Controllers keep the tags their owners wrote, so GitOps tools (Argo CD, Flux) see no
 *   drift between Git and the cluster, and re-applying a Job (whose template is immutable) does not fail;
 *   the Pods they create are still pinned, so what runs is still what was verified.
 * - `off`: nothing is pinned; verification still decides. A tag may then move between admission and pull.
 */
export type PinDigests = 'all' | 'pods' | 'off';

export const PIN_DIGESTS: readonly PinDigests[] = ['all', 'pods', 'off'];

/** The admitted object, as far as finding the credentials it would be pulled with goes. */
export interface AdmittedWorkload {
  readonly kind: ObjectKind;
  readonly namespace: string;
  /** As the request carries it: not yet validated by the API server, so read defensively. */
  readonly object: unknown;
}

/**
 * Finds the registry credentials a workload would be pulled with (in a cluster: its imagePullSecrets and
 * its service account's, as the kubelet uses them). They serve this admission's registry requests only,
 * before the verifier's own credentials.
 */
export interface WorkloadCredentials {
  forWorkload(workload: AdmittedWorkload): Promise<CredentialStore | undefined>;
}

/** Why no verification ran, when none did. */
export type SkipReason = 'excluded-namespace' | 'no-new-images' | 'operation';

export interface AdmissionDecision {
  readonly response: AdmissionResponse;
  readonly workload: WorkloadRef;
  /** The image uses that needed verification (new or changed ones on UPDATE). */
  readonly images: readonly ImageUse[];
  /** One per distinct image in `images`. */
  readonly verdicts: readonly ImageVerdict[];
  /** Codes behind a denial, in message order; empty when allowed. */
  readonly codes: readonly ReasonCode[];
  /** The pinning operations sent with an allowed mutation (also in `response.patch`, base64). */
  readonly patch: readonly JsonPatchReplace[];
  readonly skipped?: SkipReason;
  readonly durationMs: number;
}

/** Time between the abort signal and the hard backstop, for the verifier to report what was still running. */
const MAX_ABORT_GRACE_MS = 1000;
const DIGEST = /^(sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$/;

export function decideAdmission(review: AdmissionReview, deps: DecideDeps): Promise<AdmissionDecision> {
  return decide(review, deps, false);
}

/**
 * Like decideAdmission, and when allowed, a JSONPatch that pins every image an Enforce policy matched to the
 * digest that was verified (`repo:tag@sha256:…`), so the node pulls exactly what was checked: tags move.
 * Images no Enforce policy matched are left alone, so sidecars nobody asked about keep working. `pinDigests`
 * limits which objects are pinned (see PinDigests).
 */
export function decideMutation(review: AdmissionReview, deps: DecideDeps): Promise<AdmissionDecision> {
  return decide(review, deps, true);
}

async function decide(
  review: AdmissionReview,
  deps: DecideDeps,
  mutate: boolean,
): Promise<AdmissionDecision> {
  const clock = deps.clock ?? systemClock;
  const started = clock.now();
  const request = review.request;
  const workload = describeWorkload({
    kind: request.kind.kind,
    object: request.object ?? request.oldObject,
    ...(request.namespace === undefined ? {} : { namespace: request.namespace }),
    ...(request.name === undefined ? {} : { name: request.name }),
  });
  const finish = (
    fields: Partial<AdmissionDecision> & Pick<AdmissionDecision, 'response'>,
  ): AdmissionDecision => ({
    workload,
    images: [],
    verdicts: [],
    codes: [],
    patch: [],
    ...fields,
    durationMs: Math.max(0, clock.now() - started),
  });

  try {
    if (request.namespace !== undefined && deps.excludedNamespaces.includes(request.namespace)) {
      return finish({ response: allowResponse(request.uid), skipped: 'excluded-namespace' });
    }
    // DELETE and CONNECT start nothing; only CREATE and UPDATE can introduce an image.
    if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') {
      return finish({ response: allowResponse(request.uid), skipped: 'operation' });
    }
    const uses = usesToVerify(
      request.kind,
      request.object,
      request.operation === 'UPDATE' ? request.oldObject : null,
    );
    if (uses.length === 0) return finish({ response: allowResponse(request.uid), skipped: 'no-new-images' });

    const images = distinctImages(uses);
    const admitted =
      request.namespace === undefined
        ? undefined
        : { kind: request.kind, namespace: request.namespace, object: request.object };
    const verdicts = await verifyWithDeadline(images, deps, admitted);
    const outcome = judge(workload, uses, verdicts);
    if (outcome.codes.length > 0) {
      const [first] = outcome.codes;
      return finish({
        response: denyResponse(request.uid, first ?? 'INTERNAL_ERROR', outcome.message, outcome.extras),
        images: uses,
        verdicts,
        codes: outcome.codes,
      });
    }
    const patch = mutate && pins(deps.pinDigests ?? 'all', request.kind) ? pinningPatch(uses, verdicts) : [];
    return finish({
      response: allowResponse(request.uid, { ...outcome.extras, patch }),
      images: uses,
      verdicts,
      patch,
    });
  } catch (err: unknown) {
    const error = toProvenantError(err);
    return finish({
      response: denyResponse(
        request.uid,
        error.code,
        formatRequestError(workload, error.code, error.message),
      ),
      codes: [error.code],
    });
  }
}

function usesToVerify(kind: ObjectKind, object: unknown, oldObject: unknown): ImageUse[] {
  const current = extractImageUses(kind, object);
  if (oldObject === null || oldObject === undefined) return current;
  let previous: ImageUse[] | undefined;
  try {
    previous = extractImageUses(kind, oldObject);
  } catch {
    // An unreadable old object cannot vouch for anything: verify every image of the new one.
    previous = undefined;
  }
  return imageUsesToVerify(current, previous);
}

/**
 * Calls the verifier once for all distinct images. Its signal fires shortly before the budget so it can name
 * what was slow; if it still has not answered at the budget, the backstop answers TIMEOUT for every image.
 */
async function verifyWithDeadline(
  images: readonly string[],
  deps: DecideDeps,
  workload: AdmittedWorkload | undefined,
): Promise<ImageVerdict[]> {
  const budget = Math.max(1, deps.timeoutMs);
  const grace = Math.min(MAX_ABORT_GRACE_MS, Math.floor(budget / 5));
  const controller = new AbortController();
  // One timer per admission: the backstop's is set only once the signal has fired, to go off at the budget.
  let timer: NodeJS.Timeout | undefined;
  const backstop = new Promise<'backstop'>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(
        new ProvenantError('TIMEOUT', `image verification exceeded its ${budget - grace}ms deadline`),
      );
      timer = setTimeout(() => resolve('backstop'), grace);
    }, budget - grace);
  });
  // Finding credentials reads the API server, so it runs inside the budget too: the backstop covers it.
  const work = Promise.resolve()
    .then(async () => {
      const credentials =
        workload === undefined ? undefined : await deps.workloadCredentials?.forWorkload(workload);
      return deps.verifier.verifyImages(images, {
        signal: controller.signal,
        ...(workload === undefined ? {} : { namespace: workload.namespace }),
        ...(credentials === undefined ? {} : { credentials }),
      });
    })
    .then(
      (verdicts) => ({ ok: true as const, verdicts }),
      (error: unknown) => ({ ok: false as const, error }),
    );
  try {
    const result = await Promise.race([work, backstop]);
    if (result === 'backstop') {
      const pending = images.join(', ');
      return images.map((image) =>
        failedVerdict(
          image,
          'TIMEOUT',
          `no verification result within ${budget}ms (still pending: ${pending})`,
        ),
      );
    }
    if (!result.ok) {
      const error = toProvenantError(result.error);
      return images.map((image) => failedVerdict(image, error.code, error.message));
    }
    return reconcile(images, result.verdicts);
  } finally {
    clearTimeout(timer);
  }
}

/** One verdict per requested image, in request order; a missing verdict is a verifier bug and denies. */
function reconcile(images: readonly string[], verdicts: readonly ImageVerdict[]): ImageVerdict[] {
  const byImage = new Map<string, ImageVerdict>();
  if (Array.isArray(verdicts)) {
    for (const verdict of verdicts) if (!byImage.has(verdict.image)) byImage.set(verdict.image, verdict);
  }
  return images.map(
    (image) =>
      byImage.get(image) ??
      failedVerdict(image, 'INTERNAL_ERROR', 'the verifier returned no verdict for this image'),
  );
}

function failedVerdict(image: string, code: ReasonCode, message: string): ImageVerdict {
  return {
    image,
    allowed: false,
    enforced: false,
    outcomes: [],
    reasons: [{ code, message }],
    warnings: [],
    audit: [],
  };
}

interface Judgement {
  readonly codes: ReasonCode[];
  readonly message: string;
  readonly extras: { readonly warnings: string[]; readonly auditAnnotations: Record<string, string> };
}

function judge(
  workload: WorkloadRef,
  uses: readonly ImageUse[],
  verdicts: readonly ImageVerdict[],
): Judgement {
  const byImage = new Map(verdicts.map((v) => [v.image, v]));
  const failures: ContainerReason[] = [];
  const warnings: string[] = [];
  const audit: string[] = [];
  for (const use of uses) {
    const verdict = byImage.get(use.image);
    if (verdict === undefined) continue;
    if (!verdict.allowed) {
      for (const reason of denyReasons(verdict)) failures.push({ use, reason });
    }
    for (const reason of verdict.warnings) warnings.push(formatContainerReason({ use, reason }));
    for (const reason of verdict.audit) audit.push(formatContainerReason({ use, reason }));
  }
  const failedImages = verdicts.filter((v) => !v.allowed).length;
  const codes = distinctCodes(failures.map((f) => f.reason.code));
  return {
    codes,
    message:
      codes.length > 0
        ? formatDenyMessage(workload, failures, { failedImages, checkedImages: verdicts.length })
        : '',
    extras: { warnings, auditAnnotations: auditAnnotationsFor('audit', audit) },
  };
}

/** A denial must say why; a verifier that forgets is a bug, reported as such rather than as an empty line. */
function denyReasons(verdict: ImageVerdict): readonly Reason[] {
  return verdict.reasons.length > 0
    ? verdict.reasons
    : [{ code: 'INTERNAL_ERROR', message: 'the verifier denied the image without giving a reason' }];
}

function pins(mode: PinDigests, kind: ObjectKind): boolean {
  if (mode === 'all') return true;
  return mode === 'pods' && kind.group === '' && kind.kind === 'Pod';
}

function pinningPatch(uses: readonly ImageUse[], verdicts: readonly ImageVerdict[]): JsonPatchReplace[] {
  const byImage = new Map(verdicts.map((v) => [v.image, v]));
  const ops: JsonPatchReplace[] = [];
  for (const use of uses) {
    const verdict = byImage.get(use.image);
    if (verdict === undefined || !verdict.enforced) continue;
    // Already pinned: the digest in the reference is the one that was verified.
    if (use.image.includes('@')) continue;
    if (verdict.digest === undefined || !DIGEST.test(verdict.digest)) {
      throw new ProvenantError(
        'INTERNAL_ERROR',
        `image ${use.image} matched an Enforce policy but verification gave no digest to pin it to`,
      );
    }
    ops.push({ op: 'replace', path: use.fieldPath, value: `${use.image}@${verdict.digest}` });
  }
  return ops;
}
