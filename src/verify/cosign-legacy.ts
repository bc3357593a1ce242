import { createHash } from 'node:crypto';
import { BUNDLE_V01_MEDIA_TYPE, bundleFromJSON, type Bundle } from '@sigstore/bundle';
import { ProvenantError } from '../errors.js';
import { parseBoundedJson, REMOTE_JSON_BOUNDS } from '../json/bounded-json.js';
import { decodeStrictUtf8 } from '../json/strict-utf8.js';
import { decodeBase64, decodeDsseBase64, parsePemCertificates } from './encoding.js';

/** Layer annotation keys; note the two prefixes (cosign pkg/oci/static/signature.go). */
export const LEGACY_ANNOTATIONS = {
  signature: 'dev.cosignproject.cosign/signature',
  certificate: 'dev.sigstore.cosign/certificate',
  chain: 'dev.sigstore.cosign/chain',
  rekorBundle: 'dev.sigstore.cosign/bundle',
  rfc3161: 'dev.sigstore.cosign/rfc3161timestamp',
  /** `.att` layers only: the predicate type the attestation was published under (unsigned). */
  predicateType: 'predicateType',
} as const;

/**
 * Converts a legacy `.sig` layer into a v0.1 Sigstore bundle, as cosign's AssembleNewBundle does: a message
 * signature over the payload blob, the Fulcio leaf (or a bare key hint), the Rekor SET as an inclusion
 * promise, and the RFC 3161 timestamp. v0.1 is the only bundle version that accepts promise-only tlog
 * entries. The chain annotation is not used: @sigstore/verify builds paths from the trust root only.
 * Throws ProvenantError('SIGNATURE_INVALID') for malformed annotations; the bytes are attacker-controlled.
 */
export function legacyToBundle(payload: Uint8Array, annotations: Readonly<Record<string, string>>): Bundle {
  const signatureText = annotations[LEGACY_ANNOTATIONS.signature];
  if (signatureText === undefined || signatureText === '') {
    throw malformed(`layer has no ${LEGACY_ANNOTATIONS.signature} annotation`);
  }
  if (decodeBase64(signatureText) === undefined) throw malformed('signature annotation is not base64');

  const json = {
    mediaType: BUNDLE_V01_MEDIA_TYPE,
    verificationMaterial: {
      ...keyMaterial(annotations[LEGACY_ANNOTATIONS.certificate]),
      tlogEntries: tlogEntries(annotations[LEGACY_ANNOTATIONS.rekorBundle]),
      timestampVerificationData: { rfc3161Timestamps: timestamps(annotations[LEGACY_ANNOTATIONS.rfc3161]) },
    },
    messageSignature: {
      messageDigest: { algorithm: 'SHA2_256', digest: createHash('sha256').update(payload).digest('base64') },
      signature: signatureText,
    },
  };
  try {
    return bundleFromJSON(json);
  } catch (err) {
    throw malformed(`layer annotations do not form a valid signature bundle`, err);
  }
}

/**
 * Converts a legacy `.att` layer into a v0.1 Sigstore bundle with DSSE content (formats.md §3.8): the layer
 * blob is the DSSE envelope, whose one signature covers the PAE of its payload; certificate, Rekor SET and
 * RFC 3161 timestamp come from the annotations as for `.sig`. The signature annotation is empty on `.att`
 * layers and is ignored. Base64 in the envelope may be standard or URL-safe; it is decoded here and handed on
 * canonically, so what is verified is exactly the decoded bytes.
 * Throws ProvenantError('SIGNATURE_INVALID') for a malformed envelope or annotations.
 */
export function legacyAttestationToBundle(
  envelope: Uint8Array,
  annotations: Readonly<Record<string, string>>,
): Bundle {
  const parsed = parseJson(decodeUtf8(envelope), 'DSSE envelope') as {
    payloadType?: unknown;
    payload?: unknown;
    signatures?: unknown;
  };
  const { payloadType, payload, signatures } = parsed;
  if (typeof payloadType !== 'string' || typeof payload !== 'string') {
    throw malformed('DSSE envelope has no payloadType or payload');
  }
  const payloadBytes = decodeDsseBase64(payload);
  if (payloadBytes === undefined) throw malformed('DSSE payload is not base64');
  // A bundle holds exactly one signature, and cosign writes exactly one; several would each need a signer.
  if (!Array.isArray(signatures) || signatures.length !== 1) {
    throw malformed(
      `DSSE envelope has ${Array.isArray(signatures) ? signatures.length : 'no'} signatures; a cosign attestation has one`,
    );
  }
  const { sig, keyid } = (signatures[0] ?? {}) as { sig?: unknown; keyid?: unknown };
  const sigBytes = typeof sig === 'string' ? decodeDsseBase64(sig) : undefined;
  if (sigBytes === undefined || sigBytes.length === 0) throw malformed('DSSE signature is not base64');

  const json = {
    mediaType: BUNDLE_V01_MEDIA_TYPE,
    verificationMaterial: {
      ...keyMaterial(annotations[LEGACY_ANNOTATIONS.certificate]),
      tlogEntries: tlogEntries(annotations[LEGACY_ANNOTATIONS.rekorBundle]),
      timestampVerificationData: { rfc3161Timestamps: timestamps(annotations[LEGACY_ANNOTATIONS.rfc3161]) },
    },
    dsseEnvelope: {
      payload: payloadBytes.toString('base64'),
      payloadType,
      signatures: [{ sig: sigBytes.toString('base64'), keyid: typeof keyid === 'string' ? keyid : '' }],
    },
  };
  try {
    return bundleFromJSON(json);
  } catch (err) {
    throw malformed(`attestation layer does not form a valid signature bundle`, err);
  }
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return decodeStrictUtf8(bytes);
  } catch (err) {
    throw malformed('DSSE envelope is not UTF-8', err);
  }
}

function keyMaterial(certificatePem: string | undefined) {
  if (certificatePem === undefined) return { publicKey: { hint: '' } };
  const certificates = parsePemCertificates(certificatePem);
  if (certificates === undefined || certificates.length !== 1) {
    throw malformed('certificate annotation is not exactly one PEM certificate');
  }
  return {
    x509CertificateChain: { certificates: [{ rawBytes: certificates[0]?.root.toDER().toString('base64') }] },
  };
}

// The "Rekor bundle" is a Go struct without JSON tags: capitalised keys, hex logID (cosign pkg/cosign/bundle/rekor.go).
function tlogEntries(text: string | undefined) {
  if (text === undefined) return [];
  const parsed = parseJson(text, 'Rekor bundle annotation') as {
    SignedEntryTimestamp?: unknown;
    Payload?: { body?: unknown; integratedTime?: unknown; logIndex?: unknown; logID?: unknown };
  };
  const set = parsed.SignedEntryTimestamp;
  const { body, integratedTime, logIndex, logID } = parsed.Payload ?? {};
  if (
    typeof set !== 'string' ||
    typeof body !== 'string' ||
    !Number.isSafeInteger(integratedTime) ||
    !Number.isSafeInteger(logIndex) ||
    typeof logID !== 'string' ||
    !/^(?:[0-9a-f]{2})+$/i.test(logID)
  ) {
    throw malformed('Rekor bundle annotation lacks SignedEntryTimestamp or Payload fields');
  }
  const bodyBytes = decodeBase64(body);
  if (bodyBytes === undefined || decodeBase64(set) === undefined) {
    throw malformed('Rekor bundle annotation is not base64');
  }
  const entry = parseJson(bodyBytes.toString('utf8'), 'Rekor entry body') as {
    kind?: unknown;
    apiVersion?: unknown;
  };
  if (typeof entry.kind !== 'string' || typeof entry.apiVersion !== 'string') {
    throw malformed('Rekor entry body has no kind/apiVersion');
  }
  return [
    {
      logIndex: String(logIndex),
      logId: { keyId: Buffer.from(logID, 'hex').toString('base64') },
      kindVersion: { kind: entry.kind, version: entry.apiVersion },
      integratedTime: String(integratedTime),
      inclusionPromise: { signedEntryTimestamp: set },
      canonicalizedBody: body,
    },
  ];
}

function timestamps(text: string | undefined) {
  if (text === undefined) return [];
  const parsed = parseJson(text, 'RFC 3161 annotation') as { SignedRFC3161Timestamp?: unknown };
  const token = parsed.SignedRFC3161Timestamp;
  if (typeof token !== 'string' || decodeBase64(token) === undefined) {
    throw malformed('RFC 3161 annotation has no base64 SignedRFC3161Timestamp');
  }
  return [{ signedTimestamp: token }];
}

function parseJson(text: string, what: string): object {
  try {
    const value: unknown = parseBoundedJson(text, REMOTE_JSON_BOUNDS);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value;
  } catch {
    // reported below
  }
  throw malformed(`${what} is not a JSON object`);
}

function malformed(message: string, cause?: unknown): ProvenantError {
  return new ProvenantError('SIGNATURE_INVALID', message, { cause });
}
