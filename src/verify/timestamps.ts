import type { SignedEntity } from '@sigstore/verify';
// Not re-exported by the package index; the same check Verifier runs on every timestamp it is given.
import { verifyRFC3161Timestamp } from '@sigstore/verify/dist/timestamp/tsa.js';
import { ProvenantError } from '../errors.js';
import type { TrustRoot } from '../trust/trust-store.js';

/** A timestamp that counted toward the trust root's timestamp threshold. */
export type CountedTimestamp =
  | {
      readonly kind: 'rfc3161';
      /** Position in the bundle's `timestampVerificationData.rfc3161Timestamps`. */
      readonly index: number;
      readonly time: Date;
      /** The trust root's timestamp authority that verified it (its URI). */
      readonly authority: string;
    }
  | {
      readonly kind: 'tlog';
      /** Position in the bundle's `tlogEntries`. */
      readonly index: number;
      readonly time: Date;
      /** The transparency log's URL in the trust root, or its log id when the root does not list it. */
      readonly log: string;
    };

/** An RFC 3161 timestamp that did not count, and why. */
export interface IgnoredTimestamp {
  readonly index: number;
  readonly reason: string;
}

export interface TimestampSelection {
  /** The entity with only the RFC 3161 timestamps that verify against the trust root. */
  readonly entity: SignedEntity;
  readonly counted: readonly CountedTimestamp[];
  readonly ignored: readonly IgnoredTimestamp[];
}

/**
 * Keeps the RFC 3161 timestamps that verify against one of the trust root's timestamp authorities, as
 * sigstore-go and sigstore-python do: a bundle may carry more timestamps than the threshold asks for, and
 * one that does not verify (another TSA, or a token over other data) is left out rather than failing the
 * whole bundle. Every timestamp that does verify still goes to the Verifier, which checks the certificate
 * at each of them, rejects duplicates and applies the threshold. Transparency-log times (an entry with an
 * inclusion promise) count as they do there; their SET is verified with the entry. How many of each a bundle
 * may carry is bounded when it is parsed (evidence.ts).
 */
export function selectTimestamps(entity: SignedEntity, root: TrustRoot): TimestampSelection {
  const counted: CountedTimestamp[] = [];
  const ignored: IgnoredTimestamp[] = [];
  const kept: SignedEntity['timestamps'] = [];
  let tsaIndex = 0;
  let tlogIndex = 0;
  for (const timestamp of entity.timestamps) {
    if (timestamp.$case === 'transparency-log') {
      const entry = timestamp.tlogEntry;
      const index = entity.tlogEntries.indexOf(entry);
      tlogIndex++;
      kept.push(timestamp);
      if (entry.inclusionPromise !== undefined) {
        counted.push({
          kind: 'tlog',
          index: index === -1 ? tlogIndex - 1 : index,
          time: new Date(Number(entry.integratedTime) * 1000),
          log: logName(root, entry.logId.keyId),
        });
      }
      continue;
    }
    const index = tsaIndex++;
    const authority = verifyingAuthority(timestamp.timestamp, entity.signature.signature, root);
    if (typeof authority === 'string') {
      counted.push({ kind: 'rfc3161', index, time: timestamp.timestamp.signingTime, authority });
      kept.push(timestamp);
    } else {
      ignored.push({ index, reason: authority.reason });
    }
  }
  return { entity: { ...entity, timestamps: kept }, counted, ignored };
}

/** The URI of the first timestamp authority of the root that verifies the token over `signature`. */
function verifyingAuthority(
  timestamp: Extract<SignedEntity['timestamps'][number], { $case: 'timestamp-authority' }>['timestamp'],
  signature: Buffer,
  root: TrustRoot,
): string | { reason: string } {
  const authorities = root.trustMaterial.timestampAuthorities;
  let reason = 'the trust root has no timestamp authority';
  for (let i = 0; i < authorities.length; i++) {
    const ca = authorities[i];
    if (ca === undefined) continue;
    try {
      verifyRFC3161Timestamp(timestamp, signature, [ca]);
      return root.trustedRoot.timestampAuthorities[i]?.uri || `timestampAuthorities[${i}]`;
    } catch (err) {
      reason = err instanceof Error ? err.message : String(err);
    }
  }
  return { reason };
}

function logName(root: TrustRoot, logId: Buffer): string {
  const log = root.trustedRoot.tlogs.find((t) => t.logId !== undefined && logId.equals(t.logId.keyId));
  return log?.baseUrl || logId.toString('base64');
}

/** Appends why RFC 3161 timestamps were left out, for a failed threshold. */
function describeIgnored(ignored: readonly IgnoredTimestamp[]): string {
  return ignored.length === 0
    ? ''
    : `; RFC 3161 timestamps not counted: ${ignored.map((t) => `#${t.index} (${t.reason})`).join(', ')}`;
}

/**
 * The earliest time the counted timestamps vouch for. Only meaningful after `Verifier.verify` succeeded: it
 * checks every RFC 3161 timestamp it was given against the trust root and the SET of every tlog entry.
 */
export function earliest(counted: readonly CountedTimestamp[]): Date | undefined {
  const valid = counted.map((t) => t.time.getTime()).filter((ms) => Number.isFinite(ms));
  return valid.length === 0 ? undefined : new Date(Math.min(...valid));
}

/** A failed timestamp threshold also says which RFC 3161 timestamps were left out and why. */
export function withIgnoredTimestamps(
  err: ProvenantError,
  ignored: readonly IgnoredTimestamp[],
): ProvenantError {
  if (err.code !== 'TIMESTAMP_INVALID' || ignored.length === 0) return err;
  return new ProvenantError(err.code, `${err.message}${describeIgnored(ignored)}`, { cause: err.cause });
}
