import {
  BUNDLE_V01_MEDIA_TYPE,
  BUNDLE_V02_MEDIA_TYPE,
  BUNDLE_V03_LEGACY_MEDIA_TYPE,
  BUNDLE_V03_MEDIA_TYPE,
  bundleFromJSON,
  type Bundle,
  type Envelope,
  type MessageSignature,
} from '@sigstore/bundle';
import { X509Certificate } from '@sigstore/core';
import { ProvenantError, quoted } from '../errors.js';
import { JsonBoundsError, parseBoundedJsonBytes, REMOTE_JSON_BOUNDS } from '../json/bounded-json.js';
import { legacyAttestationToBundle, legacyToBundle } from './cosign-legacy.js';
import { parseStatement, type Statement } from './in-toto.js';
import { parseSimpleSigning, type SimpleSigningClaim } from './simple-signing.js';
import type { SignatureEvidence } from './types.js';

/** Evidence decoded into a bundle and classified by content, before any signature check. */
export type PreparedEvidence =
  | {
      readonly kind: 'simple-signing';
      readonly bundle: Bundle;
      readonly payload: Uint8Array;
      readonly claim: SimpleSigningClaim;
    }
  | {
      readonly kind: 'statement';
      readonly bundle: Bundle;
      readonly envelope: Envelope;
      readonly statement: Statement;
      /**
       * The bytes an RFC 3161 timestamp on it covers when that is not the signature: a cosign 2 `.att` layer's
       * whole DSSE envelope (cosign timestamps an attestation's payload).
       */
      readonly timestamped?: Uint8Array;
    }
  | { readonly kind: 'message'; readonly bundle: Bundle; readonly messageSignature: MessageSignature };

const KNOWN_MEDIA_TYPES = new Set([
  BUNDLE_V01_MEDIA_TYPE,
  BUNDLE_V02_MEDIA_TYPE,
  BUNDLE_V03_LEGACY_MEDIA_TYPE,
  BUNDLE_V03_MEDIA_TYPE,
]);

/**
 * Transparency-log entries and RFC 3161 timestamps a bundle may carry: sigstore-go's bounds. A real bundle
 * carries one or two of each; every one costs verification work (a certificate chain at each timestamp, a
 * SET, a checkpoint) before anything cheaper can fail, and @sigstore/verify compares timestamps pairwise for
 * duplicates: 16,500 made-up entries in a 4 MiB bundle held the event loop 56 s.
 */
export const MAX_TLOG_ENTRIES = 32;
export const MAX_RFC3161_TIMESTAMPS = 32;

// Evidence is checked against every authority of every matching policy; decode it once per object.
const cache = new WeakMap<SignatureEvidence, PreparedEvidence | ProvenantError>();

/** Decodes and classifies evidence; throws ProvenantError with a SignatureCheck code when it is malformed. */
export function prepareEvidence(evidence: SignatureEvidence): PreparedEvidence {
  let result = cache.get(evidence);
  if (result === undefined) {
    try {
      result = prepareUncached(evidence);
    } catch (err) {
      result =
        err instanceof ProvenantError
          ? err
          : new ProvenantError('SIGNATURE_INVALID', 'evidence cannot be decoded', { cause: err });
    }
    cache.set(evidence, result);
  }
  if (result instanceof ProvenantError) throw result;
  return result;
}

function prepareUncached(evidence: SignatureEvidence): PreparedEvidence {
  switch (evidence.kind) {
    case 'cosign-simple-signing':
      return prepareLegacy(evidence.payload, evidence.annotations);
    case 'sigstore-bundle':
      return prepareBundle(evidence.bundle);
    case 'cosign-attestation': {
      const prepared = fromDsseBundle(legacyAttestationToBundle(evidence.envelope, evidence.annotations));
      return prepared.kind === 'statement' ? { ...prepared, timestamped: evidence.envelope } : prepared;
    }
  }
}

/** Parses bundle JSON bytes; an unknown media type is UNSUPPORTED_FORMAT, anything else malformed SIGNATURE_INVALID. */
export function parseBundle(bytes: Uint8Array): Bundle {
  let json: unknown;
  try {
    json = parseBoundedJsonBytes(bytes, REMOTE_JSON_BOUNDS);
  } catch (err) {
    const problem =
      err instanceof JsonBoundsError ? `bundle refused: ${err.message}` : 'bundle is not UTF-8 JSON';
    throw new ProvenantError('SIGNATURE_INVALID', problem, { cause: err });
  }
  const mediaType = (json as { mediaType?: unknown } | null)?.mediaType;
  if (typeof mediaType !== 'string' || !KNOWN_MEDIA_TYPES.has(mediaType)) {
    // @sigstore/bundle validates any `version=N.N` as the latest version; a future format must not pass as 0.3.
    throw new ProvenantError(
      'UNSUPPORTED_FORMAT',
      `bundle mediaType ${quoted(mediaType)} is not a supported Sigstore bundle (v0.1-v0.3)`,
    );
  }
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(json);
  } catch (err) {
    const fields = (err as { fields?: unknown }).fields;
    const detail = Array.isArray(fields) ? `: ${fields.join(', ')}` : '';
    throw new ProvenantError('SIGNATURE_INVALID', `bundle is malformed${detail}`, { cause: err });
  }
  assertFewEntries(bundle);
  rejectRootInChain(bundle);
  return withCheckpointedProofs(bundle);
}

function assertFewEntries(bundle: Bundle): void {
  const material = bundle.verificationMaterial;
  const entries = material.tlogEntries.length;
  if (entries > MAX_TLOG_ENTRIES) {
    throw new ProvenantError(
      'TLOG_INVALID',
      `bundle carries ${entries} transparency-log entries; at most ${MAX_TLOG_ENTRIES} are accepted`,
    );
  }
  const timestamps = material.timestampVerificationData?.rfc3161Timestamps.length ?? 0;
  if (timestamps > MAX_RFC3161_TIMESTAMPS) {
    throw new ProvenantError(
      'TIMESTAMP_INVALID',
      `bundle carries ${timestamps} RFC 3161 timestamps; at most ${MAX_RFC3161_TIMESTAMPS} are accepted`,
    );
  }
}

/**
 * An inclusion proof is only verifiable with the signed checkpoint it leads to. Bundles v0.2 and later must
 * carry one (the spec requires it; @sigstore/verify would otherwise fail on the missing field with a
 * JavaScript error). A v0.1 bundle's entry is bound by its required inclusion promise (SET); a proof
 * without checkpoint there is the shape old clients wrote (CPython's release bundles), and is left out,
 * as sigstore-python does.
 */
function withCheckpointedProofs(bundle: Bundle): Bundle {
  const entries = bundle.verificationMaterial.tlogEntries;
  const unchecked = entries.findIndex(
    (e) => e.inclusionProof !== undefined && typeof e.inclusionProof.checkpoint?.envelope !== 'string',
  );
  if (unchecked === -1) return bundle;
  if (bundle.mediaType !== BUNDLE_V01_MEDIA_TYPE) {
    throw new ProvenantError(
      'SIGNATURE_INVALID',
      `bundle is malformed: verificationMaterial.tlogEntries[${unchecked}].inclusionProof has no checkpoint`,
    );
  }
  return {
    ...bundle,
    verificationMaterial: {
      ...bundle.verificationMaterial,
      // Only inclusionProof changes; every other field keeps the shape the bundle parser checked.
      tlogEntries: entries.map((e) =>
        e.inclusionProof === undefined || typeof e.inclusionProof.checkpoint?.envelope === 'string'
          ? e
          : { ...e, inclusionProof: undefined },
      ) as Bundle['verificationMaterial']['tlogEntries'],
    },
  };
}

function prepareLegacy(payload: Uint8Array, annotations: Readonly<Record<string, string>>): PreparedEvidence {
  const claim = parseSimpleSigning(payload);
  if (typeof claim === 'string') throw new ProvenantError('SIGNATURE_INVALID', `simple-signing ${claim}`);
  return { kind: 'simple-signing', bundle: legacyToBundle(payload, annotations), payload, claim };
}

/** Decodes bundle bytes into prepared evidence (not cached: the CLI and tests call it directly). */
export function prepareBundle(bytes: Uint8Array): PreparedEvidence {
  const bundle = parseBundle(bytes);
  const content = bundle.content;
  if (content.$case === 'messageSignature') {
    return { kind: 'message', bundle, messageSignature: content.messageSignature };
  }
  return fromDsseBundle(bundle);
}

function fromDsseBundle(bundle: Bundle): PreparedEvidence {
  const content = bundle.content;
  if (content.$case !== 'dsseEnvelope') {
    throw new ProvenantError('SIGNATURE_INVALID', 'bundle holds no DSSE envelope');
  }
  const envelope = content.dsseEnvelope;
  const statement = parseStatement(envelope.payloadType, envelope.payload);
  if (typeof statement === 'string') throw new ProvenantError('SIGNATURE_INVALID', statement);
  return { kind: 'statement', bundle, envelope, statement };
}

// A chain that carries its own root lets the bundle vouch for itself; the trust root alone supplies anchors
// (sigstore-conformance bundle-with-root-cert_fail).
function rejectRootInChain(bundle: Bundle): void {
  const material = bundle.verificationMaterial.content;
  if (material.$case !== 'x509CertificateChain') return;
  for (const raw of material.x509CertificateChain.certificates) {
    let cert: X509Certificate;
    try {
      cert = X509Certificate.parse(Buffer.from(raw.rawBytes));
    } catch (err) {
      throw new ProvenantError('SIGNATURE_INVALID', 'bundle certificate is not DER', { cause: err });
    }
    if (cert.subject.equals(cert.issuer)) {
      throw new ProvenantError(
        'CERTIFICATE_INVALID',
        'bundle certificate chain contains a self-signed root certificate',
      );
    }
  }
}
