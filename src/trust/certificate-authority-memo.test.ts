import { EXTENSION_OID_SCT, X509Certificate } from '@sigstore/core';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial } from '@sigstore/verify';
import { describe, expect, it } from 'vitest';
import { fixtureJson } from '../../test/support/fixtures.js';
import { precertificate } from '../../test/support/precertificate.js';
import { memoizeCertificateAuthorities, memoizeDer, memoizeLeaf } from './certificate-authority-memo.js';

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

describe('memoizeLeaf', () => {
  const leafDer = (): Buffer<ArrayBuffer> => {
    const bundle = fixtureJson('real/bundles/conformance/happy-path-v0.3/bundle.sigstore.json') as {
      verificationMaterial: { certificate: { rawBytes: string } };
    };
    return Buffer.from(bundle.verificationMaterial.certificate.rawBytes, 'base64');
  };
  const outcome = (check: () => boolean): boolean | 'throws' => {
    try {
      return check();
    } catch {
      return 'throws';
    }
  };

  it("answers as the library does against every CA of the trust root, with each CA's key loaded once", () => {
    const memo = authorities(true);
    const fresh = authorities(false);
    const leaf = X509Certificate.parse(leafDer());
    memoizeLeaf(leaf);
    const original = X509Certificate.parse(leafDer());
    const answers = memo.map((ca, i) => {
      const expected = outcome(() => original.verify(fresh[i]));
      expect(
        outcome(() => leaf.verify(ca)),
        `CA ${i}`,
      ).toBe(expected);
      return expected;
    });
    // The real leaf has exactly one issuer among them, and the others are refused, not thrown at.
    expect(answers.filter((a) => a === true)).toHaveLength(1);
    expect(answers.every((a) => a !== 'throws')).toBe(true);
  });

  it('refuses the leaf once its signed bytes are changed, and leaves other issuers to the library', () => {
    const memo = authorities(true);
    const der = leafDer();
    const issuer = memo.find((ca) => X509Certificate.parse(der).verify(ca)) as X509Certificate;
    // One byte of the serial number (inside the to-be-signed part) changed: the signature no longer holds.
    const tampered = Buffer.from(der);
    const serial = X509Certificate.parse(der).tbsCertificate.subs[1]?.value;
    if (serial === undefined) throw new Error('no serial');
    const at = der.indexOf(Buffer.from(serial)) + serial.length - 1;
    tampered.writeUInt8(tampered.readUInt8(at) ^ 0x01, at);
    const leaf = X509Certificate.parse(tampered);
    memoizeLeaf(leaf);
    expect(leaf.verify(issuer)).toBe(false);

    // An issuer outside every trust root (here a fresh parse of the real one) goes to the library's verify.
    const outsider = X509Certificate.parse(Buffer.from(issuer.root.toDER()));
    const calls: unknown[] = [];
    const real = X509Certificate.parse(der);
    const libraryVerify = real.verify.bind(real);
    Object.defineProperty(real, 'verify', {
      value: (by?: X509Certificate) => (calls.push(by), libraryVerify(by)),
      configurable: true,
    });
    memoizeLeaf(real);
    expect(real.verify(outsider)).toBe(true);
    expect(real.verify(issuer)).toBe(true);
    expect(calls).toEqual([outsider]);
  });
});

/** Every node of a parsed ASN.1 tree, depth first. */
function nodes(root: X509Certificate['root']): X509Certificate['root'][] {
  return [root, ...root.subs.flatMap(nodes)];
}

describe('memoizeDer', () => {
  const leafDer = (): Buffer<ArrayBuffer> => {
    const bundle = fixtureJson('real/bundles/conformance/happy-path-v0.3/bundle.sigstore.json') as {
      verificationMaterial: { certificate: { rawBytes: string } };
    };
    return Buffer.from(bundle.verificationMaterial.certificate.rawBytes, 'base64');
  };

  it('gives every node of a real Fulcio leaf and of every CA exactly the DER a re-encoding builds', () => {
    const certificates: Buffer<ArrayBuffer>[] = [
      leafDer(),
      ...authorities(false).map((ca) => Buffer.from(new Uint8Array(ca.root.toDER()))),
    ];
    for (const der of certificates) {
      const fresh = nodes(X509Certificate.parse(der).root).map((node) => Buffer.from(node.toDER()));
      const memoized = X509Certificate.parse(der);
      memoizeDer(memoized);
      const memoizedNodes = nodes(memoized.root);
      expect(memoizedNodes).toHaveLength(fresh.length);
      memoizedNodes.forEach((node, i) =>
        expect(node.toDER().equals(fresh[i] as Buffer), `node ${i}`).toBe(true),
      );
      expect(memoized.root.toDER().equals(der)).toBe(true);
    }
  });

  it("clones like the library's clone: an edited clone encodes as the library's edited clone; the original stays", () => {
    const der = leafDer();
    const withoutSct = (certificate: X509Certificate): Buffer => {
      const { sctRemoved, tbs } = precertificate(certificate);
      expect(sctRemoved).toBe(true);
      return tbs;
    };
    const expected = withoutSct(X509Certificate.parse(der));
    const memoized = X509Certificate.parse(der);
    memoizeDer(memoized);
    const unedited = memoized.clone();
    expect(unedited.root.toDER().equals(der)).toBe(true);
    expect(withoutSct(memoized).equals(expected)).toBe(true);
    expect(expected.length).toBeLessThan(memoized.tbsCertificate.toDER().length);
    // twice: a second clone starts from the original, not from the first clone's edit
    expect(withoutSct(memoized).equals(expected)).toBe(true);
    expect(memoized.root.toDER().equals(der)).toBe(true);
    expect(memoized.extensions.some((ext) => ext.subs[0]?.toOID() === EXTENSION_OID_SCT)).toBe(true);
    // a clone edited deeper (one extension's value replaced) re-encodes that extension and its ancestors
    const edited = memoized.clone();
    const [first] = edited.extensions as [X509Certificate['root']];
    first.subs.splice(first.subs.length - 1, 1);
    const reference = X509Certificate.parse(der).clone();
    (reference.extensions[0] as X509Certificate['root']).subs.splice(first.subs.length, 1);
    expect(edited.root.toDER().equals(reference.root.toDER())).toBe(true);
    expect(edited.root.toDER().equals(der)).toBe(false);
  });

  it('clones into nodes of its own: no node of a clone is a node of the certificate', () => {
    const memoized = X509Certificate.parse(leafDer());
    memoizeDer(memoized);
    const own = new Set(nodes(memoized.root));
    const cloned = nodes(memoized.clone().root);
    expect(cloned).toHaveLength(own.size);
    expect(cloned.filter((node) => own.has(node))).toEqual([]);
    // a leaf node's content replaced in the clone: the clone encodes it, the certificate keeps its own
    const clone = memoized.clone();
    const version = clone.tbsCertificate.subs[0]?.subs[0] as X509Certificate['root'];
    expect(version.subs).toHaveLength(0);
    Object.defineProperty(version, 'value', { value: Buffer.from([9]) });
    expect(clone.root.toDER().equals(memoized.root.toDER())).toBe(false);
    expect(memoized.root.toDER().equals(leafDer())).toBe(true);
  });

  it('re-encodes a tree whose node contents are not views of its own encoding', () => {
    const parsed = X509Certificate.parse(leafDer());
    const expected = Buffer.from(new Uint8Array(parsed.root.toDER()));
    // A tree built in memory (as a clone with an edited extension is): each value its own buffer.
    for (const node of nodes(parsed.root)) {
      Object.defineProperty(node, 'value', { value: Buffer.from(node.value) });
    }
    memoizeDer(parsed);
    expect(parsed.root.toDER().equals(expected)).toBe(true);
    expect(parsed.tbsCertificate.toDER().equals(X509Certificate.parse(expected).tbsCertificate.toDER())).toBe(
      true,
    );
  });
});
