/**
 * The text people read when Provenant says no (deny message) or "be careful" (warnings, audit annotations).
 * The API server prefixes the deny message with `admission webhook "<name>" denied the request: ` and
 * kubectl prints it whole, so it must be specific (one line per failing container, with policy, authority,
 * code and what was found) yet bounded, and free of anything an attacker could use to forge output.
 */
import type { ReasonCode } from '../errors.js';
import type { ImageUse } from '../kube/extract.js';
import { formatWorkload, type WorkloadRef } from '../kube/workload.js';
import type { Reason } from '../verdict.js';
import { byteLength, sanitizeText, truncateBytes, truncateMiddle, truncateRunes } from './text.js';

/** etcd and the API server keep status messages small; 4 KiB shows a few dozen containers in full. */
export const MAX_MESSAGE_BYTES = 4096;

// Per-field bounds, so that one hostile field cannot push every other line out of the message.
const MAX_IMAGE_RUNES = 256;
const MAX_NAME_RUNES = 253;
const MAX_REASON_RUNES = 1024;

/** One reason about one container's (or image volume's) image. */
export interface ContainerReason {
  readonly use: Pick<ImageUse, 'container' | 'image'> & Partial<Pick<ImageUse, 'kind'>>;
  readonly reason: Reason;
}

/**
 * `container "api" image ghcr.io/acme/api@sha256:…: policy release: authority ci: UNTRUSTED_SIGNER: signed by …`,
 * or `volume "models" image …` for an image volume.
 */
export function formatContainerReason({ use, reason }: ContainerReason): string {
  const subject = use.kind === 'imageVolume' ? 'volume' : 'container';
  const segments = [
    `${subject} "${clean(use.container, MAX_NAME_RUNES)}" image ${truncateMiddle(sanitizeText(use.image), MAX_IMAGE_RUNES)}`,
  ];
  if (reason.policy !== undefined && reason.policy !== '') {
    segments.push(`policy ${clean(reason.policy, MAX_NAME_RUNES)}`);
  }
  if (reason.authority !== undefined && reason.authority !== '') {
    segments.push(`authority ${clean(reason.authority, MAX_NAME_RUNES)}`);
  }
  segments.push(reason.code);
  const detail = clean(reason.message, MAX_REASON_RUNES);
  if (detail !== '') segments.push(detail);
  return segments.join(': ');
}

export interface DenySummary {
  /** Distinct images that failed, and distinct images checked. */
  readonly failedImages: number;
  readonly checkedImages: number;
}

/**
 * Summary line, then `<Kind> <ns>/<name>: <container reason>` per failure, bounded to `maxBytes`: whole lines
 * are kept and the rest counted in a final `... and N more`.
 */
export function formatDenyMessage(
  workload: WorkloadRef,
  failures: readonly ContainerReason[],
  summary: DenySummary,
  maxBytes: number = MAX_MESSAGE_BYTES,
): string {
  const who = formatWorkloadSafe(workload);
  const codes = distinctCodes(failures.map((f) => f.reason.code));
  const plural = summary.checkedImages === 1 ? 'image' : 'images';
  const head =
    `${who}: ${summary.failedImages} of ${summary.checkedImages} ${plural} failed verification` +
    (codes.length > 0 ? ` (${codes.join(', ')})` : '');
  return boundLines(
    head,
    failures.map((f) => `${who}: ${formatContainerReason(f)}`),
    maxBytes,
  );
}

/** A deny that is about the request as a whole (unreadable object, internal error), not about an image. */
export function formatRequestError(workload: WorkloadRef, code: ReasonCode, message: string): string {
  return truncateBytes(
    `${formatWorkloadSafe(workload)}: ${code}: ${clean(message, MAX_REASON_RUNES)}`,
    MAX_MESSAGE_BYTES,
  );
}

/** Joins `head` and whole `lines` within `maxBytes`, ending with `... and N more` when lines had to go. */
export function boundLines(head: string, lines: readonly string[], maxBytes: number): string {
  const first = truncateBytes(head, Math.floor(maxBytes / 2));
  const out = [first];
  let used = byteLength(first);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const omittedIfCut = lines.length - i;
    const isLast = i === lines.length - 1;
    // Room must remain for the trailer unless this is the last line.
    const reserve = isLast ? 0 : 1 + byteLength(trailer(omittedIfCut));
    const size = 1 + byteLength(line);
    if (used + size + reserve <= maxBytes) {
      out.push(line);
      used += size;
      continue;
    }
    out.push(trailer(omittedIfCut));
    break;
  }
  return truncateBytes(out.join('\n'), maxBytes);
}

function trailer(omitted: number): string {
  return `... and ${omitted} more`;
}

export function distinctCodes(codes: readonly ReasonCode[]): ReasonCode[] {
  return [...new Set(codes)];
}

/** `Pod default/web`, with the object's kind, namespace and name cleaned and bounded like every other field. */
export function formatWorkloadSafe(workload: WorkloadRef): string {
  return formatWorkload({
    kind: clean(workload.kind, 63),
    name: clean(workload.name, MAX_NAME_RUNES),
    ...(workload.namespace === undefined ? {} : { namespace: clean(workload.namespace, 63) }),
  });
}

function clean(text: string, maxRunes: number): string {
  return truncateRunes(sanitizeText(text).trim(), maxRunes);
}
