import { sanitizeText } from '../admission/text.js';
import { ProvenantError } from '../errors.js';
import { buildTrustRoot, createTrustStore, PUBLIC_GOOD, type TrustRoot } from '../trust/trust-store.js';
import {
  verifyArtifactBundle,
  type ArtifactBundleCheck,
  type ArtifactInput,
} from '../verify/artifact-bundle.js';
import { compileKeyAuthority } from '../verify/key-authority.js';
import type { Authority, VerifiedSigner } from '../verify/types.js';

export interface VerifyBundleIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly readFile: (path: string) => Promise<Uint8Array>;
}

export const VERIFY_BUNDLE_USAGE = `Usage:
  provenant verify-bundle --bundle FILE --certificate-identity IDENTITY --certificate-oidc-issuer URL [--trusted-root FILE] [--output text|json] FILE_OR_DIGEST
  provenant verify-bundle --bundle FILE --key PATH_TO_KEY [--trusted-root FILE] [--output text|json] FILE_OR_DIGEST

FILE_OR_DIGEST is the artifact, or sha256:<hex> (also sha384:<hex>, sha512:<hex>) of it. Without
--trusted-root the embedded Sigstore public-good root is used. Exit 0 only when the bundle verifies; 1 when
it does not; 2 for bad usage. --output json prints one JSON object with the signer and the timestamps that
counted.`;

const EXIT = { verified: 0, failed: 1, usage: 2 } as const;
const FLAGS = [
  '--bundle',
  '--certificate-identity',
  '--certificate-oidc-issuer',
  '--key',
  '--trusted-root',
  '--output',
] as const;
type Flag = (typeof FLAGS)[number];
// Identity and issuer are compared exactly, like cosign's --certificate-identity / --certificate-oidc-issuer.
const CLI_THRESHOLDS = { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 };
const DIGEST = /^(?:sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$/;

/**
 * `provenant verify-bundle`: the sigstore-conformance client protocol. Reads the bundle, key and trusted root
 * through `io.readFile` and verifies with the same code the admission path uses. A bad bundle, key or
 * trusted root is a failed verification (exit 1), never a crash.
 */
export async function verifyBundleCommand(argv: string[], io: VerifyBundleIo): Promise<number> {
  let args: Arguments;
  try {
    args = parseArguments(argv);
  } catch (err) {
    io.stderr(`provenant verify-bundle: ${(err as Error).message}\n\n${VERIFY_BUNDLE_USAGE}`);
    return EXIT.usage;
  }
  if (args.help) {
    io.stdout(VERIFY_BUNDLE_USAGE);
    return EXIT.verified;
  }
  try {
    const bundle = await io.readFile(args.bundle);
    const trustRoot = await loadTrustRoot(args.trustedRoot, io);
    const authority = await loadAuthority(args, io);
    const artifact: ArtifactInput = DIGEST.test(args.artifact)
      ? { digest: args.artifact }
      : { bytes: await io.readFile(args.artifact) };
    const check = verifyArtifactBundle(bundle, artifact, authority, trustRoot);
    if (args.output === 'json') {
      io.stdout(JSON.stringify(check.ok ? verifiedJson(check) : failedJson(check.code, check.message)));
      return check.ok ? EXIT.verified : EXIT.failed;
    }
    if (!check.ok) {
      io.stderr(`${check.code}: ${sanitizeText(check.message)}`);
      return EXIT.failed;
    }
    io.stdout(
      `OK: verified, signed by ${sanitizeText(check.signer.identity)}${sanitizeText(describeTimestamps(check.signer))}`,
    );
    return EXIT.verified;
  } catch (err) {
    const code = err instanceof ProvenantError ? err.code : undefined;
    const message = err instanceof Error ? err.message : String(err);
    if (args.output === 'json') {
      io.stdout(JSON.stringify(failedJson(code ?? 'INTERNAL_ERROR', message)));
      return EXIT.failed;
    }
    io.stderr(`provenant verify-bundle: ${code === undefined ? '' : `${code}: `}${sanitizeText(message)}`);
    return EXIT.failed;
  }
}

/** The JSON result; fields are added, never renamed (docs/interop.md shows an example). */
function verifiedJson(check: Extract<ArtifactBundleCheck, { ok: true }>): object {
  const { signer } = check;
  return {
    verified: true,
    signer: {
      identity: signer.identity,
      ...(signer.subject === undefined ? {} : { subject: signer.subject }),
      ...(signer.issuer === undefined ? {} : { issuer: signer.issuer }),
      ...(signer.keyId === undefined ? {} : { keyId: signer.keyId }),
    },
    ...(check.predicateType === undefined ? {} : { predicateType: check.predicateType }),
    ...(signer.signedAt === undefined ? {} : { signedAt: signer.signedAt.toISOString() }),
    timestamps: (signer.timestamps ?? []).map((t) => ({ ...t, time: t.time.toISOString() })),
    ignoredTimestamps: signer.ignoredTimestamps ?? [],
  };
}

function failedJson(code: string, message: string): object {
  return { verified: false, code, message };
}

function describeTimestamps(signer: VerifiedSigner): string {
  const counted = signer.timestamps ?? [];
  if (counted.length === 0) return '';
  const names = counted.map((t) =>
    t.kind === 'rfc3161' ? `RFC 3161 #${t.index} (${t.authority})` : `tlog ${t.log}`,
  );
  const ignored = signer.ignoredTimestamps?.length ?? 0;
  return `; timestamps counted: ${names.join(', ')}${ignored === 0 ? '' : `; ${ignored} RFC 3161 timestamp(s) not counted`}`;
}

interface Arguments {
  readonly help: boolean;
  readonly bundle: string;
  readonly artifact: string;
  readonly key?: string;
  readonly identity?: string;
  readonly issuer?: string;
  readonly trustedRoot?: string;
  readonly output: 'text' | 'json';
}

function parseArguments(argv: readonly string[]): Arguments {
  if (argv.includes('--help') || argv.includes('-h')) {
    return { help: true, bundle: '', artifact: '', output: 'text' };
  }
  const values = new Map<Flag, string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const [name, inline] = arg.startsWith('--') ? splitFlag(arg) : [undefined, undefined];
    if (name === undefined) {
      positional.push(arg);
      continue;
    }
    if (!(FLAGS as readonly string[]).includes(name)) throw new Error(`unknown flag ${name}`);
    const value = inline ?? argv[++i];
    if (value === undefined || value === '') throw new Error(`${name} needs a value`);
    if (values.has(name as Flag)) throw new Error(`${name} given twice`);
    values.set(name as Flag, value);
  }
  const bundle = values.get('--bundle');
  if (bundle === undefined) throw new Error('--bundle is required');
  if (positional.length !== 1) throw new Error('give exactly one FILE_OR_DIGEST');
  const key = values.get('--key');
  const identity = values.get('--certificate-identity');
  const issuer = values.get('--certificate-oidc-issuer');
  if (key === undefined && (identity === undefined || issuer === undefined)) {
    throw new Error('give --key, or both --certificate-identity and --certificate-oidc-issuer');
  }
  if (key !== undefined && (identity !== undefined || issuer !== undefined)) {
    throw new Error('--key cannot be combined with --certificate-identity or --certificate-oidc-issuer');
  }
  const trustedRoot = values.get('--trusted-root');
  const output = values.get('--output') ?? 'text';
  if (output !== 'text' && output !== 'json') throw new Error('--output must be text or json');
  return {
    help: false,
    output,
    bundle,
    artifact: positional[0] ?? '',
    ...(key === undefined ? {} : { key }),
    ...(identity === undefined ? {} : { identity }),
    ...(issuer === undefined ? {} : { issuer }),
    ...(trustedRoot === undefined ? {} : { trustedRoot }),
  };
}

function splitFlag(arg: string): [string, string | undefined] {
  const eq = arg.indexOf('=');
  return eq === -1 ? [arg, undefined] : [arg.slice(0, eq), arg.slice(eq + 1)];
}

async function loadTrustRoot(path: string | undefined, io: VerifyBundleIo): Promise<TrustRoot> {
  if (path === undefined) {
    const root = createTrustStore().get(PUBLIC_GOOD);
    if (root === undefined) throw new Error('the embedded public-good trusted root is missing');
    return root;
  }
  const root = buildTrustRoot(path, await io.readFile(path), CLI_THRESHOLDS);
  // A root that lists no transparency log or no CT log describes an instance without one (GitHub's
  // private Sigstore signs with a TSA only): requiring an entry it can never have would refuse every
  // bundle of that instance. A trusted time is still always required.
  return {
    ...root,
    thresholds: {
      ...CLI_THRESHOLDS,
      tlogThreshold: root.trustedRoot.tlogs.length === 0 ? 0 : CLI_THRESHOLDS.tlogThreshold,
      ctlogThreshold: root.trustedRoot.ctlogs.length === 0 ? 0 : CLI_THRESHOLDS.ctlogThreshold,
    },
  };
}

async function loadAuthority(args: Arguments, io: VerifyBundleIo): Promise<Authority> {
  if (args.key !== undefined) {
    return compileKeyAuthority(args.key, new TextDecoder().decode(await io.readFile(args.key)));
  }
  return {
    kind: 'keyless',
    name: 'command line',
    trustRoot: 'command line',
    identities: [{ subject: args.identity ?? '', issuer: args.issuer ?? '' }],
  };
}
