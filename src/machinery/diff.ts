import { canonicalJson } from "../crypto.ts";

/**
 * Comparisons for "does this write change anything" (contract §8.4). PassKit's current platform
 * answers every field, unset ones as "", 0, null, [] or {} (docs/upstreams.md): absent, null and
 * "" mean the same there, so they compare equal here.
 */
function isUnset(value: unknown): boolean {
  return value === undefined || value === null || value === "";
}

export function sameValue(a: unknown, b: unknown): boolean {
  if (isUnset(a) && isUnset(b)) return true;
  if (typeof a === "string" && typeof b === "string" && isInstant(a) && isInstant(b)) return Date.parse(a) === Date.parse(b);
  return canonicalJson(a) === canonicalJson(b);
}

/** The entries of `changes` whose value differs from `current`'s. */
export function changedEntries<T extends Record<string, unknown>>(
  current: Record<string, unknown> | null | undefined,
  changes: T,
): Partial<T> {
  const out: Partial<T> = {};
  for (const key of Object.keys(changes) as (keyof T & string)[]) {
    const value = changes[key];
    if (value !== undefined && !sameValue(current?.[key], value)) out[key] = value;
  }
  return out;
}

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** Two spellings of one instant (`…Z` and `…+00:00`, with or without milliseconds) are equal. */
function isInstant(value: string): boolean {
  return INSTANT.test(value) && !Number.isNaN(Date.parse(value));
}
