import { Ajv } from 'ajv';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderValidator } from '../../scripts/generate-validators.js';
import { DOCUMENT_SCHEMA } from './document-schema.js';
import { validateDocumentShape } from './document-validator.generated.js';

// The validator is compiled at build time; these keep it identical to what ajv compiles from the schema now.
describe('the generated policy document validator', () => {
  it('is up to date with src/policy/document-schema.ts (run: npm run generate)', async () => {
    const checkedIn = readFileSync(new URL('./document-validator.generated.ts', import.meta.url), 'utf8');
    expect(checkedIn).toBe(await renderValidator());
  });

  it('reports exactly the errors a validator compiled at run time reports', () => {
    const runtime = new Ajv({ allErrors: true, strict: false }).compile(DOCUMENT_SCHEMA);
    const key = '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n';
    const documents: unknown[] = [
      {},
      {
        apiVersion: 'provenant.dev/v1alpha1',
        kind: 'ClusterImagePolicy',
        metadata: { name: 'ok' },
        spec: {},
      },
      {
        apiVersion: 'provenant.dev/v1', // wrong version
        kind: 'Policy',
        metadata: { name: 'Bad_Name', namespace: 'x'.repeat(64), extra: 1 },
        spec: {
          images: [{ glob: 'a/**', typo: true }],
          authorities: [{ name: 'k', key: { publicKey: key } }],
        },
      },
      {
        apiVersion: 'provenant.dev/v1alpha1',
        kind: 'ClusterImagePolicy',
        metadata: { name: 'n'.repeat(254) },
        spec: {
          mode: 'Sometimes',
          images: [{ glob: 'registry.example.com/**' }],
          authorities: [{ name: 'k', key: { publicKey: key }, keyless: 'no' }],
          signatures: { threshold: -1 },
        },
      },
    ];
    for (const document of documents) {
      const generated = validateDocumentShape as unknown as typeof runtime;
      expect(generated(document)).toBe(runtime(document));
      expect(generated.errors ?? null).toEqual(runtime.errors ?? null);
    }
  });
});
