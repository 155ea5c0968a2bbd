import { Hono, type Context } from "hono";
import type * as z from "zod";
import { requireRole } from "../auth/roles.ts";
import type { AppContext } from "../env.ts";
import { routeIdentifiers } from "../http/path.ts";
import { ProblemError } from "../http/problem.ts";
import { readJsonBody } from "../http/read-body.ts";
import { validateBody } from "../http/validate.ts";
import type { LifecycleName } from "../lifecycle/events.ts";
import { passKitProblem, type PassKitFailure } from "../passkit/failures.ts";
import { cacheKey, type CacheEntry } from "./cache-key.ts";
import { answerJson, LookupCache } from "./cache.ts";
import { coordinatorFor } from "./coordinator.ts";
import type { dryRunAnswerSchema } from "./dry-run.ts";
import { identifier, withoutBlanks } from "./fields.ts";
import { lookup } from "./lookup.ts";
import { requireProduct, type AnyProduct, type Ids, type PlannedCall, type ProductAction } from "./product.ts";
import { coordinatedWrite, leaseMs, type WriteOutcome } from "./write.ts";

type Ctx = Context<AppContext>;

/**
 * The Braze-facing routes of one product, written once for passes, members and coupons (contract
 * §2, §7): create, Connected Content lookup, update, delete, and the product's actions. Each write
 * reads what PassKit holds, works out what changes, and writes only that, under the identifier's
 * coordinator (write.ts); the adapter says how, for its upstream.
 */
export function productRoutes(product: AnyProduct): Hono<AppContext> {
  const routes = new Hono<AppContext>();
  const [first, second] = product.idNames;
  const one = `/:${first}/:${second}`;

  routes.use(requireRole("braze"));
  routes.use(async function productConfigured(c, next) {
    requireProduct(product, c.get("config"));
    await next();
  });

  routes.post("/", async (c) => {
    const body = await readBody(c, product.schemas.create, product);
    const ids = product.idsOf(body);
    const upstream = product.upstream(c.get("config"));
    if (isDryRun(c)) return dryRun(c, upstream.plan.create(body));
    return coordinatedWrite(c, product, ids, { operation: "create", body }, async (known) => {
      let refusal: PassKitFailure | undefined;
      // Known to exist (the identifier's last write or read says so): no create to be refused.
      if (known?.kind !== "record") {
        const attempt = await upstream.create(body);
        if ("created" in attempt) return outcome(c, product, 201, attempt.created, ["created"], "create");
        refusal = attempt.exists;
      }
      const existing = await upstream.read(ids);
      if (!existing) {
        if (refusal) throw passKitProblem(refusal, product.noun);
        const attempt = await upstream.create(body);
        if ("created" in attempt) return outcome(c, product, 201, attempt.created, ["created"], "create");
        throw passKitProblem(attempt.exists, product.noun);
      }
      // A create PassKit refused as a duplicate of a record made moments ago may be the retry of
      // one whose answer (and event) was lost; `created` is keyed by the record, so Braze sees it once.
      const events: LifecycleName[] = refusal && isRecent(product.createdAt(existing)) ? ["created"] : [];
      const changes = upstream.changes(existing, product.asUpdate(body));
      if (!changes) return outcome(c, product, 200, existing, events, "create");
      return outcome(c, product, 200, await upstream.update(ids, existing, changes), [...events, "updated"], "create");
    });
  });

  routes.get(one, async (c) => {
    const config = c.get("config");
    const path = routeIdentifiers(c.req.url, product.basePath, 2) as [string, string];
    const key = await cacheKey(product.name, path);
    const cache = new LookupCache(c.env.PASS_CACHE, config.PASS_CACHE_TTL_SECONDS);
    // The hot path: an entry in this isolate's memory was stored for identifiers that passed
    // validation, and its answer was serialised once; nothing else to do.
    const remembered = cache.fromMemory(key);
    if (remembered) return lookupAnswer(c, product, remembered, "HIT");
    const ids = validIdentifiers(product, path);
    const deps = {
      cache,
      read: async () => {
        const record = await product.upstream(config).read(ids);
        return record === undefined ? undefined : product.view(record, config);
      },
      coordinator: () => coordinatorFor(c.env, key),
      leaseMs: leaseMs(config.PASSKIT_TIMEOUT_MS),
      noun: product.noun,
      waitUntil: (promise: Promise<unknown>) => c.executionCtx.waitUntil(promise),
    };
    let found: Awaited<ReturnType<typeof lookup>>;
    try {
      found = await lookup(deps, key, c.get("startedAt"));
    } catch (error) {
      if (!(error instanceof ProblemError)) throw error;
      throw new ProblemError({ ...error.problem, headers: { ...error.problem.headers, "X-Cache": "MISS" } });
    }
    return lookupAnswer(c, product, found.entry, found.cache);
  });

  routes.put(one, async (c) => {
    const ids = identifiersOf(c, product);
    const update = await readBody(c, product.schemas.update, product);
    refuseOtherIdentifiers(product, ids, update);
    const upstream = product.upstream(c.get("config"));
    if (isDryRun(c)) return dryRun(c, upstream.plan.update(ids, update));
    return coordinatedWrite(c, product, ids, { operation: "update", body: update }, async () => {
      const existing = await readExisting(product, upstream, ids);
      const changes = upstream.changes(existing, update);
      if (!changes) return outcome(c, product, 200, existing, []);
      return outcome(c, product, 200, await upstream.update(ids, existing, changes), ["updated"]);
    });
  });

  routes.delete(one, async (c) => {
    const ids = identifiersOf(c, product);
    const upstream = product.upstream(c.get("config"));
    if (isDryRun(c)) return dryRun(c, upstream.plan.remove(ids));
    return coordinatedWrite(c, product, ids, { operation: "delete", body: null }, async () => {
      const existing = await readExisting(product, upstream, ids);
      if (upstream.isRemoved(existing)) return outcome(c, product, 200, existing, []);
      const remaining = await upstream.remove(ids, existing);
      if (remaining) return outcome(c, product, 200, remaining, ["invalidated"]);
      // Gone from PassKit: the answer shows what was deleted, and the cache says "no such record".
      const gone = outcome(c, product, 200, existing, ["invalidated"]);
      return { ...gone, entry: { kind: "missing", storedAt: Date.now() } };
    });
  });

  for (const action of product.actions) {
    routes.post(`${one}/${action.name}`, async (c) => {
      const ids = identifiersOf(c, product, [action.name]);
      const body = await readActionBody(c, action, product);
      const upstream = product.upstream(c.get("config"));
      if (isDryRun(c)) return dryRun(c, upstream.plan.act(action.name, ids, body));
      return coordinatedWrite(c, product, ids, { operation: action.name, body }, async () => {
        const existing = await readExisting(product, upstream, ids);
        if (action.isDone(existing)) return outcome(c, product, 200, existing, []);
        return outcome(c, product, 200, await upstream.act(action.name, ids, existing, body), [action.event]);
      });
    });
  }
  return routes;
}

/** The answer, cache entry and events of a write that leaves `record` in PassKit. A create
 * answers the create's short form (201 or 200), every other write the lookup's view. */
function outcome(
  c: Ctx,
  product: AnyProduct,
  status: 200 | 201,
  record: unknown,
  events: LifecycleName[],
  answer: "create" | "view" = "view",
): WriteOutcome {
  const view = product.view(record, c.get("config"));
  const entry: CacheEntry = { kind: "record", view, storedAt: Date.now() };
  const body = answer === "create" ? Object.fromEntries(product.created.map((field) => [field, view[field]])) : view;
  return { status, body, entry, events: { names: events, view } };
}

async function readExisting(product: AnyProduct, upstream: ReturnType<AnyProduct["upstream"]>, ids: Ids): Promise<unknown> {
  const existing = await upstream.read(ids);
  if (existing === undefined) throw passKitProblem({ kind: "not_found" }, product.noun);
  return existing;
}

/** Braze retries a webhook for up to 30 minutes (longer when the proxy is unreachable). */
const RECENT_MS = 86_400_000;

function isRecent(createdAt: string | undefined): boolean {
  const age = createdAt ? Date.now() - Date.parse(createdAt) : Number.NaN;
  return !(age > RECENT_MS);
}

async function readBody<S extends z.ZodType>(c: Ctx, schema: S, product: AnyProduct): Promise<z.output<S>> {
  const { value } = await readJsonBody(c.req.raw, c.get("config").MAX_BODY_BYTES);
  return validateBody(schema, withoutBlanks(value, product.dataMaps), product.schemas.knownFieldsAt);
}

/** An action's body is optional: no body at all means `{}`. */
async function readActionBody(c: Ctx, action: ProductAction<unknown>, product: AnyProduct): Promise<Record<string, unknown>> {
  if (c.req.raw.body === null || c.req.header("Content-Length") === "0") return {};
  const { value } = await readJsonBody(c.req.raw, c.get("config").MAX_BODY_BYTES);
  return validateBody(action.body, withoutBlanks(value, product.dataMaps), () => Object.keys(action.body.shape));
}

/** The identifiers the route matched, each decoded once and validated like body fields. */
function identifiersOf(c: Ctx, product: AnyProduct, suffix: readonly string[] = []): Ids {
  return validIdentifiers(product, routeIdentifiers(c.req.url, product.basePath, 2, suffix) as [string, string]);
}

function validIdentifiers(product: AnyProduct, ids: Ids): Ids {
  const errors = product.idNames.flatMap((name, index) => {
    const result = identifier.safeParse(ids[index]);
    return result.success ? [] : [{ pointer: `/${name}`, detail: `URL path segment ${name} ${result.error.issues[0]!.message}` }];
  });
  if (errors.length > 0) {
    throw new ProblemError({
      status: 400,
      code: "invalid_path",
      title: `Invalid ${product.noun} identifiers in the URL path`,
      detail: errors.map((e) => e.detail).join("; "),
      errors,
    });
  }
  return ids;
}

/** A lookup's answer: the view with X-Cache, or the not-found problem. */
function lookupAnswer(c: Ctx, product: AnyProduct, entry: CacheEntry, cache: string): Response {
  if (entry.kind === "missing") {
    throw new ProblemError({ ...passKitProblem({ kind: "not_found" }, product.noun).problem, headers: { "X-Cache": cache } });
  }
  c.header("X-Cache", cache);
  return c.body(answerJson(entry), 200, { "Content-Type": "application/json" });
}

/** An update body may repeat the identifiers, but must not name others (they cannot change). */
function refuseOtherIdentifiers(product: AnyProduct, ids: Ids, update: Record<string, unknown>): void {
  const mismatched = product.idNames.filter((name, index) => update[name] !== undefined && update[name] !== ids[index]);
  if (mismatched.length === 0) return;
  throw new ProblemError({
    status: 422,
    code: "validation_failed",
    title: "Body failed validation",
    detail: `${product.idNames.join(" and ")} cannot change; the body must match the URL path.`,
    errors: mismatched.map((name) => ({ pointer: `/${name}`, detail: "differs from the URL path" })),
  });
}

function isDryRun(c: Ctx): boolean {
  return c.req.header("X-Dry-Run")?.trim().toLowerCase() === "true";
}

/** What Braze's webhook "Test" tab shows: the PassKit calls that would be made, never a token. */
function dryRun(c: Ctx, calls: PlannedCall[]): Response {
  const answer: z.output<typeof dryRunAnswerSchema> = { dryRun: true, passKitRequests: calls };
  return c.json(answer);
}
