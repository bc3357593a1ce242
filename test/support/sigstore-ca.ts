/**
 * A Fulcio-like certificate authority for tests.
 *
 * @sigstore/mock's own CA (`initializeCA`) makes its root "valid from now" and stamps leaves with a clock fixed
 * at start-up, so it cannot issue a leaf that was already expired when it was logged: the root would not be
 * valid at that time either, and every verifier would then fail on the chain instead of on the expiry we want
 * to test. It also only issues URI SANs. This CA keeps the mock's CT log (`initializeCTLog`) for embedded SCTs
 * and follows Fulcio's certificate profile (sigstore/fulcio `docs/certificate-specification.md`): root and
 * intermediate on P-384, an empty subject, one critical SAN, KeyUsage digitalSignature, EKU codeSigning,
 * issuer and CI extensions under 1.3.6.1.4.1.57264.1, and an SCT list signed over the precertificate.
 */
import 'reflect-metadata';
import { createHash, generateKeyPairSync, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { initializeCTLog } from '@sigstore/mock';
import { octetString, utf8String } from './sigstore-der.js';

const FULCIO_OID = '1.3.6.1.4.1.57264.1';
const SCT_LIST_OID = '1.3.6.1.4.1.11129.2.4.2';
const ECDSA_P384: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-384' };
const SIGN_SHA384: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-384' };
const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;

/** Fulcio's OIDs (sigstore/fulcio `docs/oid-info.md`), named so tests read as policies do. */
export const FULCIO_OIDS = {
  issuerV1: `${FULCIO_OID}.1`,
  githubWorkflowTrigger: `${FULCIO_OID}.2`,
  githubWorkflowSha: `${FULCIO_OID}.3`,
  githubWorkflowName: `${FULCIO_OID}.4`,
  githubWorkflowRepository: `${FULCIO_OID}.5`,
  githubWorkflowRef: `${FULCIO_OID}.6`,
  otherName: `${FULCIO_OID}.7`,
  issuer: `${FULCIO_OID}.8`,
  buildSignerURI: `${FULCIO_OID}.9`,
  buildSignerDigest: `${FULCIO_OID}.10`,
  runnerEnvironment: `${FULCIO_OID}.11`,
  sourceRepositoryURI: `${FULCIO_OID}.12`,
  sourceRepositoryDigest: `${FULCIO_OID}.13`,
  sourceRepositoryRef: `${FULCIO_OID}.14`,
  sourceRepositoryIdentifier: `${FULCIO_OID}.15`,
  sourceRepositoryOwnerURI: `${FULCIO_OID}.16`,
  sourceRepositoryOwnerIdentifier: `${FULCIO_OID}.17`,
  buildConfigURI: `${FULCIO_OID}.18`,
  buildConfigDigest: `${FULCIO_OID}.19`,
  buildTrigger: `${FULCIO_OID}.20`,
  runInvocationURI: `${FULCIO_OID}.21`,
  sourceRepositoryVisibilityAtSigning: `${FULCIO_OID}.22`,
  deploymentEnvironment: `${FULCIO_OID}.23`,
  tokenSubject: `${FULCIO_OID}.24`,
} as const;

export type FulcioExtensionName = keyof typeof FULCIO_OIDS;

/** One extension to put in a leaf, already in its extnValue form. */
export interface LeafExtension {
  oid: string;
  /** The bytes inside extnValue's OCTET STRING. */
  value: Uint8Array;
}

export interface LeafRequest {
  /** SubjectPublicKeyInfo, DER. */
  publicKey: Uint8Array;
  subjectAltName: { type: 'uri' | 'email'; value: string };
  extensions: LeafExtension[];
  notBefore: Date;
  notAfter: Date;
}

export interface TestCertificateAuthority {
  /** The CA certificates, issuing CA first: `[intermediate?, root]`, DER. */
  readonly chain: readonly Buffer[];
  readonly ctLog: { publicKey: Buffer; logId: Buffer };
  /** The root's validity; the trusted root's `validFor.start` is `validFrom`. */
  readonly validFrom: Date;
  readonly validTo: Date;
  /** Returns `[leaf, ...chain]`, DER. */
  issue(request: LeafRequest): Promise<Buffer[]>;
}

export interface CertificateAuthorityOptions {
  /** Organisation in the CA names, so two instances are easy to tell apart in a failure message. */
  organization: string;
  /** Real Fulcio signs leaves with an intermediate; off gives a root-only chain like @sigstore/mock's. */
  intermediate: boolean;
}

/**
 * Encodes a value the way Fulcio does for that OID: `.1`–`.6` are raw UTF-8 bytes, the later ones a DER
 * UTF8String (`docs/oid-info.md`). Verifiers compare these bytes, so the difference matters.
 */
export function encodeFulcioExtension(oid: string, value: string): Uint8Array {
  const arc = Number(oid.slice(FULCIO_OID.length + 1));
  if (oid.startsWith(`${FULCIO_OID}.`) && arc >= 1 && arc <= 6) return Buffer.from(value, 'utf8');
  return utf8String(value);
}

export async function createCertificateAuthority(
  options: CertificateAuthorityOptions,
): Promise<TestCertificateAuthority> {
  const crypto = webcrypto;
  // The root starts a day back so leaves can be back-dated (expired-at-signing-time cases) under a valid root.
  const validFrom = new Date(Math.floor((Date.now() - DAY_MS) / 1000) * 1000);
  const validTo = new Date(validFrom.getTime() + 366 * DAY_MS);

  const rootKeys = (await crypto.subtle.generateKey(ECDSA_P384, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const root = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerial(),
      name: `CN=sigstore,O=${options.organization}`,
      notBefore: validFrom,
      notAfter: validTo,
      signingAlgorithm: SIGN_SHA384,
      keys: rootKeys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 1, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey, false, crypto),
      ],
    },
    crypto,
  );

  let issuerCert = root;
  let issuerKeys = rootKeys;
  const chain: Buffer[] = [Buffer.from(root.rawData)];
  if (options.intermediate) {
    const intermediateKeys = (await crypto.subtle.generateKey(ECDSA_P384, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const intermediate = await x509.X509CertificateGenerator.create(
      {
        serialNumber: randomSerial(),
        subject: `CN=sigstore-intermediate,O=${options.organization}`,
        issuer: root.subject,
        notBefore: validFrom,
        notAfter: validTo,
        signingAlgorithm: SIGN_SHA384,
        publicKey: intermediateKeys.publicKey,
        signingKey: rootKeys.privateKey,
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          // As Fulcio's does. Go (cosign) checks EKUs down the chain: where an intermediate lists any, it
          // must list codeSigning.
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.codeSigning]),
          await x509.SubjectKeyIdentifierExtension.create(intermediateKeys.publicKey, false, crypto),
          await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey, false, crypto),
        ],
      },
      crypto,
    );
    issuerCert = intermediate;
    issuerKeys = intermediateKeys;
    chain.unshift(Buffer.from(intermediate.rawData));
  }

  const ctKeys: { publicKey: KeyObject; privateKey: KeyObject } = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
  });
  const ctPublicKey = ctKeys.publicKey.export({ format: 'der', type: 'spki' });
  // RFC 6962 issuer_key_hash: the SCT is bound to the key of the CA that signs the leaf.
  const issuerKeyHash = createHash('sha256').update(Buffer.from(issuerCert.publicKey.rawData)).digest();
  const issuerName = issuerCert.subject;

  return {
    chain,
    validFrom,
    validTo,
    ctLog: { publicKey: ctPublicKey, logId: createHash('sha256').update(ctPublicKey).digest() },
    async issue(request) {
      const tbs = {
        serialNumber: randomSerial(),
        // Fulcio leaves have an empty subject; the identity lives only in the SAN.
        subject: '',
        issuer: issuerName,
        notBefore: request.notBefore,
        notAfter: request.notAfter,
        signingAlgorithm: SIGN_SHA384,
        publicKey: request.publicKey,
        signingKey: issuerKeys.privateKey,
        extensions: [
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.codeSigning]),
          await x509.SubjectKeyIdentifierExtension.create(request.publicKey, false, crypto),
          await x509.AuthorityKeyIdentifierExtension.create(issuerKeys.publicKey, false, crypto),
          new x509.SubjectAlternativeNameExtension(
            [
              {
                type: request.subjectAltName.type === 'email' ? 'email' : 'url',
                value: request.subjectAltName.value,
              },
            ],
            // Critical because the subject is empty (RFC 5280 4.2.1.6), as Fulcio does.
            true,
          ),
          ...request.extensions.map((e) => new x509.Extension(e.oid, false, toArrayBuffer(e.value))),
        ],
      };
      const precertificate = await x509.X509CertificateGenerator.create(tbs, crypto);
      // A CT log per request, with the mock's key, so the SCT time can follow the leaf's (back-dated) notBefore.
      const ctLog = await initializeCTLog(ctKeys, request.notBefore);
      const sct = Buffer.from(await ctLog.log(precertificate.rawData, toArrayBuffer(issuerKeyHash)));
      const leaf = await x509.X509CertificateGenerator.create(
        { ...tbs, extensions: [...tbs.extensions, sctListExtension(sct)] },
        crypto,
      );
      return [Buffer.from(leaf.rawData), ...chain];
    },
  };
}

/** A leaf lifetime as Fulcio gives it: ten minutes from `start`. */
export function fulcioValidity(start: Date): { notBefore: Date; notAfter: Date } {
  return { notBefore: start, notAfter: new Date(start.getTime() + 10 * MINUTE_MS) };
}

// RFC 6962 3.3: SignedCertificateTimestampList = uint16 length of the list, then each SCT as uint16 length ‖ SCT,
// wrapped in a DER OCTET STRING inside the extension's own OCTET STRING. The mock's CT log already returns the
// SCT with its own length prefix (pkijs `toStream`), so only the list length is added here.
function sctListExtension(serializedSct: Buffer): x509.Extension {
  const list = Buffer.concat([uint16(serializedSct.length), serializedSct]);
  return new x509.Extension(SCT_LIST_OID, false, toArrayBuffer(octetString(list)));
}

function uint16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

// A positive 16-byte serial; the mock's fixed serial would make every leaf look like the same certificate.
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
