import { createHash, type KeyObject } from 'node:crypto';

/**
 * Ed25519ph (RFC 8032 §5.1, prehashed with SHA-512, empty context). cosign 3 signs DSSE statements with
 * an Ed25519 key this way (sigstore-go's PKIX_ED25519_PH default), but node:crypto only offers pure
 * Ed25519, which cosign 2 uses for legacy `.sig` layers. Pure Ed25519 always goes through node:crypto;
 * this module is used only for the prehashed variant. Inputs are public, so no constant-time care.
 * Like Go's crypto/ed25519, the check is cofactorless: encode([S]B - [k]A) must equal R.
 */

const P = (1n << 255n) - 19n;
const L = (1n << 252n) + 27742317777372353535851937790883648493n;
// Curve constants as literals rather than computed at import, which every command would pay for (a test
// derives them again): d = -121665/121666 mod p, and sqrt(-1) = 2^((p-1)/4) mod p.
export const D = 37095705934669439343138083508754565189542113879843219016388785533085940283555n;
export const SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752n;
const DOM2_PH = Buffer.concat([
  Buffer.from('SigEd25519 no Ed25519 collisions', 'ascii'),
  Buffer.from([1, 0]),
]);

/** Extended coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z, xy = T/Z. */
type Point = readonly [bigint, bigint, bigint, bigint];

const IDENTITY: Point = [0n, 1n, 1n, 0n];
let base: Point | undefined;
/** The base point B (y = 4/5), decoded on first use. */
function basePoint(): Point | undefined {
  base ??= decodePoint(encodeY(mod(4n * modPow(5n, P - 2n)), 0));
  return base;
}

/** True when `signature` is an Ed25519ph signature by `key` over the message whose SHA-512 is `sha512`. */
export function verifyEd25519phDigest(key: KeyObject, sha512: Uint8Array, signature: Uint8Array): boolean {
  if (key.asymmetricKeyType !== 'ed25519' || sha512.length !== 64 || signature.length !== 64) return false;
  const x = key.export({ format: 'jwk' }).x;
  const BASE = basePoint();
  if (x === undefined || BASE === undefined) return false;
  const publicKey = Buffer.from(x, 'base64url');
  const a = decodePoint(publicKey);
  if (a === undefined) return false;
  const rBytes = signature.subarray(0, 32);
  const s = littleEndian(signature.subarray(32));
  if (s >= L) return false;
  const k = mod(
    littleEndian(
      createHash('sha512').update(DOM2_PH).update(rBytes).update(publicKey).update(sha512).digest(),
    ),
    L,
  );
  const negA: Point = [mod(-a[0]), a[1], a[2], mod(-a[3])];
  const candidate = add(multiply(s, BASE), multiply(k, negA));
  return Buffer.from(encodePoint(candidate)).equals(Buffer.from(rBytes));
}

/** Ed25519ph over a whole message. */
export function verifyEd25519ph(key: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  return verifyEd25519phDigest(key, createHash('sha512').update(message).digest(), signature);
}

function add(p: Point, q: Point): Point {
  const a = mod((p[1] - p[0]) * (q[1] - q[0]));
  const b = mod((p[1] + p[0]) * (q[1] + q[0]));
  const c = mod(2n * D * p[3] * q[3]);
  const d = mod(2n * p[2] * q[2]);
  const [e, f, g, h] = [b - a, d - c, d + c, b + a];
  return [mod(e * f), mod(g * h), mod(f * g), mod(e * h)];
}

function multiply(scalar: bigint, point: Point): Point {
  let result = IDENTITY;
  let addend = point;
  for (let k = scalar; k > 0n; k >>= 1n) {
    if ((k & 1n) === 1n) result = add(result, addend);
    addend = add(addend, addend);
  }
  return result;
}

function decodePoint(bytes: Uint8Array): Point | undefined {
  if (bytes.length !== 32) return undefined;
  const sign = (bytes[31] ?? 0) >> 7;
  const y = littleEndian(bytes) & ((1n << 255n) - 1n);
  if (y >= P) return undefined;
  const u = mod(y * y - 1n);
  const v = mod(D * y * y + 1n);
  let x = mod(u * modPow(v, 3n) * modPow(u * modPow(v, 7n), (P - 5n) / 8n));
  const vxx = mod(v * x * x);
  if (vxx !== u) {
    if (vxx !== mod(-u)) return undefined;
    x = mod(x * SQRT_M1);
  }
  if (x === 0n && sign === 1) return undefined;
  if (Number(x & 1n) !== sign) x = P - x;
  return [x, y, 1n, mod(x * y)];
}

function encodePoint(point: Point): Uint8Array {
  const zInv = modPow(point[2], P - 2n);
  const x = mod(point[0] * zInv);
  const y = mod(point[1] * zInv);
  return encodeY(y, Number(x & 1n));
}

function encodeY(y: bigint, sign: number): Uint8Array {
  const out = new Uint8Array(32);
  let v = y;
  for (let i = 0; i < 32; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  out[31] = (out[31] ?? 0) | (sign << 7);
  return out;
}

function littleEndian(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i] ?? 0);
  return v;
}

function mod(a: bigint, m: bigint = P): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

function modPow(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  for (let e = exponent; e > 0n; e >>= 1n) {
    if ((e & 1n) === 1n) result = mod(result * b);
    b = mod(b * b);
  }
  return result;
}
