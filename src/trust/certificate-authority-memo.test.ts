import { X509Certificate } from '@sigstore/core';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial } from '@sigstore/verify';
import { describe, expect, it } from 'vitest';
import { fixtureJson } from '../../test/support/fixtures.js';
import { memoizeCertificateAuthorities, memoizeDer } from './certificate-authority-memo.js';

const ROOT = 'real/trusted-root/public-good/trusted_root.json';

function authorities(memoized: boolean): X509Certificate[] {
  const material = toTrustMaterial(TrustedRoot.fromJSON(fixtureJson(ROOT)));
  if (memoized) memoizeCertificateAuthorities(material);
  return material.certificateAuthorities.flatMap((ca) => ca.certChain);
}

describe('memoized certificate authorities', () => {
  it('encode to the same DER and give the same signature outcomes, pair by pair, as fresh ones', () => {
    const fresh = authorities(false);
    const memo = authorities(true);
    expect(memo.length).toBeGreaterThan(1);
    for (const [i, certificate] of memo.entries()) {
      const original = fresh[i] as X509Certificate;
      expect(certificate.root.toDER().equals(original.root.toDER())).toBe(true);
      expect(certificate.tbsCertificate.toDER().equals(original.tbsCertificate.toDER())).toBe(true);
      expect(certificate.verify()).toBe(original.verify());
      for (const [j, issuer] of memo.entries()) {
        const outcome = (() => {
          try {
            return original.verify(fresh[j]);
          } catch {
            return 'throws';
          }
        })();
        const memoOutcome = (() => {
          try {
            return certificate.verify(issuer);
          } catch {
            return 'throws';
          }
        })();
        expect(memoOutcome).toBe(outcome);
        // asked twice: the remembered answer is the same
        if (memoOutcome !== 'throws') expect(certificate.verify(issuer)).toBe(outcome);
      }
    }
  });

  it("remembers only signatures between the trust root's own CAs; an outsider is checked every time", () => {
    const material = toTrustMaterial(TrustedRoot.fromJSON(fixtureJson(ROOT)));
    const original = X509Certificate.prototype.verify;
    let calls = 0;
    X509Certificate.prototype.verify = function (this: X509Certificate, issuer?: X509Certificate) {
      calls++;
      return original.call(this, issuer);
    };
    try {
      memoizeCertificateAuthorities(material);
      const [ca, other] = material.certificateAuthorities.flatMap((a) => a.certChain) as [
        X509Certificate,
        X509Certificate,
      ];
      ca.verify(other);
      ca.verify(other);
      expect(calls).toBe(1);
      const outsider = X509Certificate.parse(Buffer.from(other.root.toDER()));
      ca.verify(outsider);
      ca.verify(outsider);
      expect(calls).toBe(3);
    } finally {
      X509Certificate.prototype.verify = original;
    }
  });

  it('encodes a leaf to the DER it was parsed from', () => {
    const [ca] = authorities(false) as [X509Certificate];
    const der = Buffer.from(ca.root.toDER());
    const leaf = X509Certificate.parse(der);
    memoizeDer(leaf);
    expect(leaf.root.toDER().equals(der)).toBe(true);
    expect(leaf.tbsCertificate.toDER().equals(ca.tbsCertificate.toDER())).toBe(true);
  });
});
