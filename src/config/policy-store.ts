import { watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { toProvenantError } from '../errors.js';
import { compilePolicies, toPolicySet, type PolicySet } from '../policy/compile.js';
import type { AuthorityCompiler } from '../policy/validate.js';
import { readPolicyDocuments } from './policy-files.js';

export interface PolicyStoreEvents {
  readonly loaded?: (set: PolicySet) => void;
  /** A reload failed; the last good set stays in force. */
  readonly rejected?: (message: string) => void;
}

/**
 * Policies read from files, swapped atomically on change: an admission reads one whole snapshot, and an
 * invalid edit keeps the last good set (and says why) instead of leaving the webhook without policies.
 */
export class FilePolicyStore {
  #current: PolicySet | undefined;
  #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly paths: readonly string[],
    private readonly compileAuthority: AuthorityCompiler,
    private readonly events: PolicyStoreEvents = {},
  ) {}

  /** Loads once; throws INVALID_POLICY when the initial set is invalid (nothing good to keep yet). */
  async load(): Promise<PolicySet> {
    const set = compilePolicies(await readPolicyDocuments(this.paths), this.compileAuthority);
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

  /** Watches the files (and their folders, since editors replace files) and reloads after a quiet moment. */
  watch(debounceMs = 250): void {
    const targets = new Set(this.paths.flatMap((p) => [p, dirname(p)]));
    for (const target of targets) {
      try {
        this.#watchers.push(watch(target, () => this.#schedule(debounceMs)));
      } catch {
        // A path that cannot be watched still loaded; the next change elsewhere reloads everything.
      }
    }
  }

  async reload(): Promise<void> {
    try {
      await this.load();
    } catch (err) {
      this.events.rejected?.(toProvenantError(err).message);
    }
  }

  close(): void {
    clearTimeout(this.#timer);
    for (const w of this.#watchers) w.close();
    this.#watchers = [];
  }

  #schedule(debounceMs: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.reload(), debounceMs);
  }
}
