import { readFile } from 'node:fs/promises';
import { systemClock } from '../clock.js';
import { compilePolicies } from '../policy/compile.js';
import { readPolicyDocuments } from '../config/policy-files.js';
import { ImageVerificationService } from '../image-verification.js';
import { anonymous, parseDockerConfig } from '../oci/auth.js';
import { HttpRegistry } from '../oci/http-registry.js';
import { compileAuthoritySpec } from '../policy/authorities.js';
import type { VerifyFlags } from './flags.js';
import { UsageError } from './usage-error.js';

export interface Runtime {
  readonly verifier: ImageVerificationService;
  readonly registry: HttpRegistry;
  close(): Promise<void>;
}

/** Reads the registry flags into a registry client: credentials, private CAs, plain-HTTP registries. */
export async function createRegistry(
  flags: Pick<VerifyFlags, 'registryConfig' | 'registryCa' | 'insecureRegistries'>,
) {
  const credentials = flags.registryConfig
    ? parseDockerConfig(await readFlagFile('--registry-config', flags.registryConfig))
    : anonymous;
  const caCertificates = await Promise.all(flags.registryCa.map((f) => readFlagFile('--registry-ca', f)));
  return new HttpRegistry({ credentials, caCertificates, insecureRegistries: flags.insecureRegistries });
}

/** One-shot runtime for `verify` and `check`: policies loaded once, no cache worth keeping. */
export async function createRuntime(flags: VerifyFlags): Promise<Runtime> {
  const policies = compilePolicies(await readPolicyDocuments(flags.policyPaths), compileAuthoritySpec);
  const registry = await createRegistry(flags);
  const verifier = new ImageVerificationService({
    registry,
    policies: () => policies,
    noMatch: flags.noMatch,
    clock: systemClock,
    cacheTtlMs: 0,
    negativeCacheTtlMs: 0,
    cacheMaxEntries: 1,
    concurrency: 8,
    verifyContext: {},
  });
  return { verifier, registry, close: () => registry.close() };
}

async function readFlagFile(flag: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${flag} ${path}: ${(err as Error).message}`);
  }
}
