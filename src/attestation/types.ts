/**
 * Attestation requirements: what a policy's `spec.attestations` asks of the in-toto statements attached to an
 * image (SLSA provenance, VSAs, SBOMs, anything with a predicate), and what evaluation reports back.
 * `*Spec` types mirror the policy schema (`schema.ts`); `Compiled*` is the validated form used per admission.
 */
import type { CertificateExtensionName } from '../verify/types.js';
import type { Reason } from '../verdict.js';

export interface AttestationRequirementSpec {
  /** Unique within the policy; names the requirement in deny messages. */
  readonly name: string;
  /** A predicate type URI, or one of the short names in `PREDICATE_TYPE_ALIASES` (e.g. `slsa-provenance`). */
  readonly predicateType: string;
  /** Names of the policy's authorities; an attestation counts only when one of them signed it. */
  readonly authorities: readonly string[];
  /** Go-style duration (`720h`, `1h30m`): the attestation must have been signed at most this long ago. */
  readonly maxAge?: string;
  readonly slsa?: SlsaRequirementSpec;
  readonly conditions?: readonly ConditionSpec[];
}

export interface SlsaRequirementSpec {
  /** SLSA Build track level the image must reach (default 1: any authentic provenance). */
  readonly minBuildLevel?: number;
  /** When set, only these builders are accepted; `level` caps (or grants) the level each is trusted for. */
  readonly builders?: readonly BuilderSpec[];
  readonly source?: SourceSpec;
  /** VSA verifiers whose verification summaries stand in for provenance. */
  readonly verifiers?: readonly VerifierSpec[];
  /** GitHub Enterprise instances whose Actions certificates are rated as github.com's are. */
  readonly githubEnterprise?: readonly GithubInstance[];
}

/** A GitHub instance: the OIDC issuer of its Actions tokens and the URL its workflow identities start with. */
export interface GithubInstance {
  readonly issuer: string;
  readonly url: string;
}

export interface BuilderSpec {
  /** Glob over `builder.id`; without `@`, it matches the id with its `@ref` removed. */
  readonly id: string;
  readonly level?: number;
  /**
   * The requirement's authorities whose provenance may name this builder. Omitted: the requirement's one
   * authority; with several, the entry's `level` is not granted (the built-in rating applies).
   */
  readonly authorities?: readonly string[];
}

export interface SourceSpec {
  /** Glob over the normalised repository URL (`https://github.com/acme/*`). */
  readonly repository?: string;
  /** Globs over the full git ref the build ran on (`refs/heads/main`, `refs/tags/v*`). */
  readonly refs?: readonly string[];
}

export interface VerifierSpec {
  /** Glob over the VSA's `verifier.id`. */
  readonly id: string;
  /** Glob over the VSA's `resourceUri`: the resource the verifier checked. */
  readonly resourceUri: string;
  /** Highest SLSA Build level this verifier is trusted to vouch for (default: what the VSA states). */
  readonly level?: number;
  /** Levels the VSA must list, e.g. `BCID_L1`; `SLSA_<TRACK>_LEVEL_<n>` values are met by higher levels too. */
  readonly verifiedLevels?: readonly string[];
  /** The requirement's authorities that sign this verifier's VSAs (default: its only authority). */
  readonly authorities?: readonly string[];
}

export interface ConditionSpec {
  /** CEL over `predicate`, `statement` and `image` ({digest, reference}); must yield a bool. */
  readonly expression: string;
  /** Shown when the condition fails. */
  readonly message?: string;
}

/** An in-toto statement (v0.1 or v1) as verified; `predicate` is signed but its shape is unchecked. */
export interface InTotoStatement {
  readonly _type: string;
  readonly subject: readonly { readonly name?: string; readonly digest: Readonly<Record<string, string>> }[];
  readonly predicateType: string;
  readonly predicate?: unknown;
}

/** Who signed an attestation, as the verifier established it against one of the policy's authorities. */
export interface AttestationSigner {
  readonly authority: string;
  /** Keyless: the certificate SAN (e.g. `https://github.com/o/r/.github/workflows/x.yml@refs/tags/v1`); key: its fingerprint. */
  readonly identity: string;
  /** Keyless: the OIDC issuer. */
  readonly issuer?: string;
  /** Keyless: the decoded Fulcio extensions (v2 names); absent for key signatures. */
  readonly certificate?: Readonly<Partial<Record<CertificateExtensionName, string>>>;
}

/** An attestation whose signature, signer and subject (= the image digest) were verified upstream. */
export interface VerifiedAttestation {
  /** Where it came from (`<repo>:sha256-<hex>.att#layers[0]`, a referrer digest), for messages. */
  readonly source: string;
  readonly predicateType: string;
  readonly statement: InTotoStatement;
  readonly signer: AttestationSigner;
  /** Verified signing time (transparency log or RFC 3161); absent for key signatures without a timestamp. */
  readonly signedAt?: Date;
  /** The verified timestamps that counted toward the trust root's threshold (keyless only). */
  readonly timestamps?: readonly AttestationTimestamp[];
}

/** A verified timestamp: an RFC 3161 token (by its TSA) or a Rekor integrated time (by its log). */
export interface AttestationTimestamp {
  readonly kind: 'rfc3161' | 'tlog';
  /** Position among the bundle's RFC 3161 timestamps or transparency-log entries. */
  readonly index: number;
  readonly time: Date;
  readonly authority?: string;
  readonly log?: string;
}

export interface EvaluationContext {
  /** `sha256:<hex>` of the image being admitted. */
  readonly imageDigest: string;
  readonly imageReference: string;
  readonly now: Date;
}

/** What the requirement found on the attestation that satisfied it (or came closest). */
export interface AttestationEvidence {
  readonly source: string;
  readonly predicateType: string;
  readonly authority: string;
  readonly signer: string;
  readonly signedAt?: string;
  /** The timestamps that counted, by kind, time (ISO 8601) and the TSA or log that vouched for it. */
  readonly timestamps?: readonly { readonly kind: string; readonly time: string; readonly by: string }[];
  readonly slsa?: SlsaEvidence;
}

export interface SlsaEvidence {
  readonly via: 'provenance' | 'vsa';
  readonly level: number;
  /** Why this level: the rule of the trust table that applied. */
  readonly levelBasis: string;
  /** Provenance: `builder.id`; VSA: `verifier.id`. */
  readonly builder?: string;
  readonly buildType?: string;
  readonly repository?: string;
  readonly ref?: string;
  readonly commit?: string;
}

export interface AttestationEvaluation {
  readonly requirement: string;
  readonly satisfied: boolean;
  /** Why it is not satisfied: one reason per failed check of each attestation considered. Empty when satisfied. */
  readonly reasons: readonly Reason[];
  readonly evidence?: AttestationEvidence;
}

/** Matches a glob compiled by `compileUriGlob`. */
export interface UriGlob {
  readonly source: string;
  readonly test: (candidate: string) => boolean;
}

export interface CompiledBuilder {
  readonly id: UriGlob;
  readonly level?: number;
  /** Authorities whose provenance may name this builder: listed, or the requirement's only one; else any. */
  readonly authorities?: readonly string[];
  /**
   * Set when the requirement has several authorities and the entry names none: `builder.id` is the signer's
   * claim, so `level` is not granted (the built-in rating applies).
   */
  readonly levelWithheld?: true;
}

export interface CompiledVerifier {
  readonly id: UriGlob;
  readonly resourceUri: UriGlob;
  readonly level?: number;
  readonly verifiedLevels: readonly string[];
  /** Authorities whose signature makes a VSA this verifier's: a VSA counts only when one of them signed it. */
  readonly authorities: readonly string[];
}

export interface CompiledSlsaRequirement {
  readonly minBuildLevel: number;
  readonly builders?: readonly CompiledBuilder[];
  readonly source?: {
    /** The repository glob, written the way repositories are normalised (`normaliseRepository`). */
    readonly repository?: UriGlob;
    readonly refs?: readonly UriGlob[];
  };
  readonly verifiers: readonly CompiledVerifier[];
  /** GitHub Enterprise instances rated like github.com (github.com itself is always known). */
  readonly githubEnterprise?: readonly GithubInstance[];
}

export interface CompiledCondition {
  readonly expression: string;
  readonly message?: string;
  /** Evaluates against one attestation; never throws. */
  readonly evaluate: (input: ConditionInput) => ConditionResult;
}

export interface ConditionInput {
  readonly statement: InTotoStatement;
  readonly image: { readonly digest: string; readonly reference: string };
}

export type ConditionResult = { readonly ok: true } | { readonly ok: false; readonly problem: string };

/** Which predicate types a requirement accepts; `describe` is how messages name it. */
export interface PredicateTypeMatcher {
  readonly describe: string;
  readonly matches: (predicateType: string) => boolean;
  /** The requirement is about SLSA provenance (v0.2 and/or v1). */
  readonly provenance: boolean;
  /** The requirement is about verification summaries. */
  readonly vsa: boolean;
}

export interface CompiledAttestationRequirement {
  readonly name: string;
  readonly predicateType: PredicateTypeMatcher;
  readonly authorities: readonly string[];
  readonly maxAgeMs?: number;
  /** The `maxAge` as written, for messages. */
  readonly maxAge?: string;
  readonly slsa?: CompiledSlsaRequirement;
  readonly conditions: readonly CompiledCondition[];
}
