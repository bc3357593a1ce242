import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { ProvenantError } from '../errors.js';
import type { PolicyDocument } from '../policy/compile.js';

const MAX_POLICY_FILE_BYTES = 1024 * 1024;
const POLICY_FILE = /\.(ya?ml|json)$/i;

/**
 * Reads policy documents from files or directories (non-recursive; `.yaml`, `.yml`, `.json`).
 * Empty documents (a trailing `---`) are skipped. Errors are INVALID_POLICY and name the file.
 */
export async function readPolicyDocuments(paths: readonly string[]): Promise<PolicyDocument[]> {
  const files: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch((err: unknown) => {
      throw new ProvenantError(
        'INVALID_POLICY',
        `cannot read policy path ${path}: ${(err as Error).message}`,
      );
    });
    if (info.isDirectory()) {
      const entries = (await readdir(path)).filter((f) => POLICY_FILE.test(f)).sort();
      files.push(...entries.map((f) => join(path, f)));
    } else {
      files.push(path);
    }
  }
  const documents: PolicyDocument[] = [];
  for (const file of files) documents.push(...(await readPolicyFile(file)));
  return documents;
}

async function readPolicyFile(file: string): Promise<PolicyDocument[]> {
  const info = await stat(file);
  if (info.size > MAX_POLICY_FILE_BYTES) {
    throw new ProvenantError('INVALID_POLICY', `${file}: larger than ${MAX_POLICY_FILE_BYTES} bytes`);
  }
  const text = await readFile(file, 'utf8');
  let values: unknown[];
  try {
    values = loadAll(text, null, { filename: file });
  } catch (err) {
    throw new ProvenantError('INVALID_POLICY', `${file}: not valid YAML: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return values
    .map((value, index) => ({ source: file, index, value }))
    .filter((doc) => doc.value !== null && doc.value !== undefined);
}
