import { createHash } from 'node:crypto';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial, type TrustMaterial } from '@sigstore/verify';
import { ProvenantError } from '../errors.js';
import { memoizeCertificateAuthorities } from './certificate-authority-memo.js';
import { GITHUB_TRUSTED_ROOT, PUBLIC_GOOD_TRUSTED_ROOT } from './embedded-roots.js';
import { parseTrustedRoot } from './trusted-root.js';

/** How many independent proofs a keyless signature needs under one trust root (@sigstore/verify options). */
export interface VerifierThresholds {
  readonly tlogThreshold: number;
  readonly ctlogThreshold: number;
  readonly timestampThreshold: number;
}

/** One named trust root, ready for @sigstore/verify. */
export interface TrustRoot {
  readonly name: string;
  readonly trustedRoot: TrustedRoot;
  readonly trustMaterial: TrustMaterial;
  readonly thresholds: VerifierThresholds;
  /**
   * sha256 over the root's content (canonical protobuf JSON) and thresholds: what a verdict was reached
   * with. Equal material gives an equal fingerprint wherever it came from (file, TrustRoot object, TUF).
   */
  readonly fingerprint: string;
  /**
   * Set when the root may no longer be used (a TUF copy older than its TrustRoot's maxStaleness): why.
   * Verification against it fails with TRUST_ROOT_STALE; policies naming it stay compiled, so nothing they
   * govern is admitted meanwhile.
   */
  readonly stale?: string;
  /**
   * Set for a root named by configuration whose material is not in hand (a TUF TrustRoot never fetched):
   * why. It holds no trust material, and verification against it fails with TRUST_ROOT_UNAVAILABLE;
   * policies naming it compile and stay in force, so nothing they govern is admitted meanwhile.
   */
  readonly unavailable?: string;
}

/** Trust-root name → material and thresholds. Immutable; build a new one when configuration changes. */
export interface TrustStore {
  get(name: string): TrustRoot | undefined;
  names(): readonly string[];
}

export interface CustomTrustRoot {
  /** The trusted_root.json content: bytes, text, or parsed JSON. */
  readonly trustedRoot: unknown;
  readonly thresholds?: Partial<VerifierThresholds>;
  /** See TrustRoot.stale. */
  readonly stale?: string;
}

/** The root itself, or TRUST_ROOT_STALE / TRUST_ROOT_UNAVAILABLE when it may not (or cannot) be used. */
export function usableRoot(root: TrustRoot): TrustRoot {
  if (root.unavailable !== undefined) throw new ProvenantError('TRUST_ROOT_UNAVAILABLE', root.unavailable);
  if (root.stale !== undefined) throw new ProvenantError('TRUST_ROOT_STALE', root.stale);
  return root;
}

export const PUBLIC_GOOD = 'public-good';
export const GITHUB = 'github';

// Public good requires an SCT, a Rekor entry and a trusted time (Sigstore client spec). GitHub's private
// instance has no Rekor and no CT log: its only proof of time is its TSA (gh uses WithSignedTimestamps(1)).
const PUBLIC_GOOD_THRESHOLDS: VerifierThresholds = {
  tlogThreshold: 1,
  ctlogThreshold: 1,
  timestampThreshold: 1,
};
const GITHUB_THRESHOLDS: VerifierThresholds = { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 1 };

/**
 * Builds a trust store holding the embedded `public-good` and `github` roots plus any custom roots.
 * A custom root may not reuse a built-in name; its thresholds default to public good's. Throws
 * ProvenantError('TRUST_ROOT_INVALID') for a bad root or threshold.
 *
 * `unavailable` names roots that exist but have no material yet (name → why): each is in the store with
 * no trust material, and refuses verification (TRUST_ROOT_UNAVAILABLE). A built-in or custom root of the
 * same name takes precedence.
 */
export function createTrustStore(
  custom: Readonly<Record<string, CustomTrustRoot>> = {},
  unavailable: Readonly<Record<string, string>> = {},
): TrustStore {
  // The embedded roots are known to load (tests build them); they are parsed on first use, so a command
  // whose policies name only keys never pays for reading their certificates and keys.
  const builtIn = new Map<string, () => TrustRoot>([
    [PUBLIC_GOOD, once(() => buildTrustRoot(PUBLIC_GOOD, PUBLIC_GOOD_TRUSTED_ROOT, PUBLIC_GOOD_THRESHOLDS))],
    [GITHUB, once(() => buildTrustRoot(GITHUB, GITHUB_TRUSTED_ROOT, GITHUB_THRESHOLDS))],
  ]);
  const roots = new Map<string, TrustRoot>();
  for (const [name, spec] of Object.entries(custom)) {
    if (builtIn.has(name)) {
      throw new ProvenantError(
        'TRUST_ROOT_INVALID',
        `trusted root name "${name}" is built in; choose another name`,
      );
    }
    const root = buildTrustRoot(name, spec.trustedRoot, { ...PUBLIC_GOOD_THRESHOLDS, ...spec.thresholds });
    roots.set(name, spec.stale === undefined ? root : { ...root, stale: spec.stale });
  }
  for (const [name, why] of Object.entries(unavailable)) {
    if (!builtIn.has(name) && !roots.has(name)) roots.set(name, unavailableRoot(name, why));
  }
  const names = [...builtIn.keys(), ...roots.keys()];
  return { get: (name) => builtIn.get(name)?.() ?? roots.get(name), names: () => names };
}

/** A root with no material at all: nothing can verify against it, and usableRoot() refuses it first. */
function unavailableRoot(name: string, why: string): TrustRoot {
  const trustedRoot = TrustedRoot.fromJSON({
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  });
  return {
    name,
    trustedRoot,
    trustMaterial: toTrustMaterial(trustedRoot),
    thresholds: PUBLIC_GOOD_THRESHOLDS,
    fingerprint: createHash('sha256')
      .update(JSON.stringify(['unavailable', name]))
      .digest('hex'),
    unavailable: why,
  };
}

function once<T>(build: () => T): () => T {
  let built: { value: T } | undefined;
  return () => (built ??= { value: build() }).value;
}

export function buildTrustRoot(name: string, json: unknown, thresholds: VerifierThresholds): TrustRoot {
  checkThresholds(name, thresholds);
  const trustedRoot = parseTrustedRoot(json, name);
  let trustMaterial: TrustMaterial;
  try {
    trustMaterial = toTrustMaterial(trustedRoot);
    memoizeCertificateAuthorities(trustMaterial);
  } catch (err) {
    // e.g. @sigstore/verify reads every RSA key whose keyDetails say PKCS#1 v1.5 as a bare PKCS#1 key
    throw new ProvenantError('TRUST_ROOT_INVALID', `trusted root "${name}" keys cannot be loaded`, {
      cause: err,
    });
  }
  const fingerprint = createHash('sha256')
    .update(JSON.stringify([TrustedRoot.toJSON(trustedRoot), thresholds]))
    .digest('hex');
  return { name, trustedRoot, trustMaterial, thresholds, fingerprint };
}

function checkThresholds(name: string, thresholds: VerifierThresholds): void {
  for (const [key, value] of Object.entries(thresholds)) {
    if (!Number.isInteger(value) || value < 0) {
      throw new ProvenantError(
        'TRUST_ROOT_INVALID',
        `trusted root "${name}": ${key} must be an integer >= 0`,
      );
    }
  }
  // A certificate is only meaningful at a trusted time: without one it would be checked against nothing.
  if (thresholds.timestampThreshold < 1) {
    throw new ProvenantError(
      'TRUST_ROOT_INVALID',
      `trusted root "${name}": timestampThreshold must be at least 1`,
    );
  }
}
