import { ProvenantError } from '../errors.js';
import { compileKeyAuthority } from '../verify/index.js';
import type { Authority } from '../verify/types.js';
import type { AuthoritySpec } from './types.js';

/** Turns an authority's spec into verifier-ready trust material; throws INVALID_POLICY saying what is wrong. */
export function compileAuthoritySpec(spec: AuthoritySpec): Authority {
  if (spec.key) return compileKeyAuthority(spec.name, spec.key.publicKey);
  throw new ProvenantError('INVALID_POLICY', `authority "${spec.name}" sets no trust anchor`);
}
