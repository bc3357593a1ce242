/**
 * The OpenAPI v3 schema of a policy `spec`. It is the single source for two consumers: the policy-file
 * loader (validated with ajv, unknown fields rejected) and the CRD (`kubectl explain` reads the descriptions).
 * Keep it structural (every object lists its properties) so the API server accepts it as a CRD schema.
 */
export interface SchemaNode {
  type?: 'object' | 'array' | 'string' | 'integer' | 'boolean';
  description?: string;
  properties?: Record<string, SchemaNode>;
  required?: string[];
  items?: SchemaNode;
  enum?: string[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minimum?: number;
  maximum?: number;
  default?: unknown;
}

import { attestationsSchema } from '../attestation/schema.js';
import { CERTIFICATE_EXTENSION_NAMES } from '../verify/index.js';

const NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** `index`, `all`, or an OCI platform `os/architecture[/variant]` as the image index spells it. */
export const PLATFORM_PATTERN = '^(index|all|[a-z0-9]+/[a-z0-9_]+(/[a-z0-9.]+)?)$';

const keyAuthority: SchemaNode = {
  type: 'object',
  description: 'Trust a static public key (cosign key pairs, KMS-exported keys).',
  required: ['publicKey'],
  properties: {
    publicKey: {
      type: 'string',
      description: 'PEM-encoded public key (ECDSA P-256/P-384/P-521, RSA or Ed25519).',
      minLength: 1,
      maxLength: 16384,
    },
    timestampTrustRoot: {
      type: 'string',
      description:
        "Trust RFC 3161 timestamps on this key's signatures and attestations from the timestamp authorities of this trust root (public-good, github, or a TrustRoot): they are verified (one that does not verify fails the signature, TIMESTAMP_INVALID) and reported. A timestamp shows that the signature existed then, not when it was made: an attestation's maxAge reads the time its signed predicate states, or an earlier verified timestamp.",
      minLength: 1,
      maxLength: 253,
    },
  },
};

const stringField = (description: string): SchemaNode => ({
  type: 'string',
  description,
  minLength: 1,
  maxLength: 1024,
});

const keylessIdentity: SchemaNode = {
  type: 'object',
  description: 'An allowed signer identity: every field set must match (regular expressions are anchored).',
  properties: {
    issuer: stringField(
      'OIDC issuer of the Fulcio certificate, exactly (e.g. https://token.actions.githubusercontent.com).',
    ),
    issuerRegExp: stringField('OIDC issuer as an anchored regular expression.'),
    subject: stringField("The certificate's subject alternative name (URI, e-mail), exactly."),
    subjectRegExp: stringField('The subject alternative name as an anchored regular expression.'),
  },
};

const certificateConstraints: SchemaNode = {
  type: 'object',
  description:
    'Constraints on Fulcio certificate extensions by name (v2 OIDs, falling back to v1), each exact or as <name>RegExp (anchored).',
  properties: Object.fromEntries(
    CERTIFICATE_EXTENSION_NAMES.flatMap((name) => [
      [name, stringField(`Fulcio extension ${name}, exactly.`)],
      [`${name}RegExp`, stringField(`Fulcio extension ${name} as an anchored regular expression.`)],
    ]),
  ),
};

const keylessAuthority: SchemaNode = {
  type: 'object',
  description: 'Trust Fulcio-certified (keyless) signatures from the listed identities.',
  required: ['identities'],
  properties: {
    trustRoot: {
      type: 'string',
      description:
        'Which Sigstore instance to trust: public-good (default), github, or the name of a TrustRoot.',
      minLength: 1,
      maxLength: 253,
      default: 'public-good',
    },
    identities: {
      type: 'array',
      minItems: 1,
      maxItems: 32,
      items: keylessIdentity,
      description: 'Allowed identities; one must match.',
    },
    certificate: certificateConstraints,
  },
};

const authority: SchemaNode = {
  type: 'object',
  description: 'A named trust anchor. Signature and attestation requirements refer to authorities by name.',
  required: ['name'],
  properties: {
    name: {
      type: 'string',
      description: 'Unique name of the authority within the policy (lowercase DNS label).',
      pattern: NAME_PATTERN,
      maxLength: 63,
    },
    key: keyAuthority,
    keyless: keylessAuthority,
  },
};

/** Spec fields that only mean something when images are verified; a static policy sets none of them. */
export const VERIFICATION_FIELDS = [
  'authorities',
  'signatures',
  'attestations',
  'platforms',
  'signatureRepository',
  'signaturePullSecrets',
] as const;

export const policySpecSchema: SchemaNode = {
  type: 'object',
  description: 'Which images the policy governs, whom it trusts, and what it requires of them.',
  required: ['images'],
  properties: {
    mode: {
      type: 'string',
      description:
        'Enforce denies images that fail the policy; Warn admits them with a kubectl warning; Audit admits them and records an audit annotation.',
      enum: ['Enforce', 'Warn', 'Audit'],
      default: 'Enforce',
    },
    images: {
      type: 'array',
      description: 'Images the policy applies to. An image must satisfy every policy that matches it.',
      minItems: 1,
      maxItems: 256,
      items: {
        type: 'object',
        required: ['glob'],
        properties: {
          glob: {
            type: 'string',
            description:
              'Glob over the normalised reference (docker.io/library/nginx): * matches within a path segment, ** across segments.',
            minLength: 1,
            maxLength: 512,
          },
        },
      },
    },
    static: {
      type: 'object',
      description:
        'Decide from the image reference alone, with no registry request: Allow admits the images this policy matches (it satisfies only itself: other matching policies still apply), Deny refuses them with IMAGE_NOT_ALLOWED (a Deny always wins). A static policy sets no authorities, signatures, attestations, platforms, signatureRepository or signaturePullSecrets.',
      required: ['action'],
      properties: {
        action: {
          type: 'string',
          description: 'Allow or Deny.',
          enum: ['Allow', 'Deny'],
        },
        message: {
          type: 'string',
          description: 'Why, shown to the user with IMAGE_NOT_ALLOWED when a Deny matches.',
          minLength: 1,
          maxLength: 512,
        },
      },
    },
    platforms: {
      type: 'array',
      description:
        'Which manifests of a multi-arch image must satisfy the policy: [index] (default: the digest the reference resolves to), [all] (that digest and every platform manifest the index lists, as cosign sign --recursive signs them), or platforms os/arch[/variant] (linux/amd64, linux/arm64/v8) that must each be in the index and satisfy the policy.',
      minItems: 1,
      maxItems: 32,
      items: {
        type: 'string',
        description: 'index, all, or a platform os/arch[/variant].',
        pattern: PLATFORM_PATTERN,
        maxLength: 64,
      },
    },
    authorities: {
      type: 'array',
      description:
        'Named trust anchors: static keys (key) or Fulcio identities (keyless). Required unless static is set.',
      minItems: 1,
      maxItems: 32,
      items: authority,
    },
    signatures: {
      type: 'object',
      description:
        'Require image signatures. Present (even empty) means signatures are required, by at least threshold distinct authorities, each credited to a different signer.',
      properties: {
        threshold: {
          type: 'integer',
          description:
            'Number of distinct authorities that must have signed the image (default 1), each by a different signer: a key, or a keyless identity (issuer and subject), counts toward one authority only.',
          minimum: 1,
          maximum: 32,
        },
      },
    },
    attestations: attestationsSchema,
    signaturePullSecrets: {
      type: 'array',
      description:
        "Pull secrets (kubernetes.io/dockerconfigjson or dockercfg) Provenant uses, besides the workload's own, to read this policy's images and signatures (e.g. a signatureRepository in another registry). A ClusterImagePolicy names each secret's namespace; an ImagePolicy may only name secrets in its own namespace.",
      maxItems: 16,
      items: {
        type: 'object',
        required: ['name'],
        properties: {
          name: { type: 'string', description: 'Secret name.', minLength: 1, maxLength: 253 },
          namespace: {
            type: 'string',
            description:
              "Secret namespace: required in a ClusterImagePolicy; an ImagePolicy's own namespace by default.",
            minLength: 1,
            maxLength: 63,
          },
        },
      },
    },
    signatureRepository: {
      type: 'string',
      description:
        "Repository (registry/path) where signatures and attestations are stored when not beside the image, as with cosign's COSIGN_REPOSITORY.",
      minLength: 1,
      maxLength: 512,
    },
  },
};
