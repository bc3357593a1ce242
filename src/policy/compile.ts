import { createHash } from 'node:crypto';
import { ProvenantError } from '../errors.js';
import { parseRepository, type ImageReference } from '../oci/reference.js';
import { compileGlob } from './glob.js';
import type { CompiledPolicy, PlatformSelection } from './types.js';
import { validatePolicy, type AuthorityCompiler, type PolicyProblem } from './validate.js';

/** A policy document as read from a file (or, later, from the API server), before validation. */
export interface PolicyDocument {
  /** Where it came from, for error messages: a file path or `ClusterImagePolicy/<name>`. */
  readonly source: string;
  /** Position of the document in a multi-document YAML file, from 0. */
  readonly index: number;
  readonly value: unknown;
}

/** An immutable set of compiled policies; admissions read it, reloads replace it whole. */
export interface PolicySet {
  readonly policies: readonly CompiledPolicy[];
  /** Changes whenever any policy changes; part of every cache key. */
  readonly fingerprint: string;
  /** The signaturePullSecrets of every policy that can apply in `namespace` (cluster ones and its own). */
  signaturePullSecrets(namespace: string): { namespace: string; name: string }[];
  /** Cluster policies matching the image, plus the namespace's own ImagePolicies when a namespace is given. */
  matching(reference: ImageReference, namespace?: string): CompiledPolicy[];
}

/** Validates and compiles every document; throws INVALID_POLICY listing every problem with its location. */
export function compilePolicies(
  documents: readonly PolicyDocument[],
  compileAuthority: AuthorityCompiler,
): PolicySet {
  const problems: string[] = [];
  const compiled: CompiledPolicy[] = [];
  const names = new Map<string, string>();

  for (const doc of documents) {
    const where = describeSource(doc);
    const result = compileDocument(doc, compileAuthority);
    if ('problems' in result) {
      problems.push(...result.problems.map((p) => `${where}: ${p.field}: ${p.message}`));
      continue;
    }
    const earlier = names.get(`${result.kind}/${result.name}`);
    if (earlier) {
      problems.push(`${where}: metadata.name: ${result.kind} "${result.name}" is also defined in ${earlier}`);
      continue;
    }
    names.set(`${result.kind}/${result.name}`, where);
    compiled.push(result);
  }

  if (problems.length) {
    throw new ProvenantError('INVALID_POLICY', `invalid policy:\n  ${problems.join('\n  ')}`);
  }
  return toPolicySet(compiled);
}

/**
 * Compiles one policy document on its own, for sources where each object lives and fails independently
 * (the API server): returns the compiled policy or every problem found in it.
 */
export function compileDocument(
  doc: PolicyDocument,
  compileAuthority: AuthorityCompiler,
): CompiledPolicy | { problems: PolicyProblem[] } {
  const result = validatePolicy(doc.value, compileAuthority);
  if ('problems' in result) return result;
  const { policy, authorities, attestations } = result;
  const namespace = policy.kind === 'ImagePolicy' ? policy.metadata.namespace : undefined;
  const name = namespace ? `${namespace}/${policy.metadata.name}` : policy.metadata.name;
  const globs = policy.spec.images.map((i) => compileGlob(i.glob));
  const signatureRepository = policy.spec.signatureRepository;
  const parsedSignatureRepository = signatureRepository ? parseRepository(signatureRepository) : undefined;
  const registries = new Set(globs.flatMap((g) => literalRegistry(g.normalised) ?? []));
  if (parsedSignatureRepository) registries.add(parsedSignatureRepository.registry);
  const signaturePullSecrets = (policy.spec.signaturePullSecrets ?? []).map((secret) => ({
    namespace: secret.namespace ?? namespace ?? '',
    name: secret.name,
  }));
  return {
    name,
    kind: policy.kind,
    ...(namespace ? { namespace } : {}),
    mode: policy.spec.mode ?? 'Enforce',
    fingerprint: sha256(JSON.stringify({ kind: policy.kind, name, spec: policy.spec })),
    matches: (candidate) => globs.some((g) => g.test(candidate)),
    registries: [...registries],
    ...(policy.spec.static ? { static: policy.spec.static } : {}),
    authorities,
    ...(policy.spec.platforms ? { platforms: platformSelection(policy.spec.platforms) } : {}),
    ...(policy.spec.signatures ? { signatures: { threshold: policy.spec.signatures.threshold ?? 1 } } : {}),
    ...(attestations.length > 0 ? { attestations } : {}),
    ...(parsedSignatureRepository ? { signatureRepository: parsedSignatureRepository } : {}),
    ...(signaturePullSecrets.length > 0 ? { signaturePullSecrets } : {}),
  };
}

/** The registry of a normalised glob when it is spelled out (`ghcr.io/acme/**`), not a wildcard (`*.io/**`). */
function literalRegistry(normalisedGlob: string): string | undefined {
  const slash = normalisedGlob.indexOf('/');
  const registry = slash === -1 ? '' : normalisedGlob.slice(0, slash);
  return registry !== '' && !/[*?]/.test(registry) ? registry : undefined;
}

const namedRegistries = new WeakMap<PolicySet, ReadonlySet<string>>();

/** Every registry host the set's policies name (CompiledPolicy.registries), computed once per set. */
export function policyRegistries(set: PolicySet): ReadonlySet<string> {
  let found = namedRegistries.get(set);
  if (found === undefined) {
    found = new Set(set.policies.flatMap((p) => p.registries ?? []));
    namedRegistries.set(set, found);
  }
  return found;
}

function platformSelection(platforms: readonly string[]): PlatformSelection {
  if (platforms[0] === 'index' || platforms[0] === 'all') return { kind: platforms[0] };
  return { kind: 'list', platforms };
}

function describeSource(doc: PolicyDocument): string {
  return `${doc.source} (document ${doc.index + 1})`;
}

export function toPolicySet(policies: readonly CompiledPolicy[]): PolicySet {
  const fingerprint = sha256(policies.map((p) => p.fingerprint).join('\n'));
  return {
    policies,
    fingerprint,
    signaturePullSecrets: (namespace) =>
      policies
        .filter((p) => p.namespace === undefined || p.namespace === namespace)
        .flatMap((p) => p.signaturePullSecrets ?? []),
    matching: (reference, namespace) => {
      const candidates = referenceCandidates(reference);
      return policies.filter(
        (p) =>
          (p.namespace === undefined || p.namespace === namespace) && candidates.some((c) => p.matches(c)),
      );
    },
  };
}

/**
 * A glob may or may not name a tag or digest; try the forms a user could have meant. With a digest, the tag
 * is not one of them: the kubelet pulls the digest and ignores the tag, so `repo:v1@sha256:…` is whatever
 * manifest that digest names, and a glob for `repo:v1` (a static Allow, an Enforce/Warn split by tag) must
 * not match it.
 */
function referenceCandidates(ref: ImageReference): string[] {
  const name = `${ref.registry}/${ref.path}`;
  if (ref.digest) return [name, `${name}@${ref.digest}`];
  return ref.tag ? [name, `${name}:${ref.tag}`] : [name];
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
