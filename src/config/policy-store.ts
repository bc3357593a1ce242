import { watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { toProvenantError } from '../errors.js';
import { compilePolicies, toPolicySet, type PolicySet } from '../policy/compile.js';
import type { AuthorityCompiler } from '../policy/validate.js';
import { policyFilePaths, readPolicyDocuments } from './policy-files.js';

export interface PolicyStoreEvents {
  readonly loaded?: (set: PolicySet) => void;
  /** A reload failed; the last good set stays in force. */
  readonly rejected?: (message: string) => void;
}

/** How often a watch target that does not exist (a directory being replaced) is looked for again. */
const REARM_RETRY_MS = 1000;

/**
 * Policies read from files, swapped atomically on change: an admission reads one whole snapshot, and an
 * invalid edit keeps the last good set (and says why) instead of leaving the webhook without policies.
 *
 * What counts as a change, and what as a failure (docs/webhook.md#policies):
 * - in-place writes, truncate-and-write, rename-over, delete-and-recreate of the directory, and ConfigMap
 *   volumes' atomic `..data` symlink swaps are all picked up;
 * - an empty or unreadable file is a failed reload (truncation happens mid-write), keeping the last good set;
 * - a policy file named by `--policy` that is removed is honoured as removed; a missing directory is not (it
 *   is being replaced), and a file containing `[]` empties a set on purpose.
 */
export class FilePolicyStore {
  #current: PolicySet | undefined;
  #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | undefined;
  #rearmTimer: NodeJS.Timeout | undefined;
  #debounceMs = 250;
  #watching = false;
  /** Watch targets that did not exist at the last arming. */
  #missing: ReadonlySet<string> = new Set();
  /** The `--policy` paths that were files at the first load: removing one of them is honoured. */
  #removableFiles: ReadonlySet<string> | undefined;

  constructor(
    private readonly paths: readonly string[],
    private readonly compileAuthority: AuthorityCompiler,
    private readonly events: PolicyStoreEvents = {},
  ) {}

  /** Loads once; throws INVALID_POLICY when the initial set is invalid (nothing good to keep yet). */
  async load(): Promise<PolicySet> {
    this.#removableFiles ??= await policyFilePaths(this.paths);
    const documents = await readPolicyDocuments(this.paths, { removableFiles: this.#removableFiles });
    const set = compilePolicies(documents, this.compileAuthority);
    this.#current = set;
    this.events.loaded?.(set);
    return set;
  }

  /** The current snapshot. Before a successful load it is empty, and `ready` is false. */
  get current(): PolicySet {
    return this.#current ?? toPolicySet([]);
  }

  get ready(): boolean {
    return this.#current !== undefined;
  }

  /**
   * Watches each path and its parent directory, and reloads after a quiet moment. Watchers are re-armed on
   * every change: a watcher follows an inode, so one on a directory that was deleted and recreated (or on a
   * file reached through a ConfigMap's `..data` link that was swapped) would otherwise go deaf for good.
   */
  watch(debounceMs = 250): void {
    this.#debounceMs = debounceMs;
    this.#watching = true;
    this.#arm();
  }

  async reload(): Promise<void> {
    // Re-armed before reading, so a change made while reading triggers one more reload instead of being lost.
    if (this.#watching) this.#arm();
    try {
      await this.load();
    } catch (err) {
      this.events.rejected?.(toProvenantError(err).message);
    }
  }

  close(): void {
    this.#watching = false;
    clearTimeout(this.#timer);
    clearTimeout(this.#rearmTimer);
    this.#disarm();
  }

  #arm(): void {
    this.#disarm();
    clearTimeout(this.#rearmTimer);
    const targets = new Set(this.paths.flatMap((p) => [p, dirname(p)]));
    const missing = new Set<string>();
    for (const target of targets) {
      try {
        const watcher = watch(target, () => this.#schedule());
        // A watched directory that disappears may report an error instead of an event: look again.
        watcher.on('error', () => this.#schedule());
        this.#watchers.push(watcher);
      } catch {
        missing.add(target);
      }
    }
    // A target that comes back (a directory recreated along with its parent) is a change in itself.
    if ([...this.#missing].some((target) => !missing.has(target))) this.#schedule();
    this.#missing = missing;
    // One that does not exist now is looked for again until it is back.
    if (missing.size > 0 && this.#watching) {
      this.#rearmTimer = setTimeout(() => this.#arm(), REARM_RETRY_MS);
      this.#rearmTimer.unref();
    }
  }

  #disarm(): void {
    for (const w of this.#watchers) w.close();
    this.#watchers = [];
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.reload(), this.#debounceMs);
  }
}
