import { defineConfig } from 'vitest/config';

// Tiers: unit tests sit next to pure code in src/; integration tests start real local services
// (registry, cosign, Sigstore mock); e2e tests drive a real kube-apiserver with kubectl.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
      {
        // sigstore-conformance: every bundle-verify case through the real CLI as subprocesses (140 runs).
        test: {
          name: 'conformance',
          include: ['test/conformance/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 600_000,
        },
      },
      {
        // Real bundles from other Sigstore clients' test data through verify-bundle and cosign verify-blob.
        test: {
          name: 'interop',
          include: ['test/interop/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 600_000,
        },
      },
      {
        // The Helm chart and CRDs, rendered and validated by a real kube-apiserver.
        test: {
          name: 'chart',
          include: ['test/chart/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        // Property-based fuzzing (fast-check): a short bounded run by default, FUZZ_LONG=1 for 1M+ cases.
        test: {
          name: 'fuzz',
          include: ['test/fuzz/**/*.test.ts'],
          testTimeout: process.env['FUZZ_LONG'] === '1' || process.env['FUZZ_RUNS'] ? 7_200_000 : 120_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 900_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
