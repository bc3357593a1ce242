// The Helm chart: helm lint, helm template for each supported configuration, every rendered object validated
// by a real kube-apiserver (server-side dry run, PodSecurity "restricted" included), RBAC checked with the
// real authorizer, the external-URL webhooks called by the real API server, and manifests/provenant.yaml
// kept equal to a fresh render.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MANIFEST, RELEASE, renderManifest } from '../../scripts/generate-crds.js';
import { type Cluster, createCA, startCluster, waitFor } from '../e2e/harness/index.js';
import { CHART_DIR, CRD_DIR, type KubeObject, helm, parseObjects, requireTools } from './support.js';

const NS = RELEASE.namespace;
const THIRD_PARTY_CRDS = join(import.meta.dirname, 'fixtures/third-party-crds.yaml');
/** The wgpolicyk8s.io CRDs the chart installs from templates (with a lookup), here applied up front. */
const POLICY_REPORT_CRDS = join(CHART_DIR, 'files');

/** The configurations the chart supports, as helm --set arguments. */
const VALUE_SETS: Record<string, string[]> = {
  default: [],
  certManager: ['certManager.enabled=true'],
  certManagerIssuer: [
    'certManager.enabled=true',
    'certManager.issuerRef.name=corp-ca',
    'certManager.issuerRef.kind=ClusterIssuer',
  ],
  serviceMonitor: ['serviceMonitor.enabled=true'],
  certManagerAndServiceMonitor: ['certManager.enabled=true', 'serviceMonitor.enabled=true'],
  webhookUrl: ['webhook.url=https://127.0.0.1:8443/', 'webhook.caBundle=dGVzdA=='],
  restricted: [
    'rbac.pullSecrets.scope=namespaces',
    'rbac.pullSecrets.namespaces={team-a,team-b}',
    'admission.excludeNamespaces={monitoring}',
    'replicaCount=1',
    'webhook.failurePolicy=Ignore',
    'admission.noMatch=warn',
    'admission.allowRegistryAddresses={169.254.10.0/24,fd00:ec2::254}',
    'admission.pinDigests=pods',
    'image.digest=sha256:' + 'a'.repeat(64),
    'heapPercentOfMemoryLimit=40',
    'extraEnv[0].name=HTTPS_PROXY',
    'extraEnv[0].value=http://proxy.example:3128',
  ],
  noPullSecrets: ['rbac.pullSecrets.scope=none', 'serviceAccount.annotations.example\\.com/role=reader'],
  noBackground: ['background.interval=0s', 'reports.installCRDs=false'],
};

const rendered = new Map<string, KubeObject[]>();
const renderedText = new Map<string, string>();

async function render(
  set: string[],
  release: string = RELEASE.name,
  namespace: string = NS,
): Promise<string> {
  const args = ['template', release, CHART_DIR, '--namespace', namespace];
  for (const s of set) args.push('--set', s);
  const r = await helm(args);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

function find(objects: KubeObject[], kind: string, name?: string): KubeObject[] {
  return objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
}

function one(objects: KubeObject[], kind: string, name?: string): KubeObject {
  const found = find(objects, kind, name);
  expect(found, `exactly one ${kind}${name ? ` ${name}` : ''}`).toHaveLength(1);
  return found[0]!;
}

type Deployment = KubeObject & {
  spec: {
    replicas: number;
    template: {
      spec: {
        securityContext: Record<string, unknown>;
        containers: {
          args: string[];
          securityContext: Record<string, unknown>;
          livenessProbe: { httpGet: Record<string, unknown> };
          readinessProbe: { httpGet: Record<string, unknown> };
          resources: { requests?: object; limits?: object };
          volumeMounts: { name: string; mountPath: string }[];
          ports: { containerPort: number }[];
        }[];
        volumes: { name: string; emptyDir?: object; secret?: { secretName: string } }[];
        affinity: {
          podAntiAffinity?: {
            preferredDuringSchedulingIgnoredDuringExecution: { podAffinityTerm: { topologyKey: string } }[];
          };
        };
      };
    };
  };
};

interface Webhook {
  name: string;
  clientConfig: {
    url?: string;
    caBundle?: string;
    service?: { name: string; namespace: string; path: string; port: number };
  };
  failurePolicy: string;
  timeoutSeconds: number;
  sideEffects: string;
  admissionReviewVersions: string[];
  matchPolicy: string;
  reinvocationPolicy?: string;
  namespaceSelector: { matchExpressions: { key: string; operator: string; values: string[] }[] };
  rules: { apiGroups: string[]; apiVersions: string[]; operations: string[]; resources: string[] }[];
}

type WebhookConfiguration = KubeObject & { webhooks: Webhook[] };
type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
type RoleObject = KubeObject & { rules: Rule[] };

function webhooksOf(objects: KubeObject[]): Webhook[] {
  return [
    ...(one(objects, 'MutatingWebhookConfiguration') as WebhookConfiguration).webhooks,
    ...(one(objects, 'ValidatingWebhookConfiguration') as WebhookConfiguration).webhooks,
  ];
}

function argValues(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));
}

beforeAll(async () => {
  requireTools('helm');
  for (const [name, set] of Object.entries(VALUE_SETS)) {
    const text = await render(set);
    renderedText.set(name, text);
    rendered.set(name, parseObjects(text));
  }
});

describe('helm lint and template', () => {
  it.each(Object.entries(VALUE_SETS))('lints clean with %s values', async (_name, set) => {
    const r = await helm(['lint', '--strict', CHART_DIR, ...set.flatMap((s) => ['--set', s])]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
  });

  it('refuses values the schema does not allow', async () => {
    for (const [set, message] of [
      ['admission.noMatch=maybe', 'noMatch'],
      ['admission.pinDigests=deployments', 'pinDigests'],
      ['webhook.failurePolicy=fail', 'failurePolicy'],
      ['webhook.url=http://insecure.example', 'webhook/url'],
      ['webhook.timeoutSeconds=31', 'timeoutSeconds'],
      ['rbac.pullSecrets.scope=namespaces', 'namespaces'],
      ['admission.timeout=8 seconds', 'timeout'],
      ['replicas=3', "additional properties 'replicas'"],
    ] as const) {
      const r = await helm(['template', 'x', CHART_DIR, '--namespace', NS, '--set', set]);
      expect(r.code, set).not.toBe(0);
      expect(r.stderr, set).toContain(message);
    }
  });

  it('refuses to be installed into "default", which it would leave unchecked', async () => {
    for (const args of [
      [],
      ['--namespace', 'default'],
      ['--namespace', 'default', '--set', 'webhook.url=https://10.0.0.5:8443'],
    ]) {
      const r = await helm(['template', 'x', CHART_DIR, ...args]);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr, args.join(' ')).toContain('every workload there would run unverified');
    }
    const elsewhere = await helm(['template', 'x', CHART_DIR, '--namespace', 'platform']);
    expect(elsewhere.code, elsewhere.stderr).toBe(0);
  });

  it('renders the background RBAC, Lease flags and PolicyReport CRDs only when they are wanted', () => {
    const names = (set: string) => rendered.get(set)!.map((o) => `${o.kind}/${o.metadata.name}`);
    const background = [
      'ClusterRole/provenant-background',
      'ClusterRoleBinding/provenant-background',
      'Role/provenant-background',
      'RoleBinding/provenant-background',
    ];
    const crds = [
      'CustomResourceDefinition/policyreports.wgpolicyk8s.io',
      'CustomResourceDefinition/clusterpolicyreports.wgpolicyk8s.io',
    ];
    expect(names('default')).toEqual(expect.arrayContaining([...background, ...crds]));
    expect(names('noBackground')).not.toEqual(expect.arrayContaining([background[0]]));
    for (const crd of crds) expect(names('noBackground')).not.toContain(crd);
    const args = (one(rendered.get('noBackground')!, 'Deployment') as Deployment).spec.template.spec
      .containers[0]!.args;
    expect(args.slice(-2)).toEqual(['--background-interval', '0s']);
    expect(args).not.toContain('--lease-name');
  });

  it('manifests/provenant.yaml is the default render (run: npx tsx scripts/generate-crds.ts)', () => {
    expect(readFileSync(MANIFEST, 'utf8')).toBe(renderManifest());
  });

  it('runs two hardened replicas with the serve flags Provenant implements', () => {
    const objects = rendered.get('default')!;
    const deployment = one(objects, 'Deployment') as Deployment;
    expect(deployment.spec.replicas).toBe(2);
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    expect(container!.args).toEqual([
      'serve',
      '--kubernetes',
      '--port',
      '8443',
      '--tls-secret',
      `${NS}/provenant-tls`,
      '--tls-san',
      `provenant.${NS}.svc`,
      '--validating-webhook-configuration',
      'provenant',
      '--mutating-webhook-configuration',
      'provenant',
      '--admission-timeout',
      '8s',
      '--cache-ttl',
      '10m',
      '--tag-cache-ttl',
      '30s',
      '--max-connections',
      '512',
      '--no-match',
      'deny',
      '--pin-digests',
      'all',
      '--exclude-namespace',
      'kube-system',
      '--exclude-namespace',
      NS,
      '--log-level',
      'info',
      '--background-interval',
      '1h',
      '--background-rate',
      '5',
      '--background-concurrency',
      '2',
      '--lease-namespace',
      NS,
      '--lease-name',
      'provenant-background',
    ]);
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container!.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container!.ports).toEqual([{ name: 'https', containerPort: 8443, protocol: 'TCP' }]);
    expect(container!.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'https', scheme: 'HTTPS' });
    expect(container!.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'https', scheme: 'HTTPS' });
    expect(container!.resources.requests).toBeDefined();
    expect(container!.resources.limits).toBeDefined();
    expect(container!.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
    expect(pod.volumes.find((v) => v.name === 'tmp')?.emptyDir).toBeDefined();
    expect(
      pod.affinity.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution[0]?.podAffinityTerm
        .topologyKey,
    ).toBe('kubernetes.io/hostname');

    expect(one(objects, 'PodDisruptionBudget').spec).toMatchObject({ minAvailable: 1 });
    expect(one(objects, 'Service').spec).toMatchObject({ ports: [{ port: 443, targetPort: 'https' }] });
    // Self-managed certificate: an empty Secret for Provenant to fill, no data that an upgrade could reset.
    const secret = one(objects, 'Secret', 'provenant-tls');
    expect(secret).not.toHaveProperty('data');
    expect(secret).not.toHaveProperty('stringData');
  });

  it('registers both webhooks with the required settings, rules and exclusions', () => {
    const webhooks = webhooksOf(rendered.get('default')!);
    expect(webhooks.map((w) => w.name)).toEqual(['pin.provenant.dev', 'verify.provenant.dev']);
    const expectedResources = {
      '': ['pods', 'pods/ephemeralcontainers', 'replicationcontrollers'],
      apps: ['deployments', 'replicasets', 'statefulsets', 'daemonsets'],
      batch: ['jobs', 'cronjobs'],
    };
    for (const w of webhooks) {
      expect(w).toMatchObject({
        failurePolicy: 'Fail',
        timeoutSeconds: 10,
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        matchPolicy: 'Equivalent',
      });
      const byGroup = Object.fromEntries(w.rules.map((r) => [r.apiGroups[0], r.resources]));
      expect(byGroup).toEqual(expectedResources);
      for (const r of w.rules) expect(r.operations).toEqual(['CREATE', 'UPDATE']);
      expect(w.namespaceSelector.matchExpressions).toEqual([
        { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', NS] },
        { key: 'provenant.dev/exclude', operator: 'NotIn', values: ['true'] },
      ]);
      expect(w.clientConfig.service).toEqual({
        name: 'provenant',
        namespace: NS,
        path: w.name === 'pin.provenant.dev' ? '/mutate' : '/validate',
        port: 443,
      });
      expect(w.clientConfig.caBundle).toBeUndefined();
    }
    expect(webhooks[0]!.reinvocationPolicy).toBe('IfNeeded');
  });

  it('grants least privilege: no wildcards, Secrets by name or get-only', () => {
    for (const [name, objects] of rendered) {
      for (const role of [...find(objects, 'ClusterRole'), ...find(objects, 'Role')] as RoleObject[]) {
        for (const rule of role.rules) {
          const text = JSON.stringify(rule);
          expect(text, `${name}: ${role.metadata.name}`).not.toContain('*');
          if (rule.resources.includes('secrets')) {
            if (rule.resourceNames) expect(rule.verbs).toEqual(['get', 'update']);
            else expect(rule.verbs).toEqual(['get']);
          }
          if (rule.resources.some((r) => r.endsWith('webhookconfigurations'))) {
            expect(rule.resourceNames).toEqual(['provenant']);
          }
        }
      }
    }
  });

  it('uses cert-manager when asked: Certificate, Issuer, CA injection, mounted Secret', () => {
    const objects = rendered.get('certManager')!;
    expect(one(objects, 'Certificate').spec).toMatchObject({
      secretName: 'provenant-tls',
      dnsNames: [`provenant.${NS}.svc`, `provenant.${NS}`],
      issuerRef: { name: 'provenant-selfsigned', kind: 'Issuer' },
    });
    one(objects, 'Issuer');
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      expect(one(objects, kind).metadata.annotations).toEqual({
        'cert-manager.io/inject-ca-from': `${NS}/provenant`,
      });
    }
    const pod = (one(objects, 'Deployment') as Deployment).spec.template.spec;
    const args = pod.containers[0]!.args;
    expect(argValues(args, '--tls-cert')).toEqual(['/tls/tls.crt']);
    expect(argValues(args, '--tls-key')).toEqual(['/tls/tls.key']);
    expect(args).not.toContain('--tls-secret');
    expect(pod.volumes.find((v) => v.name === 'tls')?.secret?.secretName).toBe('provenant-tls');
    // cert-manager owns the Secret: no templated Secret, and Provenant gets no write access to Secrets.
    expect(find(objects, 'Secret')).toEqual([]);
    // The one Role left is the background Lease's: no access to Secrets in it.
    expect(find(objects, 'Role').map((r) => r.metadata.name)).toEqual(['provenant-background']);
    expect(JSON.stringify(find(objects, 'Role'))).not.toContain('secrets');
    expect(find(objects, 'ClusterRole', 'provenant-webhook-ca')).toEqual([]);

    const withIssuer = rendered.get('certManagerIssuer')!;
    expect(find(withIssuer, 'Issuer')).toEqual([]);
    expect(one(withIssuer, 'Certificate').spec).toMatchObject({
      issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' },
    });
  });

  it('points both webhooks at webhook.url and installs no workload', () => {
    const objects = rendered.get('webhookUrl')!;
    const urls = webhooksOf(objects).map((w) => w.clientConfig);
    expect(urls).toEqual([
      { url: 'https://127.0.0.1:8443/mutate', caBundle: 'dGVzdA==' },
      { url: 'https://127.0.0.1:8443/validate', caBundle: 'dGVzdA==' },
    ]);
    for (const kind of [
      'Deployment',
      'Service',
      'PodDisruptionBudget',
      'Secret',
      'Certificate',
      'ServiceMonitor',
    ]) {
      expect(find(objects, kind), kind).toEqual([]);
    }
    one(objects, 'ServiceAccount');
    one(objects, 'ClusterRole', 'provenant');
  });

  it('scrapes /metrics over verified TLS with serviceMonitor.enabled', () => {
    const monitor = one(rendered.get('serviceMonitor')!, 'ServiceMonitor');
    expect(monitor.spec).toMatchObject({
      endpoints: [
        {
          port: 'https',
          scheme: 'https',
          path: '/metrics',
          tlsConfig: {
            serverName: `provenant.${NS}.svc`,
            ca: { secret: { name: 'provenant-tls', key: 'ca.crt' } },
          },
        },
      ],
    });
  });

  it('restricts Secrets to listed namespaces, and honours the other values', () => {
    const objects = rendered.get('restricted')!;
    const main = one(objects, 'ClusterRole', 'provenant') as RoleObject;
    expect(main.rules.some((r) => r.resources.includes('secrets'))).toBe(false);
    const bindings = find(objects, 'RoleBinding', 'provenant-pull-secrets');
    expect(bindings.map((b) => b.metadata.namespace)).toEqual(['team-a', 'team-b']);
    expect(find(objects, 'PodDisruptionBudget')).toEqual([]);
    const deployment = one(objects, 'Deployment') as Deployment;
    const args = deployment.spec.template.spec.containers[0]!.args;
    expect(argValues(args, '--exclude-namespace')).toEqual(['kube-system', NS, 'monitoring']);
    expect(argValues(args, '--no-match')).toEqual(['warn']);
    expect(argValues(args, '--allow-registry-address')).toEqual(['169.254.10.0/24', 'fd00:ec2::254']);
    expect(argValues(args, '--pin-digests')).toEqual(['pods']);
    // The heap follows the memory limit (Node reads the cgroup); extra variables come after it.
    expect((deployment.spec.template.spec.containers[0] as unknown as { env: unknown }).env).toEqual([
      { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
      { name: 'NODE_OPTIONS', value: '--max-old-space-size-percentage=40' },
      { name: 'HTTPS_PROXY', value: 'http://proxy.example:3128' },
    ]);
    expect((deployment.spec.template.spec.containers[0] as unknown as { image: string }).image).toBe(
      `ghcr.io/provenant-dev/provenant@sha256:${'a'.repeat(64)}`,
    );
    for (const w of webhooksOf(objects)) {
      expect(w.failurePolicy).toBe('Ignore');
      expect(w.namespaceSelector.matchExpressions[0]!.values).toEqual(['kube-system', NS, 'monitoring']);
    }

    const none = rendered.get('noPullSecrets')!;
    for (const role of [...find(none, 'ClusterRole')] as RoleObject[]) {
      expect(
        role.rules.some((r) => r.resources.includes('secrets')),
        role.metadata.name,
      ).toBe(false);
    }
  });
});

describe('rendered objects on a real API server', () => {
  let cluster: Cluster;
  let webhookServer: Server | undefined;
  const calls: { path: string; kind: string; namespace: string; operation: string; subResource?: string }[] =
    [];

  beforeAll(async () => {
    requireTools('helm', 'etcd', 'kube-apiserver', 'kubectl');
    cluster = await startCluster();
    for (const path of [CRD_DIR, THIRD_PARTY_CRDS]) {
      const r = await cluster.kubectl(['apply', '--server-side', '-f', path]);
      expect(r.code, r.stderr).toBe(0);
    }
    // Client-side, as the rendered chart applies them below: no warning about switching apply modes.
    const reportCrds = await cluster.kubectl(['apply', '-f', POLICY_REPORT_CRDS]);
    expect(reportCrds.code, reportCrds.stderr).toBe(0);
    const established = await cluster.kubectl([
      'wait',
      '--for=condition=Established',
      'crd',
      '--all',
      '--timeout=60s',
    ]);
    expect(established.code, established.stderr).toBe(0);
    // The release namespace enforces PodSecurity "restricted": a Deployment that breaks it draws a warning.
    await cluster.createNamespace(NS, { 'pod-security.kubernetes.io/enforce': 'restricted' });
    for (const ns of ['team-a', 'team-b']) await cluster.createNamespace(ns);
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => (webhookServer ? webhookServer.close(() => resolve()) : resolve()));
    await cluster?.stop();
  });

  it.each(Object.keys(VALUE_SETS))(
    'accepts every object rendered with %s values (server-side dry run)',
    async (name) => {
      const r = await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], {
        input: renderedText.get(name)!,
      });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const kinds = rendered.get(name)!.length;
      expect(r.stdout.trim().split('\n')).toHaveLength(kinds);
    },
  );

  it('accepts manifests/provenant.yaml, CRDs included, with client- and server-side apply', async () => {
    for (const mode of [[], ['--server-side']]) {
      const r = await cluster.kubectl(['apply', ...mode, '--dry-run=server', '-f', MANIFEST]);
      // The CRDs already exist (applied server-side above): kubectl notes the switch between apply modes.
      const warnings = r.stderr.split('\n').filter((l) => l && !l.includes('last-applied-configuration'));
      expect(warnings, mode.join(' ')).toEqual([]);
      expect(r.code).toBe(0);
    }
  });

  it('runs a Pod from the Deployment template under PodSecurity "restricted"', async () => {
    const deployment = one(rendered.get('certManager')!, 'Deployment') as Deployment;
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'restricted-check', namespace: NS },
      // The chart's ServiceAccount is not created by a dry run; the pod-security verdict does not depend on it.
      spec: { ...deployment.spec.template.spec, serviceAccountName: 'default' },
    };
    const r = await cluster.kubectl(['create', '--dry-run=server', '-f', '-'], {
      input: JSON.stringify(pod),
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('leaves PolicyReport CRDs another tool installed alone (helm lookup)', async () => {
    // beforeAll applied them with kubectl, as Kyverno or Policy Reporter would have: not this release's.
    const names = async (args: string[]) => {
      const r = await helm([
        'template',
        'x',
        CHART_DIR,
        '--namespace',
        NS,
        '--kubeconfig',
        cluster.kubeconfigPath,
        ...args,
      ]);
      expect(r.code, r.stderr).toBe(0);
      return parseObjects(r.stdout).map((o) => `${o.kind}/${o.metadata.name}`);
    };
    const crd = 'CustomResourceDefinition/policyreports.wgpolicyk8s.io';
    // Offline rendering cannot look: it renders them (an install into a cluster without them).
    expect(await names([])).toContain(crd);
    expect(await names(['--dry-run=server'])).not.toContain(crd);
  });

  it('gives the ServiceAccount exactly the access docs/install.md describes (real RBAC authorizer)', async () => {
    // Only the RBAC objects and the Secret are created for real: live webhooks would intercept other tests.
    const objects = parseObjects(await render([], 'rbac', 'rbac-check')).filter((o) =>
      ['ServiceAccount', 'Secret', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(
        o.kind,
      ),
    );
    await cluster.createNamespace('rbac-check');
    const created = await cluster.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }),
    });
    expect(created.code, created.stderr).toBe(0);
    const as = 'system:serviceaccount:rbac-check:rbac-provenant';
    const can = async (...args: string[]) => {
      const r = await cluster.kubectl(['auth', 'can-i', `--as=${as}`, ...args]);
      return r.stdout.trim();
    };
    const expectations: [string[], string][] = [
      [['list', 'clusterimagepolicies.provenant.dev'], 'yes'],
      [['watch', 'imagepolicies.provenant.dev', '-A'], 'yes'],
      [['watch', 'trustroots.provenant.dev'], 'yes'],
      [['update', 'clusterimagepolicies.provenant.dev', '--subresource=status'], 'yes'],
      [['patch', 'imagepolicies.provenant.dev', '--subresource=status', '-n', 'team-a'], 'yes'],
      [['update', 'clusterimagepolicies.provenant.dev'], 'no'],
      [['delete', 'trustroots.provenant.dev'], 'no'],
      [['get', 'secrets', '-n', 'team-a'], 'yes'],
      [['list', 'secrets', '-n', 'team-a'], 'no'],
      [['watch', 'secrets', '-A'], 'no'],
      [['get', 'serviceaccounts', '-n', 'team-a'], 'yes'],
      [['update', 'secrets/rbac-provenant-tls', '-n', 'rbac-check'], 'yes'],
      [['update', 'secrets/other', '-n', 'rbac-check'], 'no'],
      [['create', 'secrets', '-n', 'rbac-check'], 'no'],
      [['patch', 'validatingwebhookconfigurations/rbac-provenant'], 'yes'],
      [['patch', 'mutatingwebhookconfigurations/rbac-provenant'], 'yes'],
      [['patch', 'validatingwebhookconfigurations/someone-else'], 'no'],
      [['create', 'pods', '-n', 'team-a'], 'no'],
      // Background re-verification: read workloads, write its own reports, Events and Lease; change nothing.
      [['list', 'pods', '-A'], 'yes'],
      [['list', 'deployments.apps', '-A'], 'yes'],
      [['list', 'cronjobs.batch', '-n', 'team-a'], 'yes'],
      [['get', 'pods', '-n', 'team-a'], 'no'],
      [['delete', 'pods', '-n', 'team-a'], 'no'],
      [['create', 'pods/eviction', '-n', 'team-a'], 'no'],
      [['patch', 'deployments.apps', '-n', 'team-a'], 'no'],
      [['update', 'policyreports.wgpolicyk8s.io/provenant', '-n', 'team-a'], 'yes'],
      [['delete', 'policyreports.wgpolicyk8s.io/provenant', '-n', 'team-a'], 'yes'],
      [['create', 'policyreports.wgpolicyk8s.io', '-n', 'team-a'], 'yes'],
      [['update', 'policyreports.wgpolicyk8s.io/kyverno-polr', '-n', 'team-a'], 'no'],
      [['delete', 'policyreports.wgpolicyk8s.io/kyverno-polr', '-n', 'team-a'], 'no'],
      [['update', 'clusterpolicyreports.wgpolicyk8s.io/provenant'], 'yes'],
      [['update', 'clusterpolicyreports.wgpolicyk8s.io/kyverno'], 'no'],
      [['delete', 'clusterpolicyreports.wgpolicyk8s.io/provenant'], 'no'],
      [['create', 'events', '-n', 'team-a'], 'yes'],
      [['delete', 'events', '-n', 'team-a'], 'no'],
      [['update', 'leases.coordination.k8s.io/rbac-provenant-background', '-n', 'rbac-check'], 'yes'],
      [['update', 'leases.coordination.k8s.io/kube-scheduler', '-n', 'rbac-check'], 'no'],
      [['get', 'leases.coordination.k8s.io', '-n', 'team-a'], 'no'],
    ];
    const got = [];
    for (const [args] of expectations) got.push([args, await can(...args)]);
    expect(got).toEqual(expectations);
  });

  it('calls an external Provenant at webhook.url: /mutate then /validate, skipping excluded namespaces', async () => {
    const ca = await createCA('chart-test-webhook-ca');
    const leaf = await ca.issue({ commonName: '127.0.0.1', hosts: ['127.0.0.1'], usage: 'server' });
    const server = createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (d: string) => (body += d));
      req.on('end', () => {
        const review = JSON.parse(body) as {
          request: {
            uid: string;
            kind: { kind: string };
            namespace: string;
            operation: string;
            subResource?: string;
          };
        };
        const { uid, kind, namespace, operation, subResource } = review.request;
        calls.push({
          path: req.url?.split('?')[0] ?? '',
          kind: kind.kind,
          namespace,
          operation,
          ...(subResource ? { subResource } : {}),
        });
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            response: { uid, allowed: true },
          }),
        );
      });
    });
    webhookServer = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const manifest = await render([
      `webhook.url=${url}`,
      `webhook.caBundle=${Buffer.from(ca.certPem).toString('base64')}`,
    ]);
    const installed = await cluster.kubectl(['apply', '-f', '-'], { input: manifest });
    expect(installed.code, installed.stderr).toBe(0);

    await cluster.createNamespace('workloads');
    await cluster.createNamespace('opted-out', { 'provenant.dev/exclude': 'true' });
    const pod = (name: string, namespace: string) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace },
        spec: {
          // Restricted-compliant: the release namespace enforces PodSecurity "restricted".
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 1000,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: 'app',
              image: 'ghcr.io/acme/app:1.0',
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
            },
          ],
        },
      });
    // The API server picks up new webhook configurations asynchronously: retry until the first call lands.
    await waitFor(
      async () => {
        await cluster.kubectl([
          'delete',
          'pod',
          'first',
          '-n',
          'workloads',
          '--ignore-not-found',
          '--wait=false',
        ]);
        const r = await cluster.kubectl(['create', '-f', '-'], { input: pod('first', 'workloads') });
        expect(r.code, r.stderr).toBe(0);
        return calls.length > 0;
      },
      { timeoutMs: 30_000, intervalMs: 500, description: 'the first webhook call' },
    );
    calls.length = 0;

    const created = await cluster.kubectl(['create', '-f', '-'], { input: pod('web', 'workloads') });
    expect(created.code, created.stderr).toBe(0);
    expect(calls).toEqual([
      { path: '/mutate', kind: 'Pod', namespace: 'workloads', operation: 'CREATE' },
      { path: '/validate', kind: 'Pod', namespace: 'workloads', operation: 'CREATE' },
    ]);

    calls.length = 0;
    const debug = await cluster.kubectl([
      'debug',
      'web',
      '-n',
      'workloads',
      '--image=busybox:1.36',
      '--container=dbg',
    ]);
    expect(debug.code, debug.stderr).toBe(0);
    expect(calls.map((c) => `${c.path} ${c.kind}/${c.subResource ?? ''} ${c.operation}`)).toEqual([
      '/mutate Pod/ephemeralcontainers UPDATE',
      '/validate Pod/ephemeralcontainers UPDATE',
    ]);

    calls.length = 0;
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'workloads' },
      spec: {
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0' }] },
        },
      },
    };
    const deployed = await cluster.kubectl(['create', '-f', '-'], { input: JSON.stringify(deployment) });
    expect(deployed.code, deployed.stderr).toBe(0);
    expect(calls.map((c) => `${c.path} ${c.kind}`)).toEqual(['/mutate Deployment', '/validate Deployment']);

    // Metadata-only updates cannot change an image: the matchCondition skips them.
    calls.length = 0;
    const labelled = await cluster.kubectl(['label', 'pod', 'web', '-n', 'workloads', 'tier=frontend']);
    expect(labelled.code, labelled.stderr).toBe(0);
    const imageChanged = await cluster.kubectl([
      'set',
      'image',
      'deployment/web',
      '-n',
      'workloads',
      'app=ghcr.io/acme/app:1.1',
    ]);
    expect(imageChanged.code, imageChanged.stderr).toBe(0);
    expect(calls.map((c) => `${c.path} ${c.kind} ${c.operation}`)).toEqual([
      '/mutate Deployment UPDATE',
      '/validate Deployment UPDATE',
    ]);

    // Excluded: the release namespace, kube-system, and namespaces labelled provenant.dev/exclude=true.
    calls.length = 0;
    const sa = await cluster.kubectl(['create', 'serviceaccount', 'default', '-n', 'kube-system']);
    expect(sa.code, sa.stderr).toBe(0);
    for (const ns of [NS, 'kube-system', 'opted-out']) {
      const r = await cluster.kubectl(['create', '-f', '-'], { input: pod('skipped', ns) });
      expect(r.code, r.stderr).toBe(0);
    }
    expect(calls).toEqual([]);
  });

  // Runs after the tests above: the webhooks it installs would intercept their requests.
  it('keeps the certificate Provenant wrote through helm upgrade and kubectl re-apply', async () => {
    const tlsData = { 'tls.crt': 'Y2VydA==', 'tls.key': 'a2V5', 'ca.crt': 'Y2E=' };
    const caBundle = Buffer.from((await createCA('chart-test-provenant-ca')).certPem).toString('base64');
    // What Provenant does at start: fill the Secret, patch the CA into both webhook configurations.
    const actAsProvenant = async (release: string, namespace: string) => {
      const secret = await cluster.kubectl([
        'patch',
        'secret',
        `${release}-provenant-tls`,
        '-n',
        namespace,
        '--field-manager=provenant',
        '--type=merge',
        '-p',
        JSON.stringify({ data: tlsData }),
      ]);
      expect(secret.code, secret.stderr).toBe(0);
      for (const [kind, webhook] of [
        ['validatingwebhookconfiguration', 'verify.provenant.dev'],
        ['mutatingwebhookconfiguration', 'pin.provenant.dev'],
      ] as const) {
        const r = await cluster.kubectl([
          'patch',
          kind,
          `${release}-provenant`,
          '--field-manager=provenant',
          '--type=strategic',
          '-p',
          JSON.stringify({ webhooks: [{ name: webhook, clientConfig: { caBundle } }] }),
        ]);
        expect(r.code, r.stderr).toBe(0);
      }
    };
    const expectKept = async (release: string, namespace: string, after: string) => {
      const secret = JSON.parse(
        (await cluster.kubectl(['get', 'secret', `${release}-provenant-tls`, '-n', namespace, '-o', 'json']))
          .stdout,
      ) as { data?: Record<string, string> };
      expect(secret.data, `Secret data after ${after}`).toEqual(tlsData);
      for (const kind of ['validatingwebhookconfiguration', 'mutatingwebhookconfiguration']) {
        const got = await cluster.kubectl([
          'get',
          kind,
          `${release}-provenant`,
          '-o',
          'jsonpath={.webhooks[0].clientConfig.caBundle}',
        ]);
        expect(got.stdout, `${kind} caBundle after ${after}`).toBe(caBundle);
      }
    };

    const kubeconfig = ['--kubeconfig', cluster.kubeconfigPath];
    const installed = await helm([
      'install',
      'helmtest',
      CHART_DIR,
      '-n',
      'helm-test',
      '--create-namespace',
      ...kubeconfig,
    ]);
    expect(installed.code, installed.stderr).toBe(0);
    await actAsProvenant('helmtest', 'helm-test');
    const upgraded = await helm([
      'upgrade',
      'helmtest',
      CHART_DIR,
      '-n',
      'helm-test',
      '--set',
      'logLevel=debug',
      ...kubeconfig,
    ]);
    expect(upgraded.code, upgraded.stderr).toBe(0);
    await expectKept('helmtest', 'helm-test', 'helm upgrade');

    // Opted out: the helmtest webhooks, which no Provenant answers, would refuse the Deployment below.
    await cluster.createNamespace('kubectl-test', { 'provenant.dev/exclude': 'true' });
    const manifest = await render([], 'kubectltest', 'kubectl-test');
    for (const mode of [[], ['--server-side']]) {
      const first = await cluster.kubectl(['apply', ...mode, '-f', '-'], { input: manifest });
      expect(first.code, first.stderr).toBe(0);
      await actAsProvenant('kubectltest', 'kubectl-test');
      const again = await cluster.kubectl(['apply', ...mode, '-f', '-'], {
        input: manifest.replace('"info"', '"debug"'),
      });
      expect(again.code, again.stderr).toBe(0);
      await expectKept('kubectltest', 'kubectl-test', `kubectl apply ${mode.join(' ')}`);
    }
  });
});
