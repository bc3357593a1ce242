import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generatorOrderIsInfinity, verifyEcdsaDigest } from './ecdsa-digest.js';

const CURVES = [
  ['P-256', 'prime256v1'],
  ['P-384', 'secp384r1'],
  ['P-521', 'secp521r1'],
] as const;

describe('verifyEcdsaDigest', () => {
  it.each(CURVES)('has correct %s parameters (G on the curve, n·G = infinity)', (_, name) => {
    expect(generatorOrderIsInfinity(name)).toBe(true);
  });

  // node:crypto signs hash(message); our check gets only that hash and must agree with Node every time.
  describe.each(CURVES)('on %s', (namedCurve) => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve });
    it.each(['sha256', 'sha384', 'sha512'] as const)(
      'verifies node:crypto signatures over %s digests',
      (hash) => {
        for (let i = 0; i < 8; i++) {
          const message = Buffer.from(`message ${i} ${namedCurve}`);
          const digest = createHash(hash).update(message).digest();
          const signature = sign(hash, message, privateKey);
          expect(verifyEcdsaDigest(publicKey, digest, signature)).toBe(true);
          const other = createHash(hash).update(`${message.toString()}!`).digest();
          expect(verifyEcdsaDigest(publicKey, other, signature)).toBe(false);
        }
      },
    );

    it('rejects a signature by another key and a corrupted signature', () => {
      const other = generateKeyPairSync('ec', { namedCurve });
      const message = Buffer.from('payload');
      const digest = createHash('sha256').update(message).digest();
      expect(verifyEcdsaDigest(publicKey, digest, sign('sha256', message, other.privateKey))).toBe(false);
      const signature = sign('sha256', message, privateKey);
      const corrupted = Buffer.from(signature);
      corrupted[corrupted.length - 1] = (corrupted[corrupted.length - 1] ?? 0) ^ 1;
      expect(verifyEcdsaDigest(publicKey, digest, corrupted)).toBe(false);
    });
  });

  it('rejects non-DER encodings: raw r||s, trailing bytes, non-minimal integers', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const message = Buffer.from('payload');
    const digest = createHash('sha256').update(message).digest();
    const raw = sign('sha256', message, { key: privateKey, dsaEncoding: 'ieee-p1363' });
    expect(verifyEcdsaDigest(publicKey, digest, raw)).toBe(false);
    const der = sign('sha256', message, privateKey);
    expect(verifyEcdsaDigest(publicKey, digest, Buffer.concat([der, Buffer.from([0])]))).toBe(false);
    const padded = Buffer.from([0x30, (der[1] ?? 0) + 1, 0x02, (der[3] ?? 0) + 1, 0x00, ...der.subarray(4)]);
    expect(verifyEcdsaDigest(publicKey, digest, padded)).toBe(false);
  });

  it('refuses non-EC keys', () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    expect(verifyEcdsaDigest(publicKey, Buffer.alloc(32), Buffer.alloc(8))).toBe(false);
  });
});
