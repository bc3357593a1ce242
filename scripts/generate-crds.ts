/**
 * Generates Provenant's CustomResourceDefinitions from the one policy schema (src/policy/schema.ts), then
 * re-renders manifests/provenant.yaml from the chart. Never edit the outputs by hand: run
 *
 *   npx tsx scripts/generate-crds.ts           write charts/provenant/crds/*.yaml and manifests/provenant.yaml
 *   npx tsx scripts/generate-crds.ts --check   exit 1 if any of them is out of date (CI)
 *
 * What the schema alone cannot say is added here as CEL `x-kubernetes-validations`, so that `kubectl apply`
 * rejects a broken policy at once instead of the policy turning up later with Ready=False. The rules are
 * attached by shape, not by hand-copied paths, so they follow the schema as it grows:
 *
 * - an authority sets exactly one of the fields listed in TRUST_ANCHORS (any other authority field must be
 *   listed in AUTHORITY_OPTIONS, or generation fails: a new field has to be classified deliberately);
 * - a policy sets at least one of REQUIREMENTS (signatures today, attestations later);
 * - `signatures.threshold` is at most the number of authorities; authority names are unique (list-map key);
 * - a string property named `publicKey` is checked as a PEM public key (header, footer, base64 body, and never
 *   a private key); a string property whose name ends in `RegExp` must compile as a regular expression;
 * - image globs use only the characters the glob compiler accepts.
 *
 * CEL regular expressions are RE2 (Go), the policy engine's are JavaScript: an expression CEL rejects (look-
 * ahead, backreferences) is refused at apply time, one CEL accepts but JavaScript does not (`(?i)` prefix) is
 * caught by the policy compiler and reported on the policy's status. Every string has maxLength and every list
 * maxItems, so the API server can bound each rule's cost when the CRD is created.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dump } from 'js-yaml';
import { policySpecSchema, VERIFICATION_FIELDS, type SchemaNode } from '../src/policy/schema.js';

export const GROUP = 'provenant.dev';
export const VERSION = 'v1alpha1';

/** Authority fields that are trust anchors: an authority sets exactly one of those the schema defines. */
export const TRUST_ANCHORS = ['key', 'keyless'] as const;
/** Authority fields that are not trust anchors. */
export const AUTHORITY_OPTIONS = ['name'] as const;
/** Spec fields that each require something of an image: a policy must set at least one. */
export const REQUIREMENTS = ['signatures', 'attestations'] as const;

/** An OpenAPI v3 schema as the API server reads it in a CRD (a subset of JSONSchemaProps). */
export interface CrdSchema {
  type?: string;
  format?: string;
  description?: string;
  properties?: Record<string, CrdSchema>;
  required?: string[];
  items?: CrdSchema;
  enum?: string[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minimum?: number;
  maximum?: number;
  default?: unknown;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-validations'?: CelRule[];
}

export interface CelRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueForbidden' | 'FieldValueDuplicate';
}

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    group: string;
    names: {
      kind: string;
      listKind: string;
      plural: string;
      singular: string;
      shortNames: string[];
      categories: string[];
    };
    scope: 'Cluster' | 'Namespaced';
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status: Record<string, never> };
      selectableFields?: { jsonPath: string }[];
      additionalPrinterColumns: {
        name: string;
        type: string;
        jsonPath: string;
        description: string;
        priority?: number;
      }[];
      schema: { openAPIV3Schema: CrdSchema };
    }[];
  };
}

/** A problem in the source schema that would make a CRD without docs, with unbounded CEL cost, or wrong rules. */
export class SchemaError extends Error {
  override readonly name = 'SchemaError';
}

// ---------------------------------------------------------------------------------------------------------
// Policy spec: SchemaNode -> CRD schema, with the cross-field rules

const PEM_PUBLIC_KEY = {
  begin: '-----BEGIN PUBLIC KEY-----',
  end: '-----END PUBLIC KEY-----',
};

// The glob compiler's character set (src/policy/glob.ts); test/chart/crds.test.ts checks that both agree.
const GLOB_CHARACTERS = String.raw`^[A-Za-z0-9._\-/:@*?\[\]]+$`;

/**
 * Rules for a PEM public key in field `field` of the object they are attached to. They sit on the parent
 * object, not on the string, because the API server echoes a failing string's value in its error: a private
 * key pasted by mistake must not be printed back (or land in logs of the error).
 */
function publicKeyRules(field: string, required: boolean): CelRule[] {
  const v = `self.${field}`;
  const t = `${v}.trim()`;
  const begins = `${t}.startsWith('${PEM_PUBLIC_KEY.begin}')`;
  const ends = `${t}.endsWith('${PEM_PUBLIC_KEY.end}')`;
  const guard = (rule: string) => (required ? rule : `!has(${v}) || ${rule}`);
  const fieldPath = `.${field}`;
  return [
    {
      rule: guard(`!${v}.contains('PRIVATE KEY')`),
      message: 'is a private key: give the public key (never put a private key in a policy)',
      fieldPath,
    },
    {
      rule: guard(`${v}.contains('PRIVATE KEY') || ${begins}`),
      message: `must be a PEM public key beginning with ${PEM_PUBLIC_KEY.begin}`,
      fieldPath,
    },
    { rule: guard(`!${begins} || ${ends}`), message: `must end with ${PEM_PUBLIC_KEY.end}`, fieldPath },
    {
      rule: guard(
        String.raw`!(${begins} && ${ends}) || ${t}.matches(r'^${PEM_PUBLIC_KEY.begin}\s+[A-Za-z0-9+/=\s]+${PEM_PUBLIC_KEY.end}$')`,
      ),
      message: 'must hold exactly one PEM block whose body is base64',
      fieldPath,
    },
  ];
}

function regExpRules(): CelRule[] {
  // matches() fails at run time on a pattern that does not compile; the failure (with RE2's reason) is the
  // validation error. Both operands call it, so neither can short-circuit the other.
  return [
    {
      rule: "''.matches(self) || !''.matches(self)",
      message: 'must be a valid regular expression (RE2 syntax)',
    },
  ];
}

function globRules(): CelRule[] {
  return [
    {
      rule: `self.matches(r'${GLOB_CHARACTERS}')`,
      message: 'may only contain reference characters (A-Z a-z 0-9 . _ - / : @) and the wildcards * ** ?',
    },
    { rule: "!self.contains('***')", message: '*** is not a valid wildcard (use * or **)' },
  ];
}

function celHas(field: string): string {
  return `has(self.${field})`;
}

function authorityRules(node: SchemaNode, path: string): CelRule[] {
  const fields = Object.keys(node.properties ?? {});
  const unclassified = fields.filter(
    (f) =>
      !(TRUST_ANCHORS as readonly string[]).includes(f) &&
      !(AUTHORITY_OPTIONS as readonly string[]).includes(f),
  );
  if (unclassified.length) {
    throw new SchemaError(
      `${path}: authority field(s) ${unclassified.join(', ')} are neither TRUST_ANCHORS nor AUTHORITY_OPTIONS in scripts/generate-crds.ts: classify them`,
    );
  }
  const anchors = TRUST_ANCHORS.filter((a) => fields.includes(a));
  if (anchors.length === 0) throw new SchemaError(`${path}: an authority defines no trust anchor field`);
  const count = anchors.map((a) => `(${celHas(a)} ? 1 : 0)`).join(' + ');
  return [
    {
      rule: `${count} == 1`,
      message: `must set exactly one trust anchor: ${anchors.join(' or ')}`,
    },
  ];
}

function specRules(node: SchemaNode, path: string): CelRule[] {
  const fields = Object.keys(node.properties ?? {});
  const requirements = REQUIREMENTS.filter((r) => fields.includes(r));
  if (requirements.length === 0)
    throw new SchemaError(`${path}: the spec defines none of ${REQUIREMENTS.join(', ')}`);
  if (!node.properties?.static) throw new SchemaError(`${path}: the spec defines no static field`);
  const verification = VERIFICATION_FIELDS.filter((f) => fields.includes(f));
  const rules: CelRule[] = [
    {
      rule: ['static', ...requirements].map(celHas).join(' || '),
      message: `the policy requires nothing: set ${requirements.map((r) => `spec.${r}`).join(' or ')} (or spec.static)`,
    },
    {
      rule: `has(self.static) || ${celHas('authorities')}`,
      message: 'spec.authorities is required unless spec.static is set',
      fieldPath: '.authorities',
      reason: 'FieldValueRequired',
    },
    {
      rule: `!has(self.static) || !(${verification.map(celHas).join(' || ')})`,
      message: `a static policy decides without verification: it sets none of ${verification.join(', ')}`,
      fieldPath: '.static',
    },
  ];
  if (node.properties.signatures?.properties?.threshold && node.properties.authorities) {
    rules.push({
      rule: '!has(self.signatures) || !has(self.signatures.threshold) || (has(self.authorities) && self.signatures.threshold <= size(self.authorities))',
      message: 'must not be more than the number of authorities',
      fieldPath: '.signatures.threshold',
    });
  }
  return rules;
}

const TRANSLATED_KEYWORDS = new Set([
  'type',
  'description',
  'properties',
  'required',
  'items',
  'enum',
  'pattern',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'minimum',
  'maximum',
  'default',
]);

/**
 * Converts one node. `path` is the field path for error messages (`spec.authorities[].key`); `name` is the
 * property name the node sits under, which the naming conventions above read.
 */
export function toCrdSchema(node: SchemaNode, path = 'spec', name = 'spec'): CrdSchema {
  // A keyword this function does not know would be dropped from the CRD without a word: refuse it instead.
  const unknown = Object.keys(node).filter((k) => !TRANSLATED_KEYWORDS.has(k));
  if (unknown.length) {
    throw new SchemaError(
      `${path}: ${unknown.join(', ')} not translated to the CRD: teach scripts/generate-crds.ts`,
    );
  }
  const out: CrdSchema = {};
  if (node.type) out.type = node.type;
  if (node.description) out.description = node.description;
  if (node.enum) out.enum = [...node.enum];
  if (node.pattern !== undefined) out.pattern = node.pattern;
  for (const k of ['minLength', 'maxLength', 'minItems', 'maxItems', 'minimum', 'maximum'] as const) {
    if (node[k] !== undefined) out[k] = node[k];
  }
  if (node.default !== undefined) out.default = node.default;
  if (node.required?.length) out.required = [...node.required];

  if (node.type === 'string' && node.enum === undefined && node.maxLength === undefined) {
    throw new SchemaError(
      `${path}: a string needs maxLength (or enum) so that the API server can bound CEL cost`,
    );
  }
  if (node.type === 'array' && node.maxItems === undefined) {
    throw new SchemaError(`${path}: a list needs maxItems so that the API server can bound CEL cost`);
  }

  if (node.properties) {
    out.properties = {};
    for (const [key, child] of Object.entries(node.properties)) {
      const childPath = `${path}.${key}`;
      if (!child.description) {
        throw new SchemaError(`${childPath}: every field needs a description (kubectl explain shows it)`);
      }
      out.properties[key] = toCrdSchema(child, childPath, key);
    }
  }
  if (node.items) out.items = toCrdSchema(node.items, `${path}[]`, name);

  const rules: CelRule[] = [];
  if (path === 'spec') rules.push(...specRules(node, path));
  if (path === 'spec.authorities') {
    // Names are the list-map key: the API server refuses duplicates, and server-side apply merges by name.
    out['x-kubernetes-list-type'] = 'map';
    out['x-kubernetes-list-map-keys'] = ['name'];
    if (!node.items?.required?.includes('name')) throw new SchemaError(`${path}[].name must be required`);
  }
  if (path === 'spec.authorities[]') rules.push(...authorityRules(node, path));
  if (path === 'spec.platforms') {
    // A set: the API server refuses a platform named twice.
    out['x-kubernetes-list-type'] = 'set';
    rules.push({
      rule: "size(self) == 1 || !self.exists(p, p == 'index' || p == 'all')",
      message: 'index and all stand alone: give [index], [all], or a list of platforms',
    });
  }
  if (path === 'spec.images[].glob') rules.push(...globRules());
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    if (key === 'publicKey' && child.type === 'string') {
      rules.push(...publicKeyRules(key, node.required?.includes(key) ?? false));
    }
  }
  if (node.type === 'string' && name.endsWith('RegExp')) rules.push(...regExpRules());
  if (rules.length) out['x-kubernetes-validations'] = rules;
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Status, shared by the three kinds

const conditionSchema: CrdSchema = {
  type: 'object',
  description: 'One aspect of the state of the object (metav1.Condition). Provenant sets Ready.',
  required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
  properties: {
    type: {
      type: 'string',
      description: 'Kind of condition, in CamelCase. Ready: the object compiled and is in use.',
      maxLength: 316,
      pattern:
        '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
    },
    status: { type: 'string', description: 'True, False or Unknown.', enum: ['True', 'False', 'Unknown'] },
    observedGeneration: {
      type: 'integer',
      format: 'int64',
      minimum: 0,
      description: 'metadata.generation the condition was computed from.',
    },
    lastTransitionTime: {
      type: 'string',
      format: 'date-time',
      description: 'When the condition last changed status.',
    },
    reason: {
      type: 'string',
      description:
        'Machine-readable CamelCase reason for the last transition, e.g. Compiled or InvalidPolicy.',
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
    },
    message: {
      type: 'string',
      description: 'Human-readable detail: for an invalid object, every problem with its field path.',
      maxLength: 32768,
    },
  },
};

const statusSchema: CrdSchema = {
  type: 'object',
  description: 'State observed by Provenant. Written by the controller; ignored when submitted.',
  properties: {
    observedGeneration: {
      type: 'integer',
      format: 'int64',
      minimum: 0,
      description: 'metadata.generation of the spec Provenant last processed.',
    },
    conditions: {
      type: 'array',
      description: 'Current conditions. Ready=True means the object is compiled and enforced.',
      maxItems: 16,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
      items: conditionSchema,
    },
  },
};

/** A policy's status adds what the background re-verification found (serve --kubernetes, docs/reports.md). */
const policyStatusSchema: CrdSchema = {
  ...statusSchema,
  properties: {
    ...statusSchema.properties,
    violatingWorkloads: {
      type: 'integer',
      format: 'int64',
      minimum: 0,
      description:
        'Running workloads (a controller with its Pods counts once) that do not satisfy this policy, as of lastBackgroundCheck. Written by the replica that holds the background lease.',
    },
    lastBackgroundCheck: {
      type: 'string',
      format: 'date-time',
      description: 'When the background re-verification last counted violatingWorkloads.',
    },
  },
};

// ---------------------------------------------------------------------------------------------------------
// TrustRoot: defined here, since only the CRD and the controller read it (no policy file carries one).

const trustRootSpecSchema: CrdSchema = {
  type: 'object',
  description:
    'Sigstore trust material that keyless authorities refer to by name: either a trusted_root.json inline, or a TUF repository that serves one and keeps it fresh.',
  properties: {
    trustedRoot: {
      type: 'object',
      description:
        'An inline Sigstore trusted_root.json, as a JSON object (protobuf JSON field names): Fulcio certificate authorities, Rekor transparency logs, CT logs and timestamp authorities with their validity periods. Use it for private Sigstore deployments and air-gapped clusters.',
      'x-kubernetes-preserve-unknown-fields': true,
      required: ['mediaType'],
      properties: {
        mediaType: {
          type: 'string',
          description:
            'Format of the document, e.g. application/vnd.dev.sigstore.trustedroot+json;version=0.1 or application/vnd.dev.sigstore.trustedroot.v0.2+json.',
          maxLength: 128,
          pattern: '^application/vnd\\.dev\\.sigstore\\.trustedroot',
        },
        tlogs: {
          type: 'array',
          description:
            'Transparency logs (Rekor): base URL, hash algorithm, public key with its validity period, log ID.',
          maxItems: 64,
          items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        },
        certificateAuthorities: {
          type: 'array',
          description:
            'Certificate authorities (Fulcio): subject, URI, certificate chain and validity period.',
          maxItems: 64,
          items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        },
        ctlogs: {
          type: 'array',
          description:
            'Certificate transparency logs whose signed certificate timestamps Fulcio certificates carry.',
          maxItems: 64,
          items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        },
        timestampAuthorities: {
          type: 'array',
          description: 'RFC 3161 timestamp authorities: certificate chain and validity period.',
          maxItems: 64,
          items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        },
      },
    },
    tuf: {
      type: 'object',
      description:
        'A TUF repository that serves trusted_root.json (as the Sigstore public-good instance does), verified from the given initial root.json and refreshed periodically.',
      required: ['mirror', 'root'],
      properties: {
        mirror: {
          type: 'string',
          description:
            'Base URL of the TUF repository, e.g. https://tuf-repo-cdn.sigstore.dev. TUF metadata is signed, so a plain http mirror is allowed.',
          minLength: 1,
          maxLength: 2048,
          'x-kubernetes-validations': [
            {
              rule: "isURL(self) && url(self).getScheme() in ['https', 'http']",
              message: 'must be an http or https URL',
            },
          ],
        },
        root: {
          type: 'string',
          format: 'byte',
          description:
            'The initial, trusted root.json of the repository, base64-encoded (trust on first use is not allowed).',
          minLength: 1,
          maxLength: 1048576,
        },
        refreshInterval: {
          type: 'string',
          description: 'How often to refresh the TUF metadata: a number and a unit (s, m or h), at least 1m.',
          maxLength: 16,
          pattern: '^[0-9]+(s|m|h)$',
          default: '24h',
          'x-kubernetes-validations': [
            { rule: "duration(self) >= duration('1m')", message: 'must be at least 1m' },
          ],
        },
        maxStaleness: {
          type: 'string',
          description:
            'Optional: the oldest the copy in use may be. When refreshing has failed for longer than this since the last verified copy, the trust root is not used: signatures checked against it are refused with TRUST_ROOT_STALE (and the TrustRoot is Ready=False, reason Stale) until a refresh succeeds. Must be longer than refreshInterval. A copy from the local TUF cache has no known age and is not used when this is set.',
          maxLength: 16,
          pattern: '^[0-9]+(s|m|h)$',
        },
      },
      'x-kubernetes-validations': [
        {
          rule: "!has(self.maxStaleness) || duration(self.maxStaleness) > duration(has(self.refreshInterval) ? self.refreshInterval : '24h')",
          message: 'maxStaleness must be longer than refreshInterval (default 24h)',
          fieldPath: '.maxStaleness',
        },
      ],
    },
  },
  'x-kubernetes-validations': [
    { rule: 'has(self.trustedRoot) != has(self.tuf)', message: 'set exactly one of trustedRoot or tuf' },
  ],
};

// ---------------------------------------------------------------------------------------------------------
// The CRDs

interface KindInfo {
  kind: string;
  plural: string;
  shortName: string;
  scope: 'Cluster' | 'Namespaced';
  description: string;
  spec: CrdSchema;
  columns: CustomResourceDefinition['spec']['versions'][number]['additionalPrinterColumns'];
  status: CrdSchema;
  selectableFields?: { jsonPath: string }[];
}

const READY_COLUMNS = [
  {
    name: 'Ready',
    type: 'string',
    jsonPath: '.status.conditions[?(@.type=="Ready")].status',
    description: 'Whether Provenant compiled the object and is using it.',
  },
  {
    name: 'Reason',
    type: 'string',
    jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
    description: 'Why the object is (not) ready.',
    priority: 1,
  },
];
const AGE_COLUMN = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since creation.',
};

function kinds(): KindInfo[] {
  const policySpec = toCrdSchema(policySpecSchema);
  const policyColumns = [
    { name: 'Mode', type: 'string', jsonPath: '.spec.mode', description: 'Enforce, Warn or Audit.' },
    {
      name: 'Images',
      type: 'string',
      jsonPath: '.spec.images[0].glob',
      description: 'The first image glob.',
    },
    ...READY_COLUMNS,
    {
      name: 'Violations',
      type: 'integer',
      jsonPath: '.status.violatingWorkloads',
      description: 'Running workloads that do not satisfy the policy (background re-verification).',
    },
    AGE_COLUMN,
  ];
  return [
    {
      kind: 'ClusterImagePolicy',
      plural: 'clusterimagepolicies',
      shortName: 'cip',
      scope: 'Cluster',
      description:
        'ClusterImagePolicy says which images may run anywhere in the cluster: an image matching spec.images must meet the requirements of the policy (signatures by its authorities). An image must satisfy every policy that matches it.',
      spec: policySpec,
      columns: policyColumns,
      status: policyStatusSchema,
      selectableFields: [{ jsonPath: '.spec.mode' }],
    },
    {
      kind: 'ImagePolicy',
      plural: 'imagepolicies',
      shortName: 'ip',
      scope: 'Namespaced',
      description:
        'ImagePolicy is a ClusterImagePolicy for its own namespace: it applies only to workloads in that namespace, and it can only add requirements to those of the ClusterImagePolicies, never relax them.',
      spec: policySpec,
      columns: policyColumns,
      status: policyStatusSchema,
      selectableFields: [{ jsonPath: '.spec.mode' }],
    },
    {
      kind: 'TrustRoot',
      plural: 'trustroots',
      shortName: 'tr',
      scope: 'Cluster',
      description:
        'TrustRoot is Sigstore trust material (Fulcio CAs, Rekor logs, CT logs, timestamp authorities) for keyless verification, inline or from a TUF repository. The public-good Sigstore and GitHub roots are built in and need no TrustRoot.',
      spec: trustRootSpecSchema,
      columns: [
        {
          name: 'Mirror',
          type: 'string',
          jsonPath: '.spec.tuf.mirror',
          description: 'TUF repository (empty for an inline trusted root).',
        },
        ...READY_COLUMNS,
        AGE_COLUMN,
      ],
      status: statusSchema,
    },
  ];
}

function crdFor(info: KindInfo): CustomResourceDefinition {
  const singular = info.kind.toLowerCase();
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${info.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/name': 'provenant', 'app.kubernetes.io/part-of': 'provenant' },
    },
    spec: {
      group: GROUP,
      names: {
        kind: info.kind,
        listKind: `${info.kind}List`,
        plural: info.plural,
        singular,
        shortNames: [info.shortName],
        categories: ['provenant'],
      },
      scope: info.scope,
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          ...(info.selectableFields ? { selectableFields: info.selectableFields } : {}),
          additionalPrinterColumns: info.columns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: info.description,
              required: ['spec'],
              properties: {
                apiVersion: {
                  type: 'string',
                  description: `Versioned schema of this object: ${GROUP}/${VERSION}.`,
                },
                kind: { type: 'string', description: `Kind of this object: ${info.kind}.` },
                metadata: { type: 'object' },
                spec: info.spec,
                status: info.status,
              },
            },
          },
        },
      ],
    },
  };
}

/** The three CRDs, keyed by file name under charts/provenant/crds/. */
export function buildCrds(): Map<string, CustomResourceDefinition> {
  return new Map(kinds().map((k) => [`${k.plural}.${GROUP}.yaml`, crdFor(k)]));
}

// Each file starts a YAML document: `helm show crds` concatenates the files, and a leading comment would merge them.
const HEADER = '---\n# Generated by scripts/generate-crds.ts from src/policy/schema.ts: do not edit.\n';

export function renderCrd(crd: CustomResourceDefinition): string {
  return HEADER + dump(crd, { noRefs: true, lineWidth: -1 });
}

// ---------------------------------------------------------------------------------------------------------
// Files

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CRD_DIR = join(ROOT, 'charts/provenant/crds');
export const MANIFEST = join(ROOT, 'manifests/provenant.yaml');
export const RELEASE = { name: 'provenant', namespace: 'provenant-system' } as const;

/** helm from PATH's tools folder ($PROVENANT_TOOLS/bin or ~/.cache/provenant-tools/bin), else from PATH. */
export function helmBinary(): string {
  const cached = join(
    process.env.PROVENANT_TOOLS ?? join(homedir(), '.cache', 'provenant-tools'),
    'bin',
    'helm',
  );
  try {
    accessSync(cached, constants.X_OK);
    return cached;
  } catch {
    return 'helm';
  }
}

/** manifests/provenant.yaml as `helm template` renders it for the default values. */
export function renderManifest(): string {
  const args = [
    'template',
    RELEASE.name,
    join(ROOT, 'charts/provenant'),
    '--namespace',
    RELEASE.namespace,
    '--include-crds',
  ];
  try {
    return execFileSync(helmBinary(), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error('helm not found: run test/tools/install-go-tools.sh helm (or put helm on PATH)', {
        cause: err,
      });
    }
    throw new Error(`helm ${args.join(' ')} failed: ${e.stderr ?? e.message}`, { cause: err });
  }
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function main(argv: string[]): number {
  const check = argv.includes('--check');
  const stale: string[] = [];
  const update = (path: string, content: string) => {
    if (readOrEmpty(path) === content) return;
    stale.push(relative(ROOT, path));
    if (!check) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, content);
    }
  };
  for (const [file, crd] of buildCrds()) update(join(CRD_DIR, file), renderCrd(crd));
  // Rendered after the CRDs are written, since --include-crds copies them into the manifest.
  update(MANIFEST, renderManifest());

  if (check && stale.length) {
    console.error(`out of date: ${stale.join(', ')}\nrun: npx tsx scripts/generate-crds.ts`);
    return 1;
  }
  console.log(stale.length ? `${check ? 'stale' : 'wrote'}: ${stale.join(', ')}` : 'up to date');
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  }
}
