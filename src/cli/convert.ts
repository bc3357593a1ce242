import { readFile, stat } from 'node:fs/promises';
import { dump, loadAll } from 'js-yaml';
import { sanitizeText } from '../admission/text.js';
import { yamlErrorMessage } from '../config/yaml-error.js';
import {
  convertDocument,
  type ConversionNote,
  type ConvertedDocument,
} from '../convert/policy-controller.js';
import { validateTrustRootSpec } from '../kube/trust-root-spec.js';
import { authorityCompiler } from '../policy/authorities.js';
import { compileDocument } from '../policy/compile.js';
import type { AuthorityCompiler } from '../policy/validate.js';
import { createTrustStore } from '../trust/index.js';
import { parseFlags } from './flags.js';
import { EXIT, type CommandIo } from './io.js';
import { UsageError } from './usage-error.js';

export const CONVERT_USAGE = `Usage: provenant convert -f FILE... [--allow-partial]

Converts sigstore policy-controller ClusterImagePolicy and TrustRoot objects (policy.sigstore.dev) into
Provenant ClusterImagePolicy and TrustRoot documents, written to standard output as YAML. Every source field that has no exact
Provenant equivalent (CUE/Rego policies, KMS keys, resource matching, ...) is listed on standard error and as a
comment above its policy, never dropped silently. Each policy written is checked by Provenant's own validator.
Exit status: 0 everything converted exactly, 1 something could not be (unless --allow-partial), 2 invalid input.

Flags:
  -f, --filename FILE   policy-controller YAML, "-" for standard input (repeatable, required)
  --allow-partial       exit 0 even when some fields could not be converted exactly
  -h, --help            show this help`;

const CONVERT_FLAGS = {
  filename: { type: 'string', short: 'f', multiple: true },
  'allow-partial': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A policy file is small; anything larger is refused before it is parsed. */
const MAX_INPUT_BYTES = 4 * 1024 * 1024;

export async function convertCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, CONVERT_FLAGS);
  if (values.help) {
    io.stdout(CONVERT_USAGE);
    return EXIT.allowed;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (use -f FILE)`);
  const files = values.filename ?? [];
  if (files.length === 0) throw new UsageError('name at least one policy-controller file with -f FILE');

  const converted: ConvertedDocument[] = [];
  for (const file of files) {
    const documents = await readDocuments(file, io);
    if (documents === undefined) return EXIT.invalidInput;
    documents.forEach((doc, i) => converted.push(withFile(file, convertDocument(doc, i))));
  }
  if (converted.length === 0) {
    io.stderr(`provenant convert: no documents in ${files.join(', ')}`);
    return EXIT.invalidInput;
  }

  const validate = lenientTrustRootCompiler();
  const sections: string[] = [];
  const notes: ConversionNote[] = [];
  for (const doc of converted) {
    const problems = doc.policy
      ? validationProblems(doc, validate)
      : doc.trustRoot
        ? trustRootProblems(doc)
        : [];
    const written = (doc.policy ?? doc.trustRoot) !== undefined && problems.length === 0;
    const all = [...doc.notes, ...problems];
    notes.push(...all);
    sections.push(render(doc, all, written));
  }
  io.stdout(sections.join('---\n').trimEnd());
  for (const note of notes) io.stderr(`${note.kind}: ${note.document}: ${note.field}: ${note.message}`);
  const incomplete = notes.filter((n) => n.kind !== 'note').length;
  if (incomplete > 0) {
    io.stderr(
      `provenant convert: ${incomplete} field(s) could not be converted exactly${values['allow-partial'] ? ' (--allow-partial)' : ''}`,
    );
  }
  return incomplete > 0 && !values['allow-partial'] ? EXIT.denied : EXIT.allowed;
}

function withFile(file: string, doc: ConvertedDocument): ConvertedDocument {
  const document = `${file}: ${doc.document}`;
  return { ...doc, document, notes: doc.notes.map((n) => ({ ...n, document })) };
}

async function readDocuments(file: string, io: CommandIo): Promise<unknown[] | undefined> {
  const path = file === '-' ? '/dev/stdin' : file;
  try {
    if (file !== '-' && (await stat(path)).size > MAX_INPUT_BYTES) {
      io.stderr(`provenant convert: ${file} is larger than ${MAX_INPUT_BYTES} bytes`);
      return undefined;
    }
    const text = await readFile(path, 'utf8');
    if (text.length > MAX_INPUT_BYTES) {
      io.stderr(`provenant convert: ${file} is larger than ${MAX_INPUT_BYTES} bytes`);
      return undefined;
    }
    const documents = loadAll(text, { filename: file }).filter((d) => d !== null && d !== undefined);
    if (documents.some(sharesNodes)) {
      io.stderr(`provenant convert: ${file}: YAML aliases are not accepted (a policy has no use for them)`);
      return undefined;
    }
    return documents;
  } catch (err) {
    io.stderr(`provenant convert: ${sanitizeText(file)}: ${sanitizeText(yamlErrorMessage(err))}`);
    return undefined;
  }
}

/**
 * True when a parsed document reaches one object twice, which only YAML aliases produce. The converter copies
 * values into its output, so an alias-built "billion laughs" would be written out in full: refuse it instead.
 */
function sharesNodes(document: unknown): boolean {
  const seen = new Set<object>();
  const stack: unknown[] = [document];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value !== 'object' || value === null) continue;
    if (seen.has(value)) return true;
    seen.add(value);
    for (const child of Object.values(value)) stack.push(child);
  }
  return false;
}

/**
 * Checks each converted policy as `verify` would load it. A TrustRoot named by a converted trustRootRef does not
 * exist yet, so keyless authorities naming an unknown trust root are checked against public-good instead (their
 * identities and regular expressions are still compiled); the note on trustRootRef says what to create.
 */
function lenientTrustRootCompiler(): AuthorityCompiler {
  const store = createTrustStore();
  const compile = authorityCompiler(store);
  const known = (name: string | undefined) => name === undefined || store.get(name) !== undefined;
  return (spec) => {
    if (spec.keyless && !known(spec.keyless.trustRoot)) {
      return compile({ ...spec, keyless: { ...spec.keyless, trustRoot: 'public-good' } });
    }
    if (spec.key && !known(spec.key.timestampTrustRoot)) {
      return compile({ ...spec, key: { ...spec.key, timestampTrustRoot: 'public-good' } });
    }
    return compile(spec);
  };
}

function validationProblems(doc: ConvertedDocument, compile: AuthorityCompiler): ConversionNote[] {
  const result = compileDocument({ source: doc.document, index: 0, value: doc.policy }, compile);
  if (!('problems' in result)) return [];
  return result.problems.map((p) => ({
    document: doc.document,
    field: p.field,
    kind: 'unmapped',
    message: `the converted policy is invalid, so it is not written: ${p.message}`,
  }));
}

function trustRootProblems(doc: ConvertedDocument): ConversionNote[] {
  const result = validateTrustRootSpec(doc.trustRoot?.spec);
  if (!('problems' in result)) return [];
  return result.problems.map((p) => ({
    document: doc.document,
    field: p.field,
    kind: 'unmapped',
    message: `the converted TrustRoot is invalid, so it is not written: ${p.message}`,
  }));
}

/** One output section: the notes as comments, then the policy (or a comment saying it was not written). */
function render(doc: ConvertedDocument, notes: readonly ConversionNote[], written: boolean): string {
  const lines = [`# Converted from ${doc.document}`];
  for (const note of notes) lines.push(`# ${note.kind}: ${note.field}: ${note.message}`.replace(/\n/g, ' '));
  if (!written) {
    lines.push('# (nothing written for this document)');
    return `${lines.join('\n')}\n`;
  }
  return `${lines.join('\n')}\n${dump(doc.policy ?? doc.trustRoot, { lineWidth: -1, noRefs: true })}`;
}
