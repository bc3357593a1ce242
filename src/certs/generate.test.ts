import { X509Certificate, createPrivateKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateWebhookCertificate, serviceDnsNames, splitPemBundle } from './generate.js';

const NOW = new Date('2026-03-01T00:00:00Z');
const DAY = 86_400_000;
const names = serviceDnsNames('provenant', 'provenant-system');

describe('generateWebhookCertificate', () => {
  it('issues a P-256 serving certificate for the Service names, chained to a fresh CA', async () => {
    const generated = await generateWebhookCertificate({ dnsNames: names, validityDays: 90, now: NOW });
    const [caPem, ...rest] = splitPemBundle(generated.caPem);
    expect(rest).toEqual([]);
    const ca = new X509Certificate(caPem ?? '');
    const leaf = new X509Certificate(generated.certPem);

    expect(names).toEqual(['provenant.provenant-system.svc', 'provenant.provenant-system.svc.cluster.local']);
    expect(leaf.subjectAltName).toBe(
      'DNS:provenant.provenant-system.svc, DNS:provenant.provenant-system.svc.cluster.local',
    );
    expect(leaf.subject).toBe('CN=provenant.provenant-system.svc');
    expect(leaf.ca).toBe(false);
    expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // serverAuth
    expect(leaf.publicKey.asymmetricKeyDetails).toEqual({ namedCurve: 'prime256v1' });
    expect(ca.ca).toBe(true);

    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(ca.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkPrivateKey(createPrivateKey(generated.keyPem))).toBe(true);
    expect(generated.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);

    expect(leaf.validFromDate.getTime()).toBeLessThan(NOW.getTime());
    expect(leaf.validToDate.getTime()).toBe(NOW.getTime() + 90 * DAY);
    expect(ca.validToDate.getTime()).toBeGreaterThanOrEqual(leaf.validToDate.getTime());
    expect(leaf.serialNumber).not.toBe(ca.serialNumber);
  });

  it('keeps the previous CA in the bundle while it is valid, and only that one', async () => {
    const first = await generateWebhookCertificate({ dnsNames: names, validityDays: 30, now: NOW });
    const second = await generateWebhookCertificate({
      dnsNames: names,
      validityDays: 30,
      now: new Date(NOW.getTime() + 25 * DAY),
      previousCaPem: first.caPem,
    });
    const bundle = splitPemBundle(second.caPem);
    expect(bundle).toHaveLength(2);
    expect(bundle[1]).toBe(splitPemBundle(first.caPem)[0]);
    expect(new X509Certificate(second.certPem).checkIssued(new X509Certificate(bundle[0] ?? ''))).toBe(true);

    const third = await generateWebhookCertificate({
      dnsNames: names,
      validityDays: 30,
      now: new Date(NOW.getTime() + 50 * DAY),
      previousCaPem: second.caPem,
    });
    const thirdBundle = splitPemBundle(third.caPem);
    expect(thirdBundle).toHaveLength(2);
    expect(thirdBundle[1]).toBe(bundle[0]);

    const late = await generateWebhookCertificate({
      dnsNames: names,
      validityDays: 30,
      now: new Date(NOW.getTime() + 200 * DAY),
      previousCaPem: third.caPem,
    });
    expect(splitPemBundle(late.caPem)).toHaveLength(1);
  });
});
