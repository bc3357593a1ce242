import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { ProvenantError } from '../errors.js';

/** A public key parsed once, with the identifiers Sigstore and people use for it. */
export interface ParsedPublicKey {
  readonly key: KeyObject;
  /** Base64 sha256 of the DER SubjectPublicKeyInfo: cosign's bundle `publicKey.hint`. */
  readonly keyId: string;
  /** `sha256:<hex>` of the DER SubjectPublicKeyInfo. */
  readonly fingerprint: string;
  /** `ecdsa-p256`, `ecdsa-p384`, `ecdsa-p521`, `rsa-<bits>` or `ed25519`. */
  readonly keyType: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

// cosign's supported key details (pkg/cosign/keys.go): anything else is refused at policy time so that
// a typo'd or exotic key fails loudly instead of never verifying.
const CURVES: Readonly<Record<string, string>> = {
  prime256v1: 'ecdsa-p256',
  secp384r1: 'ecdsa-p384',
  secp521r1: 'ecdsa-p521',
};
const RSA_MIN_BITS = 2048;
const RSA_MAX_BITS = 4096;

/**
 * Parses a PEM SubjectPublicKeyInfo and checks it is a key type cosign signs with. Throws
 * ProvenantError('INVALID_POLICY') saying what is wrong; the message never repeats the key material.
 */
export function parsePublicKeyPem(pem: string): ParsedPublicKey {
  const problem = checkPem(pem);
  if (problem !== undefined) throw new ProvenantError('INVALID_POLICY', problem);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new ProvenantError('INVALID_POLICY', `public key is not a parseable SubjectPublicKeyInfo PEM`, {
      cause: err,
    });
  }
  const keyType = describeKey(key);
  const der = key.export({ type: 'spki', format: 'der' });
  const digest = createHash('sha256').update(der).digest();
  return { key, keyType, keyId: digest.toString('base64'), fingerprint: `sha256:${digest.toString('hex')}` };
}

/** For the policy validator: undefined when the PEM is an acceptable public key, else what is wrong with it. */
export function validatePublicKeyPem(pem: string): string | undefined {
  try {
    parsePublicKeyPem(pem);
    return undefined;
  } catch (err) {
    return err instanceof ProvenantError ? err.message : 'public key cannot be parsed';
  }
}

/** Names a key for messages, e.g. `ecdsa-p256 sha256:1f2e…`; fingerprints are public, never secret. */
export function describePublicKey(parsed: ParsedPublicKey): string {
  return `${parsed.keyType} ${parsed.fingerprint}`;
}

/** Sigstore key id and fingerprint of any key object (e.g. a certificate's), to compare with an authority's. */
export function keyIdOf(key: KeyObject): string {
  return createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest('base64');
}

function checkPem(pem: string): string | undefined {
  if (typeof pem !== 'string' || pem.trim() === '') return 'public key is empty';
  const blocks = [...pem.matchAll(PEM_BLOCK)];
  if (blocks.length === 0) return 'public key is not PEM: expected "-----BEGIN PUBLIC KEY-----"';
  if (blocks.length > 1) return `public key holds ${blocks.length} PEM blocks; give exactly one public key`;
  const label = blocks[0]?.[1] ?? '';
  if (label.includes('PRIVATE')) return `PEM block is a ${label}; give the public key, never the private key`;
  if (label !== 'PUBLIC KEY') return `PEM block is "${label}"; expected "PUBLIC KEY" (SubjectPublicKeyInfo)`;
  if (pem.replace(PEM_BLOCK, '').trim() !== '') return 'public key has text outside its PEM block';
  return undefined;
}

function describeKey(key: KeyObject): string {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = CURVES[details.namedCurve ?? ''];
      if (curve === undefined) {
        throw new ProvenantError(
          'INVALID_POLICY',
          `ECDSA public key on curve ${details.namedCurve ?? 'unknown'}; expected P-256, P-384 or P-521`,
        );
      }
      return curve;
    }
    case 'rsa': {
      const bits = details.modulusLength ?? 0;
      if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
        throw new ProvenantError(
          'INVALID_POLICY',
          `RSA public key has ${bits} bits; expected ${RSA_MIN_BITS} to ${RSA_MAX_BITS}`,
        );
      }
      return `rsa-${bits}`;
    }
    case 'ed25519':
      return 'ed25519';
    default:
      throw new ProvenantError(
        'INVALID_POLICY',
        `public key type ${key.asymmetricKeyType ?? 'unknown'} is not supported; expected ECDSA, RSA or Ed25519`,
      );
  }
}
