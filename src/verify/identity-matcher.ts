import { ProvenantError } from '../errors.js';
import { CERTIFICATE_EXTENSION_NAMES, type FulcioIdentity } from './fulcio-extensions.js';
import { policyRegExp } from './policy-regexp.js';
import type { CertificateExtensionName, KeylessAuthority, KeylessIdentity } from './types.js';

/** A string matcher compiled from `value` (exact) or `valueRegExp` (anchored). */
interface Matcher {
  readonly describe: string;
  test(value: string | undefined): boolean;
}

/** A keyless authority's identity rules, compiled once. */
export interface CompiledIdentityPolicy {
  readonly identities: readonly { readonly issuer: Matcher; readonly subject: Matcher }[];
  readonly extensions: readonly { readonly name: CertificateExtensionName; readonly matcher: Matcher }[];
}

const cache = new WeakMap<KeylessAuthority, CompiledIdentityPolicy>();

/**
 * Validates and compiles a keyless authority's identities and certificate rules. Every identity needs an
 * issuer and a subject (exact or RegExp), like cosign's --certificate-identity / --certificate-oidc-issuer:
 * a rule that omits one would admit any OIDC provider or any workflow. Throws ProvenantError('INVALID_POLICY').
 */
export function compileIdentityPolicy(authority: KeylessAuthority): CompiledIdentityPolicy {
  const cached = cache.get(authority);
  if (cached !== undefined) return cached;
  const where = `keyless authority "${authority.name}"`;
  if (!Array.isArray(authority.identities) || authority.identities.length === 0) {
    throw new ProvenantError('INVALID_POLICY', `${where} needs at least one identity`);
  }
  const identities = authority.identities.map((identity: KeylessIdentity, i) => ({
    issuer: requiredMatcher(identity.issuer, identity.issuerRegExp, `${where} identities[${i}].issuer`),
    subject: requiredMatcher(identity.subject, identity.subjectRegExp, `${where} identities[${i}].subject`),
  }));
  const rules = (authority.certificate ?? {}) as Readonly<Record<string, string | undefined>>;
  for (const key of Object.keys(rules)) {
    const name = key.endsWith('RegExp') ? key.slice(0, -'RegExp'.length) : key;
    if (!(CERTIFICATE_EXTENSION_NAMES as readonly string[]).includes(name)) {
      throw new ProvenantError(
        'INVALID_POLICY',
        `${where} certificate.${key} is not a Fulcio extension name`,
      );
    }
  }
  const extensions = CERTIFICATE_EXTENSION_NAMES.flatMap((name) => {
    const matcher = optionalMatcher(rules[name], rules[`${name}RegExp`], `${where} certificate.${name}`);
    return matcher === undefined ? [] : [{ name, matcher }];
  });
  const compiled = { identities, extensions };
  cache.set(authority, compiled);
  return compiled;
}

/** undefined when the certificate satisfies the policy, else what was found versus expected. */
export function identityMismatch(policy: CompiledIdentityPolicy, found: FulcioIdentity): string | undefined {
  const matched = policy.identities.some(
    (id) => id.issuer.test(found.issuer) && id.subject.test(found.subject),
  );
  if (!matched) {
    const expected = policy.identities.map(
      (id) => `issuer ${id.issuer.describe}, subject ${id.subject.describe}`,
    );
    return `certificate identity is issuer ${found.issuer ?? '(none)'}, subject ${found.subject ?? '(none)'}; expected ${expected.join(' or ')}`;
  }
  for (const { name, matcher } of policy.extensions) {
    const value = found.extensions[name];
    if (!matcher.test(value))
      return `certificate ${name} is ${value ?? '(absent)'}; expected ${matcher.describe}`;
  }
  return undefined;
}

function requiredMatcher(exact: string | undefined, regExp: string | undefined, where: string): Matcher {
  const matcher = optionalMatcher(exact, regExp, where);
  if (matcher === undefined) throw new ProvenantError('INVALID_POLICY', `${where} needs a value or a RegExp`);
  return matcher;
}

function optionalMatcher(
  exact: string | undefined,
  regExp: string | undefined,
  where: string,
): Matcher | undefined {
  if (exact !== undefined && regExp !== undefined) {
    throw new ProvenantError('INVALID_POLICY', `${where}: give the exact value or the RegExp, not both`);
  }
  if (exact !== undefined) {
    if (typeof exact !== 'string' || exact === '')
      throw new ProvenantError('INVALID_POLICY', `${where} is empty`);
    return { describe: JSON.stringify(exact), test: (value) => value === exact };
  }
  if (regExp !== undefined) {
    const re = policyRegExp(regExp, where);
    return { describe: `/${re.pattern()}/`, test: (value) => value !== undefined && re.matches(value) };
  }
  return undefined;
}
