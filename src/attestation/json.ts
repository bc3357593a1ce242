/**
 * Defensive readers for signed-but-unvalidated JSON: a trusted signer can still emit an unexpected shape,
 * and a missing field must become a clear "not found", never a TypeError.
 */
export type JsonObject = Readonly<Record<string, unknown>>;

export function asObject(value: unknown): JsonObject | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as JsonObject)
    : undefined;
}

/** The value at `path` below `value`, or undefined when any step is missing or not an object. */
export function at(value: unknown, ...path: string[]): unknown {
  let current: unknown = value;
  for (const key of path) {
    const obj = asObject(current);
    if (obj === undefined || !Object.hasOwn(obj, key)) return undefined;
    current = obj[key];
  }
  return current;
}

/** A non-empty string at `path`, else undefined. */
export function stringAt(value: unknown, ...path: string[]): string | undefined {
  const found = at(value, ...path);
  return typeof found === 'string' && found !== '' ? found : undefined;
}
