import type { AttestationEvidence } from './attestation/types.js';
import type { ReasonCode } from './errors.js';
import type { CredentialStore } from './oci/auth.js';
import type { PolicyMode } from './policy/types.js';

/** One fact behind a decision: which policy (and authority) failed, the stable code, and what was found. */
export interface Reason {
  readonly policy?: string;
  readonly authority?: string;
  readonly code: ReasonCode;
  readonly message: string;
}

/** How one policy judged one image. */
export interface PolicyOutcome {
  readonly policy: string;
  readonly mode: PolicyMode;
  readonly satisfied: boolean;
  /** Set when a static policy decided without verification. */
  readonly static?: 'Allow' | 'Deny';
  /** Authorities whose signatures verified and were bound to the digest. */
  readonly verifiedAuthorities: readonly string[];
  readonly reasons: readonly Reason[];
  /** One per attestation requirement of the policy, in policy order; absent when it has none. */
  readonly attestations?: readonly AttestationOutcome[];
}

/** How one attestation requirement was judged, with a summary of the attestation that met it (or came closest). */
export interface AttestationOutcome {
  /** The requirement's name in the policy. */
  readonly requirement: string;
  readonly satisfied: boolean;
  /** Only verified facts: source, signer, signing time, and for SLSA the level, builder and source. */
  readonly evidence?: AttestationEvidence;
}

/**
 * The verdict for one image reference. `allowed` is false when any Enforce policy is unsatisfied (or when no
 * policy matches and --no-match is deny); Warn-mode failures become `warnings`, Audit-mode ones `audit`.
 */
export interface ImageVerdict {
  readonly image: string;
  /** The digest that was verified; the mutating webhook pins to it. Absent when resolution failed. */
  readonly digest?: string;
  readonly allowed: boolean;
  /** True when some Enforce policy matched the image, so pinning to `digest` is required. */
  readonly enforced: boolean;
  readonly outcomes: readonly PolicyOutcome[];
  /** Reasons that deny (Enforce failures, no-match deny, errors). */
  readonly reasons: readonly Reason[];
  readonly warnings: readonly Reason[];
  readonly audit: readonly Reason[];
}

/** Verifies a set of image references against the loaded policies; the webhook, `verify` and `check` share it. */
export interface ImageVerifier {
  verifyImages(images: readonly string[], options?: VerifyOptions): Promise<ImageVerdict[]>;
}

export interface VerifyOptions {
  /** Deadline for the whole call; on expiry unfinished images get TIMEOUT verdicts naming what was slow. */
  readonly signal?: AbortSignal;
  /** Namespace of the workload, for namespaced policies (later). */
  readonly namespace?: string;
  /**
   * Registry credentials for this call only (the workload's pull secrets), tried before the registry
   * client's own. Results are cached by digest and policy, not by credentials (see image-verification.ts).
   */
  readonly credentials?: CredentialStore;
}
