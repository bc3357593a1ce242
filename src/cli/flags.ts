import { basename } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { checkAddressRange } from '../oci/address-guard.js';
import type { NoMatchAction } from '../policy/types.js';
import { parseDuration } from './duration.js';
import type { OutputFormat } from './output.js';
import { UsageError } from './usage-error.js';

/** Flags shared by every command that verifies images: where policies are, how to reach registries. */
export const VERIFY_FLAGS = {
  policy: { type: 'string', multiple: true },
  'no-match': { type: 'string', default: 'deny' },
  'registry-config': { type: 'string' },
  'registry-ca': { type: 'string', multiple: true },
  'insecure-registry': { type: 'string', multiple: true },
  'allow-registry-address': { type: 'string', multiple: true },
  'trust-root': { type: 'string', multiple: true },
  output: { type: 'string', short: 'o', default: 'text' },
  timeout: { type: 'string', default: '30s' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export interface VerifyFlags {
  readonly policyPaths: string[];
  readonly noMatch: NoMatchAction;
  readonly registryConfig?: string;
  readonly registryCa: string[];
  readonly insecureRegistries: string[];
  /** CIDRs of link-local or metadata addresses registries may be reached at anyway (refused by default). */
  readonly allowedRegistryAddresses?: string[];
  /** Custom Sigstore trusted roots that keyless authorities can name in `trustRoot`. */
  readonly trustRoots: { readonly name: string; readonly path: string }[];
  readonly output: OutputFormat;
  readonly timeoutMs: number;
}

export function parseFlags<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

type VerifyValues = ReturnType<typeof parseFlags<typeof VERIFY_FLAGS>>['values'];

export function verifyFlags(values: VerifyValues): VerifyFlags {
  if (!values.policy?.length) throw new UsageError('--policy PATH is required (a YAML file or a directory)');
  const noMatch = values['no-match'];
  if (noMatch !== 'deny' && noMatch !== 'allow' && noMatch !== 'warn') {
    throw new UsageError(`--no-match must be deny, allow or warn (got "${noMatch}")`);
  }
  const output = values.output;
  if (output !== 'text' && output !== 'json')
    throw new UsageError(`--output must be text or json (got "${output}")`);
  for (const host of values['insecure-registry'] ?? []) {
    if (!/^[^/\s]+$/.test(host)) throw new UsageError(`--insecure-registry takes HOST:PORT (got "${host}")`);
    // `host:443` is spelled `host` like every HTTPS registry; plain HTTP on 443 would be a second meaning.
    if (/:0*443$/.test(host)) {
      throw new UsageError(
        `--insecure-registry: port 443 is HTTPS's; plain HTTP there is not supported (got "${host}")`,
      );
    }
  }
  for (const range of values['allow-registry-address'] ?? []) {
    const problem = checkAddressRange(range);
    if (problem !== undefined) throw new UsageError(`--allow-registry-address: ${problem}`);
  }
  let timeoutMs: number;
  try {
    timeoutMs = parseDuration(values.timeout);
  } catch (err) {
    throw new UsageError(`--timeout: ${(err as Error).message}`);
  }
  return {
    policyPaths: values.policy,
    noMatch,
    ...(values['registry-config'] ? { registryConfig: values['registry-config'] } : {}),
    registryCa: values['registry-ca'] ?? [],
    insecureRegistries: values['insecure-registry'] ?? [],
    allowedRegistryAddresses: values['allow-registry-address'] ?? [],
    trustRoots: (values['trust-root'] ?? []).map(parseTrustRootFlag),
    output,
    timeoutMs,
  };
}

/** `NAME=FILE`, or `FILE` named after its base name without extension (`corp.json` → `corp`). */
function parseTrustRootFlag(text: string): { name: string; path: string } {
  const eq = text.indexOf('=');
  const name = eq > 0 ? text.slice(0, eq) : basename(text).replace(/\.json$/i, '');
  const path = eq > 0 ? text.slice(eq + 1) : text;
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) || !path) {
    throw new UsageError(`--trust-root takes NAME=FILE with a lowercase NAME (got "${text}")`);
  }
  return { name, path };
}

export const VERIFY_FLAGS_HELP = `  --policy PATH              policy YAML file or directory (repeatable, required)
  --no-match deny|allow|warn what to do with images no policy matches (default deny)
  --registry-config FILE     Docker config.json with registry credentials
  --registry-ca FILE         PEM CA certificate(s) for registries with a private CA (repeatable)
  --insecure-registry HOST:PORT  use plain HTTP for this registry (repeatable)
  --allow-registry-address CIDR  connect to registries at this link-local/metadata range anyway (repeatable)
  --trust-root NAME=FILE     a trusted_root.json that keyless authorities can name as trustRoot (repeatable)
  --output text|json         output format (default text)
  --timeout DURATION         deadline for the whole verification, e.g. 30s (default 30s)`;
