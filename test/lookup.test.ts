import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { FakePassKit } from "../fakes/passkit.ts";
import { app } from "../src/app.ts";
import { lookupMemory } from "../src/machinery/cache.ts";
import { BASIC, call, installPassKit, passPath, validCreate, resetAll, passKey } from "./helpers.ts";

let passkit: FakePassKit;
beforeEach(() => {
  passkit = installPassKit();
});
afterEach(async () => {
  vi.restoreAllMocks();
  vi.useRealTimers();
  await resetAll();
});

const path = passPath(validCreate.campaignName, validCreate.userDefinedId);

/** A pass that exists in PassKit but that the proxy has never seen (nothing cached). */
async function seedPass(): Promise<string> {
  const created = await (await call("POST", "/v1/passes", { body: validCreate })).json<{ id: string }>();
  await env.PASS_CACHE.delete(await passKey(validCreate.campaignName, validCreate.userDefinedId));
  lookupMemory.clear();
  passkit.calls.length = 0;
  return created.id;
}

/** A KV entry for the pass, stored 2 h ago (past the 1 h TTL), naming an old pass id. */
async function storeStaleEntry(): Promise<string> {
  const key = await passKey(validCreate.campaignName, validCreate.userDefinedId);
  const view = {
    id: "old-id",
    url: "https://q.passkit.net/~/#/p/old-id",
    campaignName: "summer-loyalty",
    userDefinedId: "user-123",
    isVoided: false,
    isRedeemed: false,
    isInvalid: false,
    expiryDate: null,
  };
  await env.PASS_CACHE.put(key, JSON.stringify({ kind: "record", view, storedAt: Date.now() - 3_700_000 }));
  return key;
}

describe("GET /v1/passes/:campaignName/:userDefinedId (Connected Content)", () => {
  it("answers a cold lookup with one PassKit call and a warm one with none", async () => {
    const id = await seedPass();
    const cold = await call("GET", path);
    expect(cold.status).toBe(200);
    expect(cold.headers.get("X-Cache")).toBe("MISS");
    expect(await cold.json()).toEqual({
      id,
      url: `https://q.passkit.net/~/#/p/${id}`,
      campaignName: "summer-loyalty",
      userDefinedId: "user-123",
      isVoided: false,
      isRedeemed: false,
      isInvalid: false,
      expiryDate: null,
    });
    expect(passkit.apiCalls("GET")).toHaveLength(1);

    const warm = await call("GET", path);
    expect(warm.status).toBe(200);
    expect(warm.headers.get("X-Cache")).toBe("HIT");
    expect(passkit.apiCalls("GET")).toHaveLength(1);
  });

  it("serves a warm lookup from KV without PassKit when this isolate's memory is empty", async () => {
    await seedPass();
    await call("GET", path);
    const key = await passKey(validCreate.campaignName, validCreate.userDefinedId);
    await vi.waitFor(async () => expect(await env.PASS_CACHE.get(key)).not.toBeNull());
    lookupMemory.clear();
    const fromKv = await call("GET", path);
    expect(fromKv.headers.get("X-Cache")).toBe("HIT");
    expect(passkit.apiCalls("GET")).toHaveLength(1);
  });

  it("makes one PassKit call for 100 concurrent cold lookups of one user", async () => {
    await seedPass();
    passkit.inject({ method: "GET", latencyMs: 50 });
    const responses = await Promise.all(Array.from({ length: 100 }, () => call("GET", path)));
    expect(responses.map((r) => r.status)).toEqual(Array(100).fill(200));
    expect(passkit.apiCalls("GET")).toHaveLength(1);
  });

  it("answers 404 for a user without a pass, and caches that answer briefly", async () => {
    const first = await call("GET", passPath("summer-loyalty", "nobody"));
    expect(first.status).toBe(404);
    expect(first.headers.get("Content-Type")).toBe("application/problem+json");
    expect(first.headers.get("X-Cache")).toBe("MISS");
    const again = await call("GET", passPath("summer-loyalty", "nobody"));
    expect(again.status).toBe(404);
    expect(again.headers.get("X-Cache")).toBe("HIT");
    expect(passkit.apiCalls("GET")).toHaveLength(1);
    const stored = await env.PASS_CACHE.get(await passKey("summer-loyalty", "nobody"), "json");
    expect(stored).toMatchObject({ kind: "missing" });
  });

  it("serves a stale entry at once and refreshes it in the background", async () => {
    await seedPass();
    const key = await storeStaleEntry();
    passkit.inject({ method: "GET", latencyMs: 300 });

    const ctx = createExecutionContext();
    const started = Date.now();
    const stale = await app.request(path, { headers: { Authorization: BASIC } }, env, ctx);
    expect(Date.now() - started).toBeLessThan(300);
    expect(stale.status).toBe(200);
    expect(stale.headers.get("X-Cache")).toBe("STALE");
    expect((await stale.json<{ id: string }>()).id).toBe("old-id");

    await waitOnExecutionContext(ctx);
    expect(passkit.apiCalls("GET")).toHaveLength(1);
    const refreshed = await env.PASS_CACHE.get<{ view: { id: string } }>(key, "json");
    expect(refreshed!.view.id).not.toBe("old-id");
    const next = await call("GET", path);
    expect(next.headers.get("X-Cache")).toBe("HIT");
    expect((await next.json<{ id: string }>()).id).toBe(refreshed!.view.id);
  });

  it("answers 504 within Braze's 2 s when PassKit hangs and nothing is cached, and caches the late answer", async () => {
    await seedPass();
    passkit.inject({ method: "GET", latencyMs: 2_500 });
    const ctx = createExecutionContext();
    const slowEnv = { ...env, PASSKIT_TIMEOUT_MS: "10000" };
    const started = Date.now();
    const response = await app.request(path, { headers: { Authorization: BASIC } }, slowEnv, ctx);
    const elapsed = Date.now() - started;
    expect(response.status).toBe(504);
    expect(elapsed).toBeLessThan(2_000);
    expect((await response.json<{ code: string }>()).code).toBe("upstream_timeout");
    // The PassKit call was not abandoned: its answer fills the cache for Braze's retry.
    await waitOnExecutionContext(ctx);
    const retry = await call("GET", path);
    expect(retry.status).toBe(200);
    expect(retry.headers.get("X-Cache")).toBe("HIT");
    expect(passkit.apiCalls("GET")).toHaveLength(1);
  });

  it("serves the stale entry when PassKit hangs", async () => {
    await seedPass();
    await storeStaleEntry();
    passkit.inject({ method: "GET", latencyMs: 5_000 });
    const started = Date.now();
    const response = await call("GET", path);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(response.status).toBe(200);
    expect(response.headers.get("X-Cache")).toBe("STALE");
  });

  it("shows an update in the very next lookup", async () => {
    await call("POST", "/v1/passes", { body: validCreate });
    await call("GET", path);
    const update = await call("PUT", path, { body: { isVoided: true, expiryDate: "2030-01-01T00:00:00Z" } });
    expect(update.status).toBe(200);
    const readsByWrites = passkit.apiCalls("GET").length;
    const lookup = await call("GET", path);
    expect(lookup.headers.get("X-Cache")).toBe("HIT");
    expect(await lookup.json()).toMatchObject({ isVoided: true, expiryDate: "2030-01-01T00:00:00Z" });
    expect(passkit.findPass("summer-loyalty", "user-123")).toMatchObject({ isVoided: true, expiryDate: "2030-01-01T00:00:00Z" });
    // The update read the pass once to see what changes; the lookups needed no PassKit call.
    expect(readsByWrites).toBe(1);
    expect(passkit.apiCalls("GET")).toHaveLength(1);
  });

  it("shows a delete (invalidation) in the very next lookup, from KV in another isolate too", async () => {
    await call("POST", "/v1/passes", { body: validCreate });
    const deleted = await call("DELETE", path);
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toMatchObject({ isInvalid: true, userDefinedId: "user-123" });
    expect(passkit.findPass("summer-loyalty", "user-123")!.isInvalid).toBe(true);
    lookupMemory.clear();
    const lookup = await call("GET", path);
    expect(lookup.status).toBe(200);
    expect(await lookup.json()).toMatchObject({ isInvalid: true });
  });

  it("answers the next lookup from the cache after an update of a pass it had not cached: the update read it whole", async () => {
    await seedPass();
    await call("PUT", path, { body: { isRedeemed: "true" } });
    const calls = passkit.calls.length;
    const lookup = await call("GET", path);
    expect(lookup.headers.get("X-Cache")).toBe("HIT");
    expect(await lookup.json()).toMatchObject({ isRedeemed: true });
    expect(passkit.calls.length).toBe(calls);
  });

  it("does not let a lookup that raced an update overwrite the cache with the old pass", async () => {
    const id = await seedPass();
    // PassKit reads the pass before the update and answers 200 ms later, with the old state.
    const before = { ...passkit.findPass(validCreate.campaignName, validCreate.userDefinedId)!, id };
    passkit.inject({ method: "GET", latencyMs: 200, status: 200, body: JSON.stringify(before) });
    const ctx = createExecutionContext();
    const slowLookup = app.request(path, { headers: { Authorization: BASIC } }, env, ctx);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await call("PUT", path, { body: { isVoided: true } });
    const raced = await slowLookup;
    expect(raced.status).toBe(200);
    expect(await raced.json()).toMatchObject({ isVoided: false });
    await waitOnExecutionContext(ctx);
    lookupMemory.clear();
    const lookup = await call("GET", path);
    expect(await lookup.json()).toMatchObject({ isVoided: true });
  });

  it("does not let a lookup whose KV read raced an update put the old pass back in memory", async () => {
    await call("POST", "/v1/passes", { body: validCreate });
    lookupMemory.clear();
    const kvGet = env.PASS_CACHE.get.bind(env.PASS_CACHE);
    // The lookup's KV read returns the pre-update entry, 200 ms late.
    vi.spyOn(env.PASS_CACHE, "get").mockImplementationOnce((async (...args: Parameters<typeof kvGet>) => {
      const value = await kvGet(...args);
      await new Promise((resolve) => setTimeout(resolve, 200));
      return value;
    }) as typeof kvGet);
    const ctx = createExecutionContext();
    const slowLookup = app.request(path, { headers: { Authorization: BASIC } }, env, ctx);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await call("PUT", path, { body: { isVoided: true } })).status).toBe(200);
    expect(await (await slowLookup).json()).toMatchObject({ isVoided: false });
    await waitOnExecutionContext(ctx);
    const next = await call("GET", path);
    expect(next.headers.get("X-Cache")).toBe("HIT");
    expect(await next.json()).toMatchObject({ isVoided: true });
  });

  it("answers from PassKit when KV cannot be read, and an update still stores what PassKit now holds", async () => {
    const id = await seedPass();
    const error = vi.spyOn(console, "error").mockImplementation(() => undefined);
    vi.spyOn(env.PASS_CACHE, "get").mockRejectedValue(new Error("KV GET failed: 503"));
    const lookup = await call("GET", path);
    expect(lookup.status).toBe(200);
    expect(lookup.headers.get("X-Cache")).toBe("MISS");
    expect(await lookup.json()).toMatchObject({ id });
    lookupMemory.clear();
    const update = await call("PUT", path, { body: { isRedeemed: true } });
    expect(update.status).toBe(200);
    expect(passkit.findPass(validCreate.campaignName, validCreate.userDefinedId)!.isRedeemed).toBe(true);
    expect(error.mock.calls.some(([line]) => JSON.stringify(line).includes("cache_read_failed"))).toBe(true);
    vi.mocked(env.PASS_CACHE.get).mockRestore();
    const stored = await env.PASS_CACHE.get(await passKey(validCreate.campaignName, validCreate.userDefinedId), "json");
    expect(stored).toMatchObject({ kind: "record", view: { id, isRedeemed: true } });
  });
});

describe("the hot path (a memory hit answered before the router)", () => {
  it("answers exactly what the lookup route answers, but for the request id", async () => {
    await call("POST", "/v1/passes", { body: validCreate });
    const viaRoute = await app.request(path, { headers: { Authorization: BASIC } }, env, createExecutionContext());
    const viaHotPath = await call("GET", path);
    expect(viaHotPath.status).toBe(viaRoute.status);
    const headersOf = (response: Response) => Object.fromEntries([...response.headers].filter(([name]) => name !== "x-request-id"));
    expect(headersOf(viaHotPath)).toEqual(headersOf(viaRoute));
    expect(await viaHotPath.text()).toBe(await viaRoute.text());
    expect(viaHotPath.headers.get("X-Request-Id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("never serves a caller the app has not verified, another role, an encoded prefix, or a record not in memory", async () => {
    await call("POST", "/v1/passes", { body: validCreate });
    const wrong = await call("GET", path, { auth: `Basic ${btoa("braze:wrong")}` });
    expect(wrong.status).toBe(401);
    const operator = await call("GET", path, { auth: `Basic ${btoa("ops:operator plum orchard")}` });
    expect(operator.status).toBe(401);
    expect((await call("GET", "/v1/pa%73ses/summer-loyalty/user-123")).status).toBe(404);
    lookupMemory.clear();
    const fromKv = await call("GET", path);
    expect(fromKv.status).toBe(200);
    expect(fromKv.headers.get("X-Cache")).toBe("HIT");
  });
});
