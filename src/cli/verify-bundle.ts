import { ProvenantError } from '../errors.js';
import { buildTrustRoot, createTrustStore, PUBLIC_GOOD, type TrustRoot } from '../trust/trust-store.js';
import { verifyArtifactBundle, type ArtifactInput } from '../verify/artifact-bundle.js';
import { compileKeyAuthority } from '../verify/key-authority.js';
import type { Authority } from '../verify/types.js';

export interface VerifyBundleIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly readFile: (path: string) => Promise<Uint8Array>;
}

export const VERIFY_BUNDLE_USAGE = `Usage:
  provenant verify-bundle --bundle FILE --certificate-identity IDENTITY --certificate-oidc-issuer URL [--trusted-root FILE] FILE_OR_DIGEST
  provenant verify-bundle --bundle FILE --key PATH_TO_KEY [--trusted-root FILE] FILE_OR_DIGEST

FILE_OR_DIGEST is the artifact, or sha256:<hex> of it. Without --trusted-root the embedded Sigstore
public-good root is used. Exit 0 only when the bundle verifies; 1 when it does not; 2 for bad usage.`;

const EXIT = { verified: 0, failed: 1, usage: 2 } as const;
const FLAGS = [
  '--bundle',
  '--certificate-identity',
  '--certificate-oidc-issuer',
  '--key',
  '--trusted-root',
] as const;
type Flag = (typeof FLAGS)[number];
// Identity and issuer are compared exactly, like cosign's --certificate-identity / --certificate-oidc-issuer.
const CLI_THRESHOLDS = { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 };

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
    const artifact: ArtifactInput = /^sha256:[0-9a-f]{64}$/.test(args.artifact)
      ? { digest: args.artifact }
      : { bytes: await io.readFile(args.artifact) };
    const check = verifyArtifactBundle(bundle, artifact, authority, trustRoot);
    if (!check.ok) {
      io.stderr(`${check.code}: ${check.message}`);
      return EXIT.failed;
    }
    io.stdout(`OK: verified, signed by ${check.signer.identity}`);
    return EXIT.verified;
  } catch (err) {
    const code = err instanceof ProvenantError ? `${err.code}: ` : '';
    io.stderr(`provenant verify-bundle: ${code}${err instanceof Error ? err.message : String(err)}`);
    return EXIT.failed;
  }
}

interface Arguments {
  readonly help: boolean;
  readonly bundle: string;
  readonly artifact: string;
  readonly key?: string;
  readonly identity?: string;
  readonly issuer?: string;
  readonly trustedRoot?: string;
}

function parseArguments(argv: readonly string[]): Arguments {
  if (argv.includes('--help') || argv.includes('-h')) return { help: true, bundle: '', artifact: '' };
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
  return {
    help: false,
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
  return buildTrustRoot(path, await io.readFile(path), CLI_THRESHOLDS);
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
