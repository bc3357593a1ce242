import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { digestsFor, verifyDigest, verifyMessage } from './signature-algorithms.js';

describe('verifyDigest (prehashed)', () => {
  it.each(['sha256', 'sha384', 'sha512'] as const)('verifies RSA PKCS#1 v1.5 over a %s digest', (hash) => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const message = Buffer.from('payload');
    const signature = sign(hash, message, privateKey);
    const digest = createHash(hash).update(message).digest();
    expect(verifyDigest(publicKey, hash, digest, signature)).toBe(true);
    // The DigestInfo names the algorithm: the same bytes under another algorithm label must fail.
    expect(verifyDigest(publicKey, hash === 'sha256' ? 'sha384' : 'sha256', digest, signature)).toBe(false);
    expect(verifyDigest(publicKey, hash, createHash(hash).update('other').digest(), signature)).toBe(false);
  });

  it('fails closed for pure Ed25519: the signature covers the message, not a digest', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const message = Buffer.from('payload');
    const signature = sign(null, message, privateKey);
    expect(verifyDigest(publicKey, 'sha256', createHash('sha256').update(message).digest(), signature)).toBe(
      false,
    );
  });
});

describe('verifyMessage', () => {
  it('verifies pure Ed25519, which @sigstore/core gets wrong by passing a digest name', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const message = Buffer.from('payload');
    expect(verifyMessage(publicKey, message, sign(null, message, privateKey))).toBe(true);
    expect(verifyMessage(publicKey, Buffer.from('other'), sign(null, message, privateKey))).toBe(false);
  });

  it('accepts SHA-256 and the curve hash for P-384, only SHA-256 for P-256', () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const message = Buffer.from('payload');
    expect(digestsFor(p384.publicKey)).toEqual(['sha384', 'sha256']);
    expect(verifyMessage(p384.publicKey, message, sign('sha384', message, p384.privateKey))).toBe(true);
    expect(verifyMessage(p384.publicKey, message, sign('sha256', message, p384.privateKey))).toBe(true);
    expect(verifyMessage(p256.publicKey, message, sign('sha384', message, p256.privateKey))).toBe(false);
  });
});
