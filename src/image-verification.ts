import { BoundedMemo } from './cache/bounded-memo.js';
import { SingleFlightCache, type CacheOutcome } from './cache/single-flight-cache.js';
import type { Clock } from './clock.js';
import { mapWithConcurrency } from './concurrency.js';
import { ProvenantError, toProvenantError } from './errors.js';
import { credentialIdentity, credentialsToTry, type CredentialStore } from './oci/auth.js';
import { discoverSignatures, type DiscoveredSignatures } from './oci/discover.js';
import { parseReference, type ImageReference, type Repository } from './oci/reference.js';
import { PlainHttpRegistries } from './oci/registry-host.js';
import type { Registry, RequestOptions } from './oci/registry.js';
import type { PolicySet } from './policy/compile.js';
import { evaluatePolicy, type ChecksByAuthority, type FailedAttestation } from './policy/evaluate.js';
import { digestOnly, platformTargets, type PlatformTarget } from './policy/platforms.js';
import type { CompiledPolicy, NoMatchAction, StaticSpec } from './policy/types.js';
import { readPlatforms, type ImagePlatforms } from './oci/platforms.js';
import type { VerifiedAttestation } from './attestation/types.js';
import type { ImageVerdict, ImageVerifier, PolicyOutcome, Reason, VerifyOptions } from './verdict.js';
import { claimedPredicateType, isAttestation, verifyAttestation, verifySignature } from './verify/index.js';
import type { TrustStore } from './trust/trust-store.js';
import type { SignatureCheck, VerifyContext } from './verify/types.js';

export interface ImageVerificationOptions {
  readonly registry: Registry;
  /** The current policy snapshot; read once per call so a reload never mixes two sets in one decision. */
  readonly policies: () => PolicySet;
  readonly noMatch: NoMatchAction;
  readonly clock: Clock;
  /** How long a successful verification is remembered (ms). */
  readonly cacheTtlMs: number;
  /** How long a failed one is remembered (ms), so a fixed image is admitted soon after. */
  readonly negativeCacheTtlMs: number;
  readonly cacheMaxEntries: number;
  /** Estimated bytes the cached records may hold together (default 64 MiB); see estimatedBytes. */
  readonly cacheMaxBytes?: number;
  /**
   * How long a tag's digest is reused (ms); 0 resolves every tag on every call. Safe to reuse briefly: the
   * verdict is for the digest resolved, /mutate pins that digest into the workload, and without /mutate the
   * kubelet resolves the tag itself whatever we do. Default 0.
   */
  readonly tagCacheTtlMs?: number;
  /** Images verified at once within one call. */
  readonly concurrency: number;
  readonly onCache?: (outcome: CacheOutcome) => void;
  /** Registries reached over plain HTTP, where `host:80` is `host` (the registry client's list). */
  readonly plainHttpRegistries?: PlainHttpRegistries;
  /**
   * Trust material for keyless authorities (trust roots): the current store, read once per call like the
   * policies, so that a TrustRoot change never mixes two stores in one decision.
   */
  readonly trustStore: () => TrustStore;
}

/** What was verified for one (digest, policy): enough to evaluate the policy again without the registry. */
interface VerificationRecord {
  readonly checks: ChecksByAuthority;
  readonly signaturesFound: number;
  /** Attestations verified against the policy's authorities and bound to the digest (none without requirements). */
  readonly attestations: readonly VerifiedAttestation[];
  readonly failedAttestations: readonly FailedAttestation[];
  readonly satisfied: boolean;
}

/**
 * Image strings whose parsed reference, and (per policy set and namespace) matching policies, are remembered:
 * the same few images arrive Pod after Pod, and parsing and glob matching were most of a cached admission's
 * cost. Bounded, since whoever creates a Pod chooses the string.
 */
const MEMO_ENTRIES = 1024;

/** Room for 10,000 ordinary records (~2 KiB each) with plenty to spare, yet a hard stop for large ones. */
export const DEFAULT_CACHE_MAX_BYTES = 64 * 1024 * 1024;
const RECORD_OVERHEAD_BYTES = 2048;

/**
 * A record's size, estimated: a fixed share, the messages of its failed checks (each at most
 * MAX_MESSAGE_CHARS, but a record may hold many), plus the JSON length of every verified in-toto statement
 * it keeps (SBOMs and provenance can be megabytes, and are kept for re-evaluation).
 */
function estimatedBytes(record: VerificationRecord): number {
  let bytes = RECORD_OVERHEAD_BYTES;
  for (const checks of Object.values(record.checks)) {
    for (const check of checks) if (!check.ok) bytes += check.message.length + check.source.length;
  }
  for (const failed of record.failedAttestations) {
    bytes += failed.message.length + failed.source.length + (failed.predicateType?.length ?? 0);
  }
  for (const attestation of record.attestations) bytes += JSON.stringify(attestation.statement).length;
  return bytes;
}

/**
 * The core pipeline shared by the webhook, `provenant verify` and `provenant check`:
 * reference → matching policies → digest → attached signatures → verification → policy evaluation.
 */
export class ImageVerificationService implements ImageVerifier {
  readonly #cache: SingleFlightCache<VerificationRecord>;
  readonly #plainHttp: PlainHttpRegistries;
  /** Discoveries in progress, shared by the verifications that need them; never kept once done. */
  readonly #discoveries: SingleFlightCache<DiscoveredSignatures>;
  readonly #credentialIdentity = credentialIdentity();
  /** Tag → digest for `tagCacheTtlMs`; only successes are kept, each keyed by whose credentials read it. */
  readonly #tags: SingleFlightCache<string>;
  readonly #references = new BoundedMemo<ImageReference>(MEMO_ENTRIES);
  /** Per policy snapshot, so that a reload starts afresh. */
  readonly #matches = new WeakMap<PolicySet, BoundedMemo<readonly CompiledPolicy[]>>();

  constructor(private readonly options: ImageVerificationOptions) {
    this.#plainHttp = options.plainHttpRegistries ?? new PlainHttpRegistries();
    const tagTtlMs = options.tagCacheTtlMs ?? 0;
    this.#tags = new SingleFlightCache({
      maxEntries: options.cacheMaxEntries,
      clock: options.clock,
      ttlFor: () => tagTtlMs,
    });
    this.#cache = new SingleFlightCache({
      maxEntries: options.cacheMaxEntries,
      clock: options.clock,
      ttlFor: (record) => (record.satisfied ? options.cacheTtlMs : options.negativeCacheTtlMs),
      maxWeight: options.cacheMaxBytes ?? DEFAULT_CACHE_MAX_BYTES,
      weigh: estimatedBytes,
    });
    this.#discoveries = new SingleFlightCache({ maxEntries: 0, clock: options.clock, ttlFor: () => 0 });
  }

  async verifyImages(images: readonly string[], options: VerifyOptions = {}): Promise<ImageVerdict[]> {
    const policies = this.options.policies();
    const trustStore = this.options.trustStore();
    const distinct = [...new Set(images)];
    const verdicts = await mapWithConcurrency(distinct, this.options.concurrency, (image) =>
      this.#verifyImage(image, policies, trustStore, options).catch((err: unknown) =>
        errorVerdict(image, err),
      ),
    );
    const byImage = new Map(distinct.map((image, i) => [image, verdicts[i] as ImageVerdict]));
    return images.map((image) => byImage.get(image) as ImageVerdict);
  }

  async #verifyImage(
    image: string,
    policies: PolicySet,
    trustStore: TrustStore,
    options: VerifyOptions,
  ): Promise<ImageVerdict> {
    const { signal, credentials } = options;
    const request: RequestOptions = {
      ...(signal ? { signal } : {}),
      ...(credentials ? { credentials } : {}),
    };
    const reference = this.#references.get(image, () => {
      const parsed = parseReference(image);
      return { ...parsed, registry: this.#plainHttp.canonical(parsed.registry) };
    });
    const matching = this.#matchingMemo(policies).get(`${options.namespace ?? ''}\u0000${image}`, () =>
      this.#matching(policies, reference, options.namespace),
    );
    // Only a ClusterImagePolicy lifts an image out of --no-match: an ImagePolicy may add requirements in
    // its namespace but never turn a cluster-wide "deny unmatched" into an allow.
    const noMatch = matching.some((p) => p.kind === 'ClusterImagePolicy') ? undefined : this.options.noMatch;
    if (noMatch === 'deny' || matching.length === 0)
      return noMatchVerdict(image, noMatch ?? this.options.noMatch);
    const withNoMatchWarning = (verdict: ImageVerdict): ImageVerdict =>
      noMatch === 'warn' ? { ...verdict, warnings: [...verdict.warnings, noMatchReason(noMatch)] } : verdict;

    // Static policies decide from the reference alone. When nothing else matches, or when an enforced Deny
    // decides the image anyway (a Deny always wins), no registry request is made at all.
    const decided = matching.flatMap((p) => (p.static ? [staticOutcome(p, p.static)] : []));
    const verifying = matching.filter((p) => p.static === undefined);
    if (verifying.length === 0 || decided.some((o) => o.mode === 'Enforce' && !o.satisfied)) {
      return withNoMatchWarning(combineOutcomes(image, undefined, decided));
    }

    let digest: string;
    try {
      digest = reference.digest ?? (await this.#resolveTag(reference, request));
    } catch (err) {
      return combineOutcomes(image, undefined, [
        ...decided,
        ...verifying.map((policy) => failedOutcome(policy, err)),
      ]);
    }
    // The `.att` tag costs a request; read it only when some matching policy has attestation requirements.
    const readAttestations = verifying.some((p) => (p.attestations?.length ?? 0) > 0);
    const verifyContext: VerifyContext = { trustStore };
    // Read once per call, and only when some policy's spec.platforms looks past the resolved digest.
    let platforms: Promise<ImagePlatforms> | undefined;
    const readImagePlatforms = () =>
      (platforms ??= readPlatforms(this.options.registry, reference, digest, request));

    // One policy on one manifest (the resolved digest or a platform's): the same verification for every one.
    const verifyTarget = async (policy: CompiledPolicy, target: PlatformTarget): Promise<PolicyOutcome> => {
      const signatureRepo = policy.signatureRepository ?? reference;
      const imageReference = `${reference.registry}/${reference.path}@${target.digest}`;
      // Everything a verdict depends on is in its key: the digest, where its signatures were read and
      // with whose credentials (one workload's pull secrets never answer for another's), the policy,
      // and the trust material its keyless authorities resolve to right now (a rotated or removed
      // TrustRoot never reuses a verdict reached under the old one).
      const where = `${signatureRepo.registry}/${signatureRepo.path}|${this.#credentialsFor(signatureRepo, credentials)}`;
      // Joined rather than concatenated: a kept key is then one flat string, not a tree of the pieces it
      // was built from (which would hold several times the memory for each of the cached verdicts).
      const key = [target.digest, where, policy.fingerprint, trustFingerprint(policy, trustStore)].join('|');
      const record = await this.#cache.get(
        key,
        async (flightSignal) => {
          // The check runs on its own signal, not this caller's: joiners with longer deadlines keep it.
          const discovered = await this.#discoveries.get(
            `${target.digest}|${where}|${readAttestations ? 'att' : 'sig'}`,
            (discoverySignal) =>
              discoverSignatures(this.options.registry, signatureRepo, target.digest, {
                attestations: readAttestations,
                imageRepository: reference,
                signal: discoverySignal,
                ...(credentials ? { credentials } : {}),
              }),
            { signal: flightSignal },
          );
          return verifyAgainstPolicy(policy, target.digest, discovered, {
            verifyContext,
            imageReference,
            now: new Date(this.options.clock.now()),
          });
        },
        {
          ...(signal ? { signal } : {}),
          ...(this.options.onCache ? { onOutcome: this.options.onCache } : {}),
        },
      );
      // Evaluated on every call, cached or not: the cache saves registry work and cryptography, never
      // judgement (an attestation's maxAge is measured against the clock of this call).
      return evaluateRecord(policy, record, {
        imageDigest: target.digest,
        imageReference,
        now: new Date(this.options.clock.now()),
      });
    };

    const outcomes = await Promise.all(
      verifying.map(async (policy) => {
        try {
          // Most policies look at the resolved digest only: no platform list to read or combine.
          if (digestOnly(policy.platforms)) return await verifyTarget(policy, { digest });
          const { targets, missing } = await platformTargets(policy.platforms, digest, readImagePlatforms);
          const perTarget = await mapWithConcurrency(targets, this.options.concurrency, (t) =>
            verifyTarget(policy, t),
          );
          return combineTargets(policy, targets, perTarget, missing);
        } catch (err) {
          return failedOutcome(policy, err);
        }
      }),
    );
    return withNoMatchWarning(combineOutcomes(image, digest, [...decided, ...outcomes]));
  }

  #matchingMemo(policies: PolicySet): BoundedMemo<readonly CompiledPolicy[]> {
    let memo = this.#matches.get(policies);
    if (memo === undefined) {
      memo = new BoundedMemo(MEMO_ENTRIES);
      this.#matches.set(policies, memo);
    }
    return memo;
  }

  /**
   * The policies matching any spelling of the reference's registry (a plain-HTTP registry on port 80 with and
   * without `:80`), each once, in policy order. References and globs are otherwise spelled canonically.
   */
  #matching(policies: PolicySet, reference: ImageReference, namespace: string | undefined): CompiledPolicy[] {
    const spellings = this.#plainHttp.spellings(reference.registry);
    if (spellings.length === 1) return policies.matching(reference, namespace);
    const found = new Set(
      spellings.flatMap((registry) => policies.matching({ ...reference, registry }, namespace)),
    );
    return policies.policies.filter((policy) => found.has(policy));
  }

  /**
   * Names the credentials requests to `repo` would try: the caller's for it (all of them, in order: a
   * verdict read with the second must not answer a workload holding only the first), else the client's own.
   */
  #credentialsFor(repo: Repository, credentials: CredentialStore | undefined): string {
    const tried = credentialsToTry(credentials, repo.registry, repo.path);
    if (tried.length <= 1) return this.#credentialIdentity(tried[0]);
    return tried.map((c) => this.#credentialIdentity(c)).join(',');
  }

  async #resolveTag(reference: ImageReference, request: RequestOptions): Promise<string> {
    const tag = reference.tag ?? 'latest';
    const key = [
      `${reference.registry}/${reference.path}:${tag}`,
      this.#credentialsFor(reference, request.credentials),
    ].join('\u0000');
    const lookup = async (signal: AbortSignal | undefined): Promise<string> => {
      const digest = await this.options.registry.headManifest(reference, tag, {
        ...request,
        ...(signal === undefined ? {} : { signal }),
      });
      if (!digest) {
        throw new ProvenantError(
          'IMAGE_NOT_FOUND',
          `${reference.registry}/${reference.path}:${tag} does not exist`,
        );
      }
      return digest;
    };
    // With the cache off, every call asks the registry itself, as tags move.
    if ((this.options.tagCacheTtlMs ?? 0) <= 0) return lookup(request.signal);
    return this.#tags.get(key, lookup, request.signal ? { signal: request.signal } : {});
  }
}

/**
 * The trust material the policy's authorities resolve to in `store`, by content: a TrustRoot edited, refreshed
 * by TUF, gone stale or removed gives another value. That is every keyless authority's root and the timestamp
 * root a key authority names; the keys themselves are in the policy.
 */
function trustFingerprint(policy: CompiledPolicy, store: TrustStore): string {
  const roots = new Set<string>();
  for (const authority of policy.authorities) {
    if (authority.kind === 'keyless') roots.add(authority.trustRoot);
    else if (authority.timestampTrustRoot !== undefined) roots.add(authority.timestampTrustRoot);
  }
  return [...roots]
    .sort()
    .map((name) => {
      const root = store.get(name);
      return `${name}=${root?.fingerprint ?? 'absent'}${root?.stale === undefined ? '' : ':stale'}`;
    })
    .join(',');
}

function verifyAgainstPolicy(
  policy: CompiledPolicy,
  digest: string,
  discovered: DiscoveredSignatures,
  options: { verifyContext: VerifyContext; imageReference: string; now: Date },
): VerificationRecord {
  const context = options.verifyContext;
  const checks: Record<string, SignatureCheck[]> = Object.create(null) as Record<string, SignatureCheck[]>;
  const add = (authority: string, check: SignatureCheck): void => {
    (checks[authority] ??= []).push(check);
  };
  let signaturesFound = discovered.unreadable.length;
  for (const evidence of discovered.evidence) {
    let counted = false;
    for (const authority of policy.authorities) {
      const check = verifySignature(evidence, digest, authority, context);
      // An attestation is not an image signature; attestation requirements judge it separately.
      if (!check.ok && check.code === 'NOT_AN_IMAGE_SIGNATURE') continue;
      counted = true;
      add(authority.name, check);
    }
    if (counted) signaturesFound++;
  }
  for (const unreadable of discovered.unreadable) {
    for (const authority of policy.authorities) {
      add(authority.name, {
        ok: false,
        source: unreadable.source,
        authority: authority.name,
        code: 'SIGNATURE_INVALID',
        message: `${unreadable.source}: ${unreadable.message}`,
      });
    }
  }
  const { attestations, failedAttestations } = verifyAttestations(policy, digest, discovered, context);
  const record = { checks, signaturesFound, attestations, failedAttestations, satisfied: false };
  const outcome = evaluateRecord(policy, record, {
    imageDigest: digest,
    imageReference: options.imageReference,
    now: options.now,
  });
  return { ...record, satisfied: outcome.satisfied };
}

/**
 * Verifies every attestation found against every authority of the policy. Requirements then count only
 * those signed by an authority they name; verifying against the others too lets a deny say "signed by
 * authority X, which this requirement does not accept" rather than "missing".
 */
function verifyAttestations(
  policy: CompiledPolicy,
  digest: string,
  discovered: DiscoveredSignatures,
  context: VerifyContext,
): { attestations: VerifiedAttestation[]; failedAttestations: FailedAttestation[] } {
  const attestations: VerifiedAttestation[] = [];
  const failedAttestations: FailedAttestation[] = [];
  if ((policy.attestations?.length ?? 0) === 0) return { attestations, failedAttestations };
  for (const evidence of discovered.evidence.filter(isAttestation)) {
    const predicateType = claimedPredicateType(evidence);
    for (const authority of policy.authorities) {
      const check = verifyAttestation(evidence, digest, authority, context);
      if (check.ok) {
        attestations.push(check.attestation);
        continue;
      }
      failedAttestations.push({
        source: check.source,
        authority: check.authority,
        code: check.code,
        message: check.message,
        ...(predicateType !== undefined ? { predicateType } : {}),
      });
    }
  }
  const referrers = discovered.unreadable.filter((u) => u.origin === 'referrer');
  for (const unreadable of [...discovered.unreadableAttestations, ...referrers]) {
    failedAttestations.push({
      source: unreadable.source,
      code: 'SIGNATURE_INVALID',
      message: unreadable.message,
    });
  }
  return { attestations, failedAttestations };
}

function evaluateRecord(
  policy: CompiledPolicy,
  record: Omit<VerificationRecord, 'satisfied'>,
  context: { imageDigest: string; imageReference: string; now: Date },
): PolicyOutcome {
  return evaluatePolicy(policy, record.checks, record.signaturesFound, {
    verified: record.attestations,
    failed: record.failedAttestations,
    context,
  });
}

/** A static policy's verdict: Allow satisfies it (and only it), Deny fails it with the policy's message. */
function staticOutcome(policy: CompiledPolicy, decision: StaticSpec): PolicyOutcome {
  const base = { policy: policy.name, mode: policy.mode, verifiedAuthorities: [], static: decision.action };
  if (decision.action === 'Allow') return { ...base, satisfied: true, reasons: [] };
  const message = decision.message ?? `the image is not allowed by policy ${policy.name}`;
  return {
    ...base,
    satisfied: false,
    reasons: [{ policy: policy.name, code: 'IMAGE_NOT_ALLOWED', message }],
  };
}

/**
 * One policy's outcome over every manifest it had to be satisfied on: satisfied only when each one is and no
 * required platform is missing. Reasons name the platform (and manifest digest) they concern.
 */
function combineTargets(
  policy: CompiledPolicy,
  targets: readonly PlatformTarget[],
  outcomes: readonly PolicyOutcome[],
  missing: readonly string[],
): PolicyOutcome {
  const [first] = outcomes;
  // The default: the resolved digest alone, reported as it always was.
  if (first && missing.length === 0 && targets.length === 1 && targets[0]?.platform === undefined)
    return first;
  const reasons: Reason[] = missing.map((platform) => ({
    policy: policy.name,
    code: 'PLATFORM_NOT_FOUND',
    message: `platform ${platform}: the image has no manifest for it`,
  }));
  outcomes.forEach((outcome, i) => {
    const target = targets[i] as PlatformTarget;
    const where = target.platform
      ? `platform ${target.platform} (${target.digest})`
      : `index ${target.digest}`;
    reasons.push(...outcome.reasons.map((r) => ({ ...r, message: `${where}: ${r.message}` })));
  });
  const verifiedAuthorities = (first?.verifiedAuthorities ?? []).filter((name) =>
    outcomes.every((o) => o.verifiedAuthorities.includes(name)),
  );
  return {
    policy: policy.name,
    mode: policy.mode,
    satisfied: missing.length === 0 && outcomes.length > 0 && outcomes.every((o) => o.satisfied),
    verifiedAuthorities,
    reasons,
    ...(first?.attestations ? { attestations: first.attestations } : {}),
  };
}

/** A policy that could not be checked is unsatisfied, with the error's code: under Enforce that denies. */
function failedOutcome(policy: CompiledPolicy, err: unknown): PolicyOutcome {
  const error = toProvenantError(err);
  return {
    policy: policy.name,
    mode: policy.mode,
    satisfied: false,
    verifiedAuthorities: [],
    reasons: [{ policy: policy.name, code: error.code, message: error.message }],
  };
}

function combineOutcomes(
  image: string,
  digest: string | undefined,
  outcomes: readonly PolicyOutcome[],
): ImageVerdict {
  const failed = (mode: PolicyOutcome['mode']): Reason[] =>
    outcomes.filter((o) => o.mode === mode && !o.satisfied).flatMap((o) => o.reasons);
  const reasons = failed('Enforce');
  return {
    image,
    ...(digest ? { digest } : {}),
    // From what was decided, not from what was said about it: an Enforce policy not met denies, reasons or not.
    allowed: !outcomes.some((o) => o.mode === 'Enforce' && !o.satisfied),
    // A static decision verified nothing, so there is no digest to pin the image to.
    enforced: outcomes.some((o) => o.mode === 'Enforce' && o.static === undefined),
    outcomes,
    reasons,
    warnings: failed('Warn'),
    audit: failed('Audit'),
  };
}

function noMatchReason(action: NoMatchAction): Reason {
  return {
    code: 'NO_MATCHING_POLICY',
    message: `no ClusterImagePolicy matches the image (--no-match=${action})`,
  };
}

function noMatchVerdict(image: string, action: NoMatchAction): ImageVerdict {
  const reason = noMatchReason(action);
  return {
    image,
    allowed: action !== 'deny',
    enforced: false,
    outcomes: [],
    reasons: action === 'deny' ? [reason] : [],
    warnings: action === 'warn' ? [reason] : [],
    audit: [],
  };
}

// Fail closed: an image whose reference cannot even be parsed (or any unexpected error) is denied with its code.
function errorVerdict(image: string, err: unknown): ImageVerdict {
  const error = toProvenantError(err);
  return {
    image,
    allowed: false,
    enforced: true,
    outcomes: [],
    reasons: [{ code: error.code, message: error.message }],
    warnings: [],
    audit: [],
  };
}
