import { PassKitError, passKitProblem } from "../passkit/failures.ts";
import type { PassKitClient, PassKitPass } from "../passkit/client.ts";
import { passUrl } from "../passkit/inferred.ts";
import { ProblemError } from "../http/problem.ts";
import type { CacheEntry, PassCache } from "./cache.ts";
import type { PassView } from "./schemas.ts";

/**
 * The Connected Content lookup. Braze gives up after 2 s, so the answer comes from the
 * in-isolate layer, then KV, then PassKit, within LOOKUP_DEADLINE_MS; a stale entry is served at
 * once and refreshed in the background; concurrent misses for one key share one PassKit call.
 */

/** Leaves Braze's 2 s limit room for the network between Braze and the edge. */
export const LOOKUP_DEADLINE_MS = 1_500;

export type CacheStatus = "HIT" | "MISS" | "STALE";
export interface Lookup {
  entry: CacheEntry;
  cache: CacheStatus;
}

export interface LookupDeps {
  cache: PassCache;
  client: PassKitClient;
  passUrlTemplate: string;
  /** Keeps background work (refreshes, a slow PassKit call) alive after the answer. */
  waitUntil: (promise: Promise<unknown>) => void;
}

/** One resolution per key at a time in this isolate, whoever asks. */
const flights = new Map<string, Promise<Lookup>>();
/** One PassKit read per key at a time. */
const refreshes = new Map<string, Promise<CacheEntry>>();

/**
 * After a write through the proxy, lookups must not join a PassKit read that began before it, and
 * such a read must not store what it got over the newer entry: both are detached here.
 */
export function markWritten(key: string): void {
  flights.delete(key);
  refreshes.delete(key);
}

/**
 * Shares `work` under `key` until it settles. `isCurrent` tells the work whether it is still the
 * one registered, i.e. no write has detached it meanwhile.
 */
function share<T>(map: Map<string, Promise<T>>, key: string, work: (isCurrent: () => boolean) => Promise<T>): Promise<T> {
  const promise: Promise<T> = work(() => map.get(key) === promise).finally(() => {
    if (map.get(key) === promise) map.delete(key);
  });
  map.set(key, promise);
  return promise;
}

export async function lookupPass(deps: LookupDeps, key: string, campaignName: string, userDefinedId: string, startedAt: number): Promise<Lookup> {
  const remembered = deps.cache.fromMemory(key);
  if (remembered) return { entry: remembered, cache: "HIT" };
  let flight = flights.get(key);
  if (!flight) {
    flight = share(flights, key, (isCurrent) => resolve(deps, key, campaignName, userDefinedId, isCurrent));
    deps.waitUntil(flight.catch(() => undefined));
  }
  return withDeadline(flight, startedAt + LOOKUP_DEADLINE_MS - Date.now());
}

async function resolve(deps: LookupDeps, key: string, campaignName: string, userDefinedId: string, isCurrent: () => boolean): Promise<Lookup> {
  const stored = await deps.cache.fromStore(key);
  if (stored && deps.cache.isFresh(stored)) {
    // A write while KV was read has put the newer entry in memory; the old one must not follow it.
    if (isCurrent()) deps.cache.remember(key, stored);
    return { entry: stored, cache: "HIT" };
  }
  if (stored?.kind === "pass") {
    deps.waitUntil(refresh(deps, key, campaignName, userDefinedId).catch(logRefreshFailure));
    return { entry: stored, cache: "STALE" };
  }
  return { entry: await refresh(deps, key, campaignName, userDefinedId), cache: "MISS" };
}

/** Reads the pass from PassKit and stores what it says, "not found" included. */
function refresh(deps: LookupDeps, key: string, campaignName: string, userDefinedId: string): Promise<CacheEntry> {
  return refreshes.get(key) ?? share(refreshes, key, async (isCurrent) => {
    let entry: CacheEntry;
    try {
      const pass = await deps.client.get(campaignName, userDefinedId);
      entry = { kind: "pass", pass: passView(pass, deps.passUrlTemplate, campaignName, userDefinedId), storedAt: Date.now() };
    } catch (error) {
      if (!(error instanceof PassKitError) || error.failure.kind !== "not_found") throw error;
      entry = { kind: "missing", storedAt: Date.now() };
    }
    // Not retried: a late retry could land over a newer write made elsewhere meanwhile.
    if (isCurrent()) deps.waitUntil(deps.cache.store(key, entry, { retry: false }));
    return entry;
  });
}

export function passView(pass: PassKitPass, template: string, campaignName: string, userDefinedId: string): PassView {
  return {
    id: pass.id,
    url: passUrl(template, pass.id),
    campaignName,
    userDefinedId,
    isVoided: pass.isVoided ?? false,
    isRedeemed: pass.isRedeemed ?? false,
    isInvalid: pass.isInvalid ?? false,
    expiryDate: pass.expiryDate ?? null,
  };
}

async function withDeadline(flight: Promise<Lookup>, remainingMs: number): Promise<Lookup> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    // Not necessarily PassKit's fault: a busy isolate or a slow KV read also runs the clock down.
    const expire = () =>
      reject(
        new ProblemError({
          status: 504,
          code: "upstream_timeout",
          title: "Lookup too slow",
          detail: `The pass could not be read within ${LOOKUP_DEADLINE_MS} ms, inside Connected Content's 2 s limit; a retry is usually served from the cache.`,
        }),
      );
    timer = setTimeout(expire, Math.max(0, remainingMs));
  });
  try {
    return await Promise.race([flight, deadline]);
  } catch (error) {
    if (error instanceof PassKitError) throw passKitProblem(error.failure);
    throw error;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

function logRefreshFailure(error: unknown): void {
  const detail = error instanceof PassKitError ? error.failure.kind : error instanceof ProblemError ? error.problem.code : String(error);
  console.warn(JSON.stringify({ level: "warn", event: "stale_refresh_failed", detail }));
}
