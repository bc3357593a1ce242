import type { SchemaNode } from '../policy/schema.js';
import { PREDICATE_TYPE_ALIASES } from './predicate-type.js';

/**
 * OpenAPI v3 schema of `spec.attestations`, in the style of `policy/schema.ts` (structural, every object lists
 * its properties, descriptions for `kubectl explain`). Shape only: globs, CEL, durations and authority names
 * are checked by `compileAttestationRequirement`, which names the offending field.
 */
const NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const GO_DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$';

const uriGlob = (description: string): SchemaNode => ({
  type: 'string',
  description,
  minLength: 1,
  maxLength: 1024,
});

const builder: SchemaNode = {
  type: 'object',
  description: 'A builder this requirement accepts, and how far it is trusted.',
  required: ['id'],
  properties: {
    id: uriGlob(
      'Glob over the provenance builder.id (* within a path segment, ** across). Without "@", it matches the id at any ref: https://github.com/acme/build/.github/workflows/build.yml matches …/build.yml@refs/tags/v1.2.0.',
    ),
    level: {
      type: 'integer',
      description:
        'SLSA Build level this builder is trusted for. Omitted: the built-in rating (slsa-github-generator at a vX.Y.Z release tag: 3; GitHub artifact attestations: 2; any other builder: 1). A GitHub workflow rated 3 must be a reusable workflow distinct from the calling workflow (Fulcio Build Signer URI ≠ Build Config URI) on a GitHub-hosted runner, otherwise it counts as 2.',
      minimum: 1,
      maximum: 3,
    },
    authorities: {
      type: 'array',
      description:
        "The requirement's authorities whose provenance may name this builder; provenance another authority signed in this builder's name is not accepted by this entry. Omitted: the requirement's authority when it names one; when it names several, the entry accepts the builder from any of them but grants no level (the built-in rating applies).",
      minItems: 1,
      maxItems: 32,
      items: { type: 'string', pattern: NAME_PATTERN, maxLength: 63 },
    },
  },
};

const verifier: SchemaNode = {
  type: 'object',
  description:
    'A verifier whose SLSA verification summaries (VSA, https://slsa.dev/verification_summary/v1) stand in for provenance. Builder and source checks are then left to the policy of the verifier; only the levels are checked here.',
  required: ['id', 'resourceUri'],
  properties: {
    id: uriGlob('Glob over the VSA predicate verifier.id.'),
    resourceUri: uriGlob(
      'Glob over the VSA resourceUri: what the verifier checked (e.g. pkg:docker/ghcr.io/acme/*). Required, since a VSA for another resource proves nothing about this image.',
    ),
    level: {
      type: 'integer',
      description:
        'Highest SLSA Build level this verifier is trusted to vouch for (default: the level the VSA states).',
      minimum: 0,
      maximum: 3,
    },
    verifiedLevels: {
      type: 'array',
      description:
        'Levels the VSA must list in verifiedLevels. SLSA_<TRACK>_LEVEL_<n> is met by a higher level on the same track (SLSA_BUILD_LEVEL_3 meets SLSA_BUILD_LEVEL_2); other values (e.g. BCID_L1) must be listed as written.',
      maxItems: 16,
      items: { type: 'string', minLength: 1, maxLength: 128 },
    },
    authorities: {
      type: 'array',
      description:
        "The requirement's authorities that sign this verifier's VSAs; a VSA counts only when one of them signed it, whatever verifier.id it states. Required when the requirement names more than one authority.",
      minItems: 1,
      maxItems: 32,
      items: { type: 'string', pattern: NAME_PATTERN, maxLength: 63 },
    },
  },
};

const slsa: SchemaNode = {
  type: 'object',
  description:
    'SLSA Build track checks on provenance (v0.2 or v1) and, through verifiers, on VSAs. The level of a provenance is looked up by (signer identity, builder.id); a provenance whose builder.id is not the identity that signed it is rejected (SLSA_BUILDER_UNTRUSTED).',
  properties: {
    minBuildLevel: {
      type: 'integer',
      description:
        'Minimum SLSA Build level (default 1: any authentic provenance). SLSA v1.0 defines levels 1 to 3; 4 is accepted and no builder meets it.',
      minimum: 1,
      maximum: 4,
    },
    builders: {
      type: 'array',
      description:
        'When set, only these builders are accepted; provenance from any other builder fails with SLSA_BUILDER_UNTRUSTED. When omitted, every builder is accepted at its built-in rating (unknown builders: level 1).',
      minItems: 1,
      maxItems: 64,
      items: builder,
    },
    source: {
      type: 'object',
      description:
        'Where the image must have been built from. Read from the provenance (v0.2 configSource, materials and environment; v1 externalParameters.workflow and resolvedDependencies) and the Fulcio source extensions, which must all agree.',
      properties: {
        repository: uriGlob(
          'Glob over the source repository URL, e.g. https://github.com/acme/app or https://github.com/acme/* (github.com/acme/app is read as https://; GitHub names compare case-insensitively).',
        ),
        refs: {
          type: 'array',
          description: 'Globs over the full git ref built, e.g. refs/heads/main, refs/tags/v*.',
          minItems: 1,
          maxItems: 64,
          items: { type: 'string', pattern: '^refs/', minLength: 6, maxLength: 1024 },
        },
      },
    },
    githubEnterprise: {
      type: 'array',
      description:
        "GitHub Enterprise Server (or GHE.com) instances whose GitHub Actions certificates are rated as github.com's are: a workflow attesting its own run is Build L2; a reusable workflow listed in builders at level 3 keeps L3 only when called by another workflow on a GitHub-hosted runner; builder.id must be the signing workflow. github.com is always known; slsa-github-generator's own workflows are rated only on github.com.",
      minItems: 1,
      maxItems: 16,
      items: {
        type: 'object',
        description: 'One GitHub Enterprise instance.',
        required: ['issuer', 'url'],
        properties: {
          issuer: {
            type: 'string',
            description:
              "OIDC issuer of the instance's Actions tokens, exactly (GitHub Enterprise Server: https://HOST/_services/token).",
            pattern: '^https://',
            minLength: 9,
            maxLength: 512,
          },
          url: {
            type: 'string',
            description:
              'Web URL of the instance, e.g. https://github.example.com: certificate identities are URL/OWNER/REPO/.github/workflows/FILE@REF.',
            pattern: '^https://[^/]+$',
            minLength: 9,
            maxLength: 256,
          },
        },
      },
    },
    verifiers: {
      type: 'array',
      description: 'Verifiers whose VSAs satisfy minBuildLevel in place of provenance.',
      minItems: 1,
      maxItems: 32,
      items: verifier,
    },
  },
};

const condition: SchemaNode = {
  type: 'object',
  description: 'A CEL expression the attestation must satisfy.',
  required: ['expression'],
  properties: {
    expression: {
      type: 'string',
      description:
        'CEL yielding a bool, over predicate, statement (the in-toto statement) and image ({digest, reference}); e.g. size(predicate.packages) > 0. List macros may nest two deep, and evaluation is refused when it would cost too much on the attestation at hand. matches() takes a string literal pattern in RE2 syntax (as Kubernetes CEL), matched in linear time, and is refused on attestations holding a string longer than 4096 characters.',
      minLength: 1,
      maxLength: 4096,
    },
    message: {
      type: 'string',
      description: 'Shown in the deny message when the condition fails.',
      maxLength: 512,
    },
  },
};

const requirement: SchemaNode = {
  type: 'object',
  description: 'Require an attestation of one predicate type, signed by one of the named authorities.',
  required: ['name', 'predicateType', 'authorities'],
  properties: {
    name: {
      type: 'string',
      description:
        'Unique name of the requirement within the policy (lowercase DNS label); deny messages use it.',
      pattern: NAME_PATTERN,
      maxLength: 63,
    },
    predicateType: {
      type: 'string',
      description: `Predicate type URI, matched exactly, except https://spdx.dev/Document and https://cyclonedx.org/bom, which match every version. Short names: ${Object.entries(
        PREDICATE_TYPE_ALIASES,
      )
        .map(([alias, uris]) => `${alias} (${uris.join(' or ')})`)
        .join('; ')}.`,
      minLength: 1,
      maxLength: 512,
    },
    authorities: {
      type: 'array',
      description: "Names of the policy's authorities; only attestations one of them signed count.",
      minItems: 1,
      maxItems: 32,
      items: { type: 'string', pattern: NAME_PATTERN, maxLength: 63 },
    },
    maxAge: {
      type: 'string',
      description:
        "Go duration (720h, 1h30m): the attestation must have been made at most this long ago. Keyless: by its verified signing time (the certificate's short validity pins it). Key: by the time its signed predicate states (SLSA build finish, VSA timeVerified, SBOM creation, scan finish), or an earlier verified timestamp; a timestamp alone shows only that the signature existed then, so a key-signed statement stating no time fails.",
      pattern: GO_DURATION_PATTERN,
      maxLength: 64,
    },
    slsa,
    conditions: {
      type: 'array',
      description: 'CEL conditions; all must hold.',
      maxItems: 32,
      items: condition,
    },
  },
};

export const attestationsSchema: SchemaNode = {
  type: 'array',
  description:
    'Attestations the image must carry. Each requirement is met when at least one attestation of its type, signed by one of its authorities, passes all of its checks.',
  // An empty list would pass the "requires something" rule while requiring nothing.
  minItems: 1,
  maxItems: 32,
  items: requirement,
};
