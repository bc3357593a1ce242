import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { attestationsSchema } from './schema.js';
import type { SchemaNode } from '../policy/schema.js';

// As policy/validate.ts does for policy files: unknown fields are errors.
function strict(node: SchemaNode): object {
  const out: Record<string, unknown> = { ...node };
  if (node.properties) {
    out.properties = Object.fromEntries(Object.entries(node.properties).map(([k, v]) => [k, strict(v)]));
    out.additionalProperties = false;
  }
  if (node.items) out.items = strict(node.items);
  return out;
}

const validate = new Ajv({ allErrors: true, strict: false }).compile(strict(attestationsSchema));

const EXAMPLE = [
  {
    name: 'provenance',
    predicateType: 'https://slsa.dev/provenance/v1',
    authorities: ['ci'],
    slsa: {
      minBuildLevel: 3,
      builders: [{ id: 'https://github.com/acme/build/.github/workflows/build.yml@refs/tags/v*', level: 3 }],
      source: { repository: 'https://github.com/acme/app', refs: ['refs/heads/main', 'refs/tags/v*'] },
      verifiers: [
        {
          id: 'https://verifier.acme.example',
          resourceUri: 'pkg:docker/ghcr.io/acme/*',
          verifiedLevels: ['SLSA_BUILD_LEVEL_3'],
        },
      ],
    },
  },
  {
    name: 'sbom',
    predicateType: 'https://spdx.dev/Document',
    authorities: ['ci'],
    maxAge: '720h',
    conditions: [{ expression: 'size(predicate.packages) > 0', message: 'SBOM lists no packages' }],
  },
];

describe('attestationsSchema', () => {
  it('accepts the example policy', () => {
    expect(validate(EXAMPLE)).toBe(true);
  });

  it.each<[string, (e: typeof EXAMPLE) => unknown]>([
    ['an unknown field', (e) => [{ ...e[1], maxage: '1h' }]],
    ['a missing authority list', (e) => [{ ...e[1], authorities: undefined }]],
    ['a name that is not a DNS label', (e) => [{ ...e[1], name: 'SBOM' }]],
    ['maxAge in days', (e) => [{ ...e[1], maxAge: '30d' }]],
    ['minBuildLevel 5', (e) => [{ ...e[0], slsa: { minBuildLevel: 5 } }]],
    ['a short ref', (e) => [{ ...e[0], slsa: { source: { refs: ['main'] } } }]],
    [
      'a verifier without resourceUri',
      (e) => [{ ...e[0], slsa: { verifiers: [{ id: 'https://v.example' }] } }],
    ],
  ])('rejects %s', (_, edit) => {
    expect(validate(JSON.parse(JSON.stringify(edit(EXAMPLE))))).toBe(false);
  });

  it('describes every property, for kubectl explain', () => {
    const undocumented: string[] = [];
    const walk = (node: SchemaNode, path: string) => {
      if (node.description === undefined && node.type === 'object') undocumented.push(path);
      for (const [k, v] of Object.entries(node.properties ?? {})) {
        if (v.description === undefined && v.type !== 'array') undocumented.push(`${path}.${k}`);
        walk(v, `${path}.${k}`);
      }
      if (node.items) walk(node.items, `${path}[]`);
    };
    walk(attestationsSchema, 'attestations');
    expect(undocumented).toEqual([]);
  });
});
