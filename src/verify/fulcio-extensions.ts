import { ASN1Obj, type X509Certificate } from '@sigstore/core';
import { ProvenantError } from '../errors.js';
import { decodeStrictUtf8 } from '../json/strict-utf8.js';
import type { CertificateExtensionName } from './types.js';

const FULCIO = '1.3.6.1.4.1.57264.1';
const ISSUER_V1 = `${FULCIO}.1`;
const ISSUER_V2 = `${FULCIO}.8`;
const USERNAME_SAN = `${FULCIO}.7`;

/**
 * Fulcio certificate extensions (sigstore/fulcio docs/oid-info.md). `.1`–`.6` hold raw UTF-8 bytes in the
 * extnValue; `.8` onwards hold a DER UTF8String, which must be decoded rather than compared as bytes
 * (formats.md §3.2, and why @sigstore/verify's raw `oids` policy does not work for them).
 */
export const FULCIO_EXTENSIONS: Readonly<Record<CertificateExtensionName, { oid: string; der: boolean }>> = {
  githubWorkflowTrigger: { oid: `${FULCIO}.2`, der: false },
  githubWorkflowSHA: { oid: `${FULCIO}.3`, der: false },
  githubWorkflowName: { oid: `${FULCIO}.4`, der: false },
  githubWorkflowRepository: { oid: `${FULCIO}.5`, der: false },
  githubWorkflowRef: { oid: `${FULCIO}.6`, der: false },
  buildSignerURI: { oid: `${FULCIO}.9`, der: true },
  buildSignerDigest: { oid: `${FULCIO}.10`, der: true },
  runnerEnvironment: { oid: `${FULCIO}.11`, der: true },
  sourceRepositoryURI: { oid: `${FULCIO}.12`, der: true },
  sourceRepositoryDigest: { oid: `${FULCIO}.13`, der: true },
  sourceRepositoryRef: { oid: `${FULCIO}.14`, der: true },
  sourceRepositoryIdentifier: { oid: `${FULCIO}.15`, der: true },
  sourceRepositoryOwnerURI: { oid: `${FULCIO}.16`, der: true },
  sourceRepositoryOwnerIdentifier: { oid: `${FULCIO}.17`, der: true },
  buildConfigURI: { oid: `${FULCIO}.18`, der: true },
  buildConfigDigest: { oid: `${FULCIO}.19`, der: true },
  buildTrigger: { oid: `${FULCIO}.20`, der: true },
  runInvocationURI: { oid: `${FULCIO}.21`, der: true },
  sourceRepositoryVisibilityAtSigning: { oid: `${FULCIO}.22`, der: true },
  deploymentEnvironment: { oid: `${FULCIO}.23`, der: true },
};

export const CERTIFICATE_EXTENSION_NAMES = Object.keys(
  FULCIO_EXTENSIONS,
) as readonly CertificateExtensionName[];

/** The identity a Fulcio leaf certifies. */
export interface FulcioIdentity {
  readonly issuer: string | undefined;
  readonly subject: string | undefined;
  readonly extensions: Readonly<Partial<Record<CertificateExtensionName, string>>>;
}

/** Reads issuer, SAN and named extensions; a malformed value is CERTIFICATE_INVALID, never silently skipped. */
export function readFulcioIdentity(cert: X509Certificate): FulcioIdentity {
  const values = extensionValues(cert);
  const extensions: Partial<Record<CertificateExtensionName, string>> = {};
  for (const name of CERTIFICATE_EXTENSION_NAMES) {
    const { oid, der } = FULCIO_EXTENSIONS[name];
    const value = extensionText(values, oid, der);
    if (value !== undefined) extensions[name] = value;
  }
  const issuerV2 = extensionText(values, ISSUER_V2, true);
  const issuerV1 = extensionText(values, ISSUER_V1, false);
  // Fulcio writes both; disagreeing copies mean a forged or broken certificate (slsa-verifier does the same).
  if (issuerV1 !== undefined && issuerV2 !== undefined && issuerV1 !== issuerV2) {
    throw new ProvenantError(
      'CERTIFICATE_INVALID',
      `certificate issuer extensions disagree: ${issuerV2} vs ${issuerV1}`,
    );
  }
  return { issuer: issuerV2 ?? issuerV1, subject: subjectAltName(cert), extensions };
}

/**
 * Each extension's value (its extnValue octets) by OID, read in one pass: looking the twenty-odd Fulcio OIDs
 * up one by one decoded every extension's OID each time. An OID given twice (two SANs extensions, two
 * issuers) is CERTIFICATE_INVALID, as Go's x509 (cosign, sigstore-go) refuses such a certificate: reading
 * the first copy would let the copy a verifier sees depend on the verifier.
 */
function extensionValues(cert: X509Certificate): ReadonlyMap<string, Buffer> {
  const values = new Map<string, Buffer>();
  for (const extension of cert.extensions) {
    const oid = extension.subs[0]?.toOID();
    const extnValue = extension.subs[extension.subs.length - 1];
    if (oid === undefined || extnValue === undefined) continue;
    if (values.has(oid))
      throw new ProvenantError('CERTIFICATE_INVALID', `certificate has extension ${oid} twice`);
    values.set(oid, extnValue.value);
  }
  return values;
}

function extensionText(values: ReadonlyMap<string, Buffer>, oid: string, der: boolean): string | undefined {
  const value = values.get(oid);
  if (value === undefined) return undefined;
  const bytes = der ? utf8StringContent(value) : value;
  const text = bytes === undefined ? undefined : decodeUtf8(bytes);
  if (text === undefined) {
    throw new ProvenantError(
      'CERTIFICATE_INVALID',
      `certificate extension ${oid} is not ${der ? 'a DER UTF8String' : 'UTF-8'}`,
    );
  }
  return text;
}

/** Content of a DER UTF8String (tag 0x0C) that fills `bytes` exactly. */
function utf8StringContent(bytes: Buffer): Buffer | undefined {
  try {
    const obj = ASN1Obj.parseBuffer(Buffer.from(bytes));
    if (obj.tag.number !== 0x0c || !obj.tag.isUniversal() || obj.toDER().length !== bytes.length)
      return undefined;
    return obj.value;
  } catch {
    return undefined;
  }
}

function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return decodeStrictUtf8(bytes);
  } catch {
    return undefined;
  }
}

// Fulcio issues exactly one SAN: an e-mail, a URI, or a username otherName; more than one is ambiguous. Read
// from the DER here rather than through @sigstore/core, which decodes every value as 7-bit ASCII (dropping
// each byte's high bit, so that "±" would read as "B1"): e-mail and URI names must be ASCII (IA5String), as
// Go's x509 insists, and a username is a UTF8String, decoded strictly.
function subjectAltName(cert: X509Certificate): string | undefined {
  const ext = cert.extSubjectAltName;
  if (ext === undefined) return undefined;
  let names: ASN1Obj[];
  try {
    names = ASN1Obj.parseBuffer(Buffer.from(ext.value)).subs;
  } catch (err) {
    throw new ProvenantError('CERTIFICATE_INVALID', 'certificate SAN extension is malformed', { cause: err });
  }
  if (names.length !== 1)
    throw new ProvenantError(
      'CERTIFICATE_INVALID',
      `certificate has ${names.length} SANs; Fulcio issues one`,
    );
  const [name] = names as [ASN1Obj];
  if (name.tag.isContextSpecific(RFC822_NAME) || name.tag.isContextSpecific(URI_NAME)) {
    if (name.value.some((byte) => byte > 0x7f)) {
      throw new ProvenantError('CERTIFICATE_INVALID', 'certificate SAN is not ASCII (IA5String)');
    }
    return name.value.toString('latin1');
  }
  if (name.tag.isContextSpecific(OTHER_NAME)) return username(name);
  return undefined;
}

const OTHER_NAME = 0;
const RFC822_NAME = 1;
const URI_NAME = 6;

/** An otherName SAN: `type-id OID, [0] EXPLICIT value`; Fulcio's username value is a DER UTF8String. */
function username(otherName: ASN1Obj): string | undefined {
  const [typeId, wrapper] = otherName.subs;
  let oid: string | undefined;
  try {
    oid = typeId?.toOID();
  } catch {
    oid = undefined;
  }
  if (oid === undefined)
    throw new ProvenantError('CERTIFICATE_INVALID', 'certificate otherName SAN is malformed');
  if (oid !== USERNAME_SAN) return undefined;
  const value = wrapper?.tag.isContextSpecific(0) === true ? wrapper.subs[0] : undefined;
  const text =
    value !== undefined && value.tag.isUniversal() && value.tag.number === 0x0c
      ? decodeUtf8(value.value)
      : undefined;
  if (text === undefined) {
    throw new ProvenantError('CERTIFICATE_INVALID', 'certificate username SAN is not a UTF-8 UTF8String');
  }
  return text;
}
