import { parseBoundedJsonBytes, REMOTE_JSON_BOUNDS } from '../json/bounded-json.js';
import { parseGoDuration } from '../attestation/duration.js';
import type { PolicyProblem } from '../policy/validate.js';

/**
 * A TrustRoot's spec after shape checks: exactly one source. The material itself (keys, certificates,
 * TUF metadata signatures) is checked by trust/, which turns these into verification material.
 */
export type TrustRootSpec =
  /** An inline trusted_root.json document. */
  | { readonly trustedRoot: Readonly<Record<string, unknown>> }
  | {
      readonly tuf: {
        readonly mirror: string;
        /** The initial root.json, base64 as in the object. */
        readonly root: string;
        /** As written (`24h`, `90m`); absent when the object leaves it to the default. */
        readonly refreshInterval?: string;
        /**
         * As written; absent: the last verified copy is used however long refreshing fails, past the expiry
         * of the TUF metadata it came with too (this bounds it).
         */
        readonly maxStaleness?: string;
      };
    };

/** A valid TrustRoot object, handed to trust/. */
export interface TrustRootObject {
  readonly name: string;
  /** The resourceVersion of the object when this spec was first seen (status writes do not change it here). */
  readonly resourceVersion: string;
  readonly generation?: number;
  readonly uid?: string;
  readonly spec: TrustRootSpec;
}

// Go-style durations as a CRD's `format: duration` would accept them: `1h`, `90m`, `1h30m`, `45s`.
const DURATION = /^(\d+(\.\d+)?(h|m|s|ms))+$/;
const MAX_ROOT_CHARS = 1 << 20;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks a TrustRoot spec's shape; returns every problem found, each with its field path. */
export function validateTrustRootSpec(
  spec: unknown,
): { spec: TrustRootSpec } | { problems: PolicyProblem[] } {
  if (!isRecord(spec)) return { problems: [{ field: 'spec', message: 'missing or not an object' }] };
  const sources = (['trustedRoot', 'tuf'] as const).filter((k) => spec[k] !== undefined && spec[k] !== null);
  if (sources.length !== 1) {
    return { problems: [{ field: 'spec', message: 'must set exactly one of: trustedRoot, tuf' }] };
  }
  if (sources[0] === 'trustedRoot') {
    const root = spec['trustedRoot'];
    if (!isRecord(root))
      return { problems: [{ field: 'spec.trustedRoot', message: 'must be a trusted_root.json object' }] };
    return { spec: { trustedRoot: root } };
  }
  return validateTuf(spec['tuf']);
}

function validateTuf(tuf: unknown): { spec: TrustRootSpec } | { problems: PolicyProblem[] } {
  if (!isRecord(tuf)) return { problems: [{ field: 'spec.tuf', message: 'must be an object' }] };
  const problems: PolicyProblem[] = [];
  const { mirror, root, refreshInterval, maxStaleness } = tuf;

  if (typeof mirror !== 'string' || mirror === '') {
    problems.push({ field: 'spec.tuf.mirror', message: 'missing: the URL of the TUF repository' });
  } else {
    let url: URL | undefined;
    try {
      url = new URL(mirror);
    } catch {
      url = undefined;
    }
    if (url === undefined || !['https:', 'http:'].includes(url.protocol)) {
      problems.push({ field: 'spec.tuf.mirror', message: `"${mirror.slice(0, 200)}" is not an http(s) URL` });
    }
  }

  if (typeof root !== 'string' || root === '') {
    problems.push({ field: 'spec.tuf.root', message: 'missing: the base64 of the initial root.json' });
  } else if (root.length > MAX_ROOT_CHARS || !/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(root)) {
    problems.push({ field: 'spec.tuf.root', message: 'is not base64' });
  } else {
    let parsed: unknown;
    try {
      parsed = parseBoundedJsonBytes(Buffer.from(root, 'base64'), REMOTE_JSON_BOUNDS);
    } catch {
      parsed = undefined;
    }
    if (!isRecord(parsed) || !isRecord(parsed['signed'])) {
      problems.push({
        field: 'spec.tuf.root',
        message: 'does not decode to a TUF root.json (an object with "signed")',
      });
    }
  }

  if (
    refreshInterval !== undefined &&
    (typeof refreshInterval !== 'string' || !DURATION.test(refreshInterval))
  ) {
    problems.push({ field: 'spec.tuf.refreshInterval', message: 'must be a duration such as 24h or 90m' });
  }

  if (maxStaleness !== undefined) {
    if (typeof maxStaleness !== 'string' || !DURATION.test(maxStaleness)) {
      problems.push({ field: 'spec.tuf.maxStaleness', message: 'must be a duration such as 72h' });
    } else if (
      problems.length === 0 &&
      parseGoDuration(maxStaleness) <= parseGoDuration((refreshInterval as string | undefined) ?? '24h')
    ) {
      problems.push({
        field: 'spec.tuf.maxStaleness',
        message: 'must be longer than refreshInterval (default 24h)',
      });
    }
  }

  if (problems.length > 0) return { problems };
  return {
    spec: {
      tuf: {
        mirror: mirror as string,
        root: root as string,
        ...(typeof refreshInterval === 'string' ? { refreshInterval } : {}),
        ...(typeof maxStaleness === 'string' ? { maxStaleness } : {}),
      },
    },
  };
}
