/**
 * Just enough DER encoding for the test CA's extensions and the test TSA's RFC 3161 responses. Parsing is left
 * to @sigstore/core's ASN1Obj; building is small enough not to pull in an ASN.1 library the project does not
 * otherwise depend on.
 */

export function tlv(tag: number, ...content: Uint8Array[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

export const sequence = (...content: Uint8Array[]): Buffer => tlv(0x30, ...content);

/** SET OF, with members sorted by their encodings as DER requires (signed attributes are checked that way). */
export function setOf(...members: Uint8Array[]): Buffer {
  return tlv(0x31, ...[...members].map((m) => Buffer.from(m)).sort(Buffer.compare));
}

export const octetString = (bytes: Uint8Array): Buffer => tlv(0x04, bytes);
export const utf8String = (text: string): Buffer => tlv(0x0c, Buffer.from(text, 'utf8'));
export const nullValue = (): Buffer => Buffer.from([0x05, 0x00]);

/** Context-specific constructed tag `[n]`, used for EXPLICIT tagging and IMPLICIT constructed types alike. */
export const contextTag = (n: number, ...content: Uint8Array[]): Buffer => tlv(0xa0 | n, ...content);

export function integer(value: bigint | number): Buffer {
  let v = BigInt(value);
  if (v < 0n) throw new Error('negative INTEGERs are not needed here');
  const bytes: number[] = [];
  do {
    bytes.unshift(Number(v & 0xffn));
    v >>= 8n;
  } while (v > 0n);
  // A leading 1 bit would make it negative.
  if ((bytes[0] ?? 0) & 0x80) bytes.unshift(0);
  return tlv(0x02, Buffer.from(bytes));
}

export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((a) => BigInt(a));
  const [first, second, ...rest] = arcs;
  if (first === undefined || second === undefined) throw new Error(`bad OID ${dotted}`);
  const out: number[] = [];
  for (const arc of [first * 40n + second, ...rest]) {
    const chunk: number[] = [];
    let v = arc;
    do {
      chunk.unshift(Number(v & 0x7fn));
      v >>= 7n;
    } while (v > 0n);
    out.push(...chunk.map((b, i) => (i < chunk.length - 1 ? b | 0x80 : b)));
  }
  return tlv(0x06, Buffer.from(out));
}

/** GeneralizedTime with whole seconds, `YYYYMMDDHHMMSSZ`, as RFC 3161 genTime is usually sent. */
export function generalizedTime(date: Date): Buffer {
  return tlv(
    0x18,
    Buffer.from(
      date
        .toISOString()
        .replace(/[-:T]/g, '')
        .replace(/\.\d+Z$/, 'Z'),
      'ascii',
    ),
  );
}

/** UTCTime, `YYMMDDHHMMSSZ`, for CMS signingTime. */
export function utcTime(date: Date): Buffer {
  return tlv(
    0x17,
    Buffer.from(
      date
        .toISOString()
        .slice(2)
        .replace(/[-:T]/g, '')
        .replace(/\.\d+Z$/, 'Z'),
      'ascii',
    ),
  );
}

export function algorithmIdentifier(algorithm: string, withNullParameters = false): Buffer {
  return withNullParameters ? sequence(oid(algorithm), nullValue()) : sequence(oid(algorithm));
}

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
