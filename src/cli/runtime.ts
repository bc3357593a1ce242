import { readFile } from 'node:fs/promises';
import type { WorkloadCredentials } from '../admission/decide.js';
import type { CacheOutcome } from '../cache/single-flight-cache.js';
import type { WebhookCertificateApi } from '../certs/index.js';
import { systemClock, type Clock } from '../clock.js';
import { readPolicyDocuments } from '../config/policy-files.js';
import { FilePolicyStore, type PolicyStoreEvents } from '../config/policy-store.js';
import { readTrustRootFiles, watchTrustRootFiles } from '../config/trust-root-files.js';
import { ImageVerificationService } from '../image-verification.js';
import { anonymous, parseDockerConfig } from '../oci/auth.js';
import { HttpRegistry, type RegistryRequestEvent } from '../oci/http-registry.js';
import type { PlainHttpRegistries } from '../oci/registry-host.js';
import type { Registry } from '../oci/registry.js';
import { authorityCompiler } from '../policy/authorities.js';
import { compilePolicies, type PolicySet } from '../policy/compile.js';
import type { NoMatchAction } from '../policy/types.js';
import type { KubeConfig } from '@kubernetes/client-node';
import { describeError, type LogSink } from '../kube/log.js';
import type { PolicyStatusWriter } from '../kube/status.js';
import { createTrustStore, type CustomTrustRoot, type TrustStore } from '../trust/index.js';
import type { VerifyFlags } from './flags.js';
import { UsageError } from './usage-error.js';

export interface Runtime {
  readonly verifier: ImageVerificationService;
  readonly registry: HttpRegistry;
  close(): Promise<void>;
}

export type RegistryFlags = Pick<
  VerifyFlags,
  'registryConfig' | 'registryCa' | 'insecureRegistries' | 'allowedRegistryAddresses'
>;

export interface RegistryHooks {
  /** Every registry HTTP exchange (metrics, request counting in tests and the bench). */
  readonly onRequest?: (event: RegistryRequestEvent) => void;
}

/** Reads the registry flags into a registry client: credentials, private CAs, plain-HTTP registries. */
export async function createRegistry(flags: RegistryFlags, hooks: RegistryHooks = {}): Promise<HttpRegistry> {
  const credentials = flags.registryConfig
    ? parseDockerConfig(await readFlagFile('--registry-config', flags.registryConfig))
    : anonymous;
  const caCertificates = await Promise.all(flags.registryCa.map((f) => readFlagFile('--registry-ca', f)));
  return new HttpRegistry({
    credentials,
    caCertificates,
    insecureRegistries: flags.insecureRegistries,
    allowedRegistryAddresses: flags.allowedRegistryAddresses ?? [],
    ...(hooks.onRequest === undefined ? {} : { onRequest: hooks.onRequest }),
  });
}

export interface CacheSettings {
  /** How long a satisfied verification is reused (ms). */
  readonly cacheTtlMs: number;
  /** How long a failed one is reused (ms); short, so a freshly signed image is admitted soon. */
  readonly negativeCacheTtlMs: number;
  /** How long a tag's digest is reused (ms); 0 resolves tags on every call. */
  readonly tagCacheTtlMs: number;
  readonly cacheMaxEntries: number;
  readonly onCache?: (outcome: CacheOutcome) => void;
}

/**
 * Within one command run an image (or two references to one digest) is verified once: `check` decides many
 * documents that often share images. The process ends soon after, so nothing outlives the run.
 */
export const ONE_SHOT_CACHE: CacheSettings = {
  cacheTtlMs: 10 * 60_000,
  negativeCacheTtlMs: 10 * 60_000,
  // A tag named twice in one run (`check` of many manifests) is resolved once: one run, one answer.
  tagCacheTtlMs: 10 * 60_000,
  cacheMaxEntries: 10_000,
};

/** The verification core as every command wires it: the same registry client, policies and trust for all. */
export function createVerifier(
  /** The registry client; its plain-HTTP registries (HttpRegistry) also decide how references are spelled. */
  registry: Registry & { readonly plainHttp?: PlainHttpRegistries },
  policies: () => PolicySet,
  noMatch: NoMatchAction,
  cache: CacheSettings,
  trustStore: () => TrustStore,
  clock: Clock = systemClock,
): ImageVerificationService {
  return new ImageVerificationService({
    registry,
    policies,
    noMatch,
    clock,
    cacheTtlMs: cache.cacheTtlMs,
    negativeCacheTtlMs: cache.negativeCacheTtlMs,
    tagCacheTtlMs: cache.tagCacheTtlMs,
    cacheMaxEntries: cache.cacheMaxEntries,
    concurrency: 8,
    ...(cache.onCache === undefined ? {} : { onCache: cache.onCache }),
    trustStore,
    ...(registry.plainHttp === undefined ? {} : { plainHttpRegistries: registry.plainHttp }),
  });
}

/** One-shot runtime for `verify`, `check` and `audit --policy`: policies loaded once, a cache for the run. */
export async function createRuntime(
  flags: VerifyFlags,
): Promise<Runtime & { readonly policySet: PolicySet }> {
  const trustStore = await createTrustStoreFromFlags(flags);
  const policies = compilePolicies(
    await readPolicyDocuments(flags.policyPaths),
    authorityCompiler(trustStore),
  );
  const registry = await createRegistry(flags);
  const verifier = createVerifier(
    registry,
    () => policies,
    flags.noMatch,
    ONE_SHOT_CACHE,
    () => trustStore,
  );
  return { verifier, registry, policySet: policies, close: () => registry.close() };
}

/** Where a long-lived runtime's policies come from: files or the API server. */
export interface PolicySource {
  /** The snapshot admissions read; empty until ready. */
  readonly current: PolicySet;
  /** True once a first valid set is in force; /readyz follows it. */
  readonly ready: boolean;
}

export interface ServiceRuntime extends Runtime {
  readonly policies: PolicySource;
}

export interface ServiceRuntimeOptions {
  readonly cache: CacheSettings;
  readonly registryHooks?: RegistryHooks;
  readonly policyEvents?: PolicyStoreEvents;
  /** Where reloads of `--trust-root` files are reported. */
  readonly logger?: LogSink;
}

/**
 * Long-lived runtime for `serve`: policies are loaded once (an invalid initial set throws INVALID_POLICY,
 * since there is nothing good to keep yet), then watched and swapped atomically; the cache lives as long
 * as the process, keyed by policy and trust material so an edited policy never reuses an old answer.
 */
export async function createServiceRuntime(
  flags: VerifyFlags,
  options: ServiceRuntimeOptions,
): Promise<ServiceRuntime> {
  const fileRoots = await readTrustRootFlagFiles(flags);
  const trust = new SwappableTrustStore(createTrustStore(fileRoots));
  const policies = new FilePolicyStore(flags.policyPaths, authorityCompiler(trust), options.policyEvents);
  await policies.load();
  const registry = await createRegistry(flags, options.registryHooks);
  const verifier = createVerifier(
    registry,
    () => policies.current,
    flags.noMatch,
    options.cache,
    () => trust.current,
  );
  policies.watch();
  const trustFiles = watchTrustRootFiles(
    flags.trustRoots,
    fileRoots,
    trustFileHooks(options.logger, (_roots, store) => {
      trust.replace(store);
      // Policies are compiled against the trust store (a trustRoot name must exist): compile them again.
      void policies.reload();
    }),
  );
  return {
    verifier,
    registry,
    policies,
    close: async () => {
      trustFiles.close();
      policies.close();
      await registry.close();
    },
  };
}

export interface KubeServiceRuntime extends ServiceRuntime {
  /** The cluster connection, for the background re-verification and `audit`. */
  readonly kubeConfig: KubeConfig;
  /** Resolves at the first full sync of policies and trust roots (rejects only if closed before it). */
  readonly synced: Promise<void>;
  /** Each admitted workload's pull secrets (and its service account's), read from the API server. */
  readonly workloadCredentials: WorkloadCredentials;
  /** The Secret and webhook configurations behind self-managed serving certificates. */
  readonly webhookCertificates: WebhookCertificateApi;
}

export interface KubeServiceRuntimeOptions extends Omit<ServiceRuntimeOptions, 'policyEvents'> {
  /** A kubeconfig file; without it $KUBECONFIG, ~/.kube/config or the in-cluster service account. */
  readonly kubeconfig?: string;
  readonly logger: LogSink;
  /** `audit` only reads: no Ready conditions are written to policy objects. */
  readonly readOnly?: boolean;
  /** After the first sync, each time a policy or the trust material changes. */
  readonly onPolicySetReplaced?: (set: PolicySet) => void;
}

/** Loads the kubeconfig as `serve --kubernetes` does; a bad file is a usage error. */
export async function loadKubeConfigFlag(kubeconfig?: string): Promise<KubeConfig> {
  const { loadKubeConfig } = await import('../kube/client.js');
  try {
    return loadKubeConfig(kubeconfig);
  } catch (err) {
    throw new UsageError(`--kubeconfig: ${(err as Error).message}`);
  }
}

/**
 * Each workload's registry credentials as the kubelet would use them (its imagePullSecrets and its service
 * account's), plus the signaturePullSecrets of the policies that can apply in its namespace.
 */
export async function createWorkloadCredentials(
  kubeConfig: KubeConfig,
  policies: () => PolicySet,
  logger: LogSink,
): Promise<WorkloadCredentials> {
  const { createSecretsReader } = await import('../kube/client.js');
  const { PullSecretResolver } = await import('../kube/pull-secrets.js');
  const { pullSecretCredentials } = await import('../kube/workload-pull-secrets.js');
  const pullSecrets = new PullSecretResolver(createSecretsReader(kubeConfig), { logger });
  return pullSecretCredentials(pullSecrets, (namespace) => policies().signaturePullSecrets(namespace));
}

/**
 * Long-lived runtime for `serve --kubernetes`: ClusterImagePolicy, ImagePolicy and TrustRoot objects are
 * listed and watched (KubePolicyStore). It resolves at once; the store becomes ready after its first full
 * sync, and until then /readyz says not ready, so the Service sends no admissions to an empty policy set.
 * Each admission's registry requests also carry the workload's pull secrets (see workloadCredentials).
 */
export async function createKubeServiceRuntime(
  flags: VerifyFlags,
  options: KubeServiceRuntimeOptions,
): Promise<KubeServiceRuntime> {
  // Loaded on demand: client-node is large, and `verify` and `check` never need it.
  const { createPolicyStatusWriter, createResourceWatchFactory, createWebhookCertificateApi } =
    await import('../kube/client.js');
  const { KubePolicyStore } = await import('../kube/policy-informer.js');
  const kubeConfig = await loadKubeConfigFlag(options.kubeconfig);
  const fileRoots = await readTrustRootFlagFiles(flags);
  // Verification reads trust through this one object, so TrustRoot changes reach verdicts and compilation alike.
  const trust = new SwappableTrustStore(createTrustStore(fileRoots));
  const { KubeTrustRoots } = await import('../kube/trust-roots.js');
  const { TufClient } = await import('../trust-sources/tuf.js');
  // Inline TrustRoots as they are, TUF ones fetched and refreshed; nothing goes online unless one names a mirror.
  const trustRoots = new KubeTrustRoots({
    fileRoots,
    fetcher: new TufClient(),
    logger: options.logger,
    onChange: (next, version) => {
      trust.replace(next);
      store.setAuthorityCompiler(authorityCompiler(trust), version);
    },
    onCondition: (name, state) => store.setTrustRootCondition(name, state),
  });
  const store = new KubePolicyStore({
    watches: createResourceWatchFactory(kubeConfig),
    status: options.readOnly === true ? READ_ONLY_STATUS : createPolicyStatusWriter(kubeConfig),
    compileAuthority: authorityCompiler(trust),
    logger: options.logger,
    onTrustRootsChanged: (roots) => trustRoots.update(roots),
    ...(options.onPolicySetReplaced === undefined
      ? {}
      : { onPolicySetReplaced: options.onPolicySetReplaced }),
  });
  // Rejects only when stopped before the first sync; readiness is the store's `ready`.
  const synced = store.start();
  synced.catch(() => undefined);
  const trustFiles = watchTrustRootFiles(
    flags.trustRoots,
    fileRoots,
    trustFileHooks(options.logger, (roots) => trustRoots.setFileRoots(roots)),
  );
  const registry = await createRegistry(flags, options.registryHooks);
  const verifier = createVerifier(
    registry,
    () => store.current,
    flags.noMatch,
    options.cache,
    () => trust.current,
  );
  return {
    verifier,
    registry,
    policies: store,
    kubeConfig,
    synced,
    workloadCredentials: await createWorkloadCredentials(kubeConfig, () => store.current, options.logger),
    webhookCertificates: createWebhookCertificateApi(kubeConfig),
    close: async () => {
      trustFiles.close();
      trustRoots.stop();
      await store.stop();
      await registry.close();
    },
  };
}

/** For `audit`: the policy objects' statuses are the serving replicas' to write. */
const READ_ONLY_STATUS: PolicyStatusWriter = { patchStatus: () => Promise.resolve('patched') };

/** A TrustStore whose contents can be replaced whole while admissions keep reading it. */
class SwappableTrustStore implements TrustStore {
  #current: TrustStore;

  constructor(initial: TrustStore) {
    this.#current = initial;
  }

  /** The store in force now: verification reads it once per call, so one decision never mixes two. */
  get current(): TrustStore {
    return this.#current;
  }

  get(name: string) {
    return this.#current.get(name);
  }

  names() {
    return this.#current.names();
  }

  replace(next: TrustStore): void {
    this.#current = next;
  }
}

/**
 * The embedded public-good and GitHub roots, plus each `--trust-root NAME=FILE`: verification works
 * air-gapped, and no network is touched for trust unless a policy's TrustRoot asks for TUF.
 */
export async function createTrustStoreFromFlags(flags: Pick<VerifyFlags, 'trustRoots'>): Promise<TrustStore> {
  return createTrustStore(await readTrustRootFlagFiles(flags));
}

async function readTrustRootFlagFiles(
  flags: Pick<VerifyFlags, 'trustRoots'>,
): Promise<Record<string, CustomTrustRoot>> {
  try {
    return await readTrustRootFiles(flags.trustRoots);
  } catch (err) {
    throw new UsageError(`--trust-root: ${(err as Error).message}`);
  }
}

/** Logs `--trust-root` file reloads and refusals; `use` puts good new material in force. */
function trustFileHooks(
  logger: LogSink | undefined,
  use: (roots: Record<string, CustomTrustRoot>, store: TrustStore) => void,
) {
  return {
    onChange: (roots: Record<string, CustomTrustRoot>, store: TrustStore) => {
      use(roots, store);
      logger?.info({ trustRoots: Object.keys(roots) }, '--trust-root files reloaded');
    },
    onError: (err: unknown) =>
      logger?.error(
        { ...describeError(err) },
        'a --trust-root file is not usable; the last good copies stay in use',
      ),
  };
}

async function readFlagFile(flag: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${flag} ${path}: ${(err as Error).message}`);
  }
}
