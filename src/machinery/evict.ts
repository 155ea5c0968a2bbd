import type { Config } from "../config/config.ts";
import type { Env } from "../env.ts";
import { log } from "../log.ts";
import { cacheKey } from "./cache-key.ts";
import { LookupCache } from "./cache.ts";
import { coordinatorFor } from "./coordinator.ts";
import { leaseMs } from "./write.ts";

/** Work after an answer has 30 s (`waitUntil`): the eviction waits at most this long for a lease. */
const EVICT_WAIT_MS = 20_000;

/**
 * Forgets an identifier's cached lookup because PassKit reported a change the proxy did not make
 * (an install, a redemption; contract §7), so the next lookup reads PassKit within seconds instead
 * of at the cache's TTL. Under the identifier's lease, like every cache write, so a refresh that
 * read the old state cannot land after it.
 */
export async function evictLookup(env: Env, config: Config, product: string, ids: readonly [string, string]): Promise<void> {
  const key = await cacheKey(product, ids);
  const coordinator = coordinatorFor(env, key);
  try {
    const begun = await coordinator.begin({ kind: "write", waitMs: EVICT_WAIT_MS, leaseMs: leaseMs(config.PASSKIT_TIMEOUT_MS) });
    if (begun.kind !== "granted") {
      log("warn", "lookup_not_evicted", { product, reason: begun.kind });
      return;
    }
    try {
      await new LookupCache(env.PASS_CACHE, config.PASS_CACHE_TTL_SECONDS).evict(key);
    } finally {
      await coordinator.finish(begun.token, { entry: null });
    }
  } catch (error) {
    log("error", "lookup_not_evicted", { product, reason: String(error) });
  }
}
