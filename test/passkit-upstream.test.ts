import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { FakePassKit } from "../fakes/passkit.ts";
import { call, installPassKit, passPath, validCreate, resetAll } from "./helpers.ts";

let passkit: FakePassKit;
beforeEach(() => {
  passkit = installPassKit();
});
afterEach(async () => {
  vi.restoreAllMocks();
  await resetAll();
});

interface Problem {
  code: string;
  status: number;
  detail: string;
}

describe("PassKit failures map to the statuses that make Braze retry exactly when it helps", () => {
  const cases: { fault: Parameters<FakePassKit["inject"]>[0]; status: number; code: string; retryAfter?: string }[] = [
    { fault: { status: 429, headers: { "Retry-After": "17" } }, status: 429, code: "upstream_rate_limited", retryAfter: "17" },
    { fault: { status: 429 }, status: 429, code: "upstream_rate_limited", retryAfter: "30" },
    { fault: { status: 500 }, status: 502, code: "upstream_error" },
    { fault: { status: 503 }, status: 502, code: "upstream_error" },
    { fault: { malformed: true }, status: 502, code: "upstream_malformed" },
    { fault: { status: 200, body: '{"unexpected":true}' }, status: 502, code: "upstream_malformed" },
    { fault: { status: 200, body: '{"id":"../../admin"}' }, status: 502, code: "upstream_malformed" },
    { fault: { status: 401 }, status: 502, code: "upstream_auth" },
    { fault: { status: 403 }, status: 502, code: "upstream_auth" },
    { fault: { status: 302, headers: { Location: "https://elsewhere.example/" } }, status: 502, code: "upstream_malformed" },
    { fault: { latencyMs: 1_500 }, status: 504, code: "upstream_timeout" },
    { fault: { status: 408 }, status: 504, code: "upstream_timeout" },
  ];

  for (const { fault, status, code, retryAfter } of cases) {
    const what = fault.latencyMs
      ? "a PassKit timeout"
      : fault.malformed
        ? "a garbage answer"
        : `PassKit ${fault.status}${fault.body ? ` ${fault.body}` : ""}`;
    it(`answers ${what} on create with ${status} ${code}`, async () => {
      passkit.inject({ ...fault, method: "POST" });
      const response = await call("POST", "/v1/passes", { body: validCreate });
      expect(response.status).toBe(status);
      expect(response.headers.get("Content-Type")).toBe("application/problem+json");
      const problem = await response.json<Problem>();
      expect(problem.code).toBe(code);
      if (retryAfter) expect(response.headers.get("Retry-After")).toBe(retryAfter);
      expect(passkit.apiCalls("POST")).toHaveLength(1);
      // Nothing of the failed call is cached.
      const lookup = await call("GET", passPath(validCreate.campaignName, validCreate.userDefinedId));
      expect(lookup.headers.get("X-Cache")).toBe("MISS");
    });
  }

  it("answers PassKit's own 422 on update as a 422 with PassKit's reason", async () => {
    await call("POST", "/v1/passes", { body: validCreate });
    passkit.inject({ method: "PUT", status: 422, body: JSON.stringify({ message: "bgColor not allowed for this template" }) });
    const response = await call("PUT", passPath(validCreate.campaignName, validCreate.userDefinedId), {
      body: { passbook: { bgColor: "#000000" } },
    });
    expect(response.status).toBe(422);
    expect((await response.json<Problem>()).detail).toContain("bgColor not allowed for this template");
  });

  it("answers 404 to an update of a pass PassKit does not have, after reading it and writing nothing", async () => {
    const response = await call("PUT", passPath("summer-loyalty", "ghost"), { body: { isVoided: true } });
    expect(response.status).toBe(404);
    expect(passkit.apiCalls().map((c) => c.method)).toEqual(["GET"]);
  });

  it("maps a lookup's PassKit 500 to 502 and its 429 to 429 with Retry-After", async () => {
    passkit.inject({ method: "GET", status: 500 });
    const failed = await call("GET", passPath("c", "u"));
    expect(failed.status).toBe(502);
    expect(failed.headers.get("X-Cache")).toBe("MISS");
    passkit.inject({ method: "GET", status: 429, headers: { "Retry-After": "5" } });
    const limited = await call("GET", passPath("c", "u2"));
    expect(limited.status).toBe(429);
    expect(limited.headers.get("Retry-After")).toBe("5");
  });

  it("reports an unreachable PassKit as 502", async () => {
    vi.restoreAllMocks();
    vi.spyOn(globalThis, "fetch").mockImplementation(async () => {
      throw new TypeError("Network connection lost.");
    });
    const response = await call("POST", "/v1/passes", { body: validCreate });
    expect(response.status).toBe(502);
    expect((await response.json<Problem>()).code).toBe("upstream_unreachable");
  });
});

describe("requests to PassKit", () => {
  it("are signed with a fresh PKAuth token the strict fake accepts, never forwarding Braze's credentials", async () => {
    const fetchSpy = vi.mocked(globalThis.fetch);
    await call("POST", "/v1/passes", { body: validCreate });
    await call("PUT", passPath(validCreate.campaignName, validCreate.userDefinedId), { body: { isVoided: true } });
    expect(passkit.calls.every((c) => c.authError === undefined)).toBe(true);
    const toPassKit = fetchSpy.mock.calls
      .map(([input, init]) => new Request(input, init))
      .filter((request) => request.url.includes("/v3/"));
    const authorizations = toPassKit.map((request) => request.headers.get("Authorization"));
    // The create, then the update's read and its write: three calls, three different tokens.
    expect(authorizations).toHaveLength(3);
    for (const header of authorizations) expect(header).toMatch(/^PKAuth [\w-]+\.[\w-]+\.[\w-]+$/);
    expect(new Set(authorizations).size).toBe(3);
  });

  it("are refused by the fake when the token is wrong, which the proxy reports as upstream_auth", async () => {
    vi.restoreAllMocks();
    const { FakePassKit } = await import("../fakes/passkit.ts");
    const strict = new FakePassKit({ apiKey: "test-key", apiSecret: "a-different-secret" });
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => strict.handle(new Request(input, init)));
    const response = await call("POST", "/v1/passes", { body: validCreate });
    expect(response.status).toBe(502);
    expect((await response.json<Problem>()).code).toBe("upstream_auth");
    expect(strict.calls[0]!.authError).toBe("bad token signature");
    expect(strict.passCount()).toBe(0);
  });

  const awkward = [
    "a/b",
    "what?x=1",
    "hash#tag",
    "100%",
    "a..b",
    "../../passes/other",
    "..%2F",
    "with space",
    "plus+sign",
    "ümlaut-日本-🎫",
    "amp&campaignName=evil",
  ];

  it.each(awkward)("carry the identifier %j to PassKit as an exact query value on lookup, update and delete", async (userDefinedId) => {
    const campaignName = `camp ${userDefinedId}`;
    const created = await call("POST", "/v1/passes", { body: { ...validCreate, campaignName, userDefinedId } });
    expect(created.status).toBe(201);
    expect(passkit.findPass(campaignName, userDefinedId)).toBeDefined();

    const path = passPath(campaignName, userDefinedId);
    const { lookupMemory } = await import("../src/machinery/cache.ts");
    lookupMemory.clear();
    await resetAll();
    const lookup = await call("GET", path);
    expect(lookup.status).toBe(200);
    expect(await lookup.json()).toMatchObject({ campaignName, userDefinedId });
    expect((await call("PUT", path, { body: { isVoided: true } })).status).toBe(200);
    expect((await call("DELETE", path)).status).toBe(200);

    const byQuery = passkit.apiCalls().filter((c) => c.method !== "POST");
    // The lookup; the update's read and write; the delete's read and write.
    expect(byQuery.map((c) => c.method)).toEqual(["GET", "GET", "PUT", "GET", "PUT"]);
    for (const recorded of byQuery) {
      const url = new URL(recorded.url);
      expect(url.pathname).toBe("/v3/passes");
      expect([...url.searchParams.keys()]).toEqual(["userDefinedId", "campaignName"]);
      expect(url.searchParams.get("userDefinedId")).toBe(userDefinedId);
      expect(url.searchParams.get("campaignName")).toBe(campaignName);
      // Decoded the strict RFC 3986 way too (no "+" as space), the values are the same.
      const raw = Object.fromEntries(
        url.search
          .slice(1)
          .split("&")
          .map((pair) => pair.split("=").map(decodeURIComponent)),
      );
      expect(raw).toEqual({ userDefinedId, campaignName });
    }
    expect(passkit.findPass(campaignName, userDefinedId)).toMatchObject({ isVoided: true, isInvalid: true });
  });

  it.each([".", ".."])(
    "refuses to create a pass whose userDefinedId is exactly %j, which no URL path could reach",
    async (userDefinedId) => {
      // As a path segment "." or ".." (or %2E%2E) is removed by URL normalisation before any Worker
      // sees it: such a pass could be created but never looked up, updated or deleted.
      const response = await call("POST", "/v1/passes", { body: { ...validCreate, userDefinedId } });
      expect(response.status).toBe(422);
      expect((await response.json<{ errors: { pointer: string }[] }>()).errors.map((e) => e.pointer)).toEqual(["/userDefinedId"]);
      expect(passkit.calls).toHaveLength(0);
    },
  );

  it("refuses a malformed percent-encoding in the path with 400 and calls nothing", async () => {
    const response = await call("GET", "/v1/passes/summer/%E0%A4%A");
    expect(response.status).toBe(400);
    expect((await response.json<Problem>()).code).toBe("invalid_path");
    expect(passkit.calls).toHaveLength(0);
  });
});

describe("a PassKit failure is one structured log line", () => {
  it("logs upstream_failure once, as an object with event, requestId, product, status and reason", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    passkit.inject({ method: "POST", status: 503 });
    const response = await call("POST", "/v1/passes", { body: validCreate, headers: { "X-Request-Id": "braze-retry-7" } });
    expect(response.status).toBe(502);
    const lines = warn.mock.calls.map(([line]) => line as Record<string, unknown>).filter((line) => line.event === "upstream_failure");
    expect(lines).toEqual([
      {
        level: "warn",
        event: "upstream_failure",
        requestId: response.headers.get("X-Request-Id"),
        callerRequestId: "braze-retry-7",
        product: "pass",
        failure: "unavailable",
        status: 503,
        reason: "PassKit answered 503.",
      },
    ]);
  });
});
