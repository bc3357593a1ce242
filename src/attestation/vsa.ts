import type { ReasonCode } from '../errors.js';
import { asObject, at, stringAt } from './json.js';
import type { CompiledVerifier, InTotoStatement } from './types.js';

export type VsaOutcome =
  | {
      readonly ok: true;
      readonly verifierId: string;
      readonly resourceUri: string;
      readonly level: number;
      readonly basis: string;
    }
  | {
      readonly ok: false;
      readonly code: Extract<
        ReasonCode,
        | 'ATTESTATION_INVALID'
        | 'VSA_VERIFIER_UNTRUSTED'
        | 'VSA_FAILED'
        | 'VSA_RESOURCE_MISMATCH'
        | 'SLSA_LEVEL_TOO_LOW'
      >;
      readonly message: string;
    };

/** `SLSA_<TRACK>_LEVEL_<n>`: levels on one track compare numerically (slsa spec/verification_summary.md). */
const SLSA_LEVEL = /^SLSA_([A-Z]+)_LEVEL_(\d+)$/;

/**
 * Checks a verification summary the way slsa-verifier's VSA verifier does (formats.md §4.7): a listed
 * verifier, PASSED, a resourceUri that verifier entry allows, and the levels it must list. The signer and the
 * subject digest were checked upstream. Returns the SLSA Build level the VSA vouches for.
 */
export function checkVsa(
  statement: InTotoStatement,
  verifiers: readonly CompiledVerifier[],
  signedBy: string,
): VsaOutcome {
  const predicate = asObject(statement.predicate);
  const verifierId = stringAt(predicate, 'verifier', 'id');
  const result = stringAt(predicate, 'verificationResult');
  const resourceUri = stringAt(predicate, 'resourceUri');
  const levels = parseLevels(at(predicate, 'verifiedLevels'));
  if (verifierId === undefined || result === undefined || resourceUri === undefined) {
    return invalid('the VSA lacks verifier.id, verificationResult or resourceUri');
  }
  if (typeof levels === 'string') return invalid(levels);

  const named = verifiers.filter((v) => v.id.test(verifierId));
  if (named.length === 0) {
    return {
      ok: false,
      code: 'VSA_VERIFIER_UNTRUSTED',
      message: `VSA from verifier ${verifierId}; accepted verifiers: ${verifiers.map((v) => v.id.source).join(', ')}`,
    };
  }
  // The predicate's verifier.id is the signer's claim: it counts only from an authority that verifier signs as.
  const byVerifier = named.filter((v) => v.authorities.includes(signedBy));
  if (byVerifier.length === 0) {
    return {
      ok: false,
      code: 'VSA_VERIFIER_UNTRUSTED',
      message: `VSA in the name of verifier ${verifierId} signed by authority ${signedBy}; that verifier's VSAs are accepted from ${[
        ...new Set(named.flatMap((v) => v.authorities)),
      ].join(', ')}`,
    };
  }
  if (result !== 'PASSED') {
    return { ok: false, code: 'VSA_FAILED', message: `verifier ${verifierId} reports ${result}, not PASSED` };
  }
  const entry = byVerifier.find((v) => v.resourceUri.test(resourceUri));
  if (entry === undefined) {
    return {
      ok: false,
      code: 'VSA_RESOURCE_MISMATCH',
      message: `VSA is for resource ${resourceUri}; verifier ${verifierId} is accepted for ${byVerifier
        .map((v) => v.resourceUri.source)
        .join(' or ')}`,
    };
  }
  const missing = entry.verifiedLevels.filter((required) => !meetsLevel(levels, required));
  if (missing.length > 0) {
    return {
      ok: false,
      code: 'SLSA_LEVEL_TOO_LOW',
      message: `VSA lists ${listLevels(levels)}; required ${missing.join(', ')}`,
    };
  }
  const stated = levels.tracks.get('BUILD') ?? 0;
  const level = entry.level === undefined ? stated : Math.min(stated, entry.level);
  const basis =
    level < stated
      ? `VSA from ${verifierId} states SLSA_BUILD_LEVEL_${stated}; this verifier is trusted up to level ${level}`
      : `VSA from ${verifierId} states ${stated === 0 ? 'no SLSA Build level' : `SLSA_BUILD_LEVEL_${stated}`}`;
  return { ok: true, verifierId, resourceUri, level, basis };
}

interface Levels {
  readonly tracks: ReadonlyMap<string, number>;
  readonly custom: ReadonlySet<string>;
  readonly listed: readonly string[];
}

function parseLevels(value: unknown): Levels | string {
  if (value === undefined) return { tracks: new Map(), custom: new Set(), listed: [] };
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) {
    return 'the VSA verifiedLevels is not a list of strings';
  }
  const tracks = new Map<string, number>();
  const custom = new Set<string>();
  for (const level of value) {
    const match = SLSA_LEVEL.exec(level);
    if (match !== null) {
      const track = match[1] as string;
      // At most one level per track: two would make "which level" ambiguous.
      if (tracks.has(track)) return `the VSA lists two levels on the SLSA ${track} track`;
      tracks.set(track, Number(match[2]));
    } else if (level.startsWith('SLSA_')) {
      return `the VSA level ${level} starts with SLSA_ but is not SLSA_<TRACK>_LEVEL_<n>`;
    } else {
      custom.add(level);
    }
  }
  return { tracks, custom, listed: value };
}

/** `SLSA_BUILD_LEVEL_3` meets a required `SLSA_BUILD_LEVEL_2`; custom levels must be listed as they are. */
function meetsLevel(levels: Levels, required: string): boolean {
  const match = SLSA_LEVEL.exec(required);
  if (match === null) return levels.custom.has(required);
  return (levels.tracks.get(match[1] as string) ?? -1) >= Number(match[2]);
}

function listLevels(levels: Levels): string {
  return levels.listed.length === 0 ? 'no levels' : levels.listed.join(', ');
}

function invalid(message: string): VsaOutcome {
  return { ok: false, code: 'ATTESTATION_INVALID', message };
}

/** Validates a `verifiedLevels` entry of the policy; throws with the reason. */
export function validateRequiredLevel(level: string): void {
  if (SLSA_LEVEL.test(level)) return;
  if (level.startsWith('SLSA_'))
    throw new Error(`"${level}" starts with SLSA_ but is not SLSA_<TRACK>_LEVEL_<n>`);
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(level)) throw new Error(`"${level}" is not a level name`);
}
