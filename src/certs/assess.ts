import { X509Certificate, createPrivateKey } from 'node:crypto';
import { splitPemBundle } from './generate.js';

/** The PEM contents of a kubernetes.io/tls Secret with `ca.crt`. */
export interface StoredCertificate {
  readonly caPem?: string | undefined;
  readonly certPem?: string | undefined;
  readonly keyPem?: string | undefined;
}

export type RenewReason =
  'missing' | 'malformed' | 'wrong-names' | 'untrusted' | 'not-yet-valid' | 'expiring';

export type CertificateAssessment =
  | { readonly action: 'keep'; readonly notAfter: Date; readonly renewAt: Date }
  | { readonly action: 'renew'; readonly reason: RenewReason; readonly detail: string };

export interface CertificateExpectations {
  /** Exactly these DNS SANs. */
  readonly dnsNames: readonly string[];
  readonly renewBeforeMs: number;
}

const renew = (reason: RenewReason, detail: string): CertificateAssessment => ({
  action: 'renew',
  reason,
  detail,
});

function dnsNamesOf(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
}

/**
 * Decides whether a stored serving certificate can stay: it must parse, match its key, name exactly the
 * expected DNS names, chain to a CA in the stored bundle, and stay valid (itself and its CA) for longer
 * than the renewal margin.
 */
export function assessCertificate(
  stored: StoredCertificate | undefined,
  expect: CertificateExpectations,
  now: number,
): CertificateAssessment {
  if (!stored?.certPem || !stored.keyPem || !stored.caPem)
    return renew('missing', 'no certificate, key or CA stored');
  let cert: X509Certificate;
  let cas: X509Certificate[];
  try {
    cert = new X509Certificate(stored.certPem);
    cas = splitPemBundle(stored.caPem).map((pem) => new X509Certificate(pem));
    if (!cert.checkPrivateKey(createPrivateKey(stored.keyPem)))
      return renew('malformed', 'the key does not match the certificate');
  } catch (err) {
    return renew('malformed', `cannot parse the stored certificate: ${(err as Error).message}`);
  }

  const names = [...new Set(dnsNamesOf(cert))].sort();
  const wanted = [...new Set(expect.dnsNames)].sort();
  if (names.join(',') !== wanted.join(',')) {
    return renew(
      'wrong-names',
      `certificate names ${names.join(', ') || 'nothing'}, expected ${wanted.join(', ')}`,
    );
  }

  const issuer = cas.find((ca) => ca.ca && cert.checkIssued(ca) && cert.verify(ca.publicKey));
  if (issuer === undefined)
    return renew('untrusted', 'the certificate does not chain to the stored CA bundle');

  if (cert.validFromDate.getTime() > now || issuer.validFromDate.getTime() > now) {
    return renew('not-yet-valid', `valid only from ${cert.validFromDate.toISOString()}`);
  }
  const notAfter = new Date(Math.min(cert.validToDate.getTime(), issuer.validToDate.getTime()));
  const renewAt = new Date(notAfter.getTime() - expect.renewBeforeMs);
  if (now >= renewAt.getTime()) return renew('expiring', `expires ${notAfter.toISOString()}`);
  return { action: 'keep', notAfter, renewAt };
}
