import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { dsse } from '@sigstore/core';
import type { SignatureEvidence } from '../../src/verify/types.js';
import { fixtureBytes, fixtureJson } from './fixtures.js';

/**
 * Attestations as discovery hands them to `verifyAttestation`, for unit tests: the real slsa-github-generator
 * `.att` layer (test/fixtures/real/SOURCES.md §4a), and DSSE envelopes signed here with a fresh key.
 */

const GENERATOR = 'real/slsa/slsa-github-generator-container-v2.1.0/oci-layout/blobs/sha256/';
const ATT_MANIFEST = `${GENERATOR}21454caf3a160dfbe6359f0501aa8401c6c0f2c7a8b71380ea21f8c4b48b64fe`;

/** The image index the generator attestation is about. */
export const GENERATOR_IMAGE_DIGEST =
  'sha256:234e2c830c2fb31ac5671789d22adfe44d30c3ee831d01beae5e237841a13122';

type AttestationEvidence = Extract<SignatureEvidence, { kind: 'cosign-attestation' }>;

/** The one layer of the real `.att` manifest: the DSSE envelope blob and its annotations, as stored. */
export function generatorAttestationLayer(): AttestationEvidence {
  const manifest = fixtureJson<{
    layers: readonly { digest: string; annotations: Readonly<Record<string, string>> }[];
  }>(ATT_MANIFEST);
  const layer = manifest.layers[0];
  if (layer === undefined) throw new Error(`${ATT_MANIFEST} has no layer`);
  return {
    kind: 'cosign-attestation',
    source: `${ATT_MANIFEST}#layers[0]`,
    envelope: fixtureBytes(`${GENERATOR}${layer.digest.slice('sha256:'.length)}`),
    annotations: layer.annotations,
  };
}

/** The DSSE envelope JSON of an evidence layer, to edit. */
export function envelopeOf(evidence: AttestationEvidence): {
  payloadType: string;
  payload: string;
  signatures: { keyid?: string; sig: string }[];
} {
  return JSON.parse(Buffer.from(evidence.envelope).toString('utf8')) as ReturnType<typeof envelopeOf>;
}

export function withEnvelope(evidence: AttestationEvidence, envelope: object): AttestationEvidence {
  return { ...evidence, envelope: Buffer.from(JSON.stringify(envelope)) };
}

export interface TestSigner {
  readonly privateKey: KeyObject;
  readonly publicKeyPem: string;
}

/** A fresh ECDSA P-256 key, as `cosign generate-key-pair` makes. */
export function testSigner(): TestSigner {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/**
 * A cosign-2-style key-signed `.att` layer (no certificate, no Rekor bundle): a DSSE envelope whose one
 * signature is ECDSA-SHA256 over the PAE of `statement`.
 */
export function keySignedAttestation(
  signer: TestSigner,
  statement: object,
  options: { payloadType?: string; predicateType?: string } = {},
): AttestationEvidence {
  const payloadType = options.payloadType ?? 'application/vnd.in-toto+json';
  const payload = Buffer.from(JSON.stringify(statement));
  const sig = sign('sha256', dsse.preAuthEncoding(payloadType, payload), signer.privateKey);
  const predicateType =
    options.predicateType ?? (statement as { predicateType?: string }).predicateType ?? 'unknown';
  return {
    kind: 'cosign-attestation',
    source: 'test.att layer 0',
    envelope: Buffer.from(
      JSON.stringify({
        payloadType,
        payload: payload.toString('base64'),
        signatures: [{ keyid: '', sig: sig.toString('base64') }],
      }),
    ),
    annotations: { 'dev.cosignproject.cosign/signature': '', predicateType },
  };
}
