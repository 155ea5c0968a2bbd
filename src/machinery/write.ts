import type { Context } from "hono";
import type { AppContext } from "../env.ts";
import { ProblemError, problemResponse, type ProblemInit } from "../http/problem.ts";
import type { LifecycleName } from "../lifecycle/events.ts";
import { log } from "../log.ts";
import { PassKitError, passKitProblem } from "../passkit/failures.ts";
import { cacheKey, type CacheEntry } from "./cache-key.ts";
import { LookupCache } from "./cache.ts";
import { coordinatorFor, type BeginResult, type StoredAnswer } from "./coordinator.ts";
import { emitProxyEvents } from "./events.ts";
import { claimOf } from "./idempotency.ts";
import { markWritten } from "./lookup.ts";
import type { AnyProduct, Ids } from "./product.ts";

/** What one write did: the answer, the cache entry it leaves, and the lifecycle events it caused. */
export interface WriteOutcome {
  status: 200 | 201;
  body: Record<string, unknown>;
  entry: CacheEntry;
  events: { names: LifecycleName[]; view: Record<string, unknown> };
}

/** How long a write waits for the identifier's previous write before answering 429. */
const WRITE_WAIT_MS = 5_000;
/** A write makes at most this many PassKit calls (a member's enrol-exists-update path). */
const MAX_CALLS_PER_WRITE = 6;

/** The lease a write or refresh takes: every call it may make, plus KV's one-second retry. */
export function leaseMs(timeoutMs: number): number {
  return timeoutMs * MAX_CALLS_PER_WRITE + 3_000;
}

/**
 * Runs one write of one identifier under its coordinator (contract §8): an Idempotency-Key is
 * claimed first (a repeat replays the first final answer, a concurrent one waits for it), the
 * identifier's lease orders this write after any other, and the cache entry is stored before the
 * lease is given back, so KV holds the entries in the order PassKit applied the writes. The work
 * runs under `waitUntil`: a client that hangs up does not leave a half-done write holding the lease.
 */
export async function coordinatedWrite(
  c: Context<AppContext>,
  product: AnyProduct,
  ids: Ids,
  request: { operation: string; body: unknown },
  perform: (known: CacheEntry | undefined) => Promise<WriteOutcome>,
): Promise<Response> {
  const config = c.get("config");
  const requestId = c.get("requestId");
  const claim = await claimOf(c.req.header("Idempotency-Key"), { principal: c.get("principal"), product: product.name, ids }, request);
  const cache = new LookupCache(c.env.PASS_CACHE, config.PASS_CACHE_TTL_SECONDS);
  const key = await cacheKey(product.name, ids);
  const coordinator = coordinatorFor(c.env, key);

  let begun: BeginResult;
  try {
    begun = await coordinator.begin({
      kind: "write",
      waitMs: WRITE_WAIT_MS,
      leaseMs: leaseMs(config.PASSKIT_TIMEOUT_MS),
      ...(claim ? { claim } : {}),
    });
  } catch (error) {
    log("error", "coordinator_unavailable", { requestId, product: product.name, reason: String(error) });
    throw new ProblemError({
      status: 503,
      code: "coordination_unavailable",
      title: "Write coordination unavailable",
      detail: "The proxy could not order this write with others of the same identifier; nothing was sent to PassKit. Retry.",
      headers: { "Retry-After": "5" },
    });
  }
  switch (begun.kind) {
    case "replay":
      return replay(c, begun.answer);
    case "reused":
      throw new ProblemError({
        status: 422,
        code: "idempotency_key_reused",
        title: "Idempotency-Key reused",
        detail: "This Idempotency-Key was already used with a different request for this identifier.",
      });
    case "busy":
      throw new ProblemError({
        status: 429,
        code: "identifier_busy",
        title: "Another write of this identifier is in progress",
        detail: "A write of the same identifier (or the first request with this Idempotency-Key) is still running; retry shortly.",
        headers: { "Retry-After": String(begun.retryAfterSeconds) },
      });
    case "known":
      throw new Error("a write lease cannot answer `known`");
    case "granted":
      break;
  }

  const token = begun.token;
  const work = (async (): Promise<WriteOutcome> => {
    markWritten(key);
    let outcome: WriteOutcome;
    try {
      outcome = await perform(begun.known);
    } catch (error) {
      const problem = problemOf(error, product, { requestId, callerRequestId: c.get("callerRequestId") });
      const final = problem !== undefined && isFinal(problem.status) && claim !== undefined;
      // Some of the write's calls may have reached PassKit before it failed (a member update is
      // several): the cached view must not outlive it as if nothing changed.
      await cache.markStale(key);
      await coordinator
        .finish(token, final ? { answer: { status: problem.status, json: JSON.stringify(problem) } } : {})
        .catch((e: unknown) => lostFinish(e, requestId));
      throw problem ? new ProblemError(problem) : error;
    }
    await cache.store(key, outcome.entry);
    await coordinator
      .finish(token, { entry: outcome.entry, ...(claim ? { answer: { status: outcome.status, json: JSON.stringify(outcome.body) } } : {}) })
      .catch((e: unknown) => lostFinish(e, requestId));
    await emitProxyEvents(c, product, outcome.events.names, outcome.events.view, request.body);
    return outcome;
  })();
  c.executionCtx.waitUntil(work.catch(() => undefined));
  const outcome = await work;
  return c.json(outcome.body, outcome.status);
}

/** Only final answers are kept: a 2xx, or a 4xx Braze does not retry (contract §8.2). */
function isFinal(status: number): boolean {
  return status < 500 && status !== 408 && status !== 429;
}

/** The problem an expected failure answers, logged when PassKit caused it; undefined for a defect. */
function problemOf(
  error: unknown,
  product: AnyProduct,
  ids: { requestId: string; callerRequestId?: string | undefined },
): ProblemInit | undefined {
  if (error instanceof ProblemError) return error.problem;
  if (error instanceof PassKitError) {
    const { failure } = error;
    const problem = passKitProblem(failure, product.noun).problem;
    log(failure.kind === "no_route" ? "error" : "warn", "upstream_failure", {
      ...ids,
      product: product.name,
      failure: failure.kind,
      ...("status" in failure ? { status: failure.status } : {}),
      reason: problem.detail,
    });
    return problem;
  }
  return undefined;
}

/** The first final answer again, marked as a replay; a problem gets this request's id. */
function replay(c: Context<AppContext>, answer: StoredAnswer): Response {
  if (answer.status >= 400) {
    const problem = JSON.parse(answer.json) as ProblemInit;
    return problemResponse({ ...problem, headers: { ...problem.headers, "Idempotent-Replayed": "true" } }, c.get("requestId"));
  }
  c.header("Idempotent-Replayed", "true");
  return c.json(JSON.parse(answer.json) as Record<string, unknown>, answer.status as 200 | 201);
}

function lostFinish(error: unknown, requestId: string): void {
  // The write is done; only its record is lost: the lease expires by itself, and a repeat of the
  // key finds the record in PassKit and changes nothing.
  log("error", "coordinator_finish_failed", { requestId, reason: String(error) });
}
