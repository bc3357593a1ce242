/**
 * Strict UTF-8 decoding of outside bytes: invalid sequences throw a TypeError instead of becoming U+FFFD, and a
 * leading byte order mark stays in the text (so JSON.parse refuses it, as Go's decoder in cosign and the API
 * server does), so a signed or hashed document is never read as other text than its bytes say.
 */

// Without `stream`, decode() keeps no state between calls (a truncated sequence at the end throws rather than
// waiting for more bytes), so one instance serves every caller.
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The text of `bytes`, every code point of them; throws a TypeError if they are not valid UTF-8. */
export function decodeStrictUtf8(bytes: Uint8Array): string {
  return STRICT_UTF8.decode(bytes);
}
