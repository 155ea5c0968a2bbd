import { ProblemError } from "../http/problem.ts";
import { log } from "../log.ts";
import { PassKitError, passKitProblem } from "../passkit/failures.ts";
import type { CacheEntry } from "./cache-key.ts";
import type { LookupCache } from "./cache.ts";
import type { BeginResult, IdentifierCoordinator } from "./coordinator.ts";

/**
 * The Connected Content lookup. Braze gives up after 2 s, so the answer comes from the in-isolate
 * layer, then KV, then PassKit, within LOOKUP_DEADLINE_MS; a stale entry is served at once and
 * refreshed in the background; concurrent misses for one key share one PassKit call in this
 * isolate, and across isolates through the identifier's coordinator, whose lease also orders the
 * refresh after any write of the identifier (contract §8.3).
 */

/** Leaves Braze's 2 s limit room for the network between Braze and the edge. */
const LOOKUP_DEADLINE_MS = 1_500;
/** How long a refresh waits for the identifier's lease (it runs on after the answer if need be). */
const REFRESH_WAIT_MS = 10_000;

type CacheStatus = "HIT" | "MISS" | "STALE";
interface Lookup {
  entry: CacheEntry;
  cache: CacheStatus;
}

interface LookupDeps {
  cache: LookupCache;
  /** The record's view as PassKit holds it now, or undefined when it has none. */
  read: () => Promise<Record<string, unknown> | undefined>;
  coordinator: () => DurableObjectStub<IdentifierCoordinator>;
  leaseMs: number;
  /** The record's noun, for the not-found and timeout answers. */
  noun: string;
  /** Keeps background work (refreshes, a slow PassKit call) alive after the answer. */
  waitUntil: (promise: Promise<unknown>) => void;
}

/** One resolution per key at a time in this isolate, whoever asks. */
const flights = new Map<string, Promise<Lookup>>();
/** One refresh per key at a time in this isolate. */
const refreshes = new Map<string, Promise<CacheEntry>>();

/**
 * After a write through the proxy, lookups must not join a resolution that began before it, and
 * such a resolution must not put what it read into memory over the newer entry: both are detached.
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

export async function lookup(deps: LookupDeps, key: string, startedAt: number): Promise<Lookup> {
  const remembered = deps.cache.fromMemory(key);
  if (remembered) return { entry: remembered, cache: "HIT" };
  let flight = flights.get(key);
  if (!flight) {
    flight = share(flights, key, (isCurrent) => resolve(deps, key, isCurrent));
    deps.waitUntil(flight.catch(() => undefined));
  }
  return withDeadline(flight, startedAt + LOOKUP_DEADLINE_MS - Date.now(), deps.noun);
}

async function resolve(deps: LookupDeps, key: string, isCurrent: () => boolean): Promise<Lookup> {
  const stored = await deps.cache.fromStore(key);
  if (stored && deps.cache.isFresh(stored)) {
    // A write while KV was read has put the newer entry in memory; the old one must not follow it.
    if (isCurrent()) deps.cache.remember(key, stored);
    return { entry: stored, cache: "HIT" };
  }
  if (stored?.kind === "record") {
    deps.waitUntil(refresh(deps, key).catch(logRefreshFailure));
    return { entry: stored, cache: "STALE" };
  }
  return { entry: await refresh(deps, key), cache: "MISS" };
}

/** Reads the record from PassKit under the identifier's lease and stores what it says, "not
 * found" included; or takes what another refresh or write stored while this one waited. */
function refresh(deps: LookupDeps, key: string): Promise<CacheEntry> {
  return (
    refreshes.get(key) ??
    share(refreshes, key, async (isCurrent) => {
      const coordinator = deps.coordinator();
      let begun: BeginResult;
      try {
        begun = await coordinator.begin({ kind: "read", waitMs: REFRESH_WAIT_MS, leaseMs: deps.leaseMs });
      } catch (error) {
        // Without the lease a stored entry could land over a newer write: answer, but store nothing.
        log("error", "coordinator_unavailable", { reason: String(error), during: "lookup" });
        return readEntry(deps);
      }
      if (begun.kind === "known") {
        if (isCurrent()) deps.cache.remember(key, begun.entry);
        return begun.entry;
      }
      if (begun.kind !== "granted") throw timeout(deps.noun);
      let entry: CacheEntry;
      try {
        entry = await readEntry(deps);
      } catch (error) {
        await coordinator.finish(begun.token).catch(() => undefined);
        throw error;
      }
      if (isCurrent()) await deps.cache.store(key, entry);
      await coordinator.finish(begun.token, isCurrent() ? { entry } : {}).catch(() => undefined);
      return entry;
    })
  );
}

async function readEntry(deps: LookupDeps): Promise<CacheEntry> {
  const view = await deps.read();
  return view ? { kind: "record", view, storedAt: Date.now() } : { kind: "missing", storedAt: Date.now() };
}

async function withDeadline(flight: Promise<Lookup>, remainingMs: number, noun: string): Promise<Lookup> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  // Not necessarily PassKit's fault: a busy isolate or a slow KV read also runs the clock down.
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeout(noun)), Math.max(0, remainingMs));
  });
  try {
    return await Promise.race([flight, deadline]);
  } catch (error) {
    if (error instanceof PassKitError) throw passKitProblem(error.failure, noun);
    throw error;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

function timeout(noun: string): ProblemError {
  return new ProblemError({
    status: 504,
    code: "upstream_timeout",
    title: "Lookup too slow",
    detail: `The ${noun} could not be read within ${LOOKUP_DEADLINE_MS} ms, inside Connected Content's 2 s limit; a retry is usually served from the cache.`,
  });
}

function logRefreshFailure(error: unknown): void {
  const detail = error instanceof PassKitError ? error.failure.kind : error instanceof ProblemError ? error.problem.code : String(error);
  log("warn", "stale_refresh_failed", { reason: detail });
}
