import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  isReasonCode,
  MAX_MESSAGE_CHARS,
  ProvenantError,
  quoted,
  REASONS,
  toProvenantError,
} from './errors.js';

describe('reason codes', () => {
  it('are UPPER_SNAKE_CASE', () => {
    for (const code of Object.keys(REASONS)) expect(code).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
  });

  // Codes are API: docs/reasons.md documents each one, and only those.
  it('are exactly the codes documented in docs/reasons.md', () => {
    const doc = readFileSync(new URL('../docs/reasons.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/^### `([A-Z_0-9]+)`/gm)].map((m) => m[1]);
    expect([...documented].sort()).toEqual(Object.keys(REASONS).sort());
  });
});

describe('toProvenantError', () => {
  it('keeps a ProvenantError as it is', () => {
    const err = new ProvenantError('NO_SIGNATURE', 'x');
    expect(toProvenantError(err)).toBe(err);
  });

  it('maps an abort to TIMEOUT and anything else to the fallback code', () => {
    const abort = new DOMException('aborted', 'AbortError');
    expect(toProvenantError(abort).code).toBe('TIMEOUT');
    expect(toProvenantError(new Error('boom')).code).toBe('INTERNAL_ERROR');
    expect(toProvenantError('text', 'REGISTRY_UNAVAILABLE').code).toBe('REGISTRY_UNAVAILABLE');
    expect(isReasonCode('NO_SIGNATURE')).toBe(true);
    expect(isReasonCode('toString')).toBe(false);
  });
});

describe('messages quoting outside values stay small', () => {
  it('a ProvenantError keeps at most MAX_MESSAGE_CHARS of its message', () => {
    const err = new ProvenantError('SIGNATURE_INVALID', `bundle mediaType ${'x'.repeat(4_000_000)}`);
    expect(err.message.length).toBeLessThan(MAX_MESSAGE_CHARS + 20);
    expect(err.message).toMatch(/^bundle mediaType x+… \(truncated\)$/);
    expect(new ProvenantError('SIGNATURE_INVALID', 'short').message).toBe('short');
  });

  it('quoted() cuts a long value and says how long it was', () => {
    expect(quoted('application/vnd.in-toto+json')).toBe('"application/vnd.in-toto+json"');
    expect(quoted('y'.repeat(1000))).toBe(`"${'y'.repeat(127)}… (1002 characters)`);
    expect(quoted(undefined)).toBe('undefined');
  });
});
