import { Hono, type Context } from "hono";
import type { AppContext } from "../env.ts";
import { requireBasicAuth } from "../auth/basic-auth.ts";
import { ProblemError } from "../http/problem.ts";
import { readJsonBody } from "../http/read-body.ts";
import { validateBody } from "../http/validate.ts";
import { pathSegments } from "../http/path.ts";
import { createPassKitClient, type PassKitClient, type PassKitRequest } from "../passkit/client.ts";
import { PassKitError, passKitProblem } from "../passkit/failures.ts";
import { passUrl } from "../passkit/inferred.ts";
import { PassCache, passKey, type CacheEntry } from "./cache.ts";
import { IdempotencyStore } from "./idempotency.ts";
import { lookupPass, markWritten, passView } from "./lookup.ts";
import { emitLifecycle } from "../lifecycle/emit.ts";
import { lifecycleEventId, type LifecycleName } from "../lifecycle/events.ts";
import { createPassSchema, identifier, knownFieldsAt, updatePassSchema, type CreatePass, type PassView } from "./schemas.ts";

type Ctx = Context<AppContext>;

export const passRoutes = new Hono<AppContext>();
passRoutes.use(requireBasicAuth());

passRoutes.post("/", async (c) => {
  const config = c.get("config");
  const { value } = await readJsonBody(c.req.raw, config.MAX_BODY_BYTES);
  const pass = validateBody(createPassSchema, value, knownFieldsAt);
  const client = createPassKitClient(config);
  if (isDryRun(c)) return dryRun(c, client.requests.create(pass));

  const idempotency = new IdempotencyStore(c.env.PASS_CACHE);
  const header = c.req.header("Idempotency-Key");
  const fingerprint = JSON.stringify(pass);
  const idempotencyKey = header === undefined ? undefined : await idempotency.keyFor(c.get("principal"), header);
  if (idempotencyKey) {
    const replay = await idempotency.replay(idempotencyKey, fingerprint);
    if (replay) {
      c.header("Idempotent-Replayed", "true");
      return c.json(replay.body as object, replay.status as 200 | 201);
    }
  }

  const { status, view, justCreated } = await createOrUpdate(c, client, pass);
  // A Braze retry of a create whose answer was lost lands on the 200 path with a pass created
  // moments ago: `created` is keyed by the pass, so Braze sees it once. An older pass was updated.
  if (status === 201 || justCreated) await emitProxyEvent(c, "created", view, pass.templateName);
  if (status === 200) await emitProxyEvent(c, "updated", view, pass.templateName, updateOccurrence(c));
  const body = answer(view);
  if (idempotencyKey) await idempotency.remember(idempotencyKey, { status, body, fingerprint });
  return c.json(body, status);
});

/**
 * Creates the pass, or, when it already exists for (campaignName, userDefinedId) (a Braze retry
 * whose first answer was lost, or a re-sent campaign), updates it with the body instead.
 */
async function createOrUpdate(c: Ctx, client: PassKitClient, pass: CreatePass): Promise<{ status: 200 | 201; view: PassView; justCreated: boolean }> {
  const config = c.get("config");
  const cache = new PassCache(c.env.PASS_CACHE, config.PASS_CACHE_TTL_SECONDS);
  const key = await passKey(pass.campaignName, pass.userDefinedId);

  const created = await client.create(pass);
  markWritten(key);
  if ("id" in created) {
    const fresh: PassView = {
      id: created.id,
      url: passUrl(config.PASSKIT_PASS_URL_TEMPLATE, created.id),
      campaignName: pass.campaignName,
      userDefinedId: pass.userDefinedId,
      isVoided: false,
      isRedeemed: false,
      isInvalid: false,
      expiryDate: null,
    };
    const view = withChanges(fresh, pass);
    await cache.store(key, { kind: "pass", pass: view, storedAt: Date.now() });
    return { status: 201, view, justCreated: true };
  }

  let existing;
  try {
    existing = await client.get(pass.campaignName, pass.userDefinedId);
  } catch (error) {
    // No such pass: PassKit's refusal was about the content after all.
    if (error instanceof PassKitError && error.failure.kind === "not_found") throw passKitProblem(created.mayExist);
    throw error;
  }
  const { campaignName, userDefinedId, ...changes } = pass;
  await client.update(campaignName, userDefinedId, changes);
  markWritten(key);
  const view = withChanges(passView(existing, config.PASSKIT_PASS_URL_TEMPLATE, campaignName, userDefinedId), pass);
  await cache.store(key, { kind: "pass", pass: view, storedAt: Date.now() });
  const age = existing.createdAt ? Date.now() - Date.parse(existing.createdAt) : 0;
  return { status: 200, view, justCreated: !(age > BRAZE_RETRY_WINDOW_MS) };
}

passRoutes.get("/:campaignName/:userDefinedId", async (c) => {
  const config = c.get("config");
  const { campaignName, userDefinedId } = passIdentifiers(c);
  const key = await passKey(campaignName, userDefinedId);
  const deps = {
    cache: new PassCache(c.env.PASS_CACHE, config.PASS_CACHE_TTL_SECONDS),
    client: createPassKitClient(config),
    passUrlTemplate: config.PASSKIT_PASS_URL_TEMPLATE,
    waitUntil: (promise: Promise<unknown>) => c.executionCtx.waitUntil(promise),
  };
  let lookup;
  try {
    lookup = await lookupPass(deps, key, campaignName, userDefinedId, c.get("startedAt"));
  } catch (error) {
    if (!(error instanceof ProblemError)) throw error;
    throw new ProblemError({ ...error.problem, headers: { ...error.problem.headers, "X-Cache": "MISS" } });
  }
  c.header("X-Cache", lookup.cache);
  if (lookup.entry.kind === "missing") {
    throw new ProblemError({ ...passKitProblem({ kind: "not_found" }).problem, headers: { "X-Cache": lookup.cache } });
  }
  return c.json(lookup.entry.pass);
});

passRoutes.put("/:campaignName/:userDefinedId", async (c) => {
  const config = c.get("config");
  const { campaignName, userDefinedId } = passIdentifiers(c);
  const { value } = await readJsonBody(c.req.raw, config.MAX_BODY_BYTES);
  const update = validateBody(updatePassSchema, value, knownFieldsAt);
  const mismatched = (["campaignName", "userDefinedId"] as const).filter((field) => update[field] !== undefined && update[field] !== { campaignName, userDefinedId }[field]);
  if (mismatched.length > 0) {
    throw new ProblemError({
      status: 422,
      code: "validation_failed",
      title: "Body failed validation",
      detail: "campaignName and userDefinedId cannot change; the body must match the URL path.",
      errors: mismatched.map((field) => ({ pointer: `/${field}`, detail: "differs from the URL path" })),
    });
  }
  const { campaignName: _c, userDefinedId: _u, ...changes } = update;
  if (Object.keys(changes).length === 0) {
    throw new ProblemError({
      status: 422,
      code: "validation_failed",
      title: "Body failed validation",
      detail: "The body has no fields to update.",
      errors: [{ pointer: "", detail: "has no fields to update" }],
    });
  }
  const client = createPassKitClient(config);
  if (isDryRun(c)) return dryRun(c, client.requests.update(campaignName, userDefinedId, changes));

  const { id } = await client.update(campaignName, userDefinedId, changes);
  const view = await refreshAfterWrite(c, campaignName, userDefinedId, (pass) => withChanges(pass, changes));
  const result = answer(view ?? { id, url: passUrl(config.PASSKIT_PASS_URL_TEMPLATE, id), campaignName, userDefinedId });
  await emitProxyEvent(c, "updated", result, changes.templateName, updateOccurrence(c));
  return c.json(result);
});

passRoutes.delete("/:campaignName/:userDefinedId", async (c) => {
  const config = c.get("config");
  const { campaignName, userDefinedId } = passIdentifiers(c);
  const client = createPassKitClient(config);
  if (isDryRun(c)) return dryRun(c, client.requests.invalidate(campaignName, userDefinedId));

  const { id } = await client.invalidate(campaignName, userDefinedId);
  await refreshAfterWrite(c, campaignName, userDefinedId, (pass) => ({ ...pass, isInvalid: true }));
  const result = answer({ id, url: passUrl(config.PASSKIT_PASS_URL_TEMPLATE, id), campaignName, userDefinedId });
  await emitProxyEvent(c, "invalidated", result);
  return c.json({ ...result, isInvalid: true });
});

/**
 * Write-through after an update: a cached pass gets the change applied, so the next lookup shows
 * it without a PassKit call; with nothing cached to apply it to, the key is evicted and the next
 * lookup asks PassKit.
 */
async function refreshAfterWrite(c: Ctx, campaignName: string, userDefinedId: string, apply: (pass: PassView) => PassView): Promise<PassView | undefined> {
  const config = c.get("config");
  const cache = new PassCache(c.env.PASS_CACHE, config.PASS_CACHE_TTL_SECONDS);
  const key = await passKey(campaignName, userDefinedId);
  markWritten(key);
  const cached: CacheEntry | undefined = cache.fromMemory(key) ?? (await cache.fromStore(key));
  if (cached?.kind !== "pass") {
    await cache.evict(key);
    return undefined;
  }
  const pass = apply(cached.pass);
  await cache.store(key, { kind: "pass", pass, storedAt: Date.now() });
  return pass;
}

/** Braze retries a webhook for up to 30 minutes (longer when the proxy is unreachable). */
const BRAZE_RETRY_WINDOW_MS = 86_400_000;

/**
 * Which update this is, for its eventId: a Braze retry of the same update carries the same
 * Idempotency-Key and is one event. Without one every request is its own update (never the
 * caller's X-Request-Id, which a client could repeat for different updates).
 */
function updateOccurrence(c: Ctx): string {
  return c.req.header("Idempotency-Key") ?? crypto.randomUUID();
}

/** Queues the lifecycle event of a write the proxy made, without delaying the answer. */
async function emitProxyEvent(c: Ctx, name: LifecycleName, pass: ReturnType<typeof answer>, templateName?: string, occurrence?: string): Promise<void> {
  const message = {
    v: 1 as const,
    eventId: await lifecycleEventId(name, pass.id, occurrence),
    name,
    externalId: pass.userDefinedId,
    time: new Date().toISOString(),
    campaignName: pass.campaignName,
    passId: pass.id,
    passUrl: pass.url,
    source: "proxy" as const,
    ...(templateName ? { templateName } : {}),
  };
  c.executionCtx.waitUntil(emitLifecycle(c.env, message));
}

/** The lookup fields a create or update body sets, applied over what is known of the pass. */
function withChanges(pass: PassView, changes: Partial<Pick<CreatePass, "isVoided" | "isRedeemed" | "isInvalid" | "expiryDate">>): PassView {
  return {
    ...pass,
    isVoided: changes.isVoided ?? pass.isVoided,
    isRedeemed: changes.isRedeemed ?? pass.isRedeemed,
    // PassKit's isInvalid is permanent: once true it stays true.
    isInvalid: pass.isInvalid || (changes.isInvalid ?? false),
    expiryDate: changes.expiryDate ?? pass.expiryDate,
  };
}

function answer(view: Pick<PassView, "id" | "url" | "campaignName" | "userDefinedId">) {
  return { id: view.id, url: view.url, campaignName: view.campaignName, userDefinedId: view.userDefinedId };
}

/** The two identifiers of the path, decoded from the raw URL and validated like body fields. */
function passIdentifiers(c: Ctx): { campaignName: string; userDefinedId: string } {
  const [campaignName = "", userDefinedId = ""] = pathSegments(c.req.url, "/v1/passes");
  const errors = Object.entries({ campaignName, userDefinedId }).flatMap(([name, value]) => {
    const result = identifier.safeParse(value);
    return result.success ? [] : [{ pointer: `/${name}`, detail: `URL path segment ${name} ${result.error.issues[0]!.message}` }];
  });
  if (errors.length > 0) {
    throw new ProblemError({ status: 400, code: "invalid_path", title: "Invalid pass identifiers in the URL path", detail: errors.map((e) => e.detail).join("; "), errors });
  }
  return { campaignName, userDefinedId };
}

function isDryRun(c: Ctx): boolean {
  return c.req.header("X-Dry-Run")?.trim().toLowerCase() === "true";
}

/** What Braze's webhook "Test" tab shows: the PassKit call that would be made, never its token. */
function dryRun(c: Ctx, request: PassKitRequest): Response {
  const url = new URL(request.url);
  return c.json({
    dryRun: true,
    passKitRequest: {
      method: request.method,
      path: url.pathname + url.search,
      body: request.body === undefined ? null : JSON.parse(request.body),
    },
  });
}
