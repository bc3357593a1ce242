import type { KeyObject } from 'node:crypto';

/**
 * ECDSA verification over a digest the caller already has (FIPS 186-5 §6.4.2). node:crypto can only verify
 * over a message it hashes itself, but a Sigstore message signature checked against `sha256:<hex>` (the
 * conformance CLI, or an image digest) has no message. Everything here is public data, so plain BigInt
 * arithmetic without constant-time care is fine. Tests cross-check it against node:crypto signatures.
 */

interface Curve {
  readonly p: bigint;
  readonly b: bigint;
  readonly n: bigint;
  readonly gx: bigint;
  readonly gy: bigint;
}

// Parameters as printed by `openssl ecparam -param_enc explicit`; all three curves have a = -3.
const CURVES: Readonly<Record<string, Curve>> = {
  prime256v1: {
    p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
    n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    gx: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
    gy: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
  },
  secp384r1: {
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    gx: 0xaa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7n,
    gy: 0x3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5fn,
  },
  secp521r1: {
    p: (1n << 521n) - 1n,
    b: 0x0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00n,
    n: 0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
    gx: 0x00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66n,
    gy: 0x011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650n,
  },
};

/** Jacobian point; z = 0 is the point at infinity. */
type Point = readonly [x: bigint, y: bigint, z: bigint];

/** True when `signature` (ASN.1 DER, as cosign and Sigstore write it) signs `digest` for the EC `key`. */
export function verifyEcdsaDigest(key: KeyObject, digest: Uint8Array, signature: Uint8Array): boolean {
  if (key.asymmetricKeyType !== 'ec') return false;
  const curve = CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
  if (curve === undefined) return false;
  const rs = parseDerSignature(signature);
  if (rs === undefined) return false;
  const [r, s] = rs;
  const { n } = curve;
  if (r < 1n || r >= n || s < 1n || s >= n) return false;

  const jwk = key.export({ format: 'jwk' });
  if (jwk.x === undefined || jwk.y === undefined) return false;
  const q: Point = [toBigInt(Buffer.from(jwk.x, 'base64url')), toBigInt(Buffer.from(jwk.y, 'base64url')), 1n];

  const e = leftmostBits(digest, bitLength(n));
  const w = modInverse(s, n);
  const u1 = mod(e * w, n);
  const u2 = mod(r * w, n);
  const sum = shamir(curve, u1, [curve.gx, curve.gy, 1n], u2, q);
  if (sum[2] === 0n) return false;
  const zInv = modInverse(sum[2], curve.p);
  const x = mod(sum[0] * zInv * zInv, curve.p);
  return mod(x, n) === r;
}

/** Exposed for tests: the curve's generator times its order must be the point at infinity. */
export function generatorOrderIsInfinity(namedCurve: string): boolean {
  const curve = CURVES[namedCurve];
  if (curve === undefined) return false;
  const g: Point = [curve.gx, curve.gy, 1n];
  const onCurve =
    mod(curve.gy * curve.gy, curve.p) ===
    mod(curve.gx * curve.gx * curve.gx - 3n * curve.gx + curve.b, curve.p);
  return onCurve && shamir(curve, curve.n, g, 0n, g)[2] === 0n;
}

function shamir(curve: Curve, k1: bigint, p1: Point, k2: bigint, p2: Point): Point {
  const both = add(curve, p1, p2);
  let acc: Point = [1n, 1n, 0n];
  const bits = Math.max(bitLength(k1), bitLength(k2));
  for (let i = bits - 1; i >= 0; i--) {
    acc = double(curve, acc);
    const b1 = (k1 >> BigInt(i)) & 1n;
    const b2 = (k2 >> BigInt(i)) & 1n;
    if (b1 === 1n && b2 === 1n) acc = add(curve, acc, both);
    else if (b1 === 1n) acc = add(curve, acc, p1);
    else if (b2 === 1n) acc = add(curve, acc, p2);
  }
  return acc;
}

// dbl-2001-b, valid for a = -3.
function double(curve: Curve, [x, y, z]: Point): Point {
  const { p } = curve;
  if (z === 0n || y === 0n) return [1n, 1n, 0n];
  const delta = mod(z * z, p);
  const gamma = mod(y * y, p);
  const beta = mod(x * gamma, p);
  const alpha = mod(3n * (x - delta) * (x + delta), p);
  const x3 = mod(alpha * alpha - 8n * beta, p);
  const z3 = mod((y + z) * (y + z) - gamma - delta, p);
  const y3 = mod(alpha * (4n * beta - x3) - 8n * gamma * gamma, p);
  return [x3, y3, z3];
}

function add(curve: Curve, a: Point, b: Point): Point {
  const { p } = curve;
  if (a[2] === 0n) return b;
  if (b[2] === 0n) return a;
  const z1z1 = mod(a[2] * a[2], p);
  const z2z2 = mod(b[2] * b[2], p);
  const u1 = mod(a[0] * z2z2, p);
  const u2 = mod(b[0] * z1z1, p);
  const s1 = mod(a[1] * b[2] * z2z2, p);
  const s2 = mod(b[1] * a[2] * z1z1, p);
  const h = mod(u2 - u1, p);
  const r = mod(s2 - s1, p);
  if (h === 0n) return r === 0n ? double(curve, a) : [1n, 1n, 0n];
  const hh = mod(h * h, p);
  const hhh = mod(hh * h, p);
  const x3 = mod(r * r - hhh - 2n * u1 * hh, p);
  const y3 = mod(r * (u1 * hh - x3) - s1 * hhh, p);
  const z3 = mod(h * a[2] * b[2], p);
  return [x3, y3, z3];
}

/** Strict DER `SEQUENCE { INTEGER r, INTEGER s }`: minimal lengths, positive minimal integers, nothing after. */
function parseDerSignature(sig: Uint8Array): [bigint, bigint] | undefined {
  let pos = 0;
  const readLength = (): number | undefined => {
    const first = sig[pos++];
    if (first === undefined) return undefined;
    if (first < 0x80) return first;
    if (first !== 0x81) return undefined; // P-521 signatures fit in one extra length byte
    const len = sig[pos++];
    return len !== undefined && len >= 0x80 ? len : undefined;
  };
  const readInteger = (): bigint | undefined => {
    if (sig[pos++] !== 0x02) return undefined;
    const len = readLength();
    if (len === undefined || len === 0 || pos + len > sig.length) return undefined;
    const bytes = sig.subarray(pos, pos + len);
    pos += len;
    const [b0, b1] = [bytes[0] ?? 0, bytes[1] ?? 0];
    if (b0 >= 0x80) return undefined;
    if (b0 === 0 && len > 1 && b1 < 0x80) return undefined;
    return toBigInt(bytes);
  };
  if (sig[pos++] !== 0x30) return undefined;
  const total = readLength();
  if (total === undefined || pos + total !== sig.length) return undefined;
  const r = readInteger();
  const s = readInteger();
  if (r === undefined || s === undefined || pos !== sig.length) return undefined;
  return [r, s];
}

function leftmostBits(digest: Uint8Array, bits: number): bigint {
  const value = toBigInt(digest);
  const digestBits = digest.length * 8;
  return digestBits > bits ? value >> BigInt(digestBits - bits) : value;
}

function toBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
}

function bitLength(v: bigint): number {
  return v === 0n ? 0 : v.toString(2).length;
}

function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [mod(a, m), m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return mod(oldS, m);
}
