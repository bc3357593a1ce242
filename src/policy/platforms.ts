import { normalisePlatform, platformFamily, type ImagePlatforms } from '../oci/platforms.js';
import type { PlatformSelection } from './types.js';

/** A manifest a policy must be satisfied on: the resolved digest itself, or one platform's manifest. */
export interface PlatformTarget {
  readonly digest: string;
  /** Absent for the digest the reference resolves to (the index of a multi-arch image). */
  readonly platform?: string;
}

/** True when a policy is checked on the resolved digest alone (no `spec.platforms`, or `index`). */
export function digestOnly(
  selection: PlatformSelection | undefined,
): selection is undefined | { readonly kind: 'index' } {
  return selection === undefined || selection.kind === 'index';
}

/**
 * Which manifests of the image at `digest` must each satisfy a policy, and which platforms it requires but the
 * image lacks. `index` is the resolved digest alone; `all` adds every platform manifest of an index; a list
 * takes the named platforms' manifests (a single-platform image counts as the platform its configuration names),
 * and with each every manifest for the same OS and architecture whatever its variant: a node chooses among
 * variants by rules of its own (and of its runtime's version), so any of them may be the one it pulls.
 */
export async function platformTargets(
  selection: PlatformSelection | undefined,
  digest: string,
  platforms: () => Promise<ImagePlatforms>,
): Promise<{ targets: PlatformTarget[]; missing: string[] }> {
  if (digestOnly(selection)) return { targets: [{ digest }], missing: [] };
  const image = await platforms();
  if (selection.kind === 'all') {
    const children = image.kind === 'index' ? image.manifests : [];
    // A manifest listed twice (or the index listing itself) is verified once.
    const seen = new Set([digest]);
    const distinct = children.filter((m) => !seen.has(m.digest) && seen.add(m.digest));
    return { targets: [{ digest }, ...distinct], missing: [] };
  }
  let available = image.kind === 'index' ? image.manifests : [];
  if (image.kind === 'image') {
    const platform = await image.platform();
    if (platform !== undefined) available = [{ digest, platform }];
  }
  const targets: PlatformTarget[] = [];
  const missing: string[] = [];
  for (const wanted of selection.platforms) {
    const normalised = normalisePlatform(wanted);
    if (!available.some((m) => m.platform === normalised)) missing.push(wanted);
    // An index may list a platform twice (e.g. two OS versions), or under other variants: every one must
    // satisfy the policy. Each is named as the policy spells it, or by its own platform when that differs.
    const family = platformFamily(normalised);
    for (const m of available) {
      if (platformFamily(m.platform) !== family || targets.some((t) => t.digest === m.digest)) continue;
      targets.push({ digest: m.digest, platform: m.platform === normalised ? wanted : m.platform });
    }
  }
  return { targets, missing };
}
