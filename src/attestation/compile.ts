import { ProvenantError } from '../errors.js';
import type { PolicyProblem } from '../policy/validate.js';
import { GITHUB_ACTIONS_ISSUER } from './builders.js';
import { compileCondition } from './conditions.js';
import { parseGoDuration } from './duration.js';
import { compilePredicateType } from './predicate-type.js';
import type {
  AttestationRequirementSpec,
  CompiledAttestationRequirement,
  CompiledBuilder,
  CompiledSlsaRequirement,
  CompiledVerifier,
  PredicateTypeMatcher,
  SlsaRequirementSpec,
  UriGlob,
} from './types.js';
import { compileUriGlob } from './uri-glob.js';
import { validateRequiredLevel } from './vsa.js';

/** SLSA v1.0 defines Build L1–L3; minBuildLevel also takes 4 so a policy written for a future level fails closed. */
const MAX_BUILDER_LEVEL = 3;
const MAX_REQUIRED_LEVEL = 4;

/**
 * Compiles one `spec.attestations[]` entry against the names of the policy's authorities. Throws INVALID_POLICY
 * listing every problem, each with its field (`spec.attestations[provenance].slsa.builders[0].id: …`).
 */
export function compileAttestationRequirement(
  spec: AttestationRequirementSpec,
  authorityNames: readonly string[],
  field = `spec.attestations[${String(spec.name)}]`,
): CompiledAttestationRequirement {
  const result = compileOne(spec, authorityNames, field);
  if ('problems' in result) {
    throw new ProvenantError(
      'INVALID_POLICY',
      `invalid attestation requirement: ${result.problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`,
    );
  }
  return result.requirement;
}

/**
 * Compiles all of `spec.attestations`, reporting every problem (duplicate names included) in the shape
 * `policy/validate.ts` collects, so a policy's attestation errors list alongside its other errors.
 */
export function compileAttestationRequirements(
  specs: readonly AttestationRequirementSpec[],
  authorityNames: readonly string[],
  field = 'spec.attestations',
): { requirements: CompiledAttestationRequirement[] } | { problems: PolicyProblem[] } {
  const problems: PolicyProblem[] = [];
  const requirements: CompiledAttestationRequirement[] = [];
  const seen = new Set<string>();
  specs.forEach((spec, i) => {
    const here = `${field}[${i}]`;
    if (seen.has(spec.name))
      problems.push({ field: `${here}.name`, message: `duplicate name "${spec.name}"` });
    seen.add(spec.name);
    const result = compileOne(spec, authorityNames, here);
    if ('problems' in result) problems.push(...result.problems);
    else requirements.push(result.requirement);
  });
  return problems.length > 0 ? { problems } : { requirements };
}

function compileOne(
  spec: AttestationRequirementSpec,
  authorityNames: readonly string[],
  field: string,
): { requirement: CompiledAttestationRequirement } | { problems: PolicyProblem[] } {
  const problems: PolicyProblem[] = [];
  // Each step records its problem and yields undefined, so that one pass reports everything.
  const attempt = <T>(where: string, fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (err) {
      problems.push({ field: `${field}${where}`, message: err instanceof Error ? err.message : String(err) });
      return undefined;
    }
  };

  attempt('.name', () => {
    if (typeof spec.name !== 'string' || spec.name === '') throw new Error('must be a non-empty name');
  });
  const predicateType = attempt('.predicateType', () => compilePredicateType(spec.predicateType));
  const authorities = attempt('.authorities', () => checkAuthorities(spec.authorities, authorityNames));
  const maxAge = spec.maxAge;
  const maxAgeMs = maxAge === undefined ? undefined : attempt('.maxAge', () => parseGoDuration(maxAge));
  const slsa =
    spec.slsa === undefined || predicateType === undefined
      ? undefined
      : compileSlsa(spec.slsa, predicateType, authorities, `${field}.slsa`, problems);
  // A VSA says PASSED or FAILED in the name of a verifier; only slsa.verifiers says which verifiers (and
  // which of their signers) to believe, so a requirement accepting VSAs cannot go without it.
  if (predicateType?.vsa === true && spec.slsa === undefined) {
    problems.push({
      field: `${field}.slsa.verifiers`,
      message: 'a requirement that accepts VSAs must list the verifiers it trusts',
    });
  }
  const conditions = (spec.conditions ?? []).flatMap((c, i) => {
    const compiled = attempt(`.conditions[${i}].expression`, () => compileCondition(c.expression, c.message));
    return compiled === undefined ? [] : [compiled];
  });

  if (problems.length > 0 || predicateType === undefined || authorities === undefined) return { problems };
  return {
    requirement: {
      name: spec.name,
      predicateType,
      authorities,
      ...(maxAge !== undefined && maxAgeMs !== undefined ? { maxAgeMs, maxAge } : {}),
      ...(slsa !== undefined ? { slsa } : {}),
      conditions,
    },
  };
}

function checkAuthorities(names: readonly string[], known: readonly string[]): string[] {
  if (!Array.isArray(names) || names.length === 0) throw new Error('must name at least one authority');
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length > 0) {
    throw new Error(
      `unknown authority ${unknown.map((n) => `"${n}"`).join(', ')} (the policy defines ${known.join(', ') || 'none'})`,
    );
  }
  return [...new Set(names)];
}

/**
 * Who may sign a verifier's VSAs: a VSA names its verifier in its own predicate, so any authority of the
 * requirement could otherwise sign one in the name of a verifier it is not (a CI key vouching L3 for its own
 * build). Listed explicitly, or implied when the requirement has one authority.
 */
function verifierAuthorities(
  listed: readonly string[] | undefined,
  requirement: readonly string[] | undefined,
  problem: (message: string) => void,
): string[] | undefined {
  if (requirement === undefined) return undefined; // the requirement's own authorities are refused already
  if (listed === undefined) {
    if (requirement.length === 1) return [...requirement];
    problem(
      `name which of this requirement's authorities (${requirement.join(', ')}) sign this verifier's VSAs: a VSA counts only when its verifier signed it`,
    );
    return undefined;
  }
  return namedAuthorities(listed, requirement, problem);
}

/** `listed`, each once, when it names some of the requirement's authorities and no other; else a problem. */
function namedAuthorities(
  listed: readonly string[],
  requirement: readonly string[],
  problem: (message: string) => void,
): string[] | undefined {
  const unknown = listed.filter((name) => !requirement.includes(name));
  if (listed.length === 0 || unknown.length > 0) {
    problem(
      `must name authorities of this requirement (${requirement.join(', ')})${unknown.length ? `; not: ${unknown.join(', ')}` : ''}`,
    );
    return undefined;
  }
  return [...new Set(listed)];
}

/**
 * Who may sign provenance naming a builder: `builder.id` is the signer's claim, so a level granted to a
 * builder would otherwise go to whichever authority of the requirement names it (a CI job's key claiming the
 * Tekton Chains builder that another key signs for). Listed, or implied when the requirement has one
 * authority; undefined when it has several and none is listed; null after a problem.
 */
function builderAuthorities(
  listed: readonly string[] | undefined,
  requirement: readonly string[] | undefined,
  problem: (message: string) => void,
): string[] | undefined | null {
  if (requirement === undefined) return null; // the requirement's own authorities are refused already
  if (listed === undefined) return requirement.length === 1 ? [...requirement] : undefined;
  return namedAuthorities(listed, requirement, problem) ?? null;
}

function compileSlsa(
  spec: SlsaRequirementSpec,
  predicateType: PredicateTypeMatcher,
  authorities: readonly string[] | undefined,
  field: string,
  problems: PolicyProblem[],
): CompiledSlsaRequirement | undefined {
  const before = problems.length;
  const problem = (where: string, message: string) => problems.push({ field: `${field}${where}`, message });
  // The glob matches in normal form, but messages quote it as the policy author wrote it.
  const glob = (
    where: string,
    text: string,
    normalise: (s: string) => string = (s) => s,
  ): UriGlob | undefined => {
    try {
      return { ...compileUriGlob(normalise(text)), source: text };
    } catch (err) {
      problem(where, err instanceof Error ? err.message : String(err));
      return undefined;
    }
  };

  if (!predicateType.provenance && !predicateType.vsa) {
    problem('', `applies to SLSA provenance or VSA predicate types, not ${predicateType.describe}`);
  }
  const vsaOnly = predicateType.vsa && !predicateType.provenance;
  if (vsaOnly && (spec.builders !== undefined || spec.source !== undefined)) {
    problem('', 'builders and source apply to provenance; a VSA is trusted through slsa.verifiers');
  }
  const minBuildLevel = spec.minBuildLevel ?? 1;
  if (!isLevel(minBuildLevel, 1, MAX_REQUIRED_LEVEL)) {
    problem('.minBuildLevel', `must be an integer from 1 to ${MAX_REQUIRED_LEVEL}`);
  }

  let builders: CompiledBuilder[] | undefined;
  if (spec.builders !== undefined) {
    if (spec.builders.length === 0)
      problem('.builders', 'an empty list accepts no builder; omit it to use the built-in table');
    builders = spec.builders.flatMap((b, i) => {
      if (b.level !== undefined && !isLevel(b.level, 1, MAX_BUILDER_LEVEL)) {
        problem(`.builders[${i}].level`, `must be an integer from 1 to ${MAX_BUILDER_LEVEL}`);
      }
      const id = glob(`.builders[${i}].id`, b.id);
      const signers = builderAuthorities(b.authorities, authorities, (message) =>
        problem(`.builders[${i}].authorities`, message),
      );
      if (id === undefined || signers === null) return [];
      return [
        {
          id,
          ...(b.level !== undefined ? { level: b.level } : {}),
          ...(signers !== undefined ? { authorities: signers } : {}),
          ...(signers === undefined && b.level !== undefined ? { levelWithheld: true as const } : {}),
        },
      ];
    });
  }

  let source: CompiledSlsaRequirement['source'];
  if (spec.source !== undefined) {
    const { repository, refs } = spec.source;
    if (repository === undefined && refs === undefined) problem('.source', 'set repository, refs or both');
    if (refs !== undefined && refs.length === 0) problem('.source.refs', 'an empty list accepts no ref');
    const repoGlob =
      repository === undefined ? undefined : glob('.source.repository', repository, normaliseRepositoryGlob);
    const refGlobs = refs?.flatMap((r, i) => {
      if (!r.startsWith('refs/')) {
        problem(
          `.source.refs[${i}]`,
          `"${r}" is not a full git ref (write refs/heads/${r} or refs/tags/${r})`,
        );
        return [];
      }
      return [glob(`.source.refs[${i}]`, r)].filter((g): g is UriGlob => g !== undefined);
    });
    source = {
      ...(repoGlob !== undefined ? { repository: repoGlob } : {}),
      ...(refGlobs !== undefined ? { refs: refGlobs } : {}),
    };
  }

  if (vsaOnly && spec.githubEnterprise !== undefined) {
    problem('.githubEnterprise', 'rates provenance builders; a VSA is trusted through slsa.verifiers');
  }
  (spec.githubEnterprise ?? []).forEach((instance, i) => {
    if (instance.url === 'https://github.com' || instance.issuer === GITHUB_ACTIONS_ISSUER) {
      problem(`.githubEnterprise[${i}]`, 'github.com is always known: list only GitHub Enterprise instances');
    }
  });

  const verifiers: CompiledVerifier[] = (spec.verifiers ?? []).flatMap((v, i) => {
    const where = `.verifiers[${i}]`;
    if (v.level !== undefined && !isLevel(v.level, 0, MAX_BUILDER_LEVEL)) {
      problem(`${where}.level`, `must be an integer from 0 to ${MAX_BUILDER_LEVEL}`);
    }
    (v.verifiedLevels ?? []).forEach((level, j) => {
      try {
        validateRequiredLevel(level);
      } catch (err) {
        problem(`${where}.verifiedLevels[${j}]`, err instanceof Error ? err.message : String(err));
      }
    });
    const id = glob(`${where}.id`, v.id);
    const resourceUri = glob(`${where}.resourceUri`, v.resourceUri);
    const signers = verifierAuthorities(v.authorities, authorities, (message) =>
      problem(`${where}.authorities`, message),
    );
    if (id === undefined || resourceUri === undefined || signers === undefined) return [];
    return [
      {
        id,
        resourceUri,
        ...(v.level !== undefined ? { level: v.level } : {}),
        verifiedLevels: [...(v.verifiedLevels ?? [])],
        authorities: signers,
      },
    ];
  });
  if (spec.verifiers === undefined && vsaOnly) {
    problem('.verifiers', 'a VSA requirement must list the verifiers it trusts');
  } else if (spec.verifiers !== undefined && spec.verifiers.length === 0) {
    problem('.verifiers', 'an empty list accepts no verifier; omit it or list one');
  }

  if (problems.length > before) return undefined;
  return {
    minBuildLevel,
    ...(builders !== undefined ? { builders } : {}),
    ...(source !== undefined ? { source } : {}),
    verifiers,
    ...(spec.githubEnterprise !== undefined ? { githubEnterprise: spec.githubEnterprise } : {}),
  };
}

function isLevel(value: unknown, min: number, max: number): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/**
 * Writes a repository glob in the form repositories are compared in (`normaliseRepository`): `git+` and
 * `.git` dropped, `https://` added to slsa-verifier-style `github.com/o/r`, GitHub paths lower-cased.
 */
export function normaliseRepositoryGlob(glob: string): string {
  let text = glob.trim().replace(/^git\+/, '');
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) text = `https://${text}`;
  text = text.replace(/\/+$/, '').replace(/\.git$/, '');
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/]+)(\/.+)$/i.exec(text);
  const [scheme, host, path] = [match?.[1], match?.[2]?.toLowerCase(), match?.[3]];
  if (scheme === undefined || host === undefined || path === undefined) {
    throw new Error(`"${glob}" is not a repository URL (e.g. https://github.com/acme/app)`);
  }
  return `${scheme.toLowerCase()}${host}${host === 'github.com' ? path.toLowerCase() : path}`;
}
