import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isReasonCode, ProvenantError, REASONS, toProvenantError } from './errors.js';

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
