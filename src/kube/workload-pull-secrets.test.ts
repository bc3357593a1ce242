import { describe, expect, it } from 'vitest';
import { reviewFixture } from '../../test/integration/admission/fixtures.js';
import type { Credentials } from '../oci/auth.js';
import type { LogSink } from './log.js';
import {
  DOCKER_CONFIG_JSON,
  PullSecretResolver,
  type KubeSecretsReader,
  type PullSecret,
  type ServiceAccountPullSecrets,
} from './pull-secrets.js';
import { podPullSecretsOf, pullSecretCredentials } from './workload-pull-secrets.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const basic = (username: string): Credentials => ({ kind: 'basic', username, password: `${username}-pw` });
const dockerConfigJson = (auths: Record<string, string>): PullSecret => ({
  type: DOCKER_CONFIG_JSON,
  data: {
    '.dockerconfigjson': b64(
      JSON.stringify({
        auths: Object.fromEntries(
          Object.entries(auths).map(([key, user]) => [key, { auth: b64(`${user}:${user}-pw`) }]),
        ),
      }),
    ),
  },
});

const POD = { group: '', kind: 'Pod' };
const DEPLOYMENT = { group: 'apps', kind: 'Deployment' };
const CRONJOB = { group: 'batch', kind: 'CronJob' };
const podSpec = (spec: Record<string, unknown>) => ({ spec });
const template = (spec: Record<string, unknown>) => ({ spec: { template: { spec } } });

describe('podPullSecretsOf', () => {
  it.each([
    ['a Pod', POD, podSpec],
    ['a Deployment', DEPLOYMENT, template],
    ['a CronJob', CRONJOB, (spec: Record<string, unknown>) => ({ spec: { jobTemplate: template(spec) } })],
  ])('reads the pod spec of %s', (_name, kind, wrap) => {
    const object = wrap({
      serviceAccountName: 'builder',
      imagePullSecrets: [{ name: 'regcred' }, { name: 'other' }],
    });
    expect(podPullSecretsOf(kind, object, 'apps')).toEqual({
      namespace: 'apps',
      serviceAccountName: 'builder',
      imagePullSecrets: [{ name: 'regcred' }, { name: 'other' }],
    });
  });

  it('reads the rendered fixtures the API server sends', () => {
    const review = reviewFixture('rendered/deployment-create.json');
    expect(podPullSecretsOf(review.request.kind, review.request.object, 'shop')).toMatchObject({
      namespace: 'shop',
    });
  });

  it('falls back to the deprecated serviceAccount field', () => {
    expect(podPullSecretsOf(POD, podSpec({ serviceAccount: 'legacy' }), 'ns').serviceAccountName).toBe(
      'legacy',
    );
  });

  it.each([
    ['no object', null],
    ['a spec that is not an object', { spec: 'x' }],
    ['imagePullSecrets that is not a list', podSpec({ imagePullSecrets: 'regcred' })],
    [
      'references without a usable name',
      podSpec({ imagePullSecrets: [null, 'regcred', { name: 7 }, { name: '' }, {}] }),
    ],
    ['a serviceAccountName that is not a string', podSpec({ serviceAccountName: ['x'] })],
    ['an inherited name', podSpec({ imagePullSecrets: [Object.create({ name: 'inherited' }) as object] })],
  ])('leaves out what is malformed: %s', (_name, object) => {
    expect(podPullSecretsOf(POD, object, 'ns')).toEqual({ namespace: 'ns' });
  });

  it('knows no pod spec for other kinds', () => {
    expect(
      podPullSecretsOf({ group: 'example.com', kind: 'Pod' }, podSpec({ serviceAccountName: 'x' }), 'ns'),
    ).toEqual({ namespace: 'ns' });
  });
});

class FakeReader implements KubeSecretsReader {
  readonly secrets = new Map<string, PullSecret>();
  readonly accounts = new Map<string, ServiceAccountPullSecrets>();
  async readSecret(namespace: string, name: string) {
    return this.secrets.get(`${namespace}/${name}`);
  }
  async readServiceAccount(namespace: string, name: string) {
    return this.accounts.get(`${namespace}/${name}`);
  }
}

const silent: LogSink = { debug() {}, info() {}, warn() {}, error() {} };

describe('pullSecretCredentials', () => {
  const reader = new FakeReader();
  reader.secrets.set('apps/regcred', dockerConfigJson({ 'registry.local:5000/team': 'team' }));
  reader.secrets.set('apps/sa-pull', dockerConfigJson({ 'registry.local:5000': 'sa', 'ghcr.io': 'gh' }));
  reader.secrets.set('other/regcred', dockerConfigJson({ 'registry.local:5000': 'other-ns' }));
  reader.accounts.set('apps/default', { imagePullSecrets: [{ name: 'sa-pull' }] });
  const credentials = pullSecretCredentials(new PullSecretResolver(reader, { logger: silent }));

  it("gives a workload's images the credentials the kubelet would pull them with", async () => {
    const store = await credentials.forWorkload({
      kind: DEPLOYMENT,
      namespace: 'apps',
      object: template({ imagePullSecrets: [{ name: 'regcred' }] }),
    });
    // The pod's own secret, with the longest matching key; the service account's for everything else.
    expect(store.lookup('registry.local:5000', 'team/api')).toEqual(basic('team'));
    expect(store.lookup('registry.local:5000', 'shared/base')).toEqual(basic('sa'));
    expect(store.lookup('ghcr.io', 'acme/web')).toEqual(basic('gh'));
    expect(store.lookup('quay.io', 'acme/web')).toBeUndefined();
  });

  it("reads secrets in the workload's namespace only", async () => {
    const store = await credentials.forWorkload({
      kind: POD,
      namespace: 'other',
      object: podSpec({ imagePullSecrets: [{ name: 'sa-pull' }, { name: 'regcred' }] }),
    });
    expect(store.lookup('registry.local:5000', 'team/api')).toEqual(basic('other-ns'));
    expect(store.lookup('ghcr.io', 'acme/web')).toBeUndefined();
  });

  it('gives a workload without pull secrets nothing', async () => {
    const store = await credentials.forWorkload({ kind: POD, namespace: 'bare', object: podSpec({}) });
    expect(store.lookup('registry.local:5000', 'team/api')).toBeUndefined();
  });

  it("adds the signaturePullSecrets of the policies that apply in the workload's namespace", async () => {
    const withPolicies = pullSecretCredentials(new PullSecretResolver(reader, { logger: silent }), (ns) =>
      ns === 'bare' ? [{ namespace: 'other', name: 'regcred' }] : [],
    );
    const store = await withPolicies.forWorkload({ kind: POD, namespace: 'bare', object: podSpec({}) });
    expect(store.lookup('registry.local:5000', 'team/api')).toEqual(basic('other-ns'));
    const elsewhere = await withPolicies.forWorkload({ kind: POD, namespace: 'apps', object: podSpec({}) });
    expect(elsewhere.lookup('registry.local:5000', 'team/api')).toEqual(basic('sa'));
  });
});
