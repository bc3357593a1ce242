import type { ErrorObject, ValidateFunction } from 'ajv';
import { compileAttestationRequirements } from '../attestation/compile.js';
import type { CompiledAttestationRequirement } from '../attestation/types.js';
import { parseRepository } from '../oci/reference.js';
import { compileGlob } from './glob.js';
import { validateDocumentShape } from './document-validator.generated.js';
import { VERIFICATION_FIELDS } from './schema.js';
import type { Authority } from '../verify/types.js';
import { type AuthoritySpec, type ClusterImagePolicy, type ClusterImagePolicySpec } from './types.js';

/** One problem in one policy document, with the path of the offending field. */
export interface PolicyProblem {
  readonly field: string;
  readonly message: string;
}

/**
 * Turns an authority's spec into verifier-ready trust material, or says what is wrong with it
 * (a bad PEM, an invalid regular expression). Supplied by verify/, which owns the cryptography.
 */
export type AuthorityCompiler = (spec: AuthoritySpec) => Authority;

// Compiled by ajv ahead of time (scripts/generate-validators.ts), with the errors ajv reports at run time.
const validateShape = validateDocumentShape as ValidateFunction;

/** Validates one parsed YAML document. Returns every problem found, not just the first. */
export function validatePolicy(
  value: unknown,
  compileAuthority: AuthorityCompiler,
):
  | { policy: ClusterImagePolicy; authorities: Authority[]; attestations: CompiledAttestationRequirement[] }
  | { problems: PolicyProblem[] } {
  if (!validateShape(value)) {
    return { problems: (validateShape.errors ?? []).map(describeSchemaError) };
  }
  const policy = value as unknown as ClusterImagePolicy;
  const authorities: Authority[] = [];
  const problems = semanticProblems(policy, (spec) => {
    try {
      authorities.push(compileAuthority(spec));
      return undefined;
    } catch (err) {
      const { message, field } = err as Error & { field?: string };
      return { message, ...(field !== undefined ? { field } : {}) };
    }
  });
  // Requirements may name only this policy's authorities; CEL, globs and durations are checked here too.
  const compiled = compileAttestationRequirements(
    policy.spec.attestations ?? [],
    (policy.spec.authorities ?? []).map((a) => a.name),
  );
  if ('problems' in compiled) problems.push(...compiled.problems);
  if (problems.length > 0 || 'problems' in compiled) return { problems };
  return { policy, authorities, attestations: compiled.requirements };
}

function semanticProblems(
  policy: ClusterImagePolicy,
  compileAuthority: (spec: AuthoritySpec) => { message: string; field?: string } | undefined,
): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const { spec } = policy;
  if (policy.kind === 'ImagePolicy' && !policy.metadata.namespace) {
    problems.push({ field: 'metadata.namespace', message: 'an ImagePolicy must name its namespace' });
  }
  if (policy.kind === 'ClusterImagePolicy' && policy.metadata.namespace) {
    problems.push({
      field: 'metadata.namespace',
      message: 'a ClusterImagePolicy is cluster-scoped: remove the namespace',
    });
  }

  spec.images.forEach((image, i) => {
    try {
      compileGlob(image.glob);
    } catch (err) {
      problems.push({ field: `spec.images[${i}].glob`, message: (err as Error).message });
    }
  });

  if (spec.static) return [...problems, ...staticProblems(spec)];
  if (spec.authorities === undefined) {
    problems.push({ field: 'spec', message: 'missing required field "authorities" (or set spec.static)' });
  }
  const authorities = spec.authorities ?? [];
  problems.push(...platformProblems(spec.platforms));

  const seen = new Set<string>();
  authorities.forEach((authority, i) => {
    const field = `spec.authorities[${i}]`;
    if (seen.has(authority.name))
      problems.push({ field: `${field}.name`, message: `duplicate authority name "${authority.name}"` });
    seen.add(authority.name);
    const kinds = [authority.key, authority.keyless].filter((k) => k !== undefined);
    if (kinds.length !== 1) {
      problems.push({ field, message: 'must set exactly one of: key, keyless' });
    }
    const problem = kinds.length === 1 ? compileAuthority(authority) : undefined;
    if (problem) {
      problems.push({
        field: `${field}.${problem.field ?? (authority.key ? 'key.publicKey' : 'keyless')}`,
        message: problem.message,
      });
    }
  });

  if (spec.signatures) {
    const threshold = spec.signatures.threshold ?? 1;
    if (threshold > authorities.length) {
      problems.push({
        field: 'spec.signatures.threshold',
        message: `threshold ${threshold} is more than the ${authorities.length} authorities the policy names`,
      });
    }
  } else if ((spec.attestations ?? []).length === 0) {
    // The CRD's CEL rule says the same (scripts/generate-crds.ts REQUIREMENTS).
    problems.push({
      field: 'spec',
      message: 'the policy requires nothing: set spec.signatures or spec.attestations (or spec.static)',
    });
  }

  if (spec.signatureRepository !== undefined) {
    try {
      parseRepository(spec.signatureRepository);
    } catch (err) {
      problems.push({ field: 'spec.signatureRepository', message: (err as Error).message });
    }
  }

  // An ImagePolicy must not reach into other namespaces' secrets: its author may not be able to read them.
  (spec.signaturePullSecrets ?? []).forEach((secret, i) => {
    const field = `spec.signaturePullSecrets[${i}].namespace`;
    if (policy.kind === 'ClusterImagePolicy' && secret.namespace === undefined) {
      problems.push({ field, message: "a ClusterImagePolicy must name each secret's namespace" });
    }
    if (
      policy.kind === 'ImagePolicy' &&
      secret.namespace !== undefined &&
      secret.namespace !== policy.metadata.namespace
    ) {
      problems.push({
        field,
        message: `an ImagePolicy may only name secrets in its own namespace (${policy.metadata.namespace})`,
      });
    }
  });
  return problems;
}

function staticProblems(spec: ClusterImagePolicySpec): PolicyProblem[] {
  return VERIFICATION_FIELDS.filter((field) => spec[field] !== undefined).map((field) => ({
    field: `spec.${field}`,
    message: `a static policy decides without verification: remove ${field} (or remove static)`,
  }));
}

function platformProblems(platforms: readonly string[] | undefined): PolicyProblem[] {
  if (platforms === undefined) return [];
  const problems: PolicyProblem[] = [];
  const keywords = platforms.filter((p) => p === 'index' || p === 'all');
  if (keywords.length > 0 && platforms.length > 1) {
    problems.push({
      field: 'spec.platforms',
      message: `${keywords[0]} stands alone: give [index], [all], or a list of platforms`,
    });
  }
  const seen = new Set<string>();
  platforms.forEach((platform, i) => {
    if (seen.has(platform))
      problems.push({ field: `spec.platforms[${i}]`, message: `duplicate platform "${platform}"` });
    seen.add(platform);
  });
  return problems;
}

function describeSchemaError(error: ErrorObject): PolicyProblem {
  const field =
    error.instancePath
      .replace(/^\//, '')
      .replace(/\/(\d+)(?=\/|$)/g, '[$1]')
      .replaceAll('/', '.') || '(document)';
  switch (error.keyword) {
    case 'additionalProperties':
      return { field, message: `unknown field ${JSON.stringify(String(error.params.additionalProperty))}` };
    case 'required':
      return { field, message: `missing required field "${String(error.params.missingProperty)}"` };
    case 'enum':
      return { field, message: `must be one of ${(error.params.allowedValues as string[]).join(', ')}` };
    case 'const':
      return { field, message: `must be ${JSON.stringify(error.params.allowedValue)}` };
    default:
      return { field, message: error.message ?? 'is invalid' };
  }
}
