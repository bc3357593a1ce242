import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createTrustStore, type CustomTrustRoot, type TrustStore } from '../trust/index.js';

/** One `--trust-root NAME=FILE`. */
export interface TrustRootFile {
  readonly name: string;
  readonly path: string;
}

export interface TrustRootFileHooks {
  /** The files changed and every one is a valid trusted root: `store` holds them beside the built-in roots. */
  readonly onChange: (roots: Record<string, CustomTrustRoot>, store: TrustStore) => void;
  /** A file could not be read or is not a valid trusted root; the last good copies stay in use. */
  readonly onError: (err: unknown) => void;
}

export interface TrustRootFileWatcher {
  close(): void;
}

// Editors and Secret/ConfigMap volumes write in several steps: act once they have settled.
const SETTLE_MS = 250;
// Folder watches can miss a change (network file systems, some volume types): read again now and then.
const POLL_INTERVAL_MS = 30_000;

/** Reads every `--trust-root` file as it is now. Throws the file system's error, naming nothing secret. */
export async function readTrustRootFiles(
  files: readonly TrustRootFile[],
): Promise<Record<string, CustomTrustRoot>> {
  const entries = await Promise.all(
    files.map(async ({ name, path }) => [name, { trustedRoot: await readFile(path, 'utf8') }] as const),
  );
  return Object.fromEntries(entries);
}

/**
 * Watches the `--trust-root` files, so that a rotated private Sigstore root is used without a restart (and,
 * since verdicts are keyed by the trust material they were reached with, no cached verdict outlives it).
 * Folders are watched rather than files because Secret and ConfigMap volumes swap a `..data` symlink.
 */
export function watchTrustRootFiles(
  files: readonly TrustRootFile[],
  initial: Readonly<Record<string, CustomTrustRoot>>,
  hooks: TrustRootFileHooks,
): TrustRootFileWatcher {
  if (files.length === 0) return { close: () => undefined };
  let current = contentDigest(initial);
  let refused: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const reload = async (): Promise<void> => {
    try {
      const roots = await readTrustRootFiles(files);
      const digest = contentDigest(roots);
      if (closed || digest === current || digest === refused) return;
      let store: TrustStore;
      try {
        store = createTrustStore(roots);
      } catch (err) {
        // Said once per bad content, not at every poll.
        refused = digest;
        throw err;
      }
      current = digest;
      hooks.onChange(roots, store);
    } catch (err) {
      if (!closed) hooks.onError(err);
    }
  };
  const schedule = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), SETTLE_MS);
  };

  const watchers: FSWatcher[] = [];
  for (const dir of new Set(files.map((f) => dirname(f.path)))) {
    try {
      const watcher = watch(dir, { persistent: false }, schedule);
      watcher.on('error', hooks.onError);
      watchers.push(watcher);
    } catch (err) {
      hooks.onError(err);
    }
  }
  const poll = setInterval(() => void reload(), POLL_INTERVAL_MS);
  poll.unref();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      clearInterval(poll);
      for (const watcher of watchers) watcher.close();
    },
  };
}

function contentDigest(roots: Readonly<Record<string, CustomTrustRoot>>): string {
  return createHash('sha256').update(JSON.stringify(roots)).digest('hex');
}
