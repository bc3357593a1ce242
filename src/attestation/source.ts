import type { SourceClaim } from './provenance.js';
import type { CompiledSlsaRequirement } from './types.js';

export interface BuildSource {
  readonly repository?: string;
  readonly ref?: string;
  readonly commit?: string;
}

/**
 * Settles where the image was built from. Every claim (provenance fields, certificate extensions) must name
 * the same repository, ref and commit: a GitHub workflow writes its own provenance, so a provenance that
 * names another repository than its certificate is a forgery, whatever the policy requires.
 */
export function settleSource(claims: readonly SourceClaim[]): BuildSource | { readonly problem: string } {
  const source: { repository?: string; ref?: string; commit?: string } = {};
  for (const key of ['repository', 'ref', 'commit'] as const) {
    const named = claims.filter((c) => c[key] !== undefined);
    const values = new Set(named.map((c) => c[key]));
    if (values.size > 1) {
      return {
        problem: `the build's sources disagree on the ${key}: ${named.map((c) => `${c.field} names ${c[key]}`).join(', ')}`,
      };
    }
    const [value] = values;
    if (value !== undefined) source[key] = value;
  }
  return source;
}

/** Checks the settled source against `slsa.source`; returns what was found versus required, or nothing. */
export function sourceMismatch(
  source: BuildSource,
  required: NonNullable<CompiledSlsaRequirement['source']>,
): string | undefined {
  const found = describeSource(source);
  if (required.repository !== undefined) {
    if (source.repository === undefined || !required.repository.test(source.repository)) {
      return `built from ${found}; required repository ${required.repository.source}`;
    }
  }
  if (required.refs !== undefined) {
    const ref = source.ref;
    if (ref === undefined || !required.refs.some((r) => r.test(ref))) {
      return `built from ${found}; required ref ${required.refs.map((r) => r.source).join(' or ')}`;
    }
  }
  return undefined;
}

export function describeSource(source: BuildSource): string {
  const repository = source.repository ?? 'an unnamed repository';
  const ref = source.ref === undefined ? 'no ref' : `ref ${source.ref}`;
  return `${repository} at ${ref}${source.commit === undefined ? '' : ` (commit ${source.commit})`}`;
}
