import type { ExpectationCase } from './fixtures.js';
import type { KeylessAuthority, KeylessIdentity } from '../../src/verify/types.js';

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Translates an expectations.json policy into a Provenant keyless authority, the way a user would write it:
 * exact values where the case gives them (`exact` holds the exact identity when upstream used unanchored
 * regexps, which Provenant anchors); slsa-verifier's builderId becomes a SAN RegExp `<builderId>@<ref>` and
 * sourceUri the Source Repository URI extension. No identity at all (the GitHub-instance case, whose upstream
 * test checks none) becomes `.*`. An empty builderId has no translation: it yields an identity without a
 * subject, which the policy compiler refuses, as slsa-verifier refuses a missing builder id.
 */
export function keylessAuthorityFor(c: ExpectationCase, trustRoot: string): KeylessAuthority {
  const policy = (c.policy ?? {}) as Record<string, unknown>;
  const p = (policy.exact ?? policy) as Record<string, string | undefined>;
  const identity: { -readonly [K in keyof KeylessIdentity]: KeylessIdentity[K] } = {};
  if (p.certificateIdentity !== undefined) identity.subject = p.certificateIdentity;
  else if (p.certificateIdentityRegExp !== undefined) identity.subjectRegExp = p.certificateIdentityRegExp;
  else if (typeof policy.builderId === 'string') {
    if (policy.builderId !== '') identity.subjectRegExp = `${escape(policy.builderId)}@.+`;
  } else identity.subjectRegExp = '.*';
  if (p.certificateOidcIssuer !== undefined) identity.issuer = p.certificateOidcIssuer;
  else if (p.certificateOidcIssuerRegExp !== undefined) identity.issuerRegExp = p.certificateOidcIssuerRegExp;
  else identity.issuerRegExp = '.*';
  const sourceUri = policy.sourceUri;
  return {
    kind: 'keyless',
    name: c.id,
    trustRoot,
    identities: [identity],
    ...(typeof sourceUri === 'string'
      ? { certificate: { sourceRepositoryURI: `https://${sourceUri}` } }
      : {}),
  };
}
