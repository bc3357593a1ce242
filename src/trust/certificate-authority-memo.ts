import { createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
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
    memoizeDer(certificate);
    memoizeVerify(certificate, authorities);
    try {
      authorityKeys.set(
        certificate,
        createPublicKey({ key: certificate.publicKey, format: 'der', type: 'spki' }),
      );
    } catch {
      // A key Node cannot load is left to @sigstore/core, which fails it as before.
    }
  }
}

/** Each trust root CA certificate's public key, loaded once: a leaf is checked against its issuer's per bundle. */
const authorityKeys = new WeakMap<X509Certificate, KeyObject>();

/**
 * A bundle's signing certificate: its DER kept (memoizeDer), and its signature checked with the issuing
 * CA's key loaded once per trust root rather than parsed from DER again for every bundle. The check itself is
 * @sigstore/core's X509Certificate.verify: the to-be-signed bytes, the signature and its hash, over the
 * issuer's key; any other issuer is left to that method.
 */
export function memoizeLeaf(certificate: X509Certificate): void {
  memoizeDer(certificate);
  if (typeof certificate.verify !== 'function') return;
  const verify = certificate.verify.bind(certificate);
  Object.defineProperty(certificate, 'verify', {
    value: (issuer?: X509Certificate): boolean => {
      const key = issuer === undefined ? undefined : authorityKeys.get(issuer);
      if (key === undefined) return verify(issuer);
      try {
        return verifySignature(
          certificate.signatureAlgorithm,
          certificate.tbsCertificate.toDER(),
          key,
          certificate.signatureValue,
        );
      } catch {
        return false;
      }
    },
  });
}

/**
 * Gives every node of a parsed certificate its DER once: path building compares certificates and checks
 * signatures by re-encoding them, many times per bundle. A node parsed from bytes already sits in them: its
 * content (`value`) is a view into the parsed buffer, right after its header. When every header there is
 * exactly what re-encoding writes (the tag byte, the minimal length; the parser refuses other lengths) and the
 * children tile their parent's content, those bytes are byte for byte what toDER() builds, and are used as
 * they are. Otherwise each node is re-encoded once, as toDER() would.
 *
 * @sigstore/verify never edits a certificate it verifies; it edits a clone (the SCT check removes the SCT
 * extension from a clone of the leaf and encodes what is left). So the certificate's clone() is replaced too:
 * the clone gets a new node for every node, over the same contents, and each new node answers with the DER it
 * had only while it holds the same content and children, each still answering with its own; an edited clone is
 * re-encoded from the edit up, and nowhere else. The clone shares the certificate's bytes: nothing writes into
 * them, and the edit clone() exists for changes the clone's tree, never the original's.
 */
export function memoizeDer(certificate: X509Certificate): void {
  const root = certificate.root as unknown as DerNode;
  if (!isDerTree(root)) return;
  const views = new Map<DerNode, Buffer>();
  const parsed = derView(root, views) !== undefined;
  keepDerOfTree(root, parsed ? views : undefined);
  const Certificate = certificate.constructor as new (root: DerNode) => X509Certificate;
  Object.defineProperty(certificate, 'clone', { value: () => new Certificate(copyTree(root)) });
}

interface DerNode {
  toDER(): Buffer;
  readonly subs: DerNode[];
  readonly value: Buffer;
  readonly tag: { toDER(): number };
}

function isDerNode(node: DerNode): boolean {
  return (
    typeof node?.toDER === 'function' &&
    Array.isArray(node.subs) &&
    node.value instanceof Uint8Array &&
    typeof node.tag?.toDER === 'function'
  );
}

function isDerTree(node: DerNode): boolean {
  return isDerNode(node) && node.subs.every(isDerTree);
}

/** Children first: a node that is re-encoded is built from its children's kept DER. */
function keepDerOfTree(node: DerNode, views: Map<DerNode, Buffer> | undefined): void {
  for (const sub of node.subs) keepDerOfTree(sub, views);
  const der = views?.get(node) ?? node.toDER();
  Object.defineProperty(node, 'toDER', { value: () => der });
}

/** A new node for every node of the tree, over the same contents, each keeping the DER its original has. */
function copyTree(node: DerNode): DerNode {
  const Node = node.constructor as new (tag: DerNode['tag'], value: Buffer, subs: DerNode[]) => DerNode;
  const subs = node.subs.map(copyTree);
  const copy = new Node(node.tag, node.value, subs);
  const der = node.toDER();
  const kept = [...subs]; // the copy's own array is the one an edit changes
  const keptDer = kept.map((sub) => sub.toDER());
  const encode = Object.getPrototypeOf(node).toDER as (this: DerNode) => Buffer;
  const intact = (): boolean =>
    copy.value === node.value &&
    copy.subs.length === kept.length &&
    kept.every((sub, i) => copy.subs[i] === sub && sub.toDER() === keptDer[i]);
  Object.defineProperty(copy, 'toDER', { value: () => (intact() ? der : encode.call(copy)) });
  return copy;
}

/** The header re-encoding writes: the tag byte, then the length in DER's minimal form. */
function derHeader(tag: number, length: number): number[] {
  if (length < 0x80) return [tag, length];
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return [tag, 0x80 | bytes.length, ...bytes];
}

/**
 * The bytes `node` was parsed from, with those of its subtree collected into `views`; undefined where they
 * could differ from a re-encoding.
 */
function derView(node: DerNode, views: Map<DerNode, Buffer>): Buffer | undefined {
  if (!isDerNode(node)) return undefined;
  const { value } = node;
  const header = derHeader(node.tag.toDER(), value.length);
  const start = value.byteOffset - header.length;
  if (start < 0) return undefined;
  const der = Buffer.from(value.buffer, start, header.length + value.length);
  if (header.some((byte, i) => der[i] !== byte)) return undefined;
  let offset = value.byteOffset;
  for (const sub of node.subs) {
    const subDer = derView(sub, views);
    if (subDer === undefined || subDer.buffer !== value.buffer || subDer.byteOffset !== offset)
      return undefined;
    offset += subDer.length;
  }
  if (node.subs.length > 0 && offset !== value.byteOffset + value.length) return undefined;
  views.set(node, der);
  return der;
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
