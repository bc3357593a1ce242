import { defineConfig } from 'vitest/config';

// The cluster tier, apart from `npm test`: Provenant as users run it. The image built from the Dockerfile
// runs under runc, is signed and verified, and the chart is installed on a single-node cluster (kubelet,
// containerd). It needs root, `npm run image` first and the node components; `npm run test:cluster`
// prepares all of it (docs/image.md, docs/cluster.md).
export default defineConfig({
  test: {
    name: 'cluster',
    include: ['test/cluster/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 900_000,
    fileParallelism: false,
  },
});
