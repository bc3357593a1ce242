import { createPublicKey } from 'node:crypto';
import { X509Certificate } from '@sigstore/core';
import {
  PublicKeyDetails,
  TrustedRoot,
  type TransparencyLogInstance,
  type CertificateAuthority,
} from '@sigstore/protobuf-specs';
import { ProvenantError } from '../errors.js';
import { parseBoundedJson, parseBoundedJsonBytes, REMOTE_JSON_BOUNDS } from '../json/bounded-json.js';

const MEDIA_TYPES = new Set([
  'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  'application/vnd.dev.sigstore.trustedroot.v0.1+json',
  'application/vnd.dev.sigstore.trustedroot.v0.2+json',
]);

/**
 * Parses and validates a `trusted_root.json` (bytes, text or already-parsed JSON). @sigstore/verify treats
 * a missing `validFor.start` as "since the beginning of time" and skips bad keys silently; a trust root is
 * configuration, so every defect is refused here with ProvenantError('TRUST_ROOT_INVALID') naming the entry.
 */
export function parseTrustedRoot(input: Uint8Array | string | unknown, name: string): TrustedRoot {
  const json = decodeJson(input, name);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw invalid(name, 'is not a JSON object');
  }
  const mediaType = (json as { mediaType?: unknown }).mediaType;
  if (typeof mediaType !== 'string' || !MEDIA_TYPES.has(mediaType)) {
    throw invalid(
      name,
      `has mediaType ${JSON.stringify(mediaType)}; expected a Sigstore trustedroot v0.1/v0.2`,
    );
  }
  let root: TrustedRoot;
  try {
    root = TrustedRoot.fromJSON(json);
  } catch (err) {
    throw invalid(name, `cannot be decoded: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  root.tlogs.forEach((log, i) => checkLog(log, `tlogs[${i}]`, name));
  root.ctlogs.forEach((log, i) => checkLog(log, `ctlogs[${i}]`, name));
  root.certificateAuthorities.forEach((ca, i) => checkAuthority(ca, `certificateAuthorities[${i}]`, name));
  root.timestampAuthorities.forEach((ca, i) => checkAuthority(ca, `timestampAuthorities[${i}]`, name));
  if (
    root.certificateAuthorities.length === 0 &&
    root.tlogs.length === 0 &&
    root.timestampAuthorities.length === 0
  ) {
    throw invalid(name, 'has no certificate authorities, transparency logs or timestamp authorities');
  }
  return root;
}

function decodeJson(input: unknown, name: string): unknown {
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) return input;
  try {
    // A trusted root may come from a TUF repository or a Kubernetes object: remote data, bounded alike.
    return typeof input === 'string'
      ? parseBoundedJson(input, REMOTE_JSON_BOUNDS)
      : parseBoundedJsonBytes(input, REMOTE_JSON_BOUNDS);
  } catch (err) {
    throw invalid(name, 'is not valid JSON', err);
  }
}

function checkLog(log: TransparencyLogInstance, path: string, name: string): void {
  const where = `${path} (${log.baseUrl || 'no baseUrl'})`;
  if (log.logId === undefined || log.logId.keyId.length === 0)
    throw invalid(name, `${where} has no logId.keyId`);
  const key = log.publicKey;
  if (key?.rawBytes === undefined || key.rawBytes.length === 0) {
    throw invalid(name, `${where} has no publicKey.rawBytes`);
  }
  // Old roots carry the staging CT log's RSA key as bare PKCS#1, flagged by its keyDetails.
  const type = key.keyDetails === PublicKeyDetails.PKCS1_RSA_PKCS1V5 ? 'pkcs1' : 'spki';
  try {
    createPublicKey({ key: key.rawBytes, format: 'der', type });
  } catch (err) {
    throw invalid(name, `${where} publicKey.rawBytes is not a DER ${type.toUpperCase()} public key`, err);
  }
  checkRange(key.validFor, `${where} publicKey.validFor`, name);
}

function checkAuthority(ca: CertificateAuthority, path: string, name: string): void {
  const where = `${path} (${ca.uri || ca.subject?.commonName || 'no uri'})`;
  const certs = ca.certChain?.certificates ?? [];
  if (certs.length === 0) throw invalid(name, `${where} has an empty certChain`);
  certs.forEach((cert, i) => {
    try {
      X509Certificate.parse(Buffer.from(cert.rawBytes));
    } catch (err) {
      throw invalid(name, `${where} certChain.certificates[${i}] is not a DER certificate`, err);
    }
  });
  checkRange(ca.validFor, `${where} validFor`, name);
}

// TimeRange.start is required by the protobuf spec; without it the key's trust would have no beginning.
function checkRange(
  range: { start: Date | undefined; end?: Date | undefined } | undefined,
  where: string,
  name: string,
) {
  if (range?.start === undefined) throw invalid(name, `${where}.start is missing`);
  if (Number.isNaN(range.start.getTime())) throw invalid(name, `${where}.start is not a valid time`);
  if (range.end !== undefined) {
    if (Number.isNaN(range.end.getTime())) throw invalid(name, `${where}.end is not a valid time`);
    if (range.end < range.start) throw invalid(name, `${where} ends before it starts`);
  }
}

function invalid(name: string, problem: string, cause?: unknown): ProvenantError {
  return new ProvenantError('TRUST_ROOT_INVALID', `trusted root "${name}" ${problem}`, { cause });
}
