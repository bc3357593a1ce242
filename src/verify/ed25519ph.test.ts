import { createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { dsse } from '@sigstore/core';
import { bundleFromJSON } from '@sigstore/bundle';
import { fixtureJson, fixtureText } from '../../test/support/fixtures.js';
import { D, SQRT_M1, verifyEd25519ph, verifyEd25519phDigest } from './ed25519ph.js';

// RFC 8032 §7.3, test vector "TEST abc" for Ed25519ph.
const RFC_PUBLIC = 'ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf';
const RFC_SIGNATURE =
  '98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406';
const rfcKey = createPublicKey({
  key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(RFC_PUBLIC, 'hex').toString('base64url') },
  format: 'jwk',
});

describe('verifyEd25519ph', () => {
  it('accepts the RFC 8032 Ed25519ph test vector', () => {
    expect(verifyEd25519ph(rfcKey, Buffer.from('abc'), Buffer.from(RFC_SIGNATURE, 'hex'))).toBe(true);
  });

  it('rejects the vector with another message, a flipped signature bit, or S >= L', () => {
    const sig = Buffer.from(RFC_SIGNATURE, 'hex');
    expect(verifyEd25519ph(rfcKey, Buffer.from('abd'), sig)).toBe(false);
    const flipped = Buffer.from(sig);
    flipped[5] = (flipped[5] ?? 0) ^ 1;
    expect(verifyEd25519ph(rfcKey, Buffer.from('abc'), flipped)).toBe(false);
    const highS = Buffer.from(sig);
    highS.fill(0xff, 32);
    expect(verifyEd25519ph(rfcKey, Buffer.from('abc'), highS)).toBe(false);
  });

  it('accepts the real cosign 3 Ed25519 DSSE signature (which is Ed25519ph over the PAE)', () => {
    const dir = 'generated/cosign-key-types/';
    const bundle = bundleFromJSON(fixtureJson(`${dir}bundles/ed25519.sigstore.json`));
    if (bundle.content.$case !== 'dsseEnvelope') throw new Error('fixture must be DSSE');
    const env = bundle.content.dsseEnvelope;
    const key = createPublicKey(fixtureText(`${dir}keys/ed25519.pub`));
    const pae = dsse.preAuthEncoding(env.payloadType, env.payload);
    expect(verifyEd25519ph(key, pae, env.signatures[0]?.sig ?? Buffer.alloc(0))).toBe(true);
    expect(verifyEd25519ph(key, env.payload, env.signatures[0]?.sig ?? Buffer.alloc(0))).toBe(false);
  });

  it('does not accept a pure Ed25519 signature as Ed25519ph (domain separation)', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const message = Buffer.from('payload');
    expect(verifyEd25519ph(publicKey, message, sign(null, message, privateKey))).toBe(false);
  });

  it('refuses keys of other types and wrong lengths', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(verifyEd25519phDigest(publicKey, Buffer.alloc(64), Buffer.alloc(64))).toBe(false);
    expect(verifyEd25519phDigest(rfcKey, Buffer.alloc(32), Buffer.from(RFC_SIGNATURE, 'hex'))).toBe(false);
  });
});

describe('the curve constants written as literals', () => {
  const p = (1n << 255n) - 19n;
  const mod = (a: bigint) => ((a % p) + p) % p;
  const pow = (b: bigint, e: bigint): bigint => {
    let result = 1n;
    for (let base = mod(b), k = e; k > 0n; k >>= 1n, base = mod(base * base)) {
      if ((k & 1n) === 1n) result = mod(result * base);
    }
    return result;
  };

  it('d is -121665/121666 mod p and sqrt(-1) squares to -1', () => {
    expect(D).toBe(mod(-121665n * pow(121666n, p - 2n)));
    expect(SQRT_M1).toBe(pow(2n, (p - 1n) / 4n));
    expect(mod(SQRT_M1 * SQRT_M1)).toBe(p - 1n);
  });
});
