/**
 * A private Sigstore for tests: Fulcio, Rekor and a TSA on loopback ports, the trusted_root.json that
 * describes them, and signing helpers that produce real Sigstore bundles with @sigstore/sign.
 *
 * Keyless verification can only be tested end to end against keys we hold: public-good material is pinned
 * to real identities and times. With this, a test picks the identity, certificate extensions and validity it
 * needs, and gets bundles that @sigstore/verify and cosign check against a trust root the test controls. Two
 * instances share nothing, so the second one is the "untrusted CA".
 *
 *   const sigstore = await startPrivateSigstore();
 *   const bundle = await sigstore.signDsse(statement, githubActionsIdentity({ repository: 'acme/app' }));
 *   …
 *   await sigstore.stop();
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleToJSON, BUNDLE_V03_MEDIA_TYPE, type Bundle, type SerializedBundle } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import {
  DSSEBundleBuilder,
  FulcioSigner,
  MessageSignatureBundleBuilder,
  RekorWitness,
  TSAWitness,
  type Witness,
} from '@sigstore/sign';
import { toTrustMaterial, type TrustMaterial } from '@sigstore/verify';
import { createCertificateAuthority, fulcioValidity } from './sigstore-ca.js';
import { identityToken, type SigstoreIdentity } from './sigstore-identity.js';
import { startSigstoreServices, toPEM, type RecordedRequest } from './sigstore-server.js';
import { createTimestampAuthority } from './sigstore-tsa.js';

export { FULCIO_OIDS, encodeFulcioExtension, type FulcioExtensionName } from './sigstore-ca.js';
export {
  GITHUB_ACTIONS_ISSUER,
  githubActionsIdentity,
  identityToken,
  type GitHubActionsIdentityOptions,
  type SigstoreIdentity,
} from './sigstore-identity.js';
export type { RecordedRequest } from './sigstore-server.js';
export type { SerializedBundle } from '@sigstore/bundle';

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
/** The predicate cosign 3 signs for `cosign sign` in the bundle format (cosign `pkg/types/predicate.go`). */
export const COSIGN_SIGN_PREDICATE_TYPE = 'https://sigstore.dev/cosign/sign/v1';

export type TrustedRootVersion = '0.1' | '0.2';
const TRUSTED_ROOT_MEDIA_TYPES: Record<TrustedRootVersion, string> = {
  '0.1': 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  '0.2': 'application/vnd.dev.sigstore.trustedroot.v0.2+json',
};

export interface PrivateSigstoreOptions {
  /** Organisation in the CA names; tells instances apart in failure messages. Default `provenant-test`. */
  name?: string;
  /** Sign leaves with an intermediate, as Fulcio does. Default true; false gives a root-only chain. */
  intermediate?: boolean;
  /**
   * Media type of the trusted_root.json. Default `0.1`, as public good still ships: cosign 3.1.1 (sigstore-go)
   * refuses `application/vnd.dev.sigstore.trustedroot.v0.2+json` ("unsupported TrustedRoot media type").
   */
  trustedRootVersion?: TrustedRootVersion;
}

/** trusted_root.json as JSON (protobuf JSON mapping: bytes base64, enums by name, times RFC 3339). */
export interface TrustedRootJSON {
  mediaType: string;
  tlogs: TransparencyLogJSON[];
  certificateAuthorities: CertificateAuthorityJSON[];
  ctlogs: TransparencyLogJSON[];
  timestampAuthorities: CertificateAuthorityJSON[];
}

export interface TransparencyLogJSON {
  baseUrl: string;
  hashAlgorithm: 'SHA2_256';
  publicKey: { rawBytes: string; keyDetails: 'PKIX_ECDSA_P256_SHA_256'; validFor: { start: string } };
  logId: { keyId: string };
}

export interface CertificateAuthorityJSON {
  subject: { organization: string; commonName: string };
  uri: string;
  certChain: { certificates: Array<{ rawBytes: string }> };
  validFor: { start: string };
}

export interface SigningConfigJSON {
  mediaType: string;
  caUrls: ServiceJSON[];
  oidcUrls: ServiceJSON[];
  rekorTlogUrls: ServiceJSON[];
  rekorTlogConfig: { selector: 'ANY' | 'ALL' | 'EXACT' };
  tsaUrls: ServiceJSON[];
  tsaConfig: { selector: 'ANY' | 'ALL' | 'EXACT' };
}

export interface ServiceJSON {
  url: string;
  majorApiVersion: number;
  validFor: { start: string };
  operator: string;
}

/** Files for clients that take trust material piecewise (cosign's SIGSTORE_* variables). All PEM. */
export interface PrivateSigstoreFiles {
  /** Fulcio intermediate (if any) and root: `SIGSTORE_ROOT_FILE`. */
  fulcioChain: string;
  /** `SIGSTORE_REKOR_PUBLIC_KEY`. */
  rekorPublicKey: string;
  /** `SIGSTORE_CT_LOG_PUBLIC_KEY_FILE`. */
  ctLogPublicKey: string;
  /** TSA leaf and root: cosign's `--timestamp-certificate-chain`. */
  tsaChain: string;
  /** signing_config.json v0.2 naming this instance's services: cosign 3's `--signing-config`. */
  signingConfig: string;
}

export interface Witnesses {
  /** Log the signature in Rekor (inclusion promise + proof). Default true. */
  rekor?: boolean;
  /** Get an RFC 3161 timestamp from the TSA. Default false, like sigstore-js against public good. */
  tsa?: boolean;
}

export interface SignBundleOptions {
  identity: SigstoreIdentity;
  /** `messageSignature` signs `payload` (hashedrekord entry); `dsse` wraps `payload` or `statement` in DSSE. */
  kind: 'messageSignature' | 'dsse';
  payload?: Buffer | string;
  /** An in-toto statement; implies `kind: 'dsse'` and payloadType `application/vnd.in-toto+json`. */
  statement?: object;
  /** DSSE payloadType when `payload` is given. Default `application/vnd.in-toto+json`. */
  payloadType?: string;
  witnesses?: Witnesses;
  /**
   * Rekor entry type for DSSE. Default `dsse` (cosign ≥ 2.2); `intoto` (0.0.2) is what older clients logged.
   * Both verify here because the test Rekor canonicalises entries as Rekor does.
   */
  rekorEntryType?: 'dsse' | 'intoto';
}

export interface PrivateSigstore {
  readonly name: string;
  readonly fulcioUrl: string;
  readonly rekorUrl: string;
  /** Base URL; the RFC 3161 endpoint is `${tsaUrl}/api/v1/timestamp`. */
  readonly tsaUrl: string;
  readonly trustedRoot: TrustedRootJSON;
  readonly trustedRootPath: string;
  /** signing_config.json v0.2 content (also written to `files.signingConfig`). */
  readonly signingConfig: SigningConfigJSON;
  readonly files: PrivateSigstoreFiles;
  /** Temporary folder holding the files above; removed by `stop()`. */
  readonly dir: string;
  readonly requests: readonly RecordedRequest[];
  /** @sigstore/verify trust material for `trustedRoot`. */
  trustMaterial(): TrustMaterial;
  /** An identity token for the identity, for clients that sign on their own (cosign `--identity-token`). */
  identityToken(identity: SigstoreIdentity): string;
  signBundle(options: SignBundleOptions): Promise<SerializedBundle>;
  /** A `messageSignature` bundle over `payload`. */
  signBlob(
    payload: Buffer | string,
    identity: SigstoreIdentity,
    witnesses?: Witnesses,
  ): Promise<SerializedBundle>;
  /** A DSSE bundle over an in-toto statement. */
  signDsse(statement: object, identity: SigstoreIdentity, witnesses?: Witnesses): Promise<SerializedBundle>;
  /** A cosign-3-style image signature: DSSE over a `https://sigstore.dev/cosign/sign/v1` statement. */
  signImage(
    imageDigest: string,
    identity: SigstoreIdentity,
    options?: { witnesses?: Witnesses; annotations?: Record<string, string> },
  ): Promise<SerializedBundle>;
  stop(): Promise<void>;
}

export async function startPrivateSigstore(options: PrivateSigstoreOptions = {}): Promise<PrivateSigstore> {
  const name = options.name ?? 'provenant-test';
  const ca = await createCertificateAuthority({
    organization: name,
    intermediate: options.intermediate ?? true,
  });
  const tsa = await createTimestampAuthority({
    organization: name,
    validFrom: ca.validFrom,
    validTo: ca.validTo,
  });
  const services = await startSigstoreServices(ca, tsa);
  const dir = await mkdtemp(join(tmpdir(), `sigstore-${name}-`));

  const validFrom = { start: ca.validFrom.toISOString() };
  const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
  const trustedRoot: TrustedRootJSON = {
    mediaType: TRUSTED_ROOT_MEDIA_TYPES[options.trustedRootVersion ?? '0.1'],
    tlogs: [
      {
        baseUrl: services.rekorUrl,
        hashAlgorithm: 'SHA2_256',
        publicKey: {
          rawBytes: b64(services.rekor.publicKey),
          keyDetails: 'PKIX_ECDSA_P256_SHA_256',
          validFor: validFrom,
        },
        logId: { keyId: b64(services.rekor.logId) },
      },
    ],
    certificateAuthorities: [
      {
        subject: { organization: name, commonName: 'sigstore' },
        uri: services.fulcioUrl,
        certChain: { certificates: ca.chain.map((der) => ({ rawBytes: b64(der) })) },
        validFor: validFrom,
      },
    ],
    ctlogs: [
      {
        // Informational only: SCTs are embedded by our Fulcio, nobody submits to this URL.
        baseUrl: `${services.fulcioUrl}/ct`,
        hashAlgorithm: 'SHA2_256',
        publicKey: {
          rawBytes: b64(ca.ctLog.publicKey),
          keyDetails: 'PKIX_ECDSA_P256_SHA_256',
          validFor: validFrom,
        },
        logId: { keyId: b64(ca.ctLog.logId) },
      },
    ],
    timestampAuthorities: [
      {
        subject: { organization: name, commonName: 'tsa' },
        uri: `${services.tsaUrl}/api/v1/timestamp`,
        certChain: { certificates: tsa.chain.map((der) => ({ rawBytes: b64(der) })) },
        validFor: validFrom,
      },
    ],
  };

  const signingConfig: SigningConfigJSON = {
    mediaType: 'application/vnd.dev.sigstore.signingconfig.v0.2+json',
    caUrls: [{ url: services.fulcioUrl, majorApiVersion: 1, validFor: validFrom, operator: name }],
    oidcUrls: [],
    rekorTlogUrls: [{ url: services.rekorUrl, majorApiVersion: 1, validFor: validFrom, operator: name }],
    rekorTlogConfig: { selector: 'ANY' },
    tsaUrls: [
      { url: `${services.tsaUrl}/api/v1/timestamp`, majorApiVersion: 1, validFor: validFrom, operator: name },
    ],
    tsaConfig: { selector: 'ANY' },
  };

  const trustedRootPath = join(dir, 'trusted_root.json');
  const files: PrivateSigstoreFiles = {
    fulcioChain: join(dir, 'fulcio_chain.pem'),
    rekorPublicKey: join(dir, 'rekor.pub'),
    ctLogPublicKey: join(dir, 'ctfe.pub'),
    tsaChain: join(dir, 'tsa_chain.pem'),
    signingConfig: join(dir, 'signing_config.json'),
  };
  await Promise.all([
    writeFile(trustedRootPath, JSON.stringify(trustedRoot, null, 2)),
    writeFile(files.fulcioChain, ca.chain.map((der) => toPEM(der, 'CERTIFICATE')).join('')),
    writeFile(files.rekorPublicKey, toPEM(services.rekor.publicKey, 'PUBLIC KEY')),
    writeFile(files.ctLogPublicKey, toPEM(ca.ctLog.publicKey, 'PUBLIC KEY')),
    writeFile(files.tsaChain, tsa.chain.map((der) => toPEM(der, 'CERTIFICATE')).join('')),
    writeFile(files.signingConfig, JSON.stringify(signingConfig, null, 2)),
  ]);

  const signBundle = async (opts: SignBundleOptions): Promise<SerializedBundle> => {
    const signer = new FulcioSigner({
      fulcioBaseURL: services.fulcioUrl,
      identityProvider: { getToken: () => Promise.resolve(identityToken(opts.identity)) },
      // A failure here is a bug in the test setup; retrying only hides it for longer.
      retry: 0,
    });
    const witnesses: Witness[] = [];
    if (opts.witnesses?.rekor ?? true) {
      witnesses.push(
        new RekorWitness({
          rekorBaseURL: services.rekorUrl,
          entryType: opts.rekorEntryType ?? 'dsse',
          retry: 0,
        }),
      );
    }
    if (opts.witnesses?.tsa ?? false)
      witnesses.push(new TSAWitness({ tsaBaseURL: services.tsaUrl, retry: 0 }));

    const dsse = opts.kind === 'dsse' || opts.statement !== undefined;
    const data =
      opts.statement !== undefined
        ? Buffer.from(JSON.stringify(opts.statement))
        : Buffer.from(opts.payload ?? '');
    const bundle: Bundle = dsse
      ? await new DSSEBundleBuilder({ signer, witnesses }).create({
          data,
          type:
            opts.statement !== undefined ? IN_TOTO_PAYLOAD_TYPE : (opts.payloadType ?? IN_TOTO_PAYLOAD_TYPE),
        })
      : await new MessageSignatureBundleBuilder({ signer, witnesses }).create({ data });
    return bundleToJSON(toV03(bundle));
  };

  return {
    name,
    fulcioUrl: services.fulcioUrl,
    rekorUrl: services.rekorUrl,
    tsaUrl: services.tsaUrl,
    trustedRoot,
    trustedRootPath,
    signingConfig,
    files,
    dir,
    requests: services.requests,
    trustMaterial: () => toTrustMaterial(TrustedRoot.fromJSON(trustedRoot)),
    identityToken,
    signBundle,
    signBlob: (payload, identity, witnesses) =>
      signBundle({ kind: 'messageSignature', payload, identity, ...(witnesses ? { witnesses } : {}) }),
    signDsse: (statement, identity, witnesses) =>
      signBundle({ kind: 'dsse', statement, identity, ...(witnesses ? { witnesses } : {}) }),
    signImage: (imageDigest, identity, imageOptions = {}) =>
      signBundle({
        kind: 'dsse',
        statement: cosignSignStatement(imageDigest, imageOptions.annotations),
        identity,
        ...(imageOptions.witnesses ? { witnesses: imageOptions.witnesses } : {}),
      }),
    async stop() {
      await services.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The statement cosign 3 signs for `cosign sign` (cosign `cmd/cosign/cli/sign/sign.go` `signDigestBundle`), as
 * cosign 3.1.1 writes it: the image digest as the only subject, with no `name` and the `-a` annotations (`{}`
 * when none), and an empty predicate.
 */
export function cosignSignStatement(imageDigest: string, annotations: Record<string, string> = {}): object {
  const [algorithm, hex] = imageDigest.split(':');
  if (algorithm !== 'sha256' || hex === undefined) throw new Error(`not a sha256 digest: ${imageDigest}`);
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ digest: { sha256: hex }, annotations }],
    predicateType: COSIGN_SIGN_PREDICATE_TYPE,
    predicate: {},
  };
}

/** An in-toto v1 statement about one image digest. */
export function inTotoStatement(
  imageDigest: string,
  predicateType: string,
  predicate: object,
  name = '',
): object {
  const hex = imageDigest.replace(/^sha256:/, '');
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name, digest: { sha256: hex } }],
    predicateType,
    predicate,
  };
}

/** A leaf validity that ended before `now`: signing with it yields "certificate expired at signing time". */
export function expiredValidity(now = new Date()): { notBefore: Date; notAfter: Date } {
  return fulcioValidity(new Date(now.getTime() - 60 * 60_000));
}

// @sigstore/sign still writes message-signature bundles as v0.2 with a one-element chain; cosign 3 and
// current clients write v0.3 with a single `certificate`, which is the form Provenant must read.
function toV03(bundle: Bundle): Bundle {
  const content = bundle.verificationMaterial.content;
  if (content.$case !== 'x509CertificateChain') return bundle;
  const leaf = content.x509CertificateChain.certificates[0];
  if (leaf === undefined) return bundle;
  return {
    ...bundle,
    mediaType: BUNDLE_V03_MEDIA_TYPE,
    verificationMaterial: {
      ...bundle.verificationMaterial,
      content: { $case: 'certificate', certificate: leaf },
    },
  };
}

// ---------------------------------------------------------------------------------------- tampering

export type BundleTampering =
  /**
   * Re-encode the logged entry body with one extra space: it parses to the same JSON, so the body still
   * matches the bundle and only the SET and the inclusion proof (which hash the exact bytes) can object.
   */
  | 'canonicalizedBody'
  /** Flip a byte in Rekor's signed entry timestamp. */
  | 'signedEntryTimestamp'
  /**
   * Move the log's integrated time by one second: still inside the certificate's validity, so only the SET
   * can object.
   */
  | 'integratedTime'
  /** Flip a byte in the artifact signature (message signature or DSSE). */
  | 'signature'
  /** Change the DSSE payload after signing. */
  | 'payload';

/** A copy of `bundle` with one part tampered with; the original is untouched. */
export function tamperBundle(bundle: SerializedBundle, what: BundleTampering): SerializedBundle {
  const copy = structuredClone(bundle);
  const entry = copy.verificationMaterial.tlogEntries[0];
  switch (what) {
    case 'canonicalizedBody': {
      if (!entry) throw new Error('bundle has no tlog entry');
      const body = Buffer.from(entry.canonicalizedBody, 'base64').toString('utf8');
      entry.canonicalizedBody = Buffer.from(body.replace(/^\{/, '{ ')).toString('base64');
      return copy;
    }
    case 'signedEntryTimestamp': {
      const set = entry?.inclusionPromise?.signedEntryTimestamp;
      if (!entry?.inclusionPromise || set === undefined) throw new Error('bundle has no inclusion promise');
      entry.inclusionPromise.signedEntryTimestamp = flipByte(set);
      return copy;
    }
    case 'integratedTime':
      if (!entry) throw new Error('bundle has no tlog entry');
      entry.integratedTime = String(Number(entry.integratedTime) + 1);
      return copy;
    case 'signature':
      if (copy.messageSignature) copy.messageSignature.signature = flipByte(copy.messageSignature.signature);
      else if (copy.dsseEnvelope?.signatures[0]) {
        copy.dsseEnvelope.signatures[0].sig = flipByte(copy.dsseEnvelope.signatures[0].sig);
      }
      return copy;
    case 'payload': {
      if (!copy.dsseEnvelope) throw new Error('bundle has no DSSE envelope');
      const payload = Buffer.from(copy.dsseEnvelope.payload, 'base64').toString('utf8');
      // Point the subject at another digest: still a well-formed statement, but not the one that was signed.
      const changed = payload.replace(
        /"sha256":"(.)/,
        (_m, c: string) => `"sha256":"${c === '0' ? '1' : '0'}`,
      );
      copy.dsseEnvelope.payload = Buffer.from(changed).toString('base64');
      return copy;
    }
  }
}

function flipByte(base64: string): string {
  const bytes = Buffer.from(base64, 'base64');
  const last = bytes.length - 1;
  bytes[last] = (bytes[last] ?? 0) ^ 0x01;
  return bytes.toString('base64');
}
