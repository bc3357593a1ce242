import { createRequire } from 'node:module';

/**
 * A dependency loaded the first time it is used rather than when the importing module is: for libraries that
 * only some policies need (RE2 for `*RegExp` fields, CEL for conditions), so that `provenant verify` with a
 * key-only policy never pays for loading them. It is a runtime `require`, which the bundle (scripts/bundle.ts)
 * leaves alone: the module comes from `node_modules` (a production dependency, so the image has it), and an
 * ES module is loaded through Node's require(esm). Node's module cache makes later calls cheap.
 */
export function lazyRequire<T>(specifier: string): () => T {
  const load = createRequire(import.meta.url);
  let loaded: T | undefined;
  return () => (loaded ??= load(specifier) as T);
}
