import { RFC3161Timestamp, X509Certificate } from '@sigstore/core';
import type { InTotoStatement, VerifiedAttestation } from '../../src/attestation/types.js';
import { readFulcioIdentity } from '../../src/verify/fulcio-extensions.js';
import { fixtureJson, fixtureText } from './fixtures.js';

/**
 * The real SLSA provenance, GitHub attestations and VSA under real/ (SOURCES.md §4, §5), turned into what the
 * attestation evaluator receives from the verifier: the statement (the DSSE payload, base64-decoded; the
 * signature itself is the verifier's job), the signer with the certificate's decoded Fulcio extensions, and
 * the signing time from the tlog entry or TSA timestamp.
 */
export type RealAttestationName =
  'generator-container' | 'bcr-module' | 'bcr-wrong-signer' | 'opa-provider' | 'gke-vsa';

export interface RealAttestation {
  /** The digest the statement's subject names (what the verifier matched it against). */
  readonly digest: string;
  readonly attestation: VerifiedAttestation;
}

const GENERATOR = 'real/slsa/slsa-github-generator-container-v2.1.0/';
const ATT_MANIFEST = `${GENERATOR}oci-layout/blobs/sha256/21454caf3a160dfbe6359f0501aa8401c6c0f2c7a8b71380ea21f8c4b48b64fe`;

interface Envelope {
  readonly payloadType: string;
  readonly payload: string;
}

interface Bundle {
  readonly verificationMaterial: {
    readonly certificate?: { readonly rawBytes: string };
    readonly tlogEntries?: readonly { readonly integratedTime: string }[];
    readonly timestampVerificationData?: {
      readonly rfc3161Timestamps?: readonly { readonly signedTimestamp: string }[];
    };
  };
  readonly dsseEnvelope: Envelope;
}

export function realAttestation(name: RealAttestationName, authority = 'ci'): RealAttestation {
  switch (name) {
    case 'generator-container':
      return generatorContainer(authority);
    case 'bcr-module':
      return fromBundle('real/slsa/github-attestation-bcr/MODULE.bazel.intoto.jsonl', authority);
    case 'bcr-wrong-signer':
      return fromBundle('real/slsa/github-attestation-bcr/MODULE-wrong-signer.bazel.intoto.jsonl', authority);
    case 'opa-provider':
      return fromBundle(
        'real/slsa/github-attestation-container-opa-provider/bundle.sigstore.json',
        authority,
      );
    case 'gke-vsa':
      return gkeVsa(authority);
  }
}

export function decodeStatement(envelope: Envelope): InTotoStatement {
  if (envelope.payloadType !== 'application/vnd.in-toto+json') throw new Error('not an in-toto envelope');
  return JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as InTotoStatement;
}

function subjectDigest(statement: InTotoStatement): string {
  const [subject] = statement.subject;
  const [algorithm, hex] = Object.entries(subject?.digest ?? {})[0] ?? [];
  if (algorithm === undefined || hex === undefined) throw new Error('statement has no subject digest');
  return `${algorithm}:${hex}`;
}

function keyless(certificate: X509Certificate, authority: string): VerifiedAttestation['signer'] {
  const identity = readFulcioIdentity(certificate);
  if (identity.subject === undefined || identity.issuer === undefined)
    throw new Error('not a Fulcio certificate');
  return { authority, identity: identity.subject, issuer: identity.issuer, certificate: identity.extensions };
}

/** cosign legacy `.att`: the DSSE envelope is the layer blob; certificate and Rekor bundle are annotations. */
function generatorContainer(authority: string): RealAttestation {
  const manifest = fixtureJson<{
    layers: readonly { digest: string; annotations: Readonly<Record<string, string>> }[];
  }>(ATT_MANIFEST);
  const layer = manifest.layers[0];
  if (layer === undefined) throw new Error('no layer');
  const envelope = fixtureJson<Envelope>(`${GENERATOR}oci-layout/blobs/${layer.digest.replace(':', '/')}`);
  const statement = decodeStatement(envelope);
  const pem = layer.annotations['dev.sigstore.cosign/certificate'] ?? '';
  const rekor = JSON.parse(layer.annotations['dev.sigstore.cosign/bundle'] ?? '{}') as {
    Payload: { integratedTime: number };
  };
  const digest = fixtureText(`${GENERATOR}image.digest`).trim();
  return {
    digest,
    attestation: {
      source: `ghcr.io/slsa-framework/example-package:${digest.replace(':', '-')}.att#layers[0]`,
      predicateType: layer.annotations.predicateType ?? '',
      statement,
      signer: keyless(X509Certificate.parse(pem), authority),
      signedAt: new Date(rekor.Payload.integratedTime * 1000),
    },
  };
}

/** Sigstore bundle v0.3 with a DSSE envelope; time from the Rekor entry, else from the RFC 3161 timestamp. */
function fromBundle(path: string, authority: string): RealAttestation {
  const bundle = fixtureJson<Bundle>(path);
  const statement = decodeStatement(bundle.dsseEnvelope);
  const raw = bundle.verificationMaterial.certificate?.rawBytes;
  if (raw === undefined) throw new Error('bundle has no certificate');
  const integrated = bundle.verificationMaterial.tlogEntries?.[0]?.integratedTime;
  const tsa = bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps?.[0]?.signedTimestamp;
  const signedAt =
    integrated !== undefined
      ? new Date(Number(integrated) * 1000)
      : tsa !== undefined
        ? RFC3161Timestamp.parse(Buffer.from(tsa, 'base64')).signingTime
        : undefined;
  return {
    digest: subjectDigest(statement),
    attestation: {
      source: path,
      predicateType: statement.predicateType,
      statement,
      signer: keyless(X509Certificate.parse(Buffer.from(raw, 'base64')), authority),
      ...(signedAt !== undefined ? { signedAt } : {}),
    },
  };
}

/** A bare DSSE envelope signed with a key (no certificate, no timestamp). */
function gkeVsa(authority: string): RealAttestation {
  const path = 'real/vsa/google-bcid-gke/gke-gce-pre.bcid-vsa.jsonl';
  const envelope = fixtureJson<Envelope & { signatures: readonly { keyid: string }[] }>(path);
  const statement = decodeStatement(envelope);
  return {
    digest: subjectDigest(statement),
    attestation: {
      source: path,
      predicateType: statement.predicateType,
      statement,
      signer: { authority, identity: envelope.signatures[0]?.keyid ?? '' },
    },
  };
}
