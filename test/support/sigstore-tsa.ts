/**
 * An RFC 3161 timestamp authority for tests.
 *
 * @sigstore/mock has one (`initializeTSA`), but it takes the request nonce as a JS number and encodes anything
 * beyond 2^56 as an empty INTEGER. cosign 2 sends a 160-bit nonce, so the mock cannot answer it. This one
 * builds the response by hand (RFC 3161 TSTInfo inside a CMS SignedData, RFC 5652, with a
 * SigningCertificateV2 attribute, RFC 5035) and echoes the nonce exactly.
 */
import 'reflect-metadata';
import { createHash, KeyObject, randomBytes, sign, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { ASN1Obj } from '@sigstore/core';
import {
  algorithmIdentifier,
  contextTag,
  generalizedTime,
  integer,
  octetString,
  oid,
  sequence,
  setOf,
  utcTime,
} from './sigstore-der.js';

const OID = {
  sha256: '2.16.840.1.101.3.4.2.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  signedData: '1.2.840.113549.1.7.2',
  tstInfo: '1.2.840.113549.1.9.16.1.4',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  signingCertificateV2: '1.2.840.113549.1.9.16.2.47',
  // Sigstore's TSA policy, used when the request names none.
  sigstorePolicy: '1.3.6.1.4.1.57264.2',
} as const;

export interface TimestampRequest {
  /** DER MessageImprint, echoed verbatim into TSTInfo. */
  messageImprint: Buffer;
  nonce?: bigint;
  policy?: string;
  /** Embed the TSA certificate in the response. */
  certReq: boolean;
}

export interface TestTimestampAuthority {
  /** `[signing certificate, root]`, DER. */
  readonly chain: readonly Buffer[];
  /** A DER TimeStampResp granting the request. */
  timestamp(request: TimestampRequest): Buffer;
}

export async function createTimestampAuthority(options: {
  organization: string;
  validFrom: Date;
  validTo: Date;
  /** Time written into the tokens. Default: now. */
  clock?: () => Date;
}): Promise<TestTimestampAuthority> {
  const crypto = webcrypto;
  const rootKeys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const leafKeys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const root = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomBytes(8)
        .toString('hex')
        .replace(/^[89a-f]/, '1'),
      name: `CN=tsa,O=${options.organization}`,
      notBefore: options.validFrom,
      notAfter: options.validTo,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
      keys: rootKeys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const leaf = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomBytes(8)
        .toString('hex')
        .replace(/^[89a-f]/, '1'),
      subject: `CN=tsa signing,O=${options.organization}`,
      issuer: root.subject,
      notBefore: options.validFrom,
      notAfter: options.validTo,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
      publicKey: leafKeys.publicKey,
      signingKey: rootKeys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        // RFC 3161 2.3: the only EKU, and critical; Go's verifier insists on both.
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.timeStamping], true),
        await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey, false, crypto),
      ],
    },
    crypto,
  );

  const leafDer = Buffer.from(leaf.rawData);
  const signingKey = KeyObject.from(leafKeys.privateKey);
  const tbs = ASN1Obj.parseBuffer(leafDer).subs[0];
  const serial = tbs?.subs[1];
  const issuer = tbs?.subs[3];
  if (!serial || !issuer) throw new Error('could not read the TSA certificate');
  const issuerAndSerial = sequence(issuer.toDER(), serial.toDER());
  const clock = options.clock ?? (() => new Date());

  return {
    chain: [leafDer, Buffer.from(root.rawData)],
    timestamp(request) {
      const now = clock();
      const tstInfo = sequence(
        integer(1),
        oid(request.policy ?? OID.sigstorePolicy),
        request.messageImprint,
        integer(BigInt(`0x${randomBytes(8).toString('hex')}`)),
        generalizedTime(now),
        sequence(integer(1)), // accuracy: 1 second
        ...(request.nonce === undefined ? [] : [integer(request.nonce)]),
      );
      const attributes = setOf(
        attribute(OID.contentType, oid(OID.tstInfo)),
        attribute(OID.signingTime, utcTime(now)),
        attribute(OID.messageDigest, octetString(sha256(tstInfo))),
        // ESSCertIDv2 with the default hash (SHA-256) left out, as DER requires for DEFAULT values.
        attribute(OID.signingCertificateV2, sequence(sequence(sequence(octetString(sha256(leafDer)))))),
      );
      // The signature covers the attributes encoded as a SET (RFC 5652 5.4); they travel as [0] IMPLICIT.
      const signature = sign('sha256', attributes, signingKey);
      const signerInfo = sequence(
        integer(1),
        issuerAndSerial,
        algorithmIdentifier(OID.sha256),
        Buffer.concat([Buffer.from([0xa0]), attributes.subarray(1)]),
        algorithmIdentifier(OID.ecdsaWithSha256),
        octetString(signature),
      );
      const signedData = sequence(
        integer(3),
        setOf(algorithmIdentifier(OID.sha256)),
        sequence(oid(OID.tstInfo), contextTag(0, octetString(tstInfo))),
        ...(request.certReq ? [contextTag(0, leafDer)] : []),
        setOf(signerInfo),
      );
      const token = sequence(oid(OID.signedData), contextTag(0, signedData));
      return sequence(sequence(integer(0)), token);
    },
  };
}

/** Reads a DER TimeStampReq (RFC 3161 2.4.1). */
export function parseTimestampRequest(der: Buffer): TimestampRequest {
  // TimeStampReq ::= SEQUENCE { version, messageImprint, reqPolicy OID OPTIONAL, nonce INTEGER OPTIONAL,
  //   certReq BOOLEAN DEFAULT FALSE, extensions [0] OPTIONAL }
  const request = ASN1Obj.parseBuffer(Buffer.from(der));
  const imprint = request.subs[1];
  if (!imprint || imprint.subs.length !== 2) throw new Error('malformed TimeStampReq');
  const parsed: TimestampRequest = { messageImprint: imprint.toDER(), certReq: false };
  for (const field of request.subs.slice(2)) {
    if (field.tag.isOID()) parsed.policy = field.toOID();
    else if (field.tag.isInteger()) parsed.nonce = field.toInteger();
    else if (field.tag.isBoolean()) parsed.certReq = field.toBoolean();
  }
  return parsed;
}

/** The request @sigstore/sign sends: JSON with a base64 digest. */
export function timestampRequestFromJSON(body: {
  artifactHash: string;
  hashAlgorithm?: string;
  nonce?: number;
  tsaPolicyOID?: string;
  certificates?: boolean;
}): TimestampRequest {
  const algorithm = body.hashAlgorithm ?? 'sha256';
  const algorithmOID = /512/.test(algorithm)
    ? '2.16.840.1.101.3.4.2.3'
    : /384/.test(algorithm)
      ? '2.16.840.1.101.3.4.2.2'
      : OID.sha256;
  const request: TimestampRequest = {
    messageImprint: sequence(
      algorithmIdentifier(algorithmOID),
      octetString(Buffer.from(body.artifactHash, 'base64')),
    ),
    certReq: body.certificates ?? false,
  };
  if (body.nonce !== undefined) request.nonce = BigInt(body.nonce);
  if (body.tsaPolicyOID !== undefined) request.policy = body.tsaPolicyOID;
  return request;
}

function attribute(type: string, value: Buffer): Buffer {
  return sequence(oid(type), setOf(value));
}

function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}
