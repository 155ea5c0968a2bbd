import { sha256Hex } from "../crypto.ts";
import { MemoryLayer } from "./memory.ts";

/** A lookup cache entry (docs/storage.md): a record's view, or "PassKit has no such record". */
export type CacheEntry = { kind: "record"; view: Record<string, unknown>; storedAt: number } | { kind: "missing"; storedAt: number };

const keys = new MemoryLayer<string>(5_000);

/**
 * `<product>:` + SHA-256 of the identifier pair: fixed length whatever the identifiers hold (KV
 * keys max 512 B), and no separator to collide through. It also names the identifier's
 * coordinator. Remembered for the pairs this isolate saw lately, so a repeated lookup hashes nothing.
 */
export async function cacheKey(product: string, ids: readonly [string, string]): Promise<string> {
  const known = knownCacheKey(product, ids);
  if (known) return known;
  const key = `${product}:${await sha256Hex(JSON.stringify(ids))}`;
  keys.set(memoKey(product, ids), key, Number.POSITIVE_INFINITY);
  return key;
}

/** The key, when this isolate computed it lately; no hashing. */
export function knownCacheKey(product: string, ids: readonly [string, string]): string | undefined {
  return keys.get(memoKey(product, ids), 0);
}

/**
 * The memo's key: a valid identifier holds no NUL (control characters are refused), so a valid
 * pair's key has exactly two and names one pair; a pair with a NUL is refused before it is used.
 */
function memoKey(product: string, ids: readonly [string, string]): string {
  return `${product}\u0000${ids[0]}\u0000${ids[1]}`;
}
