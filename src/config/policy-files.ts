import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { ProvenantError } from '../errors.js';
import type { PolicyDocument } from '../policy/compile.js';
import { yamlErrorMessage } from './yaml-error.js';

const MAX_POLICY_FILE_BYTES = 1024 * 1024;
const POLICY_FILE = /\.(ya?ml|json)$/i;

export interface ReadPolicyOptions {
  /**
   * Policy files (named directly, not found in a directory) whose absence means "removed on purpose": they
   * contribute no policies instead of failing the read. A missing directory always fails: a directory that
   * is being replaced (deleted, then recreated) must not read as an empty policy set in between.
   */
  readonly removableFiles?: ReadonlySet<string>;
}

/**
 * Reads policy documents from files or directories (non-recursive; `.yaml`, `.yml`, `.json`; names starting
 * with `.` are skipped, as are the `..data` links and timestamped folders of ConfigMap volumes). Empty documents
 * (a trailing `---`) are skipped, but a file with no document at all is an error: truncating a file
 * (`cat new > policy.yaml` does, for a moment) must never read as "no policies". A file whose only document
 * is an empty list (`[]`) is the deliberate way to say "no policies here". Errors are INVALID_POLICY and name
 * the file.
 */
export async function readPolicyDocuments(
  paths: readonly string[],
  options: ReadPolicyOptions = {},
): Promise<PolicyDocument[]> {
  const files: string[] = [];
  for (const path of paths) {
    let info;
    try {
      info = await stat(path);
    } catch (err) {
      if (isNotFound(err) && options.removableFiles?.has(path) === true) continue;
      throw new ProvenantError(
        'INVALID_POLICY',
        `cannot read policy path ${path}: ${(err as Error).message}`,
      );
    }
    if (info.isDirectory()) {
      const entries = (await readdir(path)).filter((f) => POLICY_FILE.test(f) && !f.startsWith('.')).sort();
      files.push(...entries.map((f) => join(path, f)));
    } else {
      files.push(path);
    }
  }
  const documents: PolicyDocument[] = [];
  for (const file of files) documents.push(...(await readPolicyFile(file)));
  return documents;
}

/** Which of `paths` are regular files (or links to them) right now: the ones an operator may remove. */
export async function policyFilePaths(paths: readonly string[]): Promise<Set<string>> {
  const files = new Set<string>();
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (info?.isFile() === true) files.add(path);
  }
  return files;
}

async function readPolicyFile(file: string): Promise<PolicyDocument[]> {
  let text: string;
  try {
    const info = await stat(file);
    if (info.size > MAX_POLICY_FILE_BYTES) {
      throw new ProvenantError('INVALID_POLICY', `${file}: larger than ${MAX_POLICY_FILE_BYTES} bytes`);
    }
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof ProvenantError) throw err;
    throw new ProvenantError('INVALID_POLICY', `cannot read policy file ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  let values: unknown[];
  try {
    values = loadAll(text, { filename: file });
  } catch (err) {
    throw new ProvenantError('INVALID_POLICY', `${file}: not valid YAML: ${yamlErrorMessage(err)}`, {
      cause: err,
    });
  }
  const present = values.filter((value) => value !== null && value !== undefined);
  if (present.length === 0) {
    throw new ProvenantError(
      'INVALID_POLICY',
      `${file}: the file is empty (no policy document); write "[]" to mean "no policies" on purpose, or remove the file`,
    );
  }
  return values
    .map((value, index) => ({ source: file, index, value }))
    .filter((doc) => doc.value !== null && doc.value !== undefined && !isEmptyList(doc.value));
}

/** `[]`: the explicit "no policies" document. A non-empty list is left for validation to refuse. */
function isEmptyList(value: unknown): boolean {
  return Array.isArray(value) && value.length === 0;
}

function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'ENOENT';
}
