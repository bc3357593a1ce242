import { ProvenantError } from '../errors.js';
import { PUBLIC_GOOD, type TrustStore } from '../trust/index.js';
import { compileKeyAuthority, compileKeylessAuthority } from '../verify/index.js';
import type { Authority } from '../verify/types.js';
import type { AuthoritySpec } from './types.js';
import type { AuthorityCompiler } from './validate.js';

/**
 * Turns an authority's spec into verifier-ready trust material; throws INVALID_POLICY saying what is wrong
 * (a bad PEM, an invalid regular expression, a trust root the store does not know).
 */
export function authorityCompiler(trustStore: TrustStore): AuthorityCompiler {
  return (spec: AuthoritySpec): Authority => {
    if (spec.key) {
      const { timestampTrustRoot } = spec.key;
      if (timestampTrustRoot !== undefined && trustStore.get(timestampTrustRoot) === undefined) {
        // `field` lets the validator point at key.timestampTrustRoot rather than at the key.
        throw Object.assign(
          new ProvenantError(
            'INVALID_POLICY',
            `key authority "${spec.name}" names timestamp trust root "${timestampTrustRoot}"; known: ${trustStore.names().join(', ')}`,
          ),
          { field: 'key.timestampTrustRoot' },
        );
      }
      return compileKeyAuthority(spec.name, spec.key.publicKey, timestampTrustRoot);
    }
    if (spec.keyless) {
      return compileKeylessAuthority(
        {
          kind: 'keyless',
          name: spec.name,
          trustRoot: spec.keyless.trustRoot ?? PUBLIC_GOOD,
          identities: spec.keyless.identities,
          ...(spec.keyless.certificate ? { certificate: spec.keyless.certificate } : {}),
        },
        trustStore,
      );
    }
    throw new ProvenantError('INVALID_POLICY', `authority "${spec.name}" sets no trust anchor`);
  };
}
