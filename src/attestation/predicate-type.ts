import type { PredicateTypeMatcher } from './types.js';

export const SLSA_PROVENANCE_V02 = 'https://slsa.dev/provenance/v0.2';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
export const SLSA_VSA_V1 = 'https://slsa.dev/verification_summary/v1';
export const SPDX = 'https://spdx.dev/Document';
export const CYCLONEDX = 'https://cyclonedx.org/bom';

/**
 * Short names for predicate types that come in several versions. `slsa-provenance` is how a policy says
 * "v0.2 or v1": slsa-github-generator and cosign still emit v0.2, GitHub artifact attestations emit v1.
 */
export const PREDICATE_TYPE_ALIASES: Readonly<Record<string, readonly string[]>> = {
  'slsa-provenance': [SLSA_PROVENANCE_V02, SLSA_PROVENANCE_V1],
  'slsa-provenance-v0.2': [SLSA_PROVENANCE_V02],
  'slsa-provenance-v1': [SLSA_PROVENANCE_V1],
  'slsa-vsa': [SLSA_VSA_V1],
  spdx: [SPDX],
  cyclonedx: [CYCLONEDX],
};

// SBOM producers version these URIs freely (`…/Document/v2.3`, `…/bom/v1.4`, formats.md §4.9), so the
// unversioned base matches every version; a versioned URI still matches exactly.
const VERSIONED_FAMILIES = [SPDX, CYCLONEDX];

const URI = /^[a-z][a-z0-9+.-]*:\S+$/i;

/** Throws when `value` is neither an alias nor an absolute URI. */
export function compilePredicateType(value: string): PredicateTypeMatcher {
  const uris = PREDICATE_TYPE_ALIASES[value] ?? (URI.test(value) ? [value] : undefined);
  if (uris === undefined) {
    throw new Error(
      `"${value}" is neither a predicate type URI nor one of ${Object.keys(PREDICATE_TYPE_ALIASES).join(', ')}`,
    );
  }
  const tests = uris.map(uriMatcher);
  const describe = uris.length === 1 ? (uris[0] as string) : uris.join(' or ');
  return {
    describe: VERSIONED_FAMILIES.some((f) => uris.includes(f)) ? `${describe} (any version)` : describe,
    matches: (predicateType) => tests.some((t) => t(predicateType)),
    provenance: uris.some(isProvenanceType),
    vsa: uris.includes(SLSA_VSA_V1),
  };
}

export function isProvenanceType(predicateType: string): boolean {
  return predicateType === SLSA_PROVENANCE_V02 || predicateType === SLSA_PROVENANCE_V1;
}

/** Whether a predicate type is `uri`, or for an SBOM family's base URI, any version of it. */
export function uriMatcher(uri: string): (candidate: string) => boolean {
  if (VERSIONED_FAMILIES.includes(uri)) {
    return (candidate) => candidate === uri || candidate.startsWith(`${uri}/`);
  }
  return (candidate) => candidate === uri;
}
