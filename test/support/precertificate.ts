import { EXTENSION_OID_SCT, X509Certificate } from '@sigstore/core';

/**
 * What @sigstore/verify's SCT check signs over, built the way it builds it: a clone of the certificate with
 * its SCT extension removed, the TBS part encoded. `sctRemoved` says whether there was one to remove.
 */
export function precertificate(certificate: X509Certificate): { sctRemoved: boolean; tbs: Buffer } {
  const clone = certificate.clone();
  const at = clone.extensions.findIndex((ext) => ext.subs[0]?.toOID() === EXTENSION_OID_SCT);
  if (at >= 0) clone.extensions.splice(at, 1);
  return { sctRemoved: at >= 0, tbs: Buffer.from(clone.tbsCertificate.toDER()) };
}
