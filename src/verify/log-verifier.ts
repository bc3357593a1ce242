import type { TransparencyLogEntry } from '@sigstore/bundle';
import { ProvenantError } from '../errors.js';

/** What signed, as the bundle presents it: the leaf certificate (keyless) or the public key (key authority). */
export type ExpectedSigner =
  { readonly certificate: Uint8Array } | { readonly publicKey: Uint8Array; readonly description: string };

// Rekor v1's `intoto` is also at 0.0.2; only these two are Rekor v2 bodies.
const REKOR_V2_KINDS = new Set(['hashedrekord/0.0.2', 'dsse/0.0.2']);

type Verifier = { readonly kind: 'certificate' | 'publicKey'; readonly der: Buffer };

/**
 * Requires every Rekor v2 entry (`hashedrekord`/`dsse` 0.0.2) to record the signer the bundle presents, as
 * the client specification asks ("the key or certificate from the parsed body is the same as in the input
 * certificate", client-spec §4.4). @sigstore/verify compares only the signature and digest of a v2 entry.
 *
 * For a certificate, only the same certificate counts. A v2 entry may record a bare public key instead; in
 * a keyless bundle that entry binds the key, not the identity: the log shows that some key signed, and an
 * identity monitor watching the log (rekor-v2-spec §7.3) never sees the signing event. Provenant refuses it
 * (TLOG_INVALID), as cosign does; docs/interop.md gives the reasoning. Rekor v1 entries are bound by their
 * SET or checkpoint and checked by the library as before. Call only after the entries verified: a body that
 * cannot be read here has already been refused there.
 */
export function assertLogRecordsSigner(
  entries: readonly TransparencyLogEntry[],
  signer: ExpectedSigner,
): void {
  entries.forEach((entry, index) => {
    if (!REKOR_V2_KINDS.has(`${entry.kindVersion.kind}/${entry.kindVersion.version}`)) return;
    const verifiers = loggedVerifiers(entry.canonicalizedBody);
    if (verifiers.length === 0) {
      throw new ProvenantError(
        'TLOG_INVALID',
        `transparency-log entry ${index} records no key or certificate`,
      );
    }
    for (const verifier of verifiers) {
      const mismatch = compare(verifier, signer);
      if (mismatch !== undefined) {
        throw new ProvenantError('TLOG_INVALID', `transparency-log entry ${index} ${mismatch}`);
      }
    }
  });
}

function compare(verifier: Verifier, signer: ExpectedSigner): string | undefined {
  if ('certificate' in signer) {
    if (verifier.kind === 'publicKey') {
      return 'records a bare public key, not the signing certificate: it does not bind the signer identity';
    }
    return verifier.der.equals(Buffer.from(signer.certificate))
      ? undefined
      : 'records another certificate than the bundle';
  }
  if (verifier.kind === 'certificate') return `records a certificate, not key ${signer.description}`;
  return verifier.der.equals(Buffer.from(signer.publicKey))
    ? undefined
    : `records another public key than ${signer.description}`;
}

/** The verifiers of a v2 body: `hashedRekordV002.signature.verifier` or every `dsseV002.signatures[].verifier`. */
function loggedVerifiers(body: Buffer): Verifier[] {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    return [];
  }
  const spec = (doc as { spec?: Record<string, unknown> } | null)?.spec;
  const hashed = (spec?.hashedRekordV002 as { signature?: { verifier?: unknown } } | undefined)?.signature;
  const dsse = (spec?.dsseV002 as { signatures?: unknown } | undefined)?.signatures;
  const raw = [
    hashed?.verifier,
    ...(Array.isArray(dsse) ? dsse.map((s) => (s as { verifier?: unknown })?.verifier) : []),
  ];
  return raw.flatMap((v): Verifier[] => {
    const certificate = (v as { x509Certificate?: { rawBytes?: unknown } } | undefined)?.x509Certificate
      ?.rawBytes;
    const publicKey = (v as { publicKey?: { rawBytes?: unknown } } | undefined)?.publicKey?.rawBytes;
    if (typeof certificate === 'string')
      return [{ kind: 'certificate', der: Buffer.from(certificate, 'base64') }];
    if (typeof publicKey === 'string') return [{ kind: 'publicKey', der: Buffer.from(publicKey, 'base64') }];
    return [];
  });
}
