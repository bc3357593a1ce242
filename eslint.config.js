import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The core (policy/, verify/, kube/extract, oci/reference) must stay free of I/O so it can be tested
// with real data and no network: the edges inject registry, Kubernetes API and clock.
const pureCore = ['src/policy/**', 'src/verify/**', 'src/kube/extract.ts', 'src/oci/reference.ts'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'charts/**', 'manifests/**', '.tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    files: pureCore,
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            'undici',
            'node:http',
            'node:https',
            'node:net',
            'node:fs',
            'node:fs/promises',
            'node:process',
          ],
        },
      ],
      'no-restricted-globals': ['error', 'fetch', 'process'],
    },
  },
);
