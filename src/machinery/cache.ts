import * as z from "zod";
import type { CacheEntry } from "./cache-key.ts";
import { log } from "../log.ts";
import { MemoryLayer } from "./memory.ts";

/**
 * The lookup cache: a small in-isolate layer (seconds) in front of Workers KV (PASS_CACHE_TTL_SECONDS
 * fresh, then served stale while it is refreshed). Writes to KV happen only under the identifier's
 * coordinator (coordinator.ts), so they land in the order PassKit applied them. Key layout and
 * TTLs: docs/storage.md.
 */

const entrySchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("record"), view: z.record(z.string(), z.unknown()), storedAt: z.number() }),
  z.object({ kind: z.literal("missing"), storedAt: z.number() }),
]);

/** How long "PassKit has no such record" is believed: KV's shortest expiry. */
const NEGATIVE_TTL_SECONDS = 60;
/** How long past freshness an entry may still be served while it is refreshed. */
const STALE_SECONDS = 86_400;
/** The in-isolate layer: long enough for one send's HTML, text and AMP renders, short enough to
 * bound how long another isolate's write can go unseen here. */
const MEMORY_TTL_MS = 5_000;
const MEMORY_MAX_ENTRIES = 5_000;

/** Shared by every request this isolate serves. */
export const lookupMemory = new MemoryLayer<CacheEntry>(MEMORY_MAX_ENTRIES);

/** Each entry's answer, serialised once however often it is served. */
const serialised = new WeakMap<CacheEntry & { kind: "record" }, string>();

export function answerJson(entry: CacheEntry & { kind: "record" }): string {
  let json = serialised.get(entry);
  if (json === undefined) {
    json = JSON.stringify(entry.view);
    serialised.set(entry, json);
  }
  return json;
}

export class LookupCache {
  private readonly kv: KVNamespace;
  private readonly ttlSeconds: number;

  constructor(kv: KVNamespace, ttlSeconds: number) {
    this.kv = kv;
    this.ttlSeconds = ttlSeconds;
  }

  fromMemory(key: string, now = Date.now()): CacheEntry | undefined {
    return lookupMemory.get(key, now);
  }

  /** The KV entry, or undefined when there is none, it is unreadable, or KV fails (a miss: the
   * answer then comes from PassKit rather than a 500). */
  async fromStore(key: string): Promise<CacheEntry | undefined> {
    let stored: unknown;
    try {
      stored = await this.kv.get(key, "json");
    } catch (error) {
      log("error", "cache_read_failed", { reason: error instanceof Error ? error.message : String(error) });
      return undefined;
    }
    const parsed = entrySchema.safeParse(stored);
    return parsed.success ? parsed.data : undefined;
  }

  isFresh(entry: CacheEntry, now = Date.now()): boolean {
    return now < this.freshUntil(entry);
  }

  /** A record is fresh for PASS_CACHE_TTL_SECONDS, "no such record" for NEGATIVE_TTL_SECONDS. */
  private freshUntil(entry: CacheEntry): number {
    return entry.storedAt + (entry.kind === "record" ? this.ttlSeconds : NEGATIVE_TTL_SECONDS) * 1000;
  }

  /** Keeps a fresh entry in this isolate for a few seconds, never past its freshness, and never
   * over a newer one (a write that landed while this entry was being read). */
  remember(key: string, entry: CacheEntry, now = Date.now()): void {
    const current = lookupMemory.get(key, now);
    if (current && current.storedAt > entry.storedAt) return;
    lookupMemory.set(key, entry, Math.min(now + MEMORY_TTL_MS, this.freshUntil(entry)));
  }

  /** Stores an entry here and in KV. Called under the identifier's coordinator only. */
  async store(key: string, entry: CacheEntry): Promise<void> {
    this.remember(key, entry);
    const expirationTtl = entry.kind === "record" ? this.ttlSeconds + STALE_SECONDS : NEGATIVE_TTL_SECONDS;
    await retryOnce("put", () => this.kv.put(key, JSON.stringify(entry), { expirationTtl }));
  }

  /**
   * After a write that failed part-way, PassKit may hold something the cache does not: the entry is
   * kept (still served while PassKit is down) but made stale, so the next lookup refreshes it.
   * Called under the identifier's coordinator only.
   */
  async markStale(key: string): Promise<void> {
    lookupMemory.delete(key);
    const entry = await this.fromStore(key);
    if (entry?.kind === "record") await this.store(key, { ...entry, storedAt: 0 });
    else if (entry) await retryOnce("delete", () => this.kv.delete(key));
  }

  /** Forgets the entry here and in KV (a lifecycle webhook said the record changed). Called under
   * the identifier's coordinator only. */
  async evict(key: string): Promise<void> {
    lookupMemory.delete(key);
    await retryOnce("delete", () => this.kv.delete(key));
  }
}

/**
 * KV allows one write per second to a key, so two writes of one identifier in a row can be
 * refused: try once more after that second (the coordinator's lease covers the wait). A second
 * failure is logged, not thrown: the answer to Braze does not depend on the cache, and the entry
 * ages out within PASS_CACHE_TTL_SECONDS.
 */
async function retryOnce(operation: string, write: () => Promise<void>): Promise<void> {
  try {
    await write();
    return;
  } catch {
    await new Promise((resolve) => setTimeout(resolve, 1_100));
  }
  try {
    await write();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log("error", "cache_write_failed", { operation, reason: message });
  }
}
