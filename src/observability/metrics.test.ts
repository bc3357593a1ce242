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
    const metrics = createMetrics();
    metrics.recordRegistryRequest('ghcr.io', 'manifest', '200');
    metrics.recordRegistryRequest('ghcr.io', 'manifest', '200');
    metrics.recordCacheLookup('hit');
    metrics.recordCacheLookup('shared');
    expect(
      await value(metrics, 'provenant_registry_requests_total', { registry: 'ghcr.io', status: '200' }),
    ).toBe(2);
    expect(await value(metrics, 'provenant_verification_cache_total', { result: 'shared' })).toBe(1);
  });

  it('bounds label values', async () => {
    const metrics = createMetrics();
    metrics.recordRegistryRequest('r'.repeat(10_000), 'blob', 'error');
    const text = await metrics.render();
    expect(text).toContain(`registry="${'r'.repeat(128)}"`);
    expect(text).not.toContain('r'.repeat(129));
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
