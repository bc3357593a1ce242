/**
 * What an admitted workload says about its pull credentials: the pod spec's `imagePullSecrets` and
 * `serviceAccountName` (a Pod's own, or a controller's pod template's), in the request's namespace. Pure:
 * the object comes from the request, so every field is checked before use and anything malformed is left
 * out, as the API server's validation would refuse it anyway.
 */
import { isRecord, own, podSpecOf, type ObjectKind } from './extract.js';
import type { Keyring, PodPullSecrets, PullSecretResolver, SecretRef } from './pull-secrets.js';

export function podPullSecretsOf(kind: ObjectKind, object: unknown, namespace: string): PodPullSecrets {
  const spec = podSpecOf(kind, object);
  if (spec === undefined) return { namespace };
  // `serviceAccount` is the deprecated alias the API server still copies into `serviceAccountName`.
  const account = [own(spec, 'serviceAccountName'), own(spec, 'serviceAccount')].find(
    (name): name is string => typeof name === 'string' && name !== '',
  );
  const listed = own(spec, 'imagePullSecrets');
  const imagePullSecrets = (Array.isArray(listed) ? listed : []).flatMap((ref: unknown) => {
    const name = isRecord(ref) ? own(ref, 'name') : undefined;
    return typeof name === 'string' && name !== '' ? [{ name }] : [];
  });
  return {
    namespace,
    ...(account === undefined ? {} : { serviceAccountName: account }),
    ...(imagePullSecrets.length === 0 ? {} : { imagePullSecrets }),
  };
}

/** The admission's view of a workload: its kind, its namespace and the object the request carries. */
export interface PullSecretWorkload {
  readonly kind: ObjectKind;
  readonly namespace: string;
  readonly object: unknown;
}

/**
 * Per admission, the keyring the kubelet would pull the workload's images with: its own imagePullSecrets,
 * then its service account's. (The ServiceAccount admission plugin already copies the latter into a Pod,
 * but not into a controller's pod template; reading both covers either.)
 */
export function pullSecretCredentials(
  resolver: Pick<PullSecretResolver, 'forPod'>,
  signatureSecrets: (namespace: string) => readonly SecretRef[] = () => [],
): {
  forWorkload(workload: PullSecretWorkload): Promise<Keyring>;
} {
  return {
    forWorkload: ({ kind, namespace, object }) => {
      const pod = podPullSecretsOf(kind, object, namespace);
      const policySecrets = signatureSecrets(namespace);
      return resolver.forPod(policySecrets.length ? { ...pod, signaturePullSecrets: policySecrets } : pod);
    },
  };
}
