/**
 * Contract §8, for the traffic Braze really sends: each test reproduces one of the failures seen
 * (issue "Writes and lookups that stay right under Braze's real traffic") and asserts what reached
 * PassKit, KV and the queue.
 */
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import type { FakePassKit } from "../fakes/passkit.ts";
import { app } from "../src/app.ts";
import { lookupMemory } from "../src/machinery/cache.ts";
import { BASIC, call, installFakes, passKey, passPath, resetAll, validCreate } from "./helpers.ts";

type Problem = { code: string; detail: string; errors?: { pointer: string; detail: string }[] };

let passkit: FakePassKit;
let send: MockInstance<Queue["send"]>;
beforeEach(() => {
  ({ passkit } = installFakes());
  send = vi.spyOn(env.LIFECYCLE_EVENTS, "send").mockResolvedValue({ metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } });
});
afterEach(async () => {
  vi.restoreAllMocks();
  await resetAll();
});

const path = passPath(validCreate.campaignName, validCreate.userDefinedId);
const queuedNames = () => send.mock.calls.map(([body]) => (body as { name: string }).name);

describe("1. empty means absent (§8.1)", () => {
  it("creates the pass of a Braze user without an email: the empty recoveryEmail and expiryDate are not sent", async () => {
    const response = await call("POST", "/v1/passes", {
      body: { ...validCreate, recoveryEmail: "", expiryDate: " ", isVoided: "", dynamicData: { firstName: "" } },
    });
    expect(response.status).toBe(201);
    expect(JSON.parse(passkit.apiCalls("POST")[0]!.body)).toEqual({ ...validCreate, dynamicData: { firstName: "" } });
  });

  it("refuses a required field left empty with a 422 naming it, and calls nothing", async () => {
    const response = await call("POST", "/v1/passes", { body: { ...validCreate, userDefinedId: "  " } });
    expect(response.status).toBe(422);
    expect((await response.json<Problem>()).errors).toEqual([{ pointer: "/userDefinedId", detail: "is required" }]);
    expect(passkit.calls).toEqual([]);
  });

  it("answers an update whose fields are all empty 200 with the pass as it is, writing nothing and queueing nothing", async () => {
    await call("POST", "/v1/passes", { body: validCreate });
    send.mockClear();
    const response = await call("PUT", path, { body: { recoveryEmail: "", expiryDate: "", isVoided: "" } });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ userDefinedId: "user-123", isVoided: false });
    expect(passkit.apiCalls("PUT")).toEqual([]);
    expect(queuedNames()).toEqual([]);
  });
});

describe("2. Idempotency-Key takes any value, on every write (§8.2)", () => {
  const awkwardKeys = ["dispatch-1-ada lovelace", "dispatch-1-ümlaut-日本", `dispatch-1-${"u".repeat(400)}`];

  it.each(awkwardKeys)("accepts the key %j and replays the first answer for it", async (key) => {
    const first = await call("POST", "/v1/passes", { body: validCreate, headers: { "Idempotency-Key": key } });
    expect(first.status).toBe(201);
    const calls = passkit.calls.length;
    const again = await call("POST", "/v1/passes", { body: validCreate, headers: { "Idempotency-Key": key } });
    expect(again.status).toBe(201);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(passkit.calls.length).toBe(calls);
  });

  it("honours the key on PUT, DELETE and a replayed final refusal, with no second PassKit call", async () => {
    await call("POST", "/v1/passes", { body: validCreate });
    const headers = { "Idempotency-Key": "dispatch-7-user-123" };
    expect((await call("PUT", path, { body: { isVoided: true }, headers })).status).toBe(200);
    const calls = passkit.calls.length;
    const replayed = await call("PUT", path, { body: { isVoided: true }, headers });
    expect(replayed.headers.get("Idempotent-Replayed")).toBe("true");
    expect((await call("DELETE", path, { headers: { "Idempotency-Key": "dispatch-8-user-123" } })).status).toBe(200);
    expect((await call("DELETE", path, { headers: { "Idempotency-Key": "dispatch-8-user-123" } })).headers.get("Idempotent-Replayed")).toBe(
      "true",
    );
    expect(passkit.calls.length).toBe(calls + 2); // the delete's read and write, once
    passkit.inject({ method: "POST", status: 400, body: JSON.stringify({ error: "no such template" }) });
    const refusal = await call("POST", "/v1/passes", {
      body: { ...validCreate, userDefinedId: "u2" },
      headers: { "Idempotency-Key": "k-u2" },
    });
    expect(refusal.status).toBe(422);
    const refusedAgain = await call("POST", "/v1/passes", {
      body: { ...validCreate, userDefinedId: "u2" },
      headers: { "Idempotency-Key": "k-u2" },
    });
    expect(refusedAgain.status).toBe(422);
    expect(refusedAgain.headers.get("Idempotent-Replayed")).toBe("true");
  });

  it("keeps no answer after a 5xx: Braze's retry with the same key really retries", async () => {
    passkit.inject({ method: "POST", status: 503 });
    const headers = { "Idempotency-Key": "dispatch-9-user-123" };
    expect((await call("POST", "/v1/passes", { body: validCreate, headers })).status).toBe(502);
    const retry = await call("POST", "/v1/passes", { body: validCreate, headers });
    expect(retry.status).toBe(201);
    expect(retry.headers.get("Idempotent-Replayed")).toBeNull();
    expect(passkit.passCount()).toBe(1);
  });
});

describe("3. Braze's Test tab (§8.2)", () => {
  const testTab = { "Idempotency-Key": "dispatch_id_for_unsent_campaign-user-123" };

  it("ignores a key built from the Test tab's constant dispatch id: an edited re-test is sent, an identical one reaches PassKit", async () => {
    expect((await call("POST", "/v1/passes", { body: validCreate, headers: testTab })).status).toBe(201);
    const edited = await call("POST", "/v1/passes", { body: { ...validCreate, templateName: "silver-member" }, headers: testTab });
    expect(edited.status).toBe(200);
    expect(passkit.findPass("summer-loyalty", "user-123")!.templateName).toBe("silver-member");
    const calls = passkit.calls.length;
    const identical = await call("POST", "/v1/passes", { body: { ...validCreate, templateName: "silver-member" }, headers: testTab });
    expect(identical.status).toBe(200);
    expect(identical.headers.get("Idempotent-Replayed")).toBeNull();
    expect(passkit.calls.length).toBeGreaterThan(calls);
  });
});

describe("4. concurrent repeats of one key make one upstream write (§8.2)", () => {
  /** A create under the production default PASSKIT_TIMEOUT_MS (10 s; the tests bind 1 s). */
  const slowCreate = async (headers: Record<string, string>) => {
    const ctx = createExecutionContext();
    const init = {
      method: "POST",
      headers: { Authorization: BASIC, "Content-Type": "application/json", ...headers },
      body: JSON.stringify(validCreate),
    };
    const response = await app.request("/v1/passes", init, { ...env, PASSKIT_TIMEOUT_MS: "10000" }, ctx);
    await waitOnExecutionContext(ctx);
    return response;
  };

  it("answers 20 concurrent creates with one key, while PassKit takes 1.5 s, with one POST and 20 times its 201", async () => {
    passkit.inject({ method: "POST", latencyMs: 1_500 });
    const headers = { "Idempotency-Key": "dispatch-1-user-123" };
    const answers = await Promise.all(Array.from({ length: 20 }, () => slowCreate(headers)));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(201));
    expect(answers.filter((a) => a.headers.get("Idempotent-Replayed") === "true")).toHaveLength(19);
    expect(passkit.apiCalls().map((c) => c.method)).toEqual(["POST"]);
    expect(queuedNames()).toEqual(["created"]);
  });

  it("answers a repeat that has waited a few seconds for the first with 429 and Retry-After, so Braze retries", async () => {
    passkit.inject({ method: "POST", latencyMs: 6_500 });
    const headers = { "Idempotency-Key": "dispatch-2-user-123" };
    const first = slowCreate(headers);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const repeat = await slowCreate(headers);
    expect(repeat.status).toBe(429);
    expect(Number(repeat.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect((await first).status).toBe(201);
    expect(passkit.apiCalls("POST")).toHaveLength(1);
  }, 20_000);
});

describe("5. lookups never go back in time (§8.3)", () => {
  it("shows the last update PassKit applied when the first of two updates is answered 300 ms late", async () => {
    await call("POST", "/v1/passes", { body: validCreate });
    passkit.inject({ method: "PUT", latencyMs: 300 });
    const first = call("PUT", path, { body: { isVoided: true } });
    await new Promise((resolve) => setTimeout(resolve, 40));
    const second = call("PUT", path, { body: { isVoided: false } });
    expect([(await first).status, (await second).status]).toEqual([200, 200]);
    expect(passkit.findPass("summer-loyalty", "user-123")!.isVoided).toBe(false);
    const lookup = await call("GET", path);
    expect(lookup.headers.get("X-Cache")).toBe("HIT");
    expect(await lookup.json()).toMatchObject({ isVoided: false });
    lookupMemory.clear();
    expect(await (await call("GET", path)).json()).toMatchObject({ isVoided: false });
    expect(await env.PASS_CACHE.get(await passKey("summer-loyalty", "user-123"), "json")).toMatchObject({ view: { isVoided: false } });
  });

  it("ends every interleaving of concurrent updates and lookups with the cache showing PassKit's final state (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            start: fc.integer({ min: 0, max: 60 }),
            latency: fc.integer({ min: 0, max: 120 }),
            voided: fc.boolean(),
            points: fc.integer({ min: 0, max: 99 }),
          }),
          { minLength: 2, maxLength: 5 },
        ),
        fc.array(fc.record({ start: fc.integer({ min: 0, max: 120 }), latency: fc.integer({ min: 0, max: 120 }) }), { maxLength: 5 }),
        async (updates, lookups) => {
          passkit.reset();
          lookupMemory.clear();
          await resetAll();
          await call("POST", "/v1/passes", { body: validCreate });
          // The fake applies writes in arrival order and answers each after its own latency: any
          // order of answers, for whatever order of arrival.
          for (const { latency } of [...updates, ...lookups]) passkit.inject({ latencyMs: latency });
          const later = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
          await Promise.all([
            ...updates.map(async ({ start, voided, points }) => {
              await later(start);
              expect((await call("PUT", path, { body: { isVoided: voided, dynamicData: { points } } })).status).toBe(200);
            }),
            ...lookups.map(async ({ start }) => {
              await later(start);
              expect((await call("GET", path)).status).toBe(200);
            }),
          ]);
          passkit.faults.clear();
          const final = passkit.findPass("summer-loyalty", "user-123")!;
          const hot = await (await call("GET", path)).json<{ isVoided: boolean }>();
          lookupMemory.clear();
          const fromKv = await (await call("GET", path)).json<{ isVoided: boolean }>();
          expect(hot.isVoided).toBe(final.isVoided);
          expect(fromKv.isVoided).toBe(final.isVoided);
        },
      ),
      { numRuns: 25 },
    );
  }, 120_000);
});

describe("6. the path names exactly what is acted on (§8.5)", () => {
  it.each(["PUT", "DELETE", "GET"])("refuses %s with a percent-encoded route prefix with 404 and touches no pass", async (method) => {
    await call("POST", "/v1/passes", { body: { ...validCreate, campaignName: "es", userDefinedId: "camp" } });
    const calls = passkit.calls.length;
    const response = await call(method, "/v1/pa%73ses/camp/x", method === "PUT" ? { body: { isVoided: true } } : {});
    expect(response.status).toBe(404);
    expect((await response.json<Problem>()).code).toBe("route_not_found");
    expect(passkit.calls.length).toBe(calls);
    expect(passkit.findPass("es", "camp")).toMatchObject({ isVoided: false, isInvalid: false });
  });

  it("acts on an identifier whose encoded '/' is part of it, and refuses empty segments", async () => {
    expect((await call("POST", "/v1/passes", { body: { ...validCreate, userDefinedId: "a/b" } })).status).toBe(201);
    expect((await call("GET", "/v1/passes/summer-loyalty/a%2Fb")).status).toBe(200);
    expect((await call("GET", "/v1/passes//a")).status).toBe(404);
    expect((await call("GET", "/v1/passes/summer-loyalty/")).status).toBe(404);
  });
});

describe("7. a re-sent create is no noise in Braze (§8.4)", () => {
  it("makes one pass and queues one `created` for 200 identical creates without a key", async () => {
    const answers = [];
    for (let i = 0; i < 200; i++) answers.push((await call("POST", "/v1/passes", { body: validCreate })).status);
    expect(answers.filter((s) => s === 201)).toHaveLength(1);
    expect(answers.filter((s) => s === 200)).toHaveLength(199);
    expect(passkit.passCount()).toBe(1);
    expect(passkit.apiCalls("PUT")).toEqual([]);
    expect(queuedNames()).toEqual(["created"]);
  }, 60_000);
});

describe("8. data is forwarded exactly or refused (§8.6)", () => {
  it.each([
    ["an integer past 2^53", "9007199254740993"],
    ["a 30-digit integer", "123456789012345678901234567890"],
    ["an underflow", "1e-400"],
  ])("refuses %s in dynamicData with a 422 pointing at it, and calls nothing", async (_what, number) => {
    const body = `{"campaignName":"c","templateName":"t","userDefinedId":"u","dynamicData":{"points":${number}}}`;
    const response = await call("POST", "/v1/passes", { body });
    expect(response.status).toBe(422);
    const problem = await response.json<Problem>();
    expect(problem.code).toBe("inexact_number");
    expect(problem.errors![0]!.pointer).toBe("/dynamicData/points");
    expect(passkit.calls).toEqual([]);
  });

  it("forwards 2^53 - 1, 0.1 and 1e30 exactly as JSON says them", async () => {
    const body = `{"campaignName":"c","templateName":"t","userDefinedId":"u","dynamicData":{"a":9007199254740991,"b":0.1,"c":1e30}}`;
    expect((await call("POST", "/v1/passes", { body })).status).toBe(201);
    expect(JSON.parse(passkit.apiCalls("POST")[0]!.body).dynamicData).toEqual({ a: 9007199254740991, b: 0.1, c: 1e30 });
  });

  it("refuses a PUT whose only key is __proto__ with a 422: no empty update reaches PassKit, no event is queued", async () => {
    await call("POST", "/v1/passes", { body: validCreate });
    send.mockClear();
    const calls = passkit.calls.length;
    const response = await call("PUT", path, { body: '{"__proto__":{"isVoided":true}}' });
    expect(response.status).toBe(422);
    expect((await response.json<Problem>()).errors![0]!.pointer).toBe("/__proto__");
    expect(passkit.calls.length).toBe(calls);
    expect(queuedNames()).toEqual([]);
  });
});

describe("9. upstream answers are bounded (§8.7)", () => {
  it("answers 502 to a 40 MiB PassKit answer without reading it whole, on a lookup and on a write", async () => {
    let pulled = 0;
    const huge = () =>
      new Response(
        new ReadableStream({
          pull(controller) {
            if (pulled >= 40 * 1_048_576) return controller.close();
            pulled += 65_536;
            controller.enqueue(new Uint8Array(65_536).fill(32));
          },
        }),
        { status: 200, headers: { "Content-Type": "application/json" } },
      );
    vi.mocked(globalThis.fetch).mockImplementation(async () => huge());
    const lookup = await call("GET", passPath("c", "u"));
    expect(lookup.status).toBe(502);
    expect((await lookup.json<Problem>()).code).toBe("upstream_malformed");
    expect(pulled).toBeLessThan(2 * 1_048_576);
    pulled = 0;
    const write = await call("POST", "/v1/passes", { body: validCreate });
    expect(write.status).toBe(502);
    expect(pulled).toBeLessThan(2 * 1_048_576);
  });

  it("refuses an answer whose Content-Length says it is over 1 MiB before reading any of it", async () => {
    vi.mocked(globalThis.fetch).mockImplementation(
      async () => new Response("{}", { status: 200, headers: { "Content-Length": "41943040" } }),
    );
    expect((await call("GET", passPath("c", "u"))).status).toBe(502);
  });
});

it("keeps answering a write whose client hung up: the write runs to its end and frees the identifier", async () => {
  passkit.inject({ method: "POST", latencyMs: 200 });
  const ctx = createExecutionContext();
  const abort = new AbortController();
  const pending = app.request(
    "/v1/passes",
    {
      method: "POST",
      headers: { Authorization: BASIC, "Content-Type": "application/json" },
      body: JSON.stringify(validCreate),
      signal: abort.signal,
    },
    env,
    ctx,
  );
  abort.abort();
  await Promise.resolve(pending).catch(() => undefined);
  await waitOnExecutionContext(ctx);
  expect(passkit.passCount()).toBe(1);
  const next = await call("PUT", path, { body: { isVoided: true } });
  expect(next.status).toBe(200);
});
