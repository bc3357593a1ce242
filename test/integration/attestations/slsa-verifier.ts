/**
 * slsa-verifier (slsa-framework/slsa-verifier v2.7.1, built from the Go module proxy; see slsa-verifier/) as an
 * independent judge of the real slsa-github-generator image, offline.
 *
 * `verify-image` reads the legacy `.att` through cosign's Go library, which takes Fulcio roots, Rekor and CT
 * log keys from sigstore's TUF client only: `SIGSTORE_ROOT_FILE` is not honoured on this path, and the client
 * refreshes from tuf-repo-cdn.sigstore.dev unless its cache holds an unexpired timestamp. So `tufseed` (same
 * module) builds a local TUF repository, signed by a key made on the spot, whose targets are the public-good
 * certificates and keys from the trusted_root.json the tests use, and initialises a private TUF_ROOT from it.
 * The trust is exactly public good's; only its delivery is local. The Ed25519 Rekor v2 key is left out: the
 * cosign 2.4 library slsa-verifier links refuses non-ECDSA Rekor keys, and the 2025 attestation predates it.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, mkdir, mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runTool, toolEnv, toolSandbox } from '../../support/images.js';
import { toolPath } from '../../support/registry.js';

const run = promisify(execFile);
const SOURCE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'slsa-verifier');
const PUBLIC_GOOD_ROOT = new URL(
  '../../fixtures/real/trusted-root/public-good/trusted_root.json',
  import.meta.url,
);
const SLSA_VERIFIER_PACKAGE = 'github.com/slsa-framework/slsa-verifier/v2/cli/slsa-verifier';

export interface SlsaVerifierFlags {
  readonly sourceUri: string;
  readonly sourceBranch?: string;
  readonly sourceTag?: string;
  readonly builderId?: string;
}

export interface SlsaVerifierResult {
  readonly verified: boolean;
  readonly stdout: string;
  readonly stderr: string;
  readonly command: string;
}

interface Prepared {
  readonly binary: string;
  readonly tufRoot: string;
}

let prepared: Promise<Prepared> | undefined;

/** Builds slsa-verifier and seeds its TUF cache, once per test process. Call from `beforeAll`. */
export function prepareSlsaVerifier(): Promise<Prepared> {
  prepared ??= (async () => {
    const [binary, tufseed] = await Promise.all([
      buildOnce('slsa-verifier', SLSA_VERIFIER_PACKAGE),
      buildOnce('tufseed', './tufseed'),
    ]);
    return { binary, tufRoot: await seedTufRoot(tufseed) };
  })();
  return prepared;
}

/** `slsa-verifier verify-image IMAGE --source-uri …`; exit 0 is `verified`. */
export async function slsaVerifierVerifyImage(
  digestRef: string,
  flags: SlsaVerifierFlags,
): Promise<SlsaVerifierResult> {
  const { binary, tufRoot } = await prepareSlsaVerifier();
  const args = ['verify-image', '--source-uri', flags.sourceUri];
  if (flags.sourceBranch !== undefined) args.push('--source-branch', flags.sourceBranch);
  if (flags.sourceTag !== undefined) args.push('--source-tag', flags.sourceTag);
  if (flags.builderId !== undefined) args.push('--builder-id', flags.builderId);
  args.push(digestRef);
  // go-containerregistry speaks plain HTTP to 127.0.0.1 on its own; no flag needed (or offered).
  const result = await runTool(binary, args, {
    env: toolEnv(undefined, { TUF_ROOT: tufRoot }),
    timeoutMs: 60_000,
  });
  return {
    verified: result.exitCode === 0,
    stdout: result.stdout,
    stderr: result.stderr,
    command: `TUF_ROOT=${tufRoot} ${binary} ${args.join(' ')}`,
  };
}

function goBinary(): string {
  try {
    return toolPath('go');
  } catch {
    return '/usr/local/go/bin/go';
  }
}

/** Builds one package of the slsa-verifier/ module once per source version; Go's caches make rebuilds cheap. */
async function buildOnce(name: string, pkg: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum', 'tools.go', 'tufseed/main.go']) {
    hash.update(await readFile(join(SOURCE_DIR, file)));
  }
  const binary = join(tmpdir(), `provenant-${name}-${hash.digest('hex').slice(0, 16)}`);
  try {
    await access(binary);
    return binary;
  } catch {
    const partial = `${binary}.${process.pid}`;
    await run(goBinary(), ['build', '-trimpath', '-o', partial, pkg], {
      cwd: SOURCE_DIR,
      env: { ...process.env, GOFLAGS: '-mod=readonly', GOTOOLCHAIN: 'local', CGO_ENABLED: '0' },
      timeout: 600_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    await rename(partial, binary);
    return binary;
  }
}

interface TrustedRootJson {
  readonly certificateAuthorities: readonly {
    certChain: { certificates: readonly { rawBytes: string }[] };
  }[];
  readonly tlogs: readonly { publicKey: { rawBytes: string; keyDetails: string } }[];
  readonly ctlogs: readonly { publicKey: { rawBytes: string; keyDetails: string } }[];
}

function pem(base64: string, label: string): string {
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

async function seedTufRoot(tufseed: string): Promise<string> {
  const root = JSON.parse(await readFile(PUBLIC_GOOD_ROOT, 'utf8')) as TrustedRootJson;
  const dir = await mkdtemp(join(toolSandbox().root, 'slsa-verifier-'));
  const tufRoot = join(dir, 'tuf-root');
  await mkdir(tufRoot);
  const targets: string[] = [];
  const add = async (kind: string, file: string, content: string): Promise<void> => {
    const path = join(dir, file);
    await writeFile(path, content);
    targets.push(`${kind}=${path}`);
  };
  await add(
    'fulcio',
    'fulcio.pem',
    root.certificateAuthorities
      .flatMap((ca) => ca.certChain.certificates.map((c) => pem(c.rawBytes, 'CERTIFICATE')))
      .join(''),
  );
  const ecdsa = (k: { keyDetails: string }) => k.keyDetails.startsWith('PKIX_ECDSA_');
  for (const [i, log] of root.tlogs.entries()) {
    if (ecdsa(log.publicKey)) await add('rekor', `rekor-${i}.pem`, pem(log.publicKey.rawBytes, 'PUBLIC KEY'));
  }
  for (const [i, log] of root.ctlogs.entries()) {
    if (ecdsa(log.publicKey)) await add('ctfe', `ctfe-${i}.pem`, pem(log.publicKey.rawBytes, 'PUBLIC KEY'));
  }
  const result = await runTool(tufseed, [join(dir, 'tuf-repo'), ...targets], {
    env: toolEnv(undefined, { TUF_ROOT: tufRoot }),
    timeoutMs: 60_000,
  });
  if (result.exitCode !== 0) throw new Error(`tufseed failed: ${result.stderr}`);
  return tufRoot;
}
