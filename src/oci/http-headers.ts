/** The first value of a header that undici may hand over as a list. */
export function firstHeader(value: string | readonly string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : value?.[0];
}

/**
 * Milliseconds a `Retry-After` value asks us to wait: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
 * Undefined when absent or unreadable, so the caller falls back to its own backoff.
 */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d{1,9}$/.test(text)) return Number(text) * 1000;
  // Date.parse also reads loose formats; insisting on a day-name prefix keeps to HTTP-date's three forms.
  if (!/^[A-Za-z]{3,9},? /.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * The target of `Link: <…>; rel="next"` resolved against the request URL (distribution-spec pagination).
 * Several links may share one header, separated by commas outside the angle brackets.
 */
export function parseNextLink(value: string | readonly string[] | undefined, base: URL): URL | undefined {
  const values = value === undefined ? [] : typeof value === 'string' ? [value] : value;
  for (const header of values) {
    for (const match of header.matchAll(/<([^>]*)>([^,<]*)/g)) {
      const [, target = '', params = ''] = match;
      const rels = /(?:^|;)\s*rel\s*=\s*(?:"([^"]*)"|([^\s;]+))/i.exec(params);
      const rel = rels?.[1] ?? rels?.[2] ?? '';
      if (!rel.toLowerCase().split(/\s+/).includes('next')) continue;
      try {
        return new URL(target, base);
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
