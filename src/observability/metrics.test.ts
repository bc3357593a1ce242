import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics } from './metrics.js';

async function value(
  metrics: ReturnType<typeof createMetrics>,
  name: string,
  labels: Record<string, string>,
) {
  const metric = await metrics.registry.getSingleMetric(name)?.get();
  const sample = metric?.values.find((v) =>
    Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l),
  );
  return sample?.value;
}

describe('createMetrics', () => {
  it('replaces the violating-workloads gauge whole after each background pass', async () => {
    const metrics = createMetrics();
    metrics.replaceViolations([
      { policy: 'release', code: 'NO_SIGNATURE', workloads: 3 },
      { policy: 'release', code: 'UNTRUSTED_SIGNER', workloads: 1 },
    ]);
    expect(
      await value(metrics, 'provenant_violating_workloads', { policy: 'release', code: 'NO_SIGNATURE' }),
    ).toBe(3);
    metrics.replaceViolations([{ policy: 'release', code: 'UNTRUSTED_SIGNER', workloads: 2 }]);
    // A code no longer seen is gone, not left at its old value.
    expect(await value(metrics, 'provenant_violating_workloads', { code: 'NO_SIGNATURE' })).toBeUndefined();
    expect(await value(metrics, 'provenant_violating_workloads', { code: 'UNTRUSTED_SIGNER' })).toBe(2);
    metrics.recordBackgroundPass('ok', 0.5);
    expect(await value(metrics, 'provenant_background_passes_total', { result: 'ok' })).toBe(1);
  });

  it('counts admissions by webhook, decision and code, and observes their duration', async () => {
    const metrics = createMetrics();
    metrics.recordAdmission('validate', 'deny', 'NO_SIGNATURE', 0.2);
    metrics.recordAdmission('validate', 'deny', 'NO_SIGNATURE', 0.3);
    metrics.recordAdmission('mutate', 'allow', 'none', 0.01);
    expect(
      await value(metrics, 'provenant_admissions_total', { decision: 'deny', code: 'NO_SIGNATURE' }),
    ).toBe(2);
    expect(await value(metrics, 'provenant_admissions_total', { webhook: 'mutate', decision: 'allow' })).toBe(
      1,
    );
    const text = await metrics.render();
    expect(text).toMatch(/provenant_admission_duration_seconds_bucket\{le="0\.25",webhook="validate"\} 1\n/);
    expect(text).toMatch(/provenant_admission_duration_seconds_count\{webhook="validate"\} 2\n/);
  });

  it('offers the core hooks for registry requests and cache lookups', async () => {
    const metrics = createMetrics({ labelledRegistries: () => new Set(['ghcr.io']) });
    metrics.recordRegistryRequest('ghcr.io', 'manifest', '200');
    metrics.recordRegistryRequest('ghcr.io', 'manifest', '200');
    metrics.recordCacheLookup('hit');
    metrics.recordCacheLookup('shared');
    expect(
      await value(metrics, 'provenant_registry_requests_total', { registry: 'ghcr.io', status: '200' }),
    ).toBe(2);
    expect(await value(metrics, 'provenant_verification_cache_total', { result: 'shared' })).toBe(1);
  });

  it('reads the registry origins held at each scrape, and leaves the gauge out when nothing is told', async () => {
    let open: number | undefined;
    const metrics = createMetrics({ registryOrigins: { open: () => open, limit: 256 } });
    open = 3;
    expect(await metrics.render()).toMatch(/\nprovenant_registry_origins 3\n/);
    open = 17;
    expect(await metrics.render()).toMatch(/\nprovenant_registry_origins 17\n/);
    expect(await metrics.render()).toContain('past 256 a new one is refused');
    expect(await createMetrics().render()).not.toContain('provenant_registry_origins');
  });

  it('bounds label values', async () => {
    const metrics = createMetrics({ labelledRegistries: () => new Set(['r'.repeat(10_000)]) });
    metrics.recordRegistryRequest('r'.repeat(10_000), 'blob', 'error');
    const text = await metrics.render();
    expect(text).toContain(`registry="${'r'.repeat(128)}"`);
    expect(text).not.toContain('r'.repeat(129));
  });

  it('labels only registries the policies name; 10,000 other hosts share one series per kind and status', async () => {
    const named = new Set(['ghcr.io', 'registry.example.com:5000']);
    const metrics = createMetrics({ labelledRegistries: () => named });
    const baseline = (await metrics.render()).length;
    metrics.recordRegistryRequest('ghcr.io', 'manifest', '200');
    for (let i = 0; i < 10_000; i++) {
      metrics.recordRegistryRequest(`host-${i}.attacker.example`, i % 2 === 0 ? 'manifest' : 'token', '404');
      // A hostile registry picks its status codes too.
      metrics.recordRegistryRequest(`host-${i}.attacker.example`, 'manifest', String(100 + (i % 900)));
    }
    const text = await metrics.render();
    const series = text.split('\n').filter((l) => l.startsWith('provenant_registry_requests_total{'));
    // ghcr.io; other×{manifest,token}×404; other×manifest×(1xx..9xx classes and the known statuses)
    expect(series.length).toBeLessThan(50);
    expect(text).not.toContain('attacker');
    expect(text.length - baseline).toBeLessThan(8 * 1024);
    expect(
      await value(metrics, 'provenant_registry_requests_total', {
        registry: 'other',
        kind: 'token',
        status: '404',
      }),
    ).toBe(5_000);
    expect(
      await value(metrics, 'provenant_registry_requests_total', { registry: 'ghcr.io', status: '200' }),
    ).toBe(1);
    expect(await value(metrics, 'provenant_registry_requests_total', { status: '9xx' })).toBeGreaterThan(0);
  });

  it('counts every host as other when no policy names it (or no policies are loaded yet)', async () => {
    const metrics = createMetrics();
    metrics.recordRegistryRequest('ghcr.io', 'manifest', 'error');
    expect(await value(metrics, 'provenant_registry_requests_total', { registry: 'other' })).toBe(1);
  });

  it('keeps separate instances apart and leaves the global registry alone', async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.recordCacheLookup('miss');
    expect(await value(b, 'provenant_verification_cache_total', { result: 'miss' })).toBeUndefined();
    expect(globalRegistry.getSingleMetric('provenant_admissions_total')).toBeUndefined();
    expect(a.contentType).toContain('text/plain');
  });
});
