import type { X509Certificate } from '@sigstore/core';
import type { TrustMaterial } from '@sigstore/verify';

/**
 * Keyless verification builds a certificate path from the leaf to a trusted root for every bundle, and
 * @sigstore/verify re-encodes each CA certificate to DER and re-verifies CA-to-CA signatures each time
 * (most of a bundle's CPU). The CA certificates of a trust root never change once it is loaded, so their DER
 * encodings and the outcome of their signatures over one another are computed once per trust root here.
 * Nothing about the leaf is cached: it is checked against its issuer on every call, as before.
 *
 * Done on the certificate objects themselves (their own properties shadow the shared methods) so that the
 * path building in @sigstore/verify is unchanged; where a future version no longer has these methods, the
 * objects are left alone and verification is just slower.
 */
export function memoizeCertificateAuthorities(material: TrustMaterial): void {
  const authorities = new Set<X509Certificate>(material.certificateAuthorities.flatMap((ca) => ca.certChain));
  for (const certificate of authorities) {
    freezeDer(certificate.root as unknown as DerNode);
    memoizeVerify(certificate, authorities);
  }
}

/**
 * Encodes a leaf certificate (parsed for this one bundle) and its signed part to DER once each: path
 * building compares certificates and checks signatures by re-encoding them, many times per bundle.
 */
export function memoizeDer(certificate: X509Certificate): void {
  freezeDer(certificate.root as unknown as DerNode);
}

interface DerNode {
  toDER(): Buffer;
  readonly subs: readonly DerNode[];
}

function freezeDer(node: DerNode): void {
  if (typeof node?.toDER !== 'function' || !Array.isArray(node.subs)) return;
  for (const sub of node.subs) freezeDer(sub);
  const der = node.toDER();
  Object.defineProperty(node, 'toDER', { value: () => der });
}

function memoizeVerify(certificate: X509Certificate, authorities: ReadonlySet<X509Certificate>): void {
  if (typeof certificate.verify !== 'function') return;
  const verify = certificate.verify.bind(certificate);
  const byIssuer = new Map<X509Certificate | undefined, boolean>();
  Object.defineProperty(certificate, 'verify', {
    value: (issuer?: X509Certificate): boolean => {
      // Only signatures between this trust root's own CA certificates are remembered.
      if (issuer !== undefined && !authorities.has(issuer)) return verify(issuer);
      let outcome = byIssuer.get(issuer);
      if (outcome === undefined) {
        outcome = verify(issuer);
        byIssuer.set(issuer, outcome);
      }
      return outcome;
    },
  });
}
