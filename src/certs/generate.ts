/**
 * A private CA and a serving certificate for the webhook Service (ECDSA P-256). The CA exists only to be
 * put into the webhook configurations' caBundle; its key is thrown away, so nothing else can be issued
 * under it. A rotation makes a new CA and keeps the previous one in the bundle while it is still valid,
 * so replicas that still serve the previous certificate stay trusted until they reload.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { X509Certificate, webcrypto } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
/** Backdating: clocks in a cluster are not perfectly in step. */
const BACKDATE_MS = 5 * 60_000;

export interface WebhookCertificate {
  /** The CA bundle for caBundle and ca.crt: the new CA first, then the previous one while it is valid. */
  readonly caPem: string;
  readonly certPem: string;
  /** PKCS#8. */
  readonly keyPem: string;
}

export interface GenerateOptions {
  /** DNS names; the first is also the subject's common name. */
  readonly dnsNames: readonly string[];
  /** IP addresses, for a webhook reached by address (local runs, external-URL mode). */
  readonly ipAddresses?: readonly string[];
  readonly validityDays: number;
  readonly now: Date;
  /** The bundle being replaced; its first certificate is kept if it is still valid at `now`. */
  readonly previousCaPem?: string | undefined;
}

/** The DNS names the API server may use for a Service-backed webhook. */
export function serviceDnsNames(serviceName: string, namespace: string): string[] {
  return [`${serviceName}.${namespace}.svc`, `${serviceName}.${namespace}.svc.cluster.local`];
}

export async function generateWebhookCertificate(options: GenerateOptions): Promise<WebhookCertificate> {
  const [commonName] = options.dnsNames;
  if (commonName === undefined) throw new Error('a webhook certificate needs at least one DNS name');
  const notBefore = new Date(options.now.getTime() - BACKDATE_MS);
  const notAfter = new Date(options.now.getTime() + options.validityDays * DAY_MS);
  const subtle = webcrypto.subtle;

  const caKeys = (await subtle.generateKey(ECDSA_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=provenant-webhook-ca@${Math.floor(options.now.getTime() / 1000)}`,
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: ECDSA_P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });

  const leafKeys = (await subtle.generateKey(ECDSA_P256, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${commonName}`,
    issuer: ca.subject,
    notBefore,
    notAfter,
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: ECDSA_P256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...options.dnsNames.map((value) => ({ type: 'dns' as const, value })),
        ...(options.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca),
    ],
  });
  const keyPem = x509.PemConverter.encode(
    await subtle.exportKey('pkcs8', leafKeys.privateKey),
    'PRIVATE KEY',
  );

  const previous = firstValidCertificate(options.previousCaPem, options.now);
  const caPem = [ca.toString('pem'), ...(previous === undefined ? [] : [previous])].join('\n') + '\n';
  return { caPem, certPem: `${leaf.toString('pem')}\n`, keyPem: `${keyPem}\n` };
}

/** The PEM blocks of a bundle, in order. */
export function splitPemBundle(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

function firstValidCertificate(bundle: string | undefined, now: Date): string | undefined {
  const [first] = splitPemBundle(bundle ?? '');
  if (first === undefined) return undefined;
  try {
    const cert = new X509Certificate(first);
    return cert.ca && cert.validToDate.getTime() > now.getTime() ? first : undefined;
  } catch {
    return undefined;
  }
}

/** Positive 16-byte serial (RFC 5280 allows up to 20 octets; the top bit must be clear). */
function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return Buffer.from(bytes).toString('hex');
}
