import { ProvenantError, quoted } from '../errors.js';
import { X509Certificate } from '@sigstore/core';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict standard base64 (Go's StdEncoding, which cosign uses); undefined when the text is not exactly that. */
export function decodeBase64(text: string): Buffer<ArrayBuffer> | undefined {
  return BASE64.test(text) ? Buffer.from(text, 'base64') : undefined;
}

// One alphabet or the other, never mixed, with at most the padding that completes the last quantum.
const DSSE_BASE64 = /^(?:[A-Za-z0-9+/]*|[A-Za-z0-9_-]*)={0,2}$/;

/**
 * DSSE allows standard or URL-safe base64, padded or not (secure-systems-lab/dsse envelope.md); undefined when
 * the text is neither. Returns the bytes, so callers re-encode them canonically rather than pass the text on.
 */
export function decodeDsseBase64(text: string): Buffer<ArrayBuffer> | undefined {
  if (!DSSE_BASE64.test(text)) return undefined;
  const bare = text.replace(/=+$/, '');
  if (bare.length % 4 === 1 || (bare.length !== text.length && text.length % 4 !== 0)) return undefined;
  // Node's base64 decoder reads both alphabets.
  return Buffer.from(bare, 'base64');
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END CERTIFICATE-----/g;

/** Every CERTIFICATE block of a PEM text as a parsed certificate; undefined when any block is malformed. */
export function parsePemCertificates(pem: string): X509Certificate[] | undefined {
  const certificates: X509Certificate[] = [];
  for (const match of pem.matchAll(PEM_CERTIFICATE)) {
    const der = decodeBase64((match[1] ?? '').replace(/\s+/g, ''));
    if (der === undefined || der.length === 0) return undefined;
    try {
      certificates.push(X509Certificate.parse(der));
    } catch {
      return undefined;
    }
  }
  return certificates;
}

/** `sha256:<hex>` split into the in-toto digest name and the lowercase hex. */
export interface ImageDigest {
  readonly algorithm: 'sha256' | 'sha384' | 'sha512';
  readonly hex: string;
  readonly text: string;
}

const DIGEST = /^(sha256|sha384|sha512):([0-9a-f]+)$/;
const HEX_LENGTH = { sha256: 64, sha384: 96, sha512: 128 } as const;

/** The digest of the image being admitted; a malformed one is the caller's error (INVALID_REFERENCE). */
export function requireImageDigest(text: string): ImageDigest {
  const digest = parseImageDigest(text);
  if (digest === undefined) {
    throw new ProvenantError('INVALID_REFERENCE', `image digest ${quoted(text)} is not <algorithm>:<hex>`);
  }
  return digest;
}

export function parseImageDigest(text: string): ImageDigest | undefined {
  const match = DIGEST.exec(text);
  const algorithm = match?.[1] as ImageDigest['algorithm'] | undefined;
  const hex = match?.[2];
  if (algorithm === undefined || hex === undefined || hex.length !== HEX_LENGTH[algorithm]) return undefined;
  return { algorithm, hex, text };
}
