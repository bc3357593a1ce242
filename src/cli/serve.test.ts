import { describe, expect, it } from 'vitest';
import { parseFlags } from './flags.js';
import { SERVE_FLAGS, serveFlags } from './serve.js';
import { UsageError } from './usage-error.js';

const flags = (argv: string[]) => serveFlags(parseFlags(argv, SERVE_FLAGS).values);

/** What charts/provenant/templates/deployment.yaml passes with self-managed certificates. */
const CHART_SELF_MANAGED = [
  '--kubernetes',
  '--port',
  '8443',
  '--tls-secret',
  'provenant-system/provenant-tls',
  '--tls-san',
  'provenant.provenant-system.svc',
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
  '--no-match',
  'deny',
  '--exclude-namespace',
  'kube-system',
  '--exclude-namespace',
  'provenant-system',
  '--log-level',
  'info',
  '--background-interval',
  '1h',
  '--background-rate',
  '5',
  '--background-concurrency',
  '2',
  '--lease-namespace',
  'provenant-system',
  '--lease-name',
  'provenant-background',
];

describe('serveFlags', () => {
  it('reads the background re-verification flags the chart passes, and turns it off at 0', () => {
    expect(flags(CHART_SELF_MANAGED).background).toEqual({
      intervalMs: 3_600_000,
      ratePerSecond: 5,
      concurrency: 2,
      leaseNamespace: 'provenant-system',
      leaseName: 'provenant-background',
    });
    expect(flags(['--kubernetes']).background).toMatchObject({
      intervalMs: 3_600_000,
      leaseName: 'provenant-background',
    });
    expect(flags(['--kubernetes', '--background-interval', '0s']).background).toBeUndefined();
    // Policy files have no cluster to re-verify.
    expect(flags(['--policy', 'p.yaml']).background).toBeUndefined();
  });

  it.each([
    [
      ['--policy', 'p.yaml', '--background-interval', '1h'],
      '--background-interval only applies with --kubernetes',
    ],
    [['--kubernetes', '--background-interval', 'soon'], '--background-interval'],
    [['--kubernetes', '--background-interval', '10ms'], 'at least 1s'],
    [['--kubernetes', '--background-rate', '0'], '--background-rate'],
    [['--kubernetes', '--background-concurrency', '100'], '--background-concurrency'],
    [['--kubernetes', '--lease-namespace', 'Not_A_Namespace'], '--lease-namespace'],
    [['--kubernetes', '--lease-name', 'x'.repeat(300)], '--lease-name'],
  ])('refuses bad background flags: %j', (argv, message) => {
    expect(() => flags(argv)).toThrow(UsageError);
    expect(() => flags(argv)).toThrow(message);
  });

  it('reads the self-managed certificate flags the chart passes', () => {
    const parsed = flags(CHART_SELF_MANAGED);
    expect(parsed.policies).toEqual({ kind: 'kubernetes' });
    expect(parsed.tls).toEqual({
      kind: 'secret',
      namespace: 'provenant-system',
      secretName: 'provenant-tls',
      serviceName: 'provenant',
      webhookNames: { validating: 'provenant', mutating: 'provenant' },
    });
  });

  it('reads --allow-registry-address ranges (chart: admission.allowRegistryAddresses)', () => {
    const parsed = flags([
      '--kubernetes',
      '--allow-registry-address',
      '169.254.10.0/24',
      '--allow-registry-address',
      'fd00:ec2::254',
    ]);
    expect(parsed.verify.allowedRegistryAddresses).toEqual(['169.254.10.0/24', 'fd00:ec2::254']);
  });

  it.each([
    ['--allow-registry-address', 'metadata.internal'],
    ['--allow-registry-address', '169.254.0.0/40'],
    ['--insecure-registry', 'registry.example.com:443'],
  ])('refuses %s %s', (flag, value) => {
    expect(() => flags(['--kubernetes', flag, value])).toThrow(UsageError);
  });

  it("reads the chart's cert-manager flags", () => {
    const parsed = flags(['--kubernetes', '--tls-cert', '/tls/tls.crt', '--tls-key', '/tls/tls.key']);
    expect(parsed.tls).toEqual({ kind: 'files', certFile: '/tls/tls.crt', keyFile: '/tls/tls.key' });
  });

  it('takes --tls-dir as where self-managed certificate files go, and needs no webhook configuration', () => {
    const parsed = flags([
      '--kubernetes',
      '--tls-secret',
      'ns/tls',
      '--tls-san',
      'hook.ns.svc',
      '--tls-dir',
      '/tmp/certs',
    ]);
    expect(parsed.tls).toEqual({
      kind: 'secret',
      namespace: 'ns',
      secretName: 'tls',
      serviceName: 'hook',
      webhookNames: {},
      dir: '/tmp/certs',
    });
  });

  const secret = ['--tls-secret', 'ns/tls', '--tls-san', 'hook.ns.svc'];
  it.each([
    ['--tls-secret without --kubernetes', ['--policy', 'p.yaml', ...secret]],
    [
      '--tls-secret with --tls-cert/--tls-key',
      ['--kubernetes', ...secret, '--tls-cert', 'c', '--tls-key', 'k'],
    ],
    ['--tls-secret with --tls-key alone', ['--kubernetes', ...secret, '--tls-key', 'k']],
    ['--tls-secret without a namespace', ['--kubernetes', '--tls-secret', 'tls', '--tls-san', 'hook.ns.svc']],
    ['--tls-secret with a bad name', ['--kubernetes', '--tls-secret', 'ns/TLS', '--tls-san', 'hook.ns.svc']],
    [
      '--tls-secret with too many parts',
      ['--kubernetes', '--tls-secret', 'a/b/c', '--tls-san', 'hook.a.svc'],
    ],
    ['--tls-secret without --tls-san', ['--kubernetes', '--tls-secret', 'ns/tls']],
    [
      'a Service in another namespace',
      ['--kubernetes', '--tls-secret', 'ns/tls', '--tls-san', 'hook.other.svc'],
    ],
    ['a SAN that is not a Service name', ['--kubernetes', '--tls-secret', 'ns/tls', '--tls-san', '10.0.0.1']],
    ['two SANs', ['--kubernetes', ...secret, '--tls-san', 'hook.ns.svc.cluster.local']],
    [
      'a bad webhook configuration name',
      ['--kubernetes', ...secret, '--mutating-webhook-configuration', 'A B'],
    ],
    [
      'webhook configurations without --tls-secret',
      ['--kubernetes', '--validating-webhook-configuration', 'x'],
    ],
  ])('refuses %s', (_name, argv) => {
    expect(() => flags(argv)).toThrow(UsageError);
  });
});
