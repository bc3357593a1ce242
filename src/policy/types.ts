/**
 * Policy model v1alpha1, group provenant.dev. These types mirror the CRD schema; keep them in step.
 * `spec` is what users write; `CompiledPolicy` is the validated, immutable form that admissions use.
 */
import type { AttestationRequirementSpec, CompiledAttestationRequirement } from '../attestation/types.js';
import type { Authority, CertificateExtensionPolicy, KeylessIdentity } from '../verify/types.js';

export const API_GROUP = 'provenant.dev';
export const API_VERSION = 'provenant.dev/v1alpha1';

export type PolicyMode = 'Enforce' | 'Warn' | 'Audit';

/** What happens to an image that no policy matches (`--no-match`). */
export type NoMatchAction = 'deny' | 'allow' | 'warn';

export interface ImagePattern {
  /** `*` matches inside one path segment, `**` across segments; matched against the normalised reference. */
  readonly glob: string;
}

export interface KeyAuthoritySpec {
  readonly publicKey: string;
}

export interface KeylessAuthoritySpec {
  readonly trustRoot?: string;
  readonly identities: readonly KeylessIdentity[];
  readonly certificate?: CertificateExtensionPolicy;
}

export interface AuthoritySpec {
  readonly name: string;
  readonly key?: KeyAuthoritySpec;
  readonly keyless?: KeylessAuthoritySpec;
}

export interface SignaturesSpec {
  /** Signatures are required from at least this many distinct authorities (default 1). */
  readonly threshold?: number;
}

export interface ClusterImagePolicySpec {
  readonly mode?: PolicyMode;
  readonly images: readonly ImagePattern[];
  readonly authorities: readonly AuthoritySpec[];
  readonly signatures?: SignaturesSpec;
  /** Attestations the image must carry (SLSA provenance, SBOMs, ...); a policy needs this or `signatures`. */
  readonly attestations?: readonly AttestationRequirementSpec[];
  /** Where signatures (and attestations) are stored when not beside the image (cosign's COSIGN_REPOSITORY): `registry/path`. */
  readonly signatureRepository?: string;
  /** Extra registry credentials for this policy's images and signatures. */
  readonly signaturePullSecrets?: readonly { readonly name: string; readonly namespace?: string }[];
}

export type PolicyKind = 'ClusterImagePolicy' | 'ImagePolicy';

/** A ClusterImagePolicy, or an ImagePolicy (namespaced: it only adds requirements in its own namespace). */
export interface ClusterImagePolicy {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: PolicyKind;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly uid?: string;
    readonly resourceVersion?: string;
    readonly generation?: number;
  };
  readonly spec: ClusterImagePolicySpec;
}

/** A validated policy, ready for every admission. `fingerprint` changes whenever its content changes. */
export interface CompiledPolicy {
  /** `name` for a ClusterImagePolicy, `namespace/name` for an ImagePolicy. */
  readonly name: string;
  readonly kind: PolicyKind;
  /** Set for an ImagePolicy: it applies to workloads in this namespace only. */
  readonly namespace?: string;
  readonly mode: PolicyMode;
  readonly fingerprint: string;
  readonly matches: (normalisedReference: string) => boolean;
  /**
   * Registry hosts the policy names literally: its globs' registries without wildcards, and its signature
   * repository's. Metrics label registries by these only (everything else is `other`), so hosts chosen by
   * whoever creates Pods cannot multiply series.
   */
  readonly registries?: readonly string[];
  readonly authorities: readonly Authority[];
  readonly signatures?: { readonly threshold: number };
  /** Every requirement must be met; absent or empty when the policy asks for signatures only. */
  readonly attestations?: readonly CompiledAttestationRequirement[];
  readonly signatureRepository?: { readonly registry: string; readonly path: string };
  /** Secrets whose registry credentials serve this policy's reads, with their namespaces resolved. */
  readonly signaturePullSecrets?: readonly { readonly namespace: string; readonly name: string }[];
}
