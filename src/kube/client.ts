/**
 * The Kubernetes API through @kubernetes/client-node: the one place that knows its classes. Each function
 * implements a port that its consumer defines (policy watches and status writes, pull-secret reads,
 * webhook-certificate storage), so the logic behind the ports is tested with plain objects.
 */
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  makeInformer,
  setHeaderOptions,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import type { WebhookCertificateApi, WebhookKind } from '../certs/ensure.js';
import { statusOf } from './log.js';
import type { ResourceWatchFactory } from './policy-informer.js';
import type { KubeObject } from './policy-resources.js';
import type { KubeSecretsReader, PullSecret, ServiceAccountPullSecrets } from './pull-secrets.js';
import type { PolicyStatusWriter } from './status.js';

/** A kubeconfig file when given (local runs, tests), otherwise the in-cluster service account (or $KUBECONFIG). */
export function loadKubeConfig(kubeconfigPath?: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfigPath === undefined) kc.loadFromDefault();
  else kc.loadFromFile(kubeconfigPath);
  return kc;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const strategicMergePatch = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

async function orUndefinedWhenNotFound<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

/**
 * List-and-watch through client-node's informer. The informer relists after 410 Gone and reconnects by
 * itself after a clean close; after an error it stops, and the store's own backoff calls start() again.
 */
export function createResourceWatchFactory(kc: KubeConfig): ResourceWatchFactory {
  const api = kc.makeApiClient(CustomObjectsApi);
  return (resource, events) => {
    const { group, version, plural } = resource;
    const list = async (): Promise<KubernetesListObject<KubernetesObject>> =>
      (resource.namespaced
        ? await api.listCustomObjectForAllNamespaces({ group, version, resourcePlural: plural })
        : await api.listClusterCustomObject({
            group,
            version,
            plural,
          })) as KubernetesListObject<KubernetesObject>;
    const informer = makeInformer<KubernetesObject>(kc, `/apis/${group}/${version}/${plural}`, list);
    let starting = false;
    let startError: { error: unknown } | undefined;
    let stopped = false;
    const upsert = (obj: KubernetesObject) => events.upsert(obj as KubeObject);
    informer.on('add', upsert);
    informer.on('update', upsert);
    informer.on('delete', (obj) => events.remove(obj as KubeObject));
    informer.on('error', (err: unknown) => {
      // Aborting the request on stop() surfaces as an error too.
      if (stopped) return;
      if (starting) startError ??= { error: err };
      else events.broken(err);
    });
    return {
      async start() {
        stopped = false;
        starting = true;
        startError = undefined;
        try {
          // Resolves once the list is applied and the watch request is answered; failures arrive as 'error'.
          await informer.start();
        } finally {
          starting = false;
        }
        // Set by the 'error' handler during start(); the compiler cannot see that assignment.
        const failure = startError as { error: unknown } | undefined;
        if (failure !== undefined) throw failure.error;
      },
      async stop() {
        stopped = true;
        await informer.stop();
      },
    };
  };
}

export function createPolicyStatusWriter(kc: KubeConfig): PolicyStatusWriter {
  const api = kc.makeApiClient(CustomObjectsApi);
  return {
    async patchStatus(ref, resourceVersion, status) {
      const { group, version, plural } = ref.resource;
      // resourceVersion makes the patch conditional: a stale view gets 409 instead of overwriting.
      const body = { metadata: { resourceVersion }, status };
      try {
        if (ref.namespace === undefined) {
          await api.patchClusterCustomObjectStatus(
            { group, version, plural, name: ref.name, body },
            mergePatch,
          );
        } else {
          await api.patchNamespacedCustomObjectStatus(
            { group, version, plural, namespace: ref.namespace, name: ref.name, body },
            mergePatch,
          );
        }
        return 'patched';
      } catch (err) {
        const status = statusOf(err);
        if (status === 409) return 'conflict';
        if (status === 404) return 'gone';
        throw err;
      }
    },
  };
}

/** RBAC: get on secrets and serviceaccounts (see pull-secrets.ts). */
export function createSecretsReader(kc: KubeConfig): KubeSecretsReader {
  const core = kc.makeApiClient(CoreV1Api);
  return {
    async readSecret(namespace, name): Promise<PullSecret | undefined> {
      const secret = await orUndefinedWhenNotFound(core.readNamespacedSecret({ namespace, name }));
      if (secret === undefined) return undefined;
      return { ...(secret.type === undefined ? {} : { type: secret.type }), data: secret.data ?? {} };
    },
    async readServiceAccount(namespace, name): Promise<ServiceAccountPullSecrets | undefined> {
      const account = await orUndefinedWhenNotFound(core.readNamespacedServiceAccount({ namespace, name }));
      if (account === undefined) return undefined;
      return {
        imagePullSecrets: (account.imagePullSecrets ?? []).flatMap((r) => (r.name ? [{ name: r.name }] : [])),
      };
    },
  };
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const unb64 = (text: string) => Buffer.from(text, 'base64').toString('utf8');

/** RBAC: see certs/ensure.ts. */
export function createWebhookCertificateApi(kc: KubeConfig): WebhookCertificateApi {
  const core = kc.makeApiClient(CoreV1Api);
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);
  const readWebhooks = (kind: WebhookKind, name: string) =>
    kind === 'validating'
      ? admission.readValidatingWebhookConfiguration({ name })
      : admission.readMutatingWebhookConfiguration({ name });
  return {
    async readSecret(namespace, name) {
      const secret = await orUndefinedWhenNotFound(core.readNamespacedSecret({ namespace, name }));
      if (secret === undefined) return undefined;
      return {
        resourceVersion: secret.metadata?.resourceVersion ?? '',
        type: secret.type ?? '',
        data: Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, unb64(v)])),
      };
    },
    async createSecret(namespace, name, data) {
      try {
        await core.createNamespacedSecret({
          namespace,
          body: {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'provenant' } },
            type: 'kubernetes.io/tls',
            data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
          },
        });
        return 'created';
      } catch (err) {
        if (statusOf(err) === 409) return 'exists';
        throw err;
      }
    },
    async updateSecretData(namespace, name, resourceVersion, data) {
      // A full update (the chart grants update, not patch, on this one Secret) carrying the resourceVersion
      // read before: compare-and-swap. Labels, annotations and other data keys are kept.
      const secret = await orUndefinedWhenNotFound(core.readNamespacedSecret({ namespace, name }));
      if (secret?.metadata?.resourceVersion !== resourceVersion) return 'conflict';
      const encoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)]));
      try {
        await core.replaceNamespacedSecret({
          namespace,
          name,
          body: { ...secret, data: { ...secret.data, ...encoded } },
        });
        return 'updated';
      } catch (err) {
        const status = statusOf(err);
        if (status === 409 || status === 404) return 'conflict';
        throw err;
      }
    },
    async readWebhookCaBundles(kind, name) {
      const config = await orUndefinedWhenNotFound<{
        webhooks?: { name: string; clientConfig: { caBundle?: string } }[];
      }>(readWebhooks(kind, name));
      if (config === undefined) return undefined;
      return (config.webhooks ?? []).map((w) => ({
        name: w.name,
        ...(w.clientConfig.caBundle === undefined ? {} : { caBundle: unb64(w.clientConfig.caBundle) }),
      }));
    },
    async patchWebhookCaBundles(kind, name, entries) {
      // Webhooks merge by name (strategic merge patch), so the patch touches only caBundle, whatever the order.
      const body = {
        webhooks: entries.map((e) => ({ name: e.name, clientConfig: { caBundle: b64(e.caBundle) } })),
      };
      if (kind === 'validating')
        await admission.patchValidatingWebhookConfiguration({ name, body }, strategicMergePatch);
      else await admission.patchMutatingWebhookConfiguration({ name, body }, strategicMergePatch);
    },
  };
}
