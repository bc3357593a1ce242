import { beforeAll, describe, expect, it } from 'vitest';
import { assessCertificate, type StoredCertificate } from './assess.js';
import { generateWebhookCertificate, serviceDnsNames, type WebhookCertificate } from './generate.js';

const DAY = 86_400_000;
const ISSUED = Date.parse('2026-03-01T00:00:00Z');
const names = serviceDnsNames('provenant', 'provenant-system');
const expect90 = { dnsNames: names, renewBeforeMs: 30 * DAY };

let cert: WebhookCertificate;
let other: WebhookCertificate;
beforeAll(async () => {
  cert = await generateWebhookCertificate({ dnsNames: names, validityDays: 90, now: new Date(ISSUED) });
  other = await generateWebhookCertificate({ dnsNames: names, validityDays: 90, now: new Date(ISSUED) });
});

const stored = (c: WebhookCertificate, patch: Partial<StoredCertificate> = {}): StoredCertificate => ({
  caPem: c.caPem,
  certPem: c.certPem,
  keyPem: c.keyPem,
  ...patch,
});

describe('assessCertificate', () => {
  it('keeps a fresh certificate and says when to renew it', () => {
    const result = assessCertificate(stored(cert), expect90, ISSUED + DAY);
    expect(result).toEqual({
      action: 'keep',
      notAfter: new Date(ISSUED + 90 * DAY),
      renewAt: new Date(ISSUED + 60 * DAY),
    });
  });

  it.each([
    ['just before the renewal margin', 60 * DAY - 1, 'keep'],
    ['at the renewal margin', 60 * DAY, 'renew'],
    ['after expiry', 91 * DAY, 'renew'],
  ])('%s → %s', (_, offset, action) => {
    const result = assessCertificate(stored(cert), expect90, ISSUED + offset);
    expect(result.action).toBe(action);
    if (result.action === 'renew') expect(result.reason).toBe('expiring');
  });

  it('renews when nothing, or only part, is stored', () => {
    expect(assessCertificate(undefined, expect90, ISSUED)).toMatchObject({
      action: 'renew',
      reason: 'missing',
    });
    expect(assessCertificate(stored(cert, { keyPem: '' }), expect90, ISSUED)).toMatchObject({
      reason: 'missing',
    });
    expect(assessCertificate(stored(cert, { caPem: undefined }), expect90, ISSUED)).toMatchObject({
      reason: 'missing',
    });
  });

  it('renews a certificate for other names', () => {
    const result = assessCertificate(
      stored(cert),
      { ...expect90, dnsNames: serviceDnsNames('provenant', 'other') },
      ISSUED,
    );
    expect(result).toMatchObject({ action: 'renew', reason: 'wrong-names' });
  });

  it('renews a garbled certificate or a key from another pair', () => {
    expect(assessCertificate(stored(cert, { certPem: 'garbage' }), expect90, ISSUED)).toMatchObject({
      reason: 'malformed',
    });
    expect(assessCertificate(stored(cert, { keyPem: other.keyPem }), expect90, ISSUED)).toMatchObject({
      reason: 'malformed',
    });
  });

  it('renews a certificate that does not chain to the stored CA', () => {
    expect(assessCertificate(stored(cert, { caPem: other.caPem }), expect90, ISSUED)).toMatchObject({
      reason: 'untrusted',
    });
  });

  it('accepts a bundle where the issuing CA is not the first', () => {
    expect(
      assessCertificate(stored(cert, { caPem: other.caPem + cert.caPem }), expect90, ISSUED).action,
    ).toBe('keep');
  });

  it('renews a certificate from the future (a clock that jumped back)', () => {
    expect(assessCertificate(stored(cert), expect90, ISSUED - DAY)).toMatchObject({
      reason: 'not-yet-valid',
    });
  });
});
