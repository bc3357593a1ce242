/**
 * The JSON schema of one policy document as policy files are checked: the CRD's spec schema made strict. Its
 * validator is compiled ahead of time by scripts/generate-validators.ts into document-validator.generated.ts,
 * so no command pays for compiling a schema at start-up (npm run generate; npm run check:generated in CI).
 */
import { policySpecSchema, type SchemaNode } from './schema.js';
import { API_VERSION } from './types.js';

// Policy files reject unknown fields (a typo must not silently weaken a policy); the CRD prunes them instead.
function strict(node: SchemaNode): object {
  const out: Record<string, unknown> = { ...node };
  if (node.properties) {
    out.properties = Object.fromEntries(Object.entries(node.properties).map(([k, v]) => [k, strict(v)]));
    out.additionalProperties = false;
  }
  if (node.items) out.items = strict(node.items);
  delete out.default;
  return out;
}

export const DOCUMENT_SCHEMA = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  additionalProperties: false,
  properties: {
    apiVersion: { type: 'string', const: API_VERSION },
    kind: { type: 'string', enum: ['ClusterImagePolicy', 'ImagePolicy'] },
    // Objects from the API server carry more metadata (uid, labels, managedFields...): only these matter here.
    metadata: {
      type: 'object',
      required: ['name'],
      properties: {
        name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', maxLength: 253 },
        namespace: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 },
      },
    },
    spec: strict(policySpecSchema),
  },
};
