// Shared by the chart suites: the cached tools, helm, and the annotated policy files.
import { execFile } from 'node:child_process';
import { accessSync, constants, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadAll } from 'js-yaml';
import { toolsBinDir } from '../e2e/harness/index.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CHART_DIR = join(ROOT, 'charts/provenant');
export const CRD_DIR = join(CHART_DIR, 'crds');

/**
 * Fails at once, naming the install script, when a tool the suite needs is not in the tools cache. Called in
 * beforeAll, so a missing tool fails the suite loudly instead of skipping it.
 */
export function requireTools(...names: string[]): void {
  const missing = names.filter((name) => {
    try {
      accessSync(join(toolsBinDir(), name), constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length) {
    throw new Error(
      `${missing.join(', ')} not found in ${toolsBinDir()}: run test/tools/install.sh (or set PROVENANT_TOOLS)`,
    );
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the cached helm; never throws for a non-zero exit status. */
export function helm(args: string[]): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    execFile(join(toolsBinDir(), 'helm'), args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(err);
        return;
      }
      resolvePromise({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

/** A Kubernetes object as parsed from YAML: only the fields the tests read are typed. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

export function parseObjects(yaml: string): KubeObject[] {
  return loadAll(yaml).filter((doc): doc is KubeObject => typeof doc === 'object' && doc !== null);
}

/** An annotated policy file: `# REASON: <text>` names a substring of the error kubectl must print. */
export interface PolicyCase {
  file: string;
  path: string;
  content: string;
  reason?: string;
}

export function readPolicyCases(dir: string): PolicyCase[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((file) => {
      const path = join(dir, file);
      const content = readFileSync(path, 'utf8');
      const reason = /^# REASON: (.+)$/m.exec(content)?.[1]?.trim();
      return { file, path, content, ...(reason ? { reason } : {}) };
    });
}

/** Namespaces the policy files use; created before they are applied. */
export function namespacesOf(cases: PolicyCase[]): string[] {
  const names = cases.flatMap((c) =>
    parseObjects(c.content)
      .map((o) => o.metadata?.namespace)
      .filter((n): n is string => typeof n === 'string'),
  );
  return [...new Set(names)];
}
