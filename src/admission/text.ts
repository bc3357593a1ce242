/**
 * Makes foreign text safe to put in a deny message, a warning header or an audit annotation. Image names,
 * container names and verifier messages can come from an attacker's manifest or registry: control and bidi
 * characters could forge extra lines or reorder what kubectl shows, and a credential must never be echoed.
 */

// Bidi overrides/isolates, zero-width characters and the BOM: invisible, and able to make text read differently.
const INVISIBLE = /[\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF]/g;
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/g;
const LINE_BREAKS = /[\t\n\r\u2028\u2029]+/g;

const SECRET_PATTERNS: readonly (readonly [RegExp, string])[] = [
  [
    /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g,
    '[private key redacted]',
  ],
  // user:password@ in URLs
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, '$1***@'],
  [/\b((?:proxy-)?authorization)(\s*[:=]\s*)(?:(?:bearer|basic)\s+)?\S+/gi, '$1$2***'],
  [/\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, '$1 ***'],
  [
    /\b(password|passwd|pwd|token|access_token|refresh_token|id_token|client_secret|api[_-]?key)(["']?\s*[:=]\s*["']?)[^\s"'&,;]+/gi,
    '$1$2***',
  ],
  // JWTs (three base64url segments starting with a JSON header)
  [/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g, '***'],
];

/** One line of printable text: breaks become spaces, control and invisible characters go, secrets are masked. */
export function sanitizeText(text: string): string {
  let out = text.toWellFormed().replace(LINE_BREAKS, ' ').replace(CONTROL, '').replace(INVISIBLE, '');
  for (const [pattern, replacement] of SECRET_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/** At most `max` code points; the cut is marked with an ellipsis. */
export function truncateRunes(text: string, max: number): string {
  const runes = Array.from(text);
  if (runes.length <= max) return text;
  return runes.slice(0, Math.max(0, max - 1)).join('') + '…';
}

/** Keeps the start and the end (registry and digest tail of an image), cutting the middle. */
export function truncateMiddle(text: string, max: number): string {
  const runes = Array.from(text);
  if (runes.length <= max) return text;
  const keep = Math.max(0, max - 1);
  const head = Math.ceil(keep / 2);
  return runes.slice(0, head).join('') + '…' + runes.slice(runes.length - (keep - head)).join('');
}

export function runeLength(text: string): number {
  return Array.from(text).length;
}

const encoder = new TextEncoder();

export function byteLength(text: string): number {
  return encoder.encode(text).length;
}

/** At most `max` UTF-8 bytes, cut on a code point boundary. */
export function truncateBytes(text: string, max: number): string {
  if (byteLength(text) <= max) return text;
  let out = '';
  let used = 0;
  const ellipsis = byteLength('…');
  for (const rune of text) {
    const size = byteLength(rune);
    if (used + size + ellipsis > max) break;
    out += rune;
    used += size;
  }
  return out + '…';
}
