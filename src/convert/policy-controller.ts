/**
 * Converts sigstore policy-controller ClusterImagePolicy objects (`policy.sigstore.dev`, v1alpha1 or v1beta1)
 * into Provenant policies. Pure: documents in, policies and notes out. Nothing is dropped silently: every
 * source field that has no exact Provenant equivalent yields a note saying so, by field path.
 *
 * The semantic differences that shape the mapping (from policy-controller's docs and pkg/apis/glob):
 * - policy-controller's authorities are alternatives (any one satisfied passes the policy); Provenant's
 *   signature threshold counts authorities and every attestation requirement must be met. Signature-only
 *   authorities map exactly (threshold 1); one attestation authority maps exactly; a mix is converted to the
 *   stricter "all of them" and reported as approximated.
 * - Globs: `*` and `**` mean the same in both; policy-controller's bare `*` and `* / *` mean Docker Hub, and its
 *   matching of `index.docker.io/...` is Provenant's `docker.io/...`.
 * - CUE and Rego policies, resource matching and KMS or Secret-held keys have no Provenant equivalent.
 */
import { API_VERSION, type AuthoritySpec, type ClusterImagePolicy } from '../policy/types.js';
import type { AttestationRequirementSpec } from '../attestation/types.js';
import type { KeylessIdentity } from '../verify/types.js';

export const POLICY_CONTROLLER_GROUP = 'policy.sigstore.dev';

/** A provenant.dev TrustRoot as written (its spec is checked by kube/trust-root-spec.ts). */
export interface ProvenantTrustRoot {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: 'TrustRoot';
  readonly metadata: { readonly name: string };
  readonly spec: { readonly tuf: { readonly mirror: string; readonly root: string } };
}

/**
 * `unmapped`: a source requirement or setting is not in the output. `approximated`: it is, with other (stricter)
 * semantics. `note`: mapped exactly, but something needs the user's attention. The first two fail `convert`
 * unless `--allow-partial`.
 */
export type NoteKind = 'unmapped' | 'approximated' | 'note';

export interface ConversionNote {
  /** `ClusterImagePolicy/<name>` or `document <n>`. */
  readonly document: string;
  /** Path of the source field, e.g. `spec.authorities[2].key.kms`. */
  readonly field: string;
  readonly kind: NoteKind;
  readonly message: string;
}

export interface ConvertedDocument {
  /** Absent when nothing usable could be converted (the notes say why). */
  readonly policy?: ClusterImagePolicy;
  /** For a policy-controller TrustRoot: the Provenant TrustRoot, when it could be converted. */
  readonly trustRoot?: ProvenantTrustRoot;
  readonly document: string;
  readonly notes: readonly ConversionNote[];
}

const PUBLIC_FULCIO = ['https://fulcio.sigstore.dev'];
const PUBLIC_REKOR = ['https://rekor.sigstore.dev'];

/** policy-controller's (and cosign's `--type`) short predicate names. */
const PREDICATE_TYPES: Readonly<Record<string, string>> = {
  custom: 'https://cosign.sigstore.dev/attestation/v1',
  slsaprovenance: 'slsa-provenance-v0.2',
  slsaprovenance02: 'slsa-provenance-v0.2',
  slsaprovenance1: 'slsa-provenance-v1',
  spdx: 'spdx',
  spdxjson: 'spdx',
  cyclonedx: 'cyclonedx',
  link: 'https://in-toto.io/Link/v1',
  vuln: 'https://cosign.sigstore.dev/attestation/vuln/v1',
  openvex: 'https://openvex.dev/ns',
};

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True for a document this converter handles: a policy.sigstore.dev ClusterImagePolicy. */
export function isPolicyControllerPolicy(value: unknown): boolean {
  return (
    isObject(value) &&
    typeof value.apiVersion === 'string' &&
    value.apiVersion.startsWith(`${POLICY_CONTROLLER_GROUP}/`) &&
    value.kind === 'ClusterImagePolicy'
  );
}

/** Converts one parsed YAML document; `index` numbers it for notes when it has no name. */
export function convertDocument(value: unknown, index: number): ConvertedDocument {
  const fallback = `document ${index + 1}`;
  if (isPolicyControllerTrustRoot(value)) return convertTrustRoot(value as Json, fallback);
  if (!isPolicyControllerPolicy(value)) {
    const what = isObject(value) ? `${String(value.apiVersion)} ${String(value.kind)}` : typeof value;
    return {
      document: fallback,
      notes: [
        {
          document: fallback,
          field: '(document)',
          kind: 'unmapped',
          message: `not a ${POLICY_CONTROLLER_GROUP} ClusterImagePolicy or TrustRoot (${what}): not converted`,
        },
      ],
    };
  }
  return new PolicyConverter(value as Json, fallback).convert();
}

function isPolicyControllerTrustRoot(value: unknown): boolean {
  return (
    isObject(value) &&
    typeof value.apiVersion === 'string' &&
    value.apiVersion.startsWith(`${POLICY_CONTROLLER_GROUP}/`) &&
    value.kind === 'TrustRoot'
  );
}

/**
 * A policy-controller TrustRoot: `remote` (a TUF mirror and its initial root, base64 in both) maps to
 * `spec.tuf`; an air-gapped `repository` tarball and inline `sigstoreKeys` do not (their material would have to
 * be rewritten as a trusted_root.json for `spec.trustedRoot`).
 */
function convertTrustRoot(source: Json, fallback: string): ConvertedDocument {
  const name = isObject(source.metadata) ? source.metadata.name : undefined;
  const document = typeof name === 'string' ? `TrustRoot/${name}` : fallback;
  const notes: ConversionNote[] = [];
  const note = (field: string, kind: NoteKind, message: string) =>
    notes.push({ document, field, kind, message });
  const spec = isObject(source.spec) ? source.spec : {};
  for (const key of Object.keys(spec)) {
    if (key === 'remote') continue;
    note(
      `spec.${key}`,
      'unmapped',
      key === 'repository'
        ? 'a TUF repository tarball (mirrorFS) is not read: put its trusted_root.json in spec.trustedRoot, or serve the repository as a mirror'
        : key === 'sigstoreKeys'
          ? 'keys listed one by one are not converted: write them as a trusted_root.json in spec.trustedRoot'
          : 'field unknown to the converter: not converted',
    );
  }
  const remote = isObject(spec.remote) ? spec.remote : undefined;
  if (remote !== undefined) {
    for (const [key, value] of Object.entries(remote)) {
      const defaults: Record<string, string> = { targets: 'targets', trustedRootTarget: 'trusted_root.json' };
      if (key === 'mirror' || key === 'root') continue;
      if (defaults[key] !== undefined && value === defaults[key]) continue;
      note(
        `spec.remote.${key}`,
        'unmapped',
        defaults[key] !== undefined
          ? `Provenant reads ${defaults[key]} from the mirror's default location only`
          : 'field unknown to the converter: not converted',
      );
    }
  }
  const mirror = typeof remote?.mirror === 'string' ? remote.mirror : undefined;
  const root = typeof remote?.root === 'string' ? remote.root.replace(/\s+/g, '') : undefined;
  if (typeof name !== 'string' || mirror === undefined || root === undefined) {
    note('(document)', 'unmapped', 'no remote mirror and root to convert: no TrustRoot written');
    return { document, notes };
  }
  return {
    document,
    notes,
    trustRoot: {
      apiVersion: API_VERSION,
      kind: 'TrustRoot',
      metadata: { name },
      spec: { tuf: { mirror, root } },
    },
  };
}

class PolicyConverter {
  readonly #notes: ConversionNote[] = [];
  readonly #document: string;
  readonly #authorityNames = new Set<string>();
  readonly #requirementNames = new Set<string>();

  constructor(
    private readonly source: Json,
    fallback: string,
  ) {
    const name = isObject(source.metadata) ? source.metadata.name : undefined;
    this.#document = typeof name === 'string' ? `ClusterImagePolicy/${name}` : fallback;
  }

  #note(field: string, kind: NoteKind, message: string): void {
    this.#notes.push({ document: this.#document, field, kind, message });
  }

  convert(): ConvertedDocument {
    const metadata = isObject(this.source.metadata) ? this.source.metadata : {};
    const spec = isObject(this.source.spec) ? this.source.spec : {};
    const name = typeof metadata.name === 'string' ? metadata.name : undefined;
    for (const key of Object.keys(metadata)) {
      if (!['name', 'annotations', 'labels'].includes(key)) {
        this.#note(`metadata.${key}`, 'note', 'not carried over (cluster-scoped object metadata)');
      }
    }
    if (name === undefined) this.#note('metadata.name', 'unmapped', 'the policy has no name');

    const out: Record<string, unknown> = {};
    const mode = this.#mode(spec.mode);
    if (mode) out.mode = mode;
    out.images = this.#images(spec.images);
    for (const key of Object.keys(spec)) {
      if (['mode', 'images', 'authorities'].includes(key)) continue;
      this.#unknownSpecField(key, spec[key]);
    }
    Object.assign(out, this.#authorities(spec.authorities));

    const converted = name !== undefined && (out.images as unknown[]).length > 0 && this.#hasDecision(out);
    const notes = this.#notes;
    if (!converted) {
      this.#note(
        '(document)',
        'unmapped',
        'nothing the policy requires could be converted: no policy written',
      );
      return { document: this.#document, notes };
    }
    return {
      document: this.#document,
      notes,
      policy: {
        apiVersion: API_VERSION,
        kind: 'ClusterImagePolicy',
        metadata: { name: name as string },
        spec: out as unknown as ClusterImagePolicy['spec'],
      },
    };
  }

  #hasDecision(spec: Record<string, unknown>): boolean {
    return spec.static !== undefined || spec.signatures !== undefined || spec.attestations !== undefined;
  }

  #mode(mode: unknown): string | undefined {
    if (mode === undefined) return undefined;
    if (mode === 'enforce') return 'Enforce';
    if (mode === 'warn') return 'Warn';
    this.#note(
      'spec.mode',
      'unmapped',
      `unknown mode ${JSON.stringify(mode)}: the default (Enforce) applies`,
    );
    return undefined;
  }

  #images(images: unknown): { glob: string }[] {
    if (!Array.isArray(images) || images.length === 0) {
      this.#note('spec.images', 'unmapped', 'no images: the policy matches nothing');
      return [];
    }
    const out: { glob: string }[] = [];
    images.forEach((image: unknown, i) => {
      const field = `spec.images[${i}]`;
      if (!isObject(image) || typeof image.glob !== 'string') {
        const regex = isObject(image) && typeof image.regex === 'string';
        this.#note(
          field,
          'unmapped',
          regex
            ? 'regex image patterns have no Provenant equivalent: write it as a glob'
            : 'not a glob: not converted',
        );
        return;
      }
      const glob = convertGlob(image.glob);
      if (glob.note) this.#note(`${field}.glob`, glob.kind, glob.note);
      out.push({ glob: glob.glob });
    });
    return out;
  }

  #unknownSpecField(key: string, value: unknown): void {
    const field = `spec.${key}`;
    switch (key) {
      case 'policy': {
        const type = isObject(value) && typeof value.type === 'string' ? value.type : 'unknown';
        this.#note(
          field,
          'unmapped',
          `the policy-level ${type.toUpperCase()} policy has no Provenant equivalent (Provenant evaluates CEL conditions per attestation): rewrite it as spec.attestations[].conditions or drop it deliberately`,
        );
        return;
      }
      case 'match':
        this.#note(
          field,
          'unmapped',
          'resource matching has no Provenant equivalent: Provenant checks the images of every Pod and pod controller',
        );
        return;
      default:
        this.#note(field, 'unmapped', 'field unknown to the converter: not converted');
    }
  }

  #authorities(authorities: unknown): Record<string, unknown> {
    if (!Array.isArray(authorities) || authorities.length === 0) {
      this.#note('spec.authorities', 'unmapped', 'no authorities');
      return {};
    }
    const entries = authorities.map((a: unknown, i) => ({
      index: i,
      field: `spec.authorities[${i}]`,
      value: a,
    }));
    const statics = entries.filter((e) => isObject(e.value) && isObject(e.value.static));
    const pass = statics.find((e) => (e.value as { static: Json }).static.action === 'pass');
    if (pass) return this.#staticPass(pass.field, pass.value as Json, entries);
    for (const e of statics) {
      const action = (e.value as { static: Json }).static.action;
      if (action !== 'fail') {
        this.#note(`${e.field}.static.action`, 'unmapped', `unknown action ${JSON.stringify(action)}`);
      }
    }
    const others = entries.filter((e) => !statics.includes(e));
    if (others.length === 0) {
      const fail = statics.find((e) => (e.value as { static: Json }).static.action === 'fail');
      if (!fail) return {};
      const message = (fail.value as { static: Json }).static.message;
      return { static: { action: 'Deny', ...(typeof message === 'string' && message ? { message } : {}) } };
    }
    for (const e of statics) {
      this.#note(
        e.field,
        'note',
        'a static fail among other authorities never satisfies the policy on its own (authorities are alternatives): left out, the others decide',
      );
    }
    return this.#verifying(others);
  }

  #staticPass(
    field: string,
    value: Json,
    entries: readonly { index: number; field: string; value: unknown }[],
  ) {
    const others = entries.filter((e) => e.field !== field);
    if (others.length > 0) {
      this.#note(
        'spec.authorities',
        'note',
        `${field} (static pass) satisfies the policy on its own, since authorities are alternatives: the other ${others.length} authorities are not converted`,
      );
    }
    const message = isObject(value.static) ? value.static.message : undefined;
    if (typeof message === 'string') {
      this.#note(`${field}.static.message`, 'note', 'a static Allow carries no message: not converted');
    }
    return { static: { action: 'Allow' } };
  }

  #verifying(entries: readonly { index: number; field: string; value: unknown }[]): Record<string, unknown> {
    const authorities: AuthoritySpec[] = [];
    const attestations: AttestationRequirementSpec[] = [];
    const signers: string[] = [];
    const attesters: string[] = [];
    const repositories = new Map<string, string>();
    const pullSecrets: { name: string; namespace: string }[] = [];
    entries.forEach(({ index, field, value }) => {
      if (!isObject(value)) {
        this.#note(field, 'unmapped', 'not an object: not converted');
        return;
      }
      const authority = this.#authority(field, value, index);
      if (!authority) return;
      authorities.push(authority);
      for (const [repo, secrets] of this.#sources(field, value.source)) {
        if (repo) repositories.set(repo, field);
        pullSecrets.push(...secrets);
      }
      if (Array.isArray(value.attestations) && value.attestations.length > 0) {
        attesters.push(authority.name);
        value.attestations.forEach((att: unknown, j) => {
          const requirement = this.#attestation(`${field}.attestations[${j}]`, att, authority.name);
          if (requirement) attestations.push(requirement);
        });
      } else {
        signers.push(authority.name);
      }
    });
    if (authorities.length === 0) return {};

    const out: Record<string, unknown> = { authorities };
    if (signers.length > 0) out.signatures = {};
    if (attestations.length > 0) out.attestations = attestations;
    if (attesters.length > 0 && (signers.length > 0 || attesters.length > 1)) {
      this.#note(
        'spec.authorities',
        'approximated',
        `policy-controller admits an image when any one authority is satisfied; Provenant requires a signature from one of [${signers.join(', ')}] and every attestation requirement (${attesters.join(', ')}): the converted policy is stricter`,
      );
    }
    if (repositories.size > 1) {
      this.#note(
        'spec.authorities[].source',
        'unmapped',
        `authorities read signatures from different repositories (${[...repositories.keys()].join(', ')}); Provenant has one signatureRepository per policy: split the policy`,
      );
    } else if (repositories.size === 1) {
      out.signatureRepository = [...repositories.keys()][0];
    }
    if (pullSecrets.length > 0) out.signaturePullSecrets = pullSecrets;
    return out;
  }

  #authority(field: string, value: Json, index: number): AuthoritySpec | undefined {
    for (const key of Object.keys(value)) {
      if (!['name', 'key', 'keyless', 'source', 'ctlog', 'attestations', 'rfc3161timestamp'].includes(key)) {
        this.#note(`${field}.${key}`, 'unmapped', 'field unknown to the converter: not converted');
      }
    }
    const name = uniqueName(value.name, `authority-${index}`, this.#authorityNames);
    if (typeof value.name === 'string' && value.name !== name) {
      this.#note(
        `${field}.name`,
        'note',
        `renamed "${value.name}" to "${name}" (Provenant names are DNS labels)`,
      );
    }
    if (isObject(value.key)) return this.#key(field, name, value);
    if (isObject(value.keyless)) return this.#keyless(field, name, value);
    this.#note(field, 'unmapped', 'neither key, keyless nor static: not converted');
    return undefined;
  }

  #key(field: string, name: string, value: Json): AuthoritySpec | undefined {
    const key = value.key as Json;
    for (const k of Object.keys(key)) {
      if (k === 'data') continue;
      if (k === 'kms') {
        this.#note(
          `${field}.key.kms`,
          'unmapped',
          'Provenant does not call KMS: export the public key (cosign public-key --key <kms-uri>) and give it as key.publicKey',
        );
      } else if (k === 'secretRef') {
        this.#note(
          `${field}.key.secretRef`,
          'unmapped',
          'Provenant does not read keys from Secrets: put the public key (it is not secret) in key.publicKey',
        );
      } else if (k === 'hashAlgorithm') {
        const algorithm = String(key.hashAlgorithm).toLowerCase();
        if (algorithm !== 'sha256') {
          this.#note(
            `${field}.key.hashAlgorithm`,
            'unmapped',
            `Provenant takes the digest algorithm from the key and signature, not the policy (${algorithm})`,
          );
        }
      } else {
        this.#note(`${field}.key.${k}`, 'unmapped', 'field unknown to the converter: not converted');
      }
    }
    this.#transparency(field, value, 'key');
    if (typeof key.data !== 'string') return undefined;
    const tsa = isObject(value.rfc3161timestamp) ? value.rfc3161timestamp.trustRootRef : undefined;
    return {
      name,
      key: { publicKey: key.data, ...(typeof tsa === 'string' ? { timestampTrustRoot: tsa } : {}) },
    };
  }

  #keyless(field: string, name: string, value: Json): AuthoritySpec | undefined {
    const keyless = value.keyless as Json;
    const trustRoot = typeof keyless.trustRootRef === 'string' ? keyless.trustRootRef : undefined;
    for (const k of Object.keys(keyless)) {
      if (['identities', 'trustRootRef'].includes(k)) continue;
      if (k === 'url') {
        if (!PUBLIC_FULCIO.includes(String(keyless.url).replace(/\/+$/, '')) && trustRoot === undefined) {
          this.#note(
            `${field}.keyless.url`,
            'unmapped',
            `Provenant verifies certificates against a trust root, not a Fulcio URL (${String(keyless.url)}): create a TrustRoot holding this instance's trusted_root.json and name it in keyless.trustRoot`,
          );
        }
      } else if (k === 'ca-cert') {
        this.#note(
          `${field}.keyless.ca-cert`,
          'unmapped',
          'a CA certificate alone is not a trust root: create a TrustRoot (trusted_root.json with this CA, its Rekor and CT log) and name it in keyless.trustRoot',
        );
      } else if (k === 'insecureIgnoreSCT') {
        if (keyless.insecureIgnoreSCT === true) {
          this.#note(
            `${field}.keyless.insecureIgnoreSCT`,
            'approximated',
            'Provenant requires SCTs as the trust root says (a TrustRoot without CT logs needs none): the converted policy is stricter',
          );
        }
      } else {
        this.#note(`${field}.keyless.${k}`, 'unmapped', 'field unknown to the converter: not converted');
      }
    }
    if (trustRoot !== undefined) {
      this.#note(
        `${field}.keyless.trustRootRef`,
        'note',
        `mapped to keyless.trustRoot "${trustRoot}": convert the policy.sigstore.dev TrustRoot of that name into a provenant.dev TrustRoot`,
      );
    }
    this.#transparency(field, value, 'keyless');
    const identities = this.#identities(`${field}.keyless.identities`, keyless.identities);
    return {
      name,
      keyless: { ...(trustRoot !== undefined ? { trustRoot } : {}), identities },
    };
  }

  #identities(field: string, identities: unknown): KeylessIdentity[] {
    if (!Array.isArray(identities) || identities.length === 0) {
      this.#note(
        field,
        'note',
        'no identities: any identity the certificate authority certified is accepted, as in the source (written as issuerRegExp/subjectRegExp ".*")',
      );
      return [{ issuerRegExp: '.*', subjectRegExp: '.*' }];
    }
    return identities.map((identity: unknown, i) => {
      const out: Record<string, string> = {}; // KeylessIdentity's fields, copied one by one
      if (!isObject(identity)) return out;
      for (const [k, v] of Object.entries(identity)) {
        if (['issuer', 'subject', 'issuerRegExp', 'subjectRegExp'].includes(k) && typeof v === 'string') {
          out[k] = v;
        } else {
          this.#note(`${field}[${i}].${k}`, 'unmapped', 'field unknown to the converter: not converted');
        }
      }
      return out;
    });
  }

  #transparency(field: string, value: Json, kind: 'key' | 'keyless'): void {
    const ctlog = isObject(value.ctlog) ? value.ctlog : undefined;
    if (ctlog) {
      const url = typeof ctlog.url === 'string' ? ctlog.url.replace(/\/+$/, '') : undefined;
      if (kind === 'key') {
        this.#note(
          `${field}.ctlog`,
          'unmapped',
          "Provenant's key authorities verify the key signature and do not require a Rekor entry: the transparency-log check is not converted",
        );
      } else if (
        typeof ctlog.trustRootRef === 'string' &&
        isObject(value.keyless) &&
        ctlog.trustRootRef !== value.keyless.trustRootRef
      ) {
        this.#note(
          `${field}.ctlog.trustRootRef`,
          'unmapped',
          `Provenant takes the CA, Rekor and CT logs from one trust root; this Rekor comes from TrustRoot "${ctlog.trustRootRef}", the CA from ${typeof value.keyless.trustRootRef === 'string' ? `"${value.keyless.trustRootRef}"` : 'public-good'}: merge them into one TrustRoot`,
        );
      } else if (url !== undefined && !PUBLIC_REKOR.includes(url) && typeof ctlog.trustRootRef !== 'string') {
        this.#note(
          `${field}.ctlog.url`,
          'unmapped',
          `Provenant checks Rekor entries offline against a trust root, not a URL (${url}): put this Rekor in the TrustRoot named by keyless.trustRoot`,
        );
      }
    }
    if (value.rfc3161timestamp !== undefined) {
      const ref = isObject(value.rfc3161timestamp) ? value.rfc3161timestamp.trustRootRef : undefined;
      if (kind === 'keyless') {
        this.#note(
          `${field}.rfc3161timestamp`,
          'note',
          "timestamps are verified against the keyless trust root's timestamp authorities",
        );
      } else if (typeof ref === 'string') {
        this.#note(
          `${field}.rfc3161timestamp`,
          'approximated',
          `mapped to key.timestampTrustRoot "${ref}" (convert that TrustRoot too): Provenant verifies such timestamps and takes the signing time from them, but does not require one`,
        );
      } else {
        this.#note(`${field}.rfc3161timestamp`, 'unmapped', 'no trustRootRef: not converted');
      }
    }
  }

  #sources(field: string, source: unknown): [string | undefined, { name: string; namespace: string }[]][] {
    if (source === undefined) return [];
    if (!Array.isArray(source)) {
      this.#note(`${field}.source`, 'unmapped', 'not a list: not converted');
      return [];
    }
    return source.map((s: unknown, i) => {
      const at = `${field}.source[${i}]`;
      if (!isObject(s)) return [undefined, []];
      for (const k of Object.keys(s)) {
        if (k !== 'oci' && k !== 'signaturePullSecrets') {
          this.#note(`${at}.${k}`, 'unmapped', 'field unknown to the converter: not converted');
        }
      }
      const secrets = Array.isArray(s.signaturePullSecrets)
        ? s.signaturePullSecrets.flatMap((secret: unknown) =>
            isObject(secret) && typeof secret.name === 'string'
              ? [{ name: secret.name, namespace: 'cosign-system' }]
              : [],
          )
        : [];
      if (secrets.length > 0) {
        this.#note(
          `${at}.signaturePullSecrets`,
          'note',
          "policy-controller reads these Secrets from its own namespace: written with namespace cosign-system; change it to where the Secret lives (readable by Provenant's service account)",
        );
      }
      return [typeof s.oci === 'string' ? s.oci : undefined, secrets];
    });
  }

  #attestation(field: string, att: unknown, authority: string): AttestationRequirementSpec | undefined {
    if (!isObject(att)) {
      this.#note(field, 'unmapped', 'not an object: not converted');
      return undefined;
    }
    for (const k of Object.keys(att)) {
      if (!['name', 'predicateType', 'policy'].includes(k)) {
        this.#note(`${field}.${k}`, 'unmapped', 'field unknown to the converter: not converted');
      }
    }
    const type = typeof att.predicateType === 'string' ? att.predicateType : '';
    const predicateType = PREDICATE_TYPES[type] ?? (/^[a-z][a-z0-9+.-]*:\S+$/i.test(type) ? type : undefined);
    if (predicateType === undefined) {
      this.#note(`${field}.predicateType`, 'unmapped', `unknown predicate type ${JSON.stringify(type)}`);
      return undefined;
    }
    if (
      predicateType === 'spdx' ||
      predicateType === 'cyclonedx' ||
      /^https:\/\/(spdx\.dev\/Document|cyclonedx\.org\/bom)$/.test(predicateType)
    ) {
      this.#note(
        `${field}.predicateType`,
        'note',
        'Provenant matches every version of this SBOM predicate type',
      );
    }
    if (att.policy !== undefined) {
      const policy = isObject(att.policy) ? att.policy : {};
      const language = typeof policy.type === 'string' ? policy.type.toUpperCase() : 'unknown';
      this.#note(
        `${field}.policy`,
        'unmapped',
        `${language} policies are not evaluated by Provenant: rewrite the check as CEL in conditions (the attestation's presence and signature are still required)`,
      );
    }
    const name = uniqueName(att.name, `${authority}-attestation`, this.#requirementNames);
    if (typeof att.name === 'string' && att.name !== name) {
      this.#note(
        `${field}.name`,
        'note',
        `renamed "${att.name}" to "${name}" (Provenant names are DNS labels, unique in the policy)`,
      );
    }
    return { name, predicateType, authorities: [authority] };
  }
}

/** A DNS-label name for `wanted` (policy-controller names are free text), unique within `taken`. */
function uniqueName(wanted: unknown, fallback: string, taken: Set<string>): string {
  const base =
    (typeof wanted === 'string' ? wanted : fallback)
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 56)
      .replace(/-+$/, '') || fallback;
  let name = NAME.test(base) ? base : fallback;
  for (let n = 2; taken.has(name); n++) name = `${base}-${n}`;
  taken.add(name);
  return name;
}

/**
 * A policy-controller glob as a Provenant glob. `*` (within a segment) and `**` (across) agree; the two
 * whole-glob shorthands `*` and `* /*` mean Docker Hub there; `index.docker.io/` is spelled `docker.io/` here.
 */
export function convertGlob(glob: string): { glob: string; kind: NoteKind; note?: string } {
  if (glob === '*') {
    return {
      glob: 'docker.io/library/*',
      kind: 'note',
      note: 'policy-controller reads the glob "*" as index.docker.io/library/*',
    };
  }
  if (glob === '*/*') {
    return {
      glob: 'docker.io/*/*',
      kind: 'note',
      note: 'policy-controller reads the glob "*/*" as index.docker.io/*/*',
    };
  }
  const rewritten = glob.replace(/^index\.docker\.io\//, 'docker.io/');
  if (/^[^/]*\*\*/.test(rewritten) && !rewritten.startsWith('**')) {
    // `inde**` or `docker.**`: written against the index.docker.io spelling Provenant never produces.
    return {
      glob: rewritten,
      kind: 'approximated',
      note: 'a wildcard inside the registry name: policy-controller matches index.docker.io/..., Provenant docker.io/...; check what this glob still matches',
    };
  }
  const first = rewritten.split('/', 1)[0] ?? '';
  const hasRegistry =
    rewritten.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!hasRegistry && !rewritten.startsWith('*')) {
    return {
      glob: rewritten,
      kind: 'note',
      note: `no registry: policy-controller matches it against the image as written; Provenant against docker.io (${rewritten.includes('/') ? `docker.io/${rewritten}` : `docker.io/library/${rewritten}`})`,
    };
  }
  return {
    glob: rewritten,
    kind: 'note',
    ...(rewritten !== glob ? { note: 'index.docker.io is docker.io' } : {}),
  };
}
