import { readFile } from 'node:fs/promises';
import { CORE_SCHEMA, defineScalarTag, loadAll, NOT_RESOLVED } from 'js-yaml';
import { decideAdmission, type AdmissionDecision, type SkipReason } from '../admission/decide.js';
import { formatWorkloadSafe } from '../admission/message.js';
import { decodeAdmissionReview, reviewForManifest, type AdmissionReview } from '../admission/review.js';
import { sanitizeText } from '../admission/text.js';
import { yamlErrorMessage } from '../config/yaml-error.js';
import { isRecord, isSupportedKind, own } from '../kube/extract.js';
import { parseFlags, VERIFY_FLAGS, VERIFY_FLAGS_HELP, verifyFlags } from './flags.js';
import { EXIT, type CommandIo } from './io.js';
import { verdictsJson } from './output.js';
import { createRuntime } from './runtime.js';
import { UsageError } from './usage-error.js';

export const CHECK_USAGE = `Usage: provenant check -f FILE... --policy PATH [flags]

Decides Kubernetes manifests exactly as the webhook would decide their creation: Pods and pod controllers
(Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, ReplicationController) from multi-document
YAML or JSON, "kind: List" included, or an AdmissionReview JSON as the API server sends it. Other kinds
(Services, ConfigMaps, ...) are skipped. A denial prints the message kubectl would show.
Exit status: 0 every object admitted, 1 any object denied, 2 invalid input.

Flags:
  -f, --filename FILE        manifest file, "-" for standard input (repeatable, required)
  -n, --namespace NS         namespace for manifests that set none (default "default")
${VERIFY_FLAGS_HELP.replace('deadline for the whole verification', 'budget for each object, like the webhook')}`;

const CHECK_FLAGS = {
  ...VERIFY_FLAGS,
  filename: { type: 'string', short: 'f', multiple: true },
  namespace: { type: 'string', short: 'n' },
} as const;

/** One object to decide, as the AdmissionReview the API server would send for it. */
interface CheckSubject {
  /** `FILE (document N)`, for JSON output and input errors. */
  readonly source: string;
  readonly review: AdmissionReview;
}

/** A manifest that cannot be read or is not a Kubernetes object: invalid input, exit 2. */
class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

export async function checkCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, CHECK_FLAGS);
  if (values.help) {
    io.stdout(CHECK_USAGE);
    return EXIT.allowed;
  }
  const flags = verifyFlags(values);
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (use -f FILE)`);
  const files = values.filename ?? [];
  if (files.length === 0) throw new UsageError('name at least one manifest with -f FILE');

  let subjects: CheckSubject[];
  try {
    subjects = [];
    for (const file of files) subjects.push(...(await readSubjects(file, values.namespace)));
  } catch (err) {
    if (!(err instanceof ManifestError)) throw err;
    io.stderr(`provenant check: ${sanitizeText(err.message)}`);
    return EXIT.invalidInput;
  }
  if (subjects.length === 0) {
    io.stderr(
      `provenant check: no Pods or pod controllers in ${sanitizeText(files.join(', '))}: nothing to check`,
    );
  }

  const runtime = await createRuntime(flags);
  const decisions: AdmissionDecision[] = [];
  try {
    // One after another, in file order: output stays in order, and the run's cache verifies each image once.
    for (const subject of subjects) {
      decisions.push(
        await decideAdmission(subject.review, {
          verifier: runtime.verifier,
          timeoutMs: flags.timeoutMs,
          excludedNamespaces: [],
        }),
      );
    }
  } finally {
    await runtime.close();
  }

  io.stdout(
    flags.output === 'json' ? toCheckJson(subjects, decisions) : decisions.map(toCheckText).join('\n'),
  );
  const codes = decisions.flatMap((d) => d.codes);
  // The same split as `verify`: a malformed object or reference is the input's fault, not a denial.
  if (codes.includes('INVALID_REQUEST') || codes.includes('INVALID_REFERENCE')) return EXIT.invalidInput;
  return decisions.every((d) => d.response.allowed) ? EXIT.allowed : EXIT.denied;
}

async function readSubjects(file: string, namespace: string | undefined): Promise<CheckSubject[]> {
  let text: string;
  try {
    text = await readFile(file === '-' ? '/dev/stdin' : file, 'utf8');
  } catch (err) {
    throw new ManifestError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let documents: unknown[];
  try {
    documents = loadAll(text, { filename: file, schema: MANIFEST_SCHEMA });
  } catch (err) {
    if (err instanceof MergeKeyError) throw new ManifestError(`${file}: ${err.message}`);
    throw new ManifestError(`${file}: not valid YAML or JSON: ${yamlErrorMessage(err)}`);
  }
  const subjects: CheckSubject[] = [];
  documents.forEach((document, index) => {
    const source = `${file} (document ${index + 1})`;
    if (document === null || document === undefined) return;
    for (const object of objectsOf(document, source)) {
      const review = toReview(object, source, namespace);
      if (review !== undefined) subjects.push({ source, review });
    }
  });
  return subjects;
}

/** A plain `<<` in a manifest: kubectl would merge, and `check` must not decide something else. */
class MergeKeyError extends Error {
  override readonly name = 'MergeKeyError';
}

/**
 * YAML 1.2's core schema, as js-yaml reads by default, where a plain `<<` is refused. kubectl reads manifests
 * with go-yaml v2 (YAML 1.1), which merges `<<: {...}` into the mapping, the merged keys overwriting keys
 * written before it: `{image: signed, <<: {image: unsigned}}` creates the unsigned image. Without merge keys
 * `check` would read a key named `<<` and decide the signed one; with js-yaml's merge, explicit keys would win.
 * Neither is what the cluster runs, so a merge key is invalid input. A quoted `"<<"` is a plain key to both.
 */
const MANIFEST_SCHEMA = CORE_SCHEMA.withTags(
  defineScalarTag<never>('tag:provenant.dev,2026:merge-key', {
    implicit: true,
    implicitFirstChars: ['<'],
    resolve: (source) => {
      if (source !== '<<') return NOT_RESOLVED;
      throw new MergeKeyError(
        'YAML merge keys (<<) are not supported: kubectl merges them (YAML 1.1), a merged key overriding one ' +
          'written before it, so what it creates could differ from what check decides; write the keys out',
      );
    },
    identify: () => false,
  }),
);

/**
 * The objects kubectl creates from one document. Its decoder reads any object with an `items` field as a
 * list, whatever its kind (`List`, `PodList`, `DeploymentList`, but also a `Pod`, whose own spec is then
 * ignored), and gives an item without kind and apiVersion the list's apiVersion and its kind less `List`.
 * An `items` field on a kind that is no list is refused: kubectl would create the items, other tools the
 * object. So are lists inside lists, which kubectl refuses.
 */
function objectsOf(document: unknown, source: string): unknown[] {
  if (!isRecord(document) || !Object.hasOwn(document, 'items')) return [document];
  const kind = own(document, 'kind');
  if (typeof kind !== 'string' || !kind.endsWith('List')) {
    throw new ManifestError(
      `${source}: an object of kind ${JSON.stringify(kind ?? null)} with an "items" field: kubectl reads it ` +
        'as a list and would create its items instead',
    );
  }
  const items = own(document, 'items');
  if (items === null) return [];
  if (!Array.isArray(items)) throw new ManifestError(`${source}: the items of a ${kind} must be a list`);
  return items.map((item: unknown, i) => {
    if (!isRecord(item)) return item;
    if (Object.hasOwn(item, 'items')) {
      throw new ManifestError(
        `${source}: item ${i + 1} of the ${kind} has items of its own (a list in a list)`,
      );
    }
    if (nonEmptyString(own(item, 'kind')) || nonEmptyString(own(item, 'apiVersion'))) return item;
    return { ...item, apiVersion: own(document, 'apiVersion'), kind: kind.slice(0, -'List'.length) };
  });
}

function nonEmptyString(value: unknown): boolean {
  return typeof value === 'string' && value !== '';
}

/** The AdmissionReview the API server would send for this object, or undefined when it sends none. */
function toReview(
  object: unknown,
  source: string,
  namespace: string | undefined,
): AdmissionReview | undefined {
  if (!isRecord(object)) throw new ManifestError(`${source}: not a Kubernetes object`);
  const apiVersion = own(object, 'apiVersion');
  const kind = own(object, 'kind');
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || kind === '') {
    throw new ManifestError(`${source}: needs string apiVersion and kind fields`);
  }
  if (kind === 'AdmissionReview') {
    const decoded = decodeAdmissionReview(object);
    if (!decoded.ok) throw new ManifestError(`${source}: ${decoded.error.message}`);
    return decoded.review;
  }
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
  // Services, ConfigMaps and the like carry no pod spec: the webhook is never called for them.
  if (!isSupportedKind({ group, kind })) return undefined;
  const metadata = own(object, 'metadata');
  const declared = isRecord(metadata) ? own(metadata, 'namespace') : undefined;
  const decoded = reviewForManifest(object, {
    namespace: typeof declared === 'string' && declared !== '' ? declared : (namespace ?? 'default'),
  });
  if (!decoded.ok) throw new ManifestError(`${source}: ${decoded.error.message}`);
  return decoded.review;
}

const SKIPPED: Readonly<Record<SkipReason, string>> = {
  'no-new-images': 'no new or changed images to verify',
  operation: 'this operation starts no containers',
  'excluded-namespace': 'namespace excluded',
};

/** A denial is the webhook's message verbatim; an admission says so, with any warnings and audit notes. */
function toCheckText(decision: AdmissionDecision): string {
  // The object's name is the manifest author's text: as in the webhook's messages, no line breaks or escapes.
  const who = formatWorkloadSafe(decision.workload);
  const response = decision.response;
  const lines: string[] = [];
  if (!response.allowed) {
    lines.push(response.status?.message ?? `${who}: denied`);
  } else {
    const images = new Set(decision.images.map((use) => use.image)).size;
    const detail =
      decision.skipped === undefined
        ? `${images} ${images === 1 ? 'image' : 'images'} checked`
        : SKIPPED[decision.skipped];
    lines.push(`${who}: allowed (${detail})`);
  }
  for (const warning of response.warnings ?? []) lines.push(`${who}: warning: ${warning}`);
  for (const value of Object.values(response.auditAnnotations ?? {})) lines.push(`${who}: audit: ${value}`);
  return lines.join('\n');
}

function toCheckJson(subjects: readonly CheckSubject[], decisions: readonly AdmissionDecision[]): string {
  const objects = decisions.map((decision, i) => ({
    source: subjects[i]?.source ?? null,
    kind: decision.workload.kind,
    namespace: decision.workload.namespace ?? null,
    name: decision.workload.name,
    allowed: decision.response.allowed,
    reason: decision.response.status?.details.causes[0]?.reason ?? null,
    message: decision.response.status?.message ?? null,
    codes: decision.codes,
    images: decision.images.map((use) => ({ container: use.container, kind: use.kind, image: use.image })),
    warnings: decision.response.warnings ?? [],
    auditAnnotations: decision.response.auditAnnotations ?? {},
  }));
  return JSON.stringify(
    {
      ...verdictsJson(decisions.flatMap((d) => d.verdicts)),
      // Over objects, not images: a request-level denial (a malformed object) has no image verdict.
      allowed: decisions.every((d) => d.response.allowed),
      objects,
    },
    null,
    2,
  );
}
