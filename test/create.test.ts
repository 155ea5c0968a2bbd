import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { env } from "cloudflare:workers";
import type { FakePassKit } from "../fakes/passkit.ts";
import { BASIC, call, installPassKit, passPath, validCreate, resetAll, passKey } from "./helpers.ts";

/** Braze's own PassKit webhook template, as Braze renders it for user "user-123": a trailing comma
 * after the last dynamicData entry and the impossible date 2019-29-09. */
const brazeTemplate = (relevantDate: string) => `{
  "campaignName": "summer-loyalty",
  "templateName": "gold-member",
  "userDefinedId": "user-123",
  "recoveryEmail": "ada@example.com",
  "dynamicData": {
    "firstName": "Ada",
    "lastName": "Lovelace",
  },
  "passbook": {
    "relevantDate": "${relevantDate}"
  }
}`;

let passkit: FakePassKit;
beforeEach(() => {
  passkit = installPassKit();
});
afterEach(async () => {
  vi.restoreAllMocks();
  await resetAll();
});

describe("POST /v1/passes with Braze's own template", () => {
  it("refuses the template's impossible date with a 422 naming /passbook/relevantDate and calls nothing upstream", async () => {
    const response = await call("POST", "/v1/passes", {
      body: brazeTemplate("2019-29-09T12:59:40Z"),
      headers: { "Content-Type": "text/plain" },
    });
    expect(response.status).toBe(422);
    expect(response.headers.get("Content-Type")).toBe("application/problem+json");
    const problem = await response.json<{ code: string; errors: { pointer: string; detail: string }[] }>();
    expect(problem.code).toBe("validation_failed");
    expect(problem.errors.map((e) => e.pointer)).toEqual(["/passbook/relevantDate"]);
    expect(passkit.calls).toHaveLength(0);
  });

  it("creates the pass from the template with a valid date, trailing comma and all", async () => {
    const response = await call("POST", "/v1/passes", {
      body: brazeTemplate("2019-09-29T12:59:40Z"),
      headers: { "Content-Type": "text/plain" },
    });
    expect(response.status).toBe(201);
    const body = await response.json<Record<string, string>>();
    const stored = passkit.findPass("summer-loyalty", "user-123");
    expect(stored).toBeDefined();
    expect(body).toEqual({
      id: stored!.id,
      url: `https://q.passkit.net/~/#/p/${stored!.id}`,
      campaignName: "summer-loyalty",
      userDefinedId: "user-123",
    });
    expect(stored!.dynamicData).toEqual({ firstName: "Ada", lastName: "Lovelace" });
    expect(stored!.passbook).toEqual({ relevantDate: "2019-09-29T12:59:40Z" });
    expect(stored!.recoveryEmail).toBe("ada@example.com");
    expect(passkit.apiCalls("POST")).toHaveLength(1);
  });
});

describe("POST /v1/passes", () => {
  it("sends PassKit the validated body with Liquid's string booleans as booleans", async () => {
    const response = await call("POST", "/v1/passes", { body: { ...validCreate, isVoided: "false", isRedeemed: "true" } });
    expect(response.status).toBe(201);
    const sent = JSON.parse(passkit.apiCalls("POST")[0]!.body);
    expect(sent.isVoided).toBe(false);
    expect(sent.isRedeemed).toBe(true);
    expect(passkit.findPass("summer-loyalty", "user-123")!.isRedeemed).toBe(true);
  });

  it("writes the new pass through to the cache, so the next lookup needs no PassKit call", async () => {
    const created = await (await call("POST", "/v1/passes", { body: validCreate })).json<{ id: string }>();
    const stored = await env.PASS_CACHE.get(await passKey("summer-loyalty", "user-123"), "json");
    expect(stored).toMatchObject({ kind: "record", view: { id: created.id, isVoided: false } });
    const callsBefore = passkit.calls.length;
    const lookup = await call("GET", passPath("summer-loyalty", "user-123"));
    expect(lookup.status).toBe(200);
    expect(lookup.headers.get("X-Cache")).toBe("HIT");
    expect(passkit.calls.length).toBe(callsBefore);
  });

  it("answers a Braze retry of a create whose answer was lost with 200 and the same pass, never a second one", async () => {
    const first = await call("POST", "/v1/passes", { body: validCreate });
    expect(first.status).toBe(201);
    const firstBody = await first.json<{ id: string }>();
    const retry = await call("POST", "/v1/passes", { body: { ...validCreate, dynamicData: { firstName: "Ada", points: 150 } } });
    expect(retry.status).toBe(200);
    expect(await retry.json()).toEqual({
      ...firstBody,
      url: `https://q.passkit.net/~/#/p/${firstBody.id}`,
      campaignName: "summer-loyalty",
      userDefinedId: "user-123",
    });
    expect(passkit.passCount()).toBe(1);
    expect(passkit.findPass("summer-loyalty", "user-123")!.dynamicData).toEqual({ firstName: "Ada", points: 150 });
    // The identifier's coordinator knows the pass exists: read it, then update what differs.
    expect(
      passkit
        .apiCalls()
        .slice(1)
        .map((c) => c.method),
    ).toEqual(["GET", "PUT"]);
    expect(JSON.parse(passkit.apiCalls("PUT")[0]!.body)).toEqual({ dynamicData: { firstName: "Ada", points: 150 } });
  });

  it("reports PassKit's refusal as a 422 with its reason when the pass does not exist after all", async () => {
    passkit.inject({ method: "POST", status: 400, body: JSON.stringify({ error: "templateName gold-member does not exist" }) });
    const response = await call("POST", "/v1/passes", { body: validCreate });
    expect(response.status).toBe(422);
    const problem = await response.json<{ code: string; detail: string }>();
    expect(problem.code).toBe("passkit_rejected");
    expect(problem.detail).toContain("templateName gold-member does not exist");
    expect(passkit.passCount()).toBe(0);
  });

  it("replays the first answer for a repeated Idempotency-Key without calling PassKit", async () => {
    const headers = { "Idempotency-Key": "dispatch-42-user-123" };
    const first = await call("POST", "/v1/passes", { body: validCreate, headers });
    expect(first.status).toBe(201);
    const callsAfterFirst = passkit.calls.length;
    const replay = await call("POST", "/v1/passes", { body: validCreate, headers });
    expect(replay.status).toBe(201);
    expect(replay.headers.get("Idempotent-Replayed")).toBe("true");
    expect(await replay.json()).toEqual(await first.json());
    expect(passkit.calls.length).toBe(callsAfterFirst);
  });

  it("refuses an Idempotency-Key reused with a different body for the same pass", async () => {
    const headers = { "Idempotency-Key": "dispatch-42-user-123" };
    await call("POST", "/v1/passes", { body: validCreate, headers });
    const callsAfterFirst = passkit.calls.length;
    const reused = await call("POST", "/v1/passes", { body: { ...validCreate, templateName: "silver-member" }, headers });
    expect(reused.status).toBe(422);
    expect((await reused.json<{ code: string }>()).code).toBe("idempotency_key_reused");
    expect(passkit.calls.length).toBe(callsAfterFirst);
    expect(passkit.findPass("summer-loyalty", "user-123")!.templateName).toBe("gold-member");
  });

  it("scopes an Idempotency-Key to the pass it names, so a key without the user id cannot cost another user a pass", async () => {
    const headers = { "Idempotency-Key": "dispatch-42" };
    expect((await call("POST", "/v1/passes", { body: validCreate, headers })).status).toBe(201);
    expect((await call("POST", "/v1/passes", { body: { ...validCreate, userDefinedId: "someone-else" }, headers })).status).toBe(201);
    expect(passkit.findPass("summer-loyalty", "someone-else")).toBeDefined();
  });

  it("shows the PassKit request under X-Dry-Run without sending it or a token", async () => {
    const response = await call("POST", "/v1/passes", { body: validCreate, headers: { "X-Dry-Run": "true" } });
    expect(response.status).toBe(200);
    const body = await response.json<{ dryRun: boolean; passKitRequests: { method: string; path: string; body: unknown }[] }>();
    expect(body).toEqual({ dryRun: true, passKitRequests: [{ method: "POST", path: "/v3/passes", body: validCreate }] });
    expect(JSON.stringify(body)).not.toContain("PKAuth");
    expect(passkit.calls).toHaveLength(0);
  });

  it("refuses an unknown field with a did-you-mean hint and calls nothing upstream", async () => {
    const { userDefinedId, ...rest } = validCreate;
    const response = await call("POST", "/v1/passes", { body: { ...rest, userDefinedID: userDefinedId } });
    expect(response.status).toBe(422);
    const problem = await response.json<{ errors: { pointer: string; detail: string }[] }>();
    expect(problem.errors).toContainEqual({ pointer: "/userDefinedID", detail: "unknown field (did you mean userDefinedId?)" });
    expect(problem.errors).toContainEqual({ pointer: "/userDefinedId", detail: "is required" });
    expect(passkit.calls).toHaveLength(0);
  });

  it("names line and column of a syntax error, 400, nothing upstream", async () => {
    const response = await call("POST", "/v1/passes", { body: '{\n  "campaignName": "c"\n  "templateName": "t"\n}' });
    expect(response.status).toBe(400);
    const problem = await response.json<{ code: string; detail: string }>();
    expect(problem.code).toBe("invalid_json");
    expect(problem.detail).toContain("line 3, column 3");
    expect(passkit.calls).toHaveLength(0);
  });

  it("answers a form body with 415 and an oversized body with 413", async () => {
    const form = await call("POST", "/v1/passes", {
      body: "campaignName=c",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
    expect(form.status).toBe(415);
    const big = await call("POST", "/v1/passes", { body: { ...validCreate, dynamicData: { blob: "x".repeat(70_000) } } });
    expect(big.status).toBe(413);
    expect(passkit.calls).toHaveLength(0);
  });

  it("carries the proxy's own X-Request-Id on success and on errors, never the caller's, which is only logged beside it", async () => {
    const log = vi.spyOn(console, "log");
    const ok = await call("POST", "/v1/passes", { body: validCreate, headers: { "X-Request-Id": "braze-abc-123" } });
    expect(ok.headers.get("X-Request-Id")).toMatch(/^[0-9a-f-]{36}$/);
    const forged = await call("GET", passPath("summer-loyalty", "nobody"), { headers: { "X-Request-Id": "forged-id" } });
    expect(forged.headers.get("X-Request-Id")).not.toBe("forged-id");
    expect((await forged.json<{ requestId: string }>()).requestId).toBe(forged.headers.get("X-Request-Id"));
    log.mockRestore();
    const bad = await call("POST", "/v1/passes", { body: "nope" });
    const id = bad.headers.get("X-Request-Id");
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await bad.json<{ requestId: string }>()).requestId).toBe(id);
  });
});

describe("a client that hangs up mid-body (contract §9)", () => {
  it("is logged at info level as client_closed_request, answered 499 rather than 500, and nothing reaches PassKit", async () => {
    const passkit = installPassKit();
    const info = vi.spyOn(console, "log").mockImplementation(() => undefined);
    const error = vi.spyOn(console, "error").mockImplementation(() => undefined);
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (!sent) {
          sent = true;
          controller.enqueue(new TextEncoder().encode('{"campaignName":"summer-'));
        } else controller.error(new Error("Network connection lost."));
      },
    });
    const { app } = await import("../src/app.ts");
    const { createExecutionContext } = await import("cloudflare:test");
    const response = await app.request(
      "/v1/passes",
      { method: "POST", headers: { Authorization: BASIC, "Content-Type": "application/json" }, body, duplex: "half" } as RequestInit,
      env,
      createExecutionContext(),
    );
    expect(response.status).toBe(499);
    expect(info.mock.calls.some(([line]) => (line as { event?: string }).event === "client_closed_request")).toBe(true);
    expect(error).not.toHaveBeenCalled();
    expect(passkit.calls).toEqual([]);
  });
});
