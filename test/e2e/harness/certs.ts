// Throwaway PKI for end-to-end tests: a CA and leaf certificates (ECDSA P-256), made in memory with
// @peculiar/x509 on Node's WebCrypto, returned as PEM.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { KeyObject, generateKeyPairSync, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';

const subtle = webcrypto.subtle;
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const HOUR = 3600_000;

export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

export interface CertificateAuthority extends KeyPairPem {
  /** Signs a leaf certificate with this CA. */
  issue(opts: LeafOptions): Promise<KeyPairPem>;
}

export interface LeafOptions {
  commonName: string;
  /** Organizations (O=); Kubernetes reads them as groups of a client certificate. */
  organizations?: string[];
  /** Subject alternative names: IP addresses and DNS names, told apart by their form. */
  hosts?: string[];
  usage: 'server' | 'client' | 'both';
  validHours?: number;
}

type Keys = webcrypto.CryptoKeyPair;
// @peculiar/x509 types its keys with the DOM's CryptoKey; Node's webcrypto keys are the same objects.
type XKeyPair = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];
type XKey = XKeyPair['privateKey'];

async function newKeys(): Promise<Keys> {
  return (await subtle.generateKey(ALG, true, ['sign', 'verify'])) as Keys;
}

function keyPem(keys: Keys): string {
  return KeyObject.from(keys.privateKey).export({ format: 'pem', type: 'pkcs8' }).toString();
}

function validity(hours: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - HOUR), notAfter: new Date(now + hours * HOUR) };
}

/** Creates a self-signed CA certificate and key. */
export async function createCA(
  commonName = 'provenant-e2e-ca',
  validHours = 48,
): Promise<CertificateAuthority> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: [{ CN: [commonName] }],
    keys: keys as unknown as XKeyPair,
    signingAlgorithm: ALG,
    ...validity(validHours),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as unknown as XKey),
    ],
  });

  const issue = async (opts: LeafOptions): Promise<KeyPairPem> => {
    const leafKeys = await newKeys();
    const hosts = opts.hosts ?? [];
    const ekus: string[] = [];
    if (opts.usage !== 'client') ekus.push(x509.ExtendedKeyUsage.serverAuth);
    if (opts.usage !== 'server') ekus.push(x509.ExtendedKeyUsage.clientAuth);
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension(ekus, false),
      await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey as unknown as XKey),
      await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey as unknown as XKey),
    ];
    if (hosts.length > 0) {
      extensions.push(
        new x509.SubjectAlternativeNameExtension(
          hosts.map((h) =>
            isIP(h) ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h },
          ),
        ),
      );
    }
    const subject: x509.JsonName = [{ CN: [opts.commonName] }];
    for (const o of opts.organizations ?? []) subject.push({ O: [o] });
    const leaf = await x509.X509CertificateGenerator.create({
      subject,
      issuer: cert.subject,
      publicKey: leafKeys.publicKey as unknown as XKey,
      signingKey: keys.privateKey as unknown as XKey,
      signingAlgorithm: ALG,
      ...validity(opts.validHours ?? 24),
      extensions,
    });
    return { certPem: leaf.toString('pem') + '\n', keyPem: keyPem(leafKeys) };
  };

  return { certPem: cert.toString('pem') + '\n', keyPem: keyPem(keys), issue };
}

/** An RSA key pair for signing service-account tokens (PEM: PKCS#8 private, SPKI public). */
export function createServiceAccountKeyPair(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}
