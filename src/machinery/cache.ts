import * as z from "zod";
import { sha256Hex } from "../passkit/token.ts";
import { passViewSchema, type PassView } from "./schemas.ts";

/**
 * The lookup cache: a small in-isolate layer (seconds) in front of Workers KV (PASS_CACHE_TTL_SECONDS
 * fresh, then served stale while it is refreshed). Key layout and TTLs: docs/storage.md.
 */

export type CacheEntry = { kind: "pass"; pass: PassView; storedAt: number } | { kind: "missing"; storedAt: number };

const entrySchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("pass"), pass: passViewSchema, storedAt: z.number() }),
  z.object({ kind: z.literal("missing"), storedAt: z.number() }),
]);

/** How long "PassKit has no such pass" is believed: KV's shortest expiry. */
export const NEGATIVE_TTL_SECONDS = 60;
/** How long past freshness an entry may still be served while it is refreshed. */
export const STALE_SECONDS = 86_400;
/** The in-isolate layer: long enough for one send's HTML, text and AMP renders, short enough to
 * bound how long another location's update can go unseen here. */
export const MEMORY_TTL_MS = 5_000;
const MEMORY_MAX_ENTRIES = 5_000;

/** `pass:` + SHA-256 of the pair: fixed length whatever the identifiers hold (KV keys max 512 B).
 * Remembered for the pairs this isolate saw lately, so a repeated lookup hashes nothing. */
export async function passKey(campaignName: string, userDefinedId: string): Promise<string> {
  const pair = JSON.stringify([campaignName, userDefinedId]);
  const known = passKeys.get(pair, 0);
  if (known) return known;
  const key = `pass:${await sha256Hex(pair)}`;
  passKeys.set(pair, key, Number.POSITIVE_INFINITY);
  return key;
}

/** A bounded LRU map whose entries expire. */
export class MemoryLayer<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();
  private readonly maxEntries: number;

  constructor(maxEntries: number) {
    this.maxEntries = maxEntries;
  }

  get(key: string, now: number): V | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    this.entries.delete(key);
    if (hit.expiresAt <= now) return undefined;
    this.entries.set(key, hit);
    return hit.value;
  }

  set(key: string, value: V, expiresAt: number): void {
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}

/** Shared by every request this isolate serves. */
export const lookupMemory = new MemoryLayer<CacheEntry>(MEMORY_MAX_ENTRIES);
const passKeys = new MemoryLayer<string>(MEMORY_MAX_ENTRIES);

export class PassCache {
  private readonly kv: KVNamespace;
  private readonly ttlSeconds: number;
  private readonly memory: MemoryLayer<CacheEntry>;

  constructor(kv: KVNamespace, ttlSeconds: number, memory: MemoryLayer<CacheEntry> = lookupMemory) {
    this.kv = kv;
    this.ttlSeconds = ttlSeconds;
    this.memory = memory;
  }

  fromMemory(key: string, now = Date.now()): CacheEntry | undefined {
    return this.memory.get(key, now);
  }

  /** The KV entry, or undefined when there is none, it is unreadable, or KV fails (a miss: the
   * answer then comes from PassKit rather than a 500). */
  async fromStore(key: string): Promise<CacheEntry | undefined> {
    let stored: unknown;
    try {
      stored = await this.kv.get(key, "json");
    } catch (error) {
      console.error(JSON.stringify({ level: "error", event: "cache_read_failed", message: error instanceof Error ? error.message : String(error) }));
      return undefined;
    }
    const parsed = entrySchema.safeParse(stored);
    return parsed.success ? parsed.data : undefined;
  }

  isFresh(entry: CacheEntry, now = Date.now()): boolean {
    return now < this.freshUntil(entry);
  }

  /** A pass is fresh for PASS_CACHE_TTL_SECONDS, "no such pass" for NEGATIVE_TTL_SECONDS. */
  private freshUntil(entry: CacheEntry): number {
    return entry.storedAt + (entry.kind === "pass" ? this.ttlSeconds : NEGATIVE_TTL_SECONDS) * 1000;
  }

  /** Keeps a fresh entry in this isolate for a few seconds, never past its freshness, and never
   * over a newer one (a write-through that landed while this entry was being read). */
  remember(key: string, entry: CacheEntry, now = Date.now()): void {
    const current = this.memory.get(key, now);
    if (current && current.storedAt > entry.storedAt) return;
    this.memory.set(key, entry, Math.min(now + MEMORY_TTL_MS, this.freshUntil(entry)));
  }

  /** Stores an entry here and in KV; a refused KV write is tried once more unless `retry` is false. */
  async store(key: string, entry: CacheEntry, options: { retry?: boolean } = {}): Promise<void> {
    this.remember(key, entry);
    const expirationTtl = entry.kind === "pass" ? this.ttlSeconds + STALE_SECONDS : NEGATIVE_TTL_SECONDS;
    await retryOnce("put", () => this.kv.put(key, JSON.stringify(entry), { expirationTtl }), options.retry ?? true);
  }

  async evict(key: string): Promise<void> {
    this.memory.delete(key);
    await retryOnce("delete", () => this.kv.delete(key));
  }
}

/**
 * KV allows one write per second to a key, so a create followed at once by an update can be
 * refused: try once more after that second. A second failure is logged, not thrown: the answer to
 * Braze does not depend on the cache, and the entry ages out within PASS_CACHE_TTL_SECONDS.
 */
async function retryOnce(operation: string, write: () => Promise<void>, retry = true): Promise<void> {
  try {
    await write();
    return;
  } catch (error) {
    if (!retry) {
      console.warn(JSON.stringify({ level: "warn", event: "cache_write_skipped", operation, message: String(error) }));
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1_100));
  }
  try {
    await write();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(JSON.stringify({ level: "error", event: "cache_write_failed", operation, message }));
  }
}
