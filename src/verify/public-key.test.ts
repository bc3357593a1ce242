import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ProvenantError } from '../errors.js';
import { fixtureJson, fixtureText } from '../../test/support/fixtures.js';
import { compileKeyAuthority } from './key-authority.js';
import { parsePublicKeyPem, validatePublicKeyPem } from './public-key.js';

const KEYS = 'generated/cosign-key-types/keys/';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof ProvenantError ? err.code : 'not a ProvenantError';
  }
}

describe('parsePublicKeyPem', () => {
  it.each([
    ['ecdsa-p256', 'ecdsa-p256'],
    ['ecdsa-p384', 'ecdsa-p384'],
    ['ecdsa-p521', 'ecdsa-p521'],
    ['rsa-2048', 'rsa-2048'],
    ['ed25519', 'ed25519'],
  ])('parses the cosign-imported %s key', (file, keyType) => {
    expect(parsePublicKeyPem(fixtureText(`${KEYS}${file}.pub`)).keyType).toBe(keyType);
  });

  it('computes the key id cosign writes as the bundle publicKey.hint', () => {
    const bundle = fixtureJson<{ verificationMaterial: { publicKey: { hint: string } } }>(
      'generated/cosign-key-types/bundles/ecdsa-p384.sigstore.json',
    );
    expect(parsePublicKeyPem(fixtureText(`${KEYS}ecdsa-p384.pub`)).keyId).toBe(
      bundle.verificationMaterial.publicKey.hint,
    );
  });

  it('rejects the corrupted conformance key (managed-key-wrong-key_fail) with INVALID_POLICY', () => {
    const pem = fixtureText('conformance/bundle-verify/managed-key-wrong-key_fail/key.pub');
    expect(codeOf(() => compileKeyAuthority('wrong', pem))).toBe('INVALID_POLICY');
    expect(validatePublicKeyPem(pem)).toMatch(/public key/);
  });

  it.each([
    ['empty text', ''],
    ['no PEM block', 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE'],
    ['two keys', fixtureText(`${KEYS}ecdsa-p256.pub`) + fixtureText(`${KEYS}rsa-2048.pub`)],
    ['a certificate', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'],
    [
      'a private key',
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
        type: 'pkcs8',
        format: 'pem',
      }) as string,
    ],
    [
      'a 1024-bit RSA key',
      generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({
        type: 'spki',
        format: 'pem',
      }) as string,
    ],
    [
      'a secp256k1 key',
      generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({
        type: 'spki',
        format: 'pem',
      }) as string,
    ],
    [
      'an X25519 key',
      generateKeyPairSync('x25519').publicKey.export({ type: 'spki', format: 'pem' }) as string,
    ],
  ])('rejects %s with INVALID_POLICY', (_, pem) => {
    expect(codeOf(() => parsePublicKeyPem(pem))).toBe('INVALID_POLICY');
    expect(validatePublicKeyPem(pem)).toBeTypeOf('string');
  });

  it('never echoes private key material in its message', () => {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const body = pem.split('\n')[1] ?? '';
    expect(validatePublicKeyPem(pem)).not.toContain(body.slice(0, 16));
  });
});
