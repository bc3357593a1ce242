/**
 * Shared pieces of the fuzz tier: how many cases each property runs, the invariant that only typed errors
 * escape, and generators for the hostile inputs the #15 probe used (deep and wide JSON, mutated bytes).
 *
 * Case counts: the default is a short run (part of `npm test`, ~30 s on two cores). `FUZZ_LONG=1` multiplies
 * every property's count so that the whole tier runs over a million cases; `FUZZ_RUNS=N` sets one count for
 * every property instead. `FUZZ_SEED` replays a run (fast-check prints the seed and path of a failure).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { expect } from 'vitest';
import { ProvenantError, isReasonCode } from '../../src/errors.js';

const LONG_FACTOR = 30;

/** Cases for a property whose short run has `short` cases. */
export function runs(short: number): number {
  const fixed = Number(process.env['FUZZ_RUNS']);
  if (Number.isSafeInteger(fixed) && fixed > 0) return fixed;
  return process.env['FUZZ_LONG'] === '1' ? short * LONG_FACTOR : short;
}

/** Parameters for fc.assert: the case count, and a replayable seed when one is given. */
export function params(short: number): fc.Parameters<unknown> {
  const seed = Number(process.env['FUZZ_SEED']);
  return { numRuns: runs(short), ...(Number.isSafeInteger(seed) ? { seed } : {}) };
}

let cases = 0;
/** Counts executed cases across the tier (reported by the long run). */
export function counted<T extends unknown[]>(check: (...args: T) => void): (...args: T) => void {
  return (...args: T) => {
    cases++;
    check(...args);
  };
}
export function countedAsync<T extends unknown[]>(
  check: (...args: T) => Promise<void>,
): (...args: T) => Promise<void> {
  return async (...args: T) => {
    cases++;
    await check(...args);
  };
}
export function casesRun(): number {
  return cases;
}

/** The only failures allowed to escape a parser: ProvenantErrors with a documented code. */
export function expectTypedFailure(err: unknown): void {
  if (!(err instanceof ProvenantError) || !isReasonCode(err.code)) {
    throw new Error(`untyped failure escaped: ${String(err)}`, { cause: err });
  }
}

/** Runs `fn`; a thrown ProvenantError is fine, anything else fails the property. */
export function typedOnly<T>(fn: () => T): T | ProvenantError {
  try {
    return fn();
  } catch (err) {
    expectTypedFailure(err);
    return err as ProvenantError;
  }
}

export async function typedOnlyAsync<T>(fn: () => Promise<T>): Promise<T | ProvenantError> {
  try {
    return await fn();
  } catch (err) {
    expectTypedFailure(err);
    return err as ProvenantError;
  }
}

/** Heap stays bounded: a generous ceiling any runaway parse of a hostile document would cross. */
export function expectBoundedHeap(): void {
  expect(process.memoryUsage().heapUsed).toBeLessThan(1024 * 1024 * 1024);
}

/** JSON text that is expensive to parse: deep nesting, or a flat list of empty containers. */
export const hostileJsonText: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: 60, max: 200_000 }).map((depth) => `{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`),
  fc.integer({ min: 1_000, max: 400_000 }).map((n) => `[${'{},'.repeat(n)}{}]`),
  fc.integer({ min: 60, max: 5_000 }).map((depth) => `${'{"x":'.repeat(depth)}1${'}'.repeat(depth)}`),
);

/** A seed document mutated: bytes flipped, cut short, spliced with hostile or random text. */
export function mutatedBytes(seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const seed = fc.constantFrom(...seeds);
  return fc.oneof(
    seed,
    fc
      .tuple(seed, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }))
      .map(([bytes, flips]) => {
        const out = Uint8Array.from(bytes);
        for (const [at, value] of flips) if (out.length > 0) out[at % out.length] = value;
        return out;
      }),
    fc.tuple(seed, fc.nat()).map(([bytes, at]) => bytes.subarray(0, at % (bytes.length + 1))),
    fc.tuple(seed, fc.nat(), fc.oneof(hostileJsonText, fc.string(), fc.json())).map(([bytes, at, insert]) => {
      const cut = at % (bytes.length + 1);
      const text = new TextEncoder().encode(insert);
      const out = new Uint8Array(bytes.length + text.length);
      out.set(bytes.subarray(0, cut));
      out.set(text, cut);
      out.set(bytes.subarray(cut), cut + text.length);
      return out;
    }),
    fc.uint8Array({ maxLength: 512 }),
  );
}

/** A JSON value with some fields replaced by random or hostile values, as text. */
export function mutatedJson(seeds: readonly unknown[]): fc.Arbitrary<string> {
  return fc
    .tuple(
      fc.constantFrom(...seeds),
      fc.array(fc.tuple(fc.nat(), fc.jsonValue({ maxDepth: 3 })), { maxLength: 4 }),
    )
    .map(([seed, edits]) => {
      const copy = structuredClone(seed);
      for (const [at, value] of edits) replaceAt(copy, at, value);
      return JSON.stringify(copy);
    });
}

/** Replaces the `at`-th (mod count) nested value of `root`, walking objects and arrays depth first. */
function replaceAt(root: unknown, at: number, value: unknown): void {
  const slots: [Record<string, unknown> | unknown[], string | number][] = [];
  const walk = (node: unknown): void => {
    if (typeof node !== 'object' || node === null || slots.length > 5_000) return;
    if (Array.isArray(node)) {
      node.forEach((child, i) => {
        slots.push([node, i]);
        walk(child);
      });
    } else {
      for (const [key, child] of Object.entries(node)) {
        slots.push([node as Record<string, unknown>, key]);
        walk(child);
      }
    }
  };
  walk(root);
  if (slots.length === 0) return;
  const [parent, key] = slots[at % slots.length] as [Record<string, unknown>, string];
  parent[key] = value;
}

const FIXTURES = new URL('../fixtures/', import.meta.url);

/** Every file under a fixtures folder whose name matches, read as bytes. */
export function fixtureFiles(folder: string, name: RegExp): Uint8Array[] {
  const root = new URL(folder, FIXTURES).pathname;
  const found: Uint8Array[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.test(entry)) found.push(readFileSync(path));
    }
  };
  walk(root);
  if (found.length === 0) throw new Error(`no fixtures matching ${String(name)} under ${folder}`);
  return found;
}
