import type { TransparencyLogEntry } from '@sigstore/bundle';
import { crypto } from '@sigstore/core';
import type { TrustMaterial } from '@sigstore/verify';
import { ProvenantError } from '../errors.js';

type TLogAuthority = TrustMaterial['tlogs'][number];

// A signed note: the checkpoint body, a blank line, then lines "— <name> <base64(keyHint[4] || signature)>".
// (transparency-dev/formats log/README.md; parsed as @sigstore/verify parses it.)
const SEPARATOR = '\n\n';
const SIGNATURE_LINE = /\u2014 (\S+) (\S+)\n/g;
/**
 * Signature lines a checkpoint may carry: the log's own and a few witnesses' cosignatures (Go's note package
 * refuses more than 100). Each line whose key hint names a trusted log costs a signature verification, here
 * and in @sigstore/verify (which tries them in turn until one verifies), on the event loop: a 4 MiB bundle
 * holds ~39,000 such lines, about 1.8 s.
 */
export const MAX_CHECKPOINT_SIGNATURES = 16;
/** Signature lines in all of a bundle's checkpoints together, so that many entries cannot multiply the above. */
export const MAX_BUNDLE_CHECKPOINT_SIGNATURES = 32;

/**
 * Trust material under which checkpoints are identified by key, not by name. @sigstore/verify accepts a
 * checkpoint signature only from a log whose `baseUrl` contains the signer name written in the note, a
 * heuristic that holds for the public-good logs but not for private Rekor instances, whose checkpoints are
 * signed under names such as `rekor-00001-deployment-…` that appear in no URL. sigstore-go and cosign never
 * look at that name: they pick the log key by the note's 4-byte key hint among the trust root's logs and
 * verify the signature with it. This does the same check first: for every signature line whose key hint
 * names a trusted log with the entry's log id, and whose signature verifies over the note with that log's
 * key, the signer name is added to that log's `baseURL` in a copy of the material, the only place the
 * library reads it. Everything else (root hash, Merkle proof, SET, body) is still verified by the library;
 * a signature that does not verify under a trusted key changes nothing and fails there as before.
 */
export function trustMaterialForCheckpoints(
  material: TrustMaterial,
  entries: readonly TransparencyLogEntry[],
): TrustMaterial {
  // Every checkpoint is counted before any signature is verified.
  let lines = 0;
  for (const entry of entries) {
    const envelope = entry.inclusionProof?.checkpoint?.envelope;
    if (typeof envelope === 'string') lines += signatureLines(envelope);
  }
  if (lines > MAX_BUNDLE_CHECKPOINT_SIGNATURES) {
    throw new ProvenantError(
      'TLOG_INVALID',
      `the bundle's transparency-log checkpoints carry ${lines} signatures together; at most ${MAX_BUNDLE_CHECKPOINT_SIGNATURES} are accepted`,
    );
  }
  const names = new Map<TLogAuthority, Set<string>>();
  for (const entry of entries) {
    const envelope = entry.inclusionProof?.checkpoint?.envelope;
    if (typeof envelope !== 'string') continue;
    const logs = material.tlogs.filter((log) => log.logID.equals(entry.logId.keyId));
    for (const { log, name } of verifiedSigners(envelope, logs)) {
      names.set(log, (names.get(log) ?? new Set<string>()).add(name));
    }
  }
  if (names.size === 0) return material;
  return {
    ...material,
    tlogs: material.tlogs.map((log) => {
      const extra = names.get(log);
      return extra === undefined ? log : { ...log, baseURL: [log.baseURL, ...extra].join(' ') };
    }),
  };
}

/**
 * The signature lines of a checkpoint; refuses one with more than any log and its witnesses write, before
 * verifying any.
 */
function signatureLines(envelope: string): number {
  const split = envelope.indexOf(SEPARATOR);
  if (split === -1) return 0; // the library refuses it
  let lines = 0;
  for (let at = envelope.indexOf('\u2014 ', split); at !== -1; at = envelope.indexOf('\u2014 ', at + 2)) {
    if (++lines > MAX_CHECKPOINT_SIGNATURES) {
      throw new ProvenantError(
        'TLOG_INVALID',
        `a transparency-log checkpoint carries more than ${MAX_CHECKPOINT_SIGNATURES} signatures`,
      );
    }
  }
  return lines;
}

/**
 * The (log, name) pairs of the note's signature lines that verify with a log's key, found by key hint, for
 * names the log's URL does not already contain.
 */
function verifiedSigners(
  envelope: string,
  logs: readonly TLogAuthority[],
): { log: TLogAuthority; name: string }[] {
  const split = envelope.indexOf(SEPARATOR);
  if (split === -1 || logs.length === 0) return [];
  const note = Buffer.from(envelope.slice(0, split + 1), 'utf-8');
  const found: { log: TLogAuthority; name: string }[] = [];
  for (const [, name, encoded] of envelope.slice(split + SEPARATOR.length).matchAll(SIGNATURE_LINE)) {
    if (name === undefined || encoded === undefined) continue;
    const bytes = Buffer.from(encoded, 'base64');
    if (bytes.length < 5) continue;
    const hint = bytes.subarray(0, 4);
    const signature = bytes.subarray(4);
    for (const log of logs) {
      // A name the log's URL already contains is one the library accepts by itself (public good).
      if (log.baseURL.includes(name) || !log.logID.subarray(0, 4).equals(hint)) continue;
      if (verifies(note, log, signature)) found.push({ log, name });
    }
  }
  return found;
}

function verifies(note: Buffer, log: TLogAuthority, signature: Buffer): boolean {
  try {
    return crypto.verify(note, log.publicKey, signature);
  } catch {
    return false;
  }
}
