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
  /** A trust root whose timestamp authorities vouch for this key's signing times. */
  readonly timestampTrustRoot?: string;
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

/** A decision made from the image reference alone, without any registry request or verification. */
export interface StaticSpec {
  readonly action: 'Allow' | 'Deny';
  /** Shown with IMAGE_NOT_ALLOWED when a Deny matches. */
  readonly message?: string;
}

/**
 * Which manifests of a multi-arch image must satisfy the policy: `index` (the digest the reference resolves
 * to, the default), `all` (that digest and every platform manifest an index lists), or platforms such as
 * `linux/amd64`, `linux/arm64/v8` (each must be present and satisfy the policy).
 */
export type PlatformSelection =
  | { readonly kind: 'index' }
  | { readonly kind: 'all' }
  | { readonly kind: 'list'; readonly platforms: readonly string[] };

export interface ClusterImagePolicySpec {
  readonly mode?: PolicyMode;
  readonly images: readonly ImagePattern[];
  /** Allow or deny the images outright; a static policy sets no authorities and no requirements. */
  readonly static?: StaticSpec;
  /** Required unless `static` is set. */
  readonly authorities?: readonly AuthoritySpec[];
  /** `[index]` (default), `[all]`, or a list of platforms (`os/arch[/variant]`). */
  readonly platforms?: readonly string[];
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
  /** Set for a static policy, which has no authorities or requirements and is decided without I/O. */
  readonly static?: StaticSpec;
  /** Empty for a static policy. */
  readonly authorities: readonly Authority[];
  /** Absent means `index`. */
  readonly platforms?: PlatformSelection;
  readonly signatures?: { readonly threshold: number };
  /** Every requirement must be met; absent or empty when the policy asks for signatures only. */
  readonly attestations?: readonly CompiledAttestationRequirement[];
  readonly signatureRepository?: { readonly registry: string; readonly path: string };
  /** Secrets whose registry credentials serve this policy's reads, with their namespaces resolved. */
  readonly signaturePullSecrets?: readonly { readonly namespace: string; readonly name: string }[];
}
