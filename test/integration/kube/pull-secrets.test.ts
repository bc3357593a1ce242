/**
 * Pull credentials read from a real API server, with the chart's permissions: the Pod's imagePullSecrets,
 * its ServiceAccount's, a policy's signaturePullSecrets in another namespace, both secret types, and
 * missing objects skipped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecretsReader } from '../../../src/kube/client.js';
import { PullSecretResolver } from '../../../src/kube/pull-secrets.js';
import type { Cluster } from '../../e2e/harness/index.js';
import {
  applyObject,
  CHART_SERVICE_ACCOUNT,
  installChartRbac,
  kubeConfigFor,
  kubectlOk,
  RecordingLogger,
  RELEASE,
  startClusterWithCrds,
} from './helpers.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const auth = (user: string) => ({ auth: b64(`${user}:${user}-password`) });
const basic = (user: string) => ({ kind: 'basic', username: user, password: `${user}-password` });

function secret(namespace: string, name: string, type: string, key: string, document: unknown) {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    type,
    data: { [key]: b64(JSON.stringify(document)) },
  };
}

describe('PullSecretResolver on a real API server', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startClusterWithCrds();
    await installChartRbac(cluster);
    await cluster.createNamespace('apps');
    await kubectlOk(cluster, ['create', 'namespace', 'bare']); // no ServiceAccount at all
    await applyObject(cluster, {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        secret('apps', 'pod-pull', 'kubernetes.io/dockerconfigjson', '.dockerconfigjson', {
          auths: { 'https://ghcr.io': auth('pod'), 'registry.local:5000/team': auth('team') },
        }),
        secret('apps', 'sa-pull', 'kubernetes.io/dockercfg', '.dockercfg', {
          'ghcr.io/acme': auth('sa-acme'),
          '*.azurecr.io': auth('acr'),
        }),
        secret(RELEASE.namespace, 'signatures', 'kubernetes.io/dockerconfigjson', '.dockerconfigjson', {
          auths: { 'ghcr.io/acme/signatures': auth('sigs') },
        }),
        {
          apiVersion: 'v1',
          kind: 'ServiceAccount',
          metadata: { name: 'builder', namespace: 'apps' },
          imagePullSecrets: [{ name: 'sa-pull' }, { name: 'not-there' }],
        },
      ],
    });
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('combines the pod, service account and signature secrets as the kubelet matches them', async () => {
    const logger = new RecordingLogger('pull-secrets');
    const kc = kubeConfigFor(cluster, { as: CHART_SERVICE_ACCOUNT });
    const resolver = new PullSecretResolver(createSecretsReader(kc), { logger });
    const keyring = await resolver.forPod({
      namespace: 'apps',
      serviceAccountName: 'builder',
      imagePullSecrets: [{ name: 'pod-pull' }, { name: 'also-missing' }],
      signaturePullSecrets: [{ namespace: RELEASE.namespace, name: 'signatures' }],
    });

    expect(keyring.lookup('ghcr.io', 'acme/api')).toEqual(basic('sa-acme'));
    expect(keyring.lookup('ghcr.io', 'other/api')).toEqual(basic('pod'));
    expect(keyring.lookup('ghcr.io', 'acme/signatures')).toEqual(basic('sigs'));
    expect(keyring.candidates('ghcr.io', 'acme/signatures')).toEqual([
      basic('sigs'),
      basic('sa-acme'),
      basic('pod'),
    ]);
    expect(keyring.lookup('registry.local:5000', 'team/app')).toEqual(basic('team'));
    expect(keyring.lookup('registry.local:5000', 'other/app')).toBeUndefined();
    expect(keyring.lookup('corp.azurecr.io', 'app')).toEqual(basic('acr'));
    expect(keyring.lookup('docker.io', 'library/nginx')).toBeUndefined();

    const skipped = logger.lines
      .filter((l) => l.message.includes('not found'))
      .map((l) => Object.values(l.fields)[0]);
    expect(skipped.sort()).toEqual(['apps/also-missing', 'apps/not-there']);
    // Secret contents never reach the log.
    expect(JSON.stringify(logger.lines)).not.toContain('password');
  });

  it('works in a namespace without a service account or secrets', async () => {
    const resolver = new PullSecretResolver(
      createSecretsReader(kubeConfigFor(cluster, { as: CHART_SERVICE_ACCOUNT })),
      {
        logger: new RecordingLogger('bare'),
      },
    );
    const keyring = await resolver.forPod({ namespace: 'bare', imagePullSecrets: [{ name: 'x' }] });
    expect(keyring.lookup('ghcr.io', 'a/b')).toBeUndefined();
  });

  it('goes on without secrets it is not allowed to read', async () => {
    const logger = new RecordingLogger('forbidden');
    const stranger = kubeConfigFor(cluster, { as: 'system:serviceaccount:apps:nobody' });
    const resolver = new PullSecretResolver(createSecretsReader(stranger), { logger });
    const keyring = await resolver.forPod({ namespace: 'apps', imagePullSecrets: [{ name: 'pod-pull' }] });
    expect(keyring.lookup('ghcr.io', 'a/b')).toBeUndefined();
    expect(
      logger.lines.filter((l) => l.level === 'warn').map((l) => (l.fields as { status?: number }).status),
    ).toEqual([403, 403]);
  });
});
