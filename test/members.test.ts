import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { env } from "cloudflare:workers";
import type { FakeBraze } from "../fakes/braze.ts";
import type { FakePassKit } from "../fakes/passkit.ts";
import type { FakePassKitPlatform } from "../fakes/passkit-platform.ts";
import { lookupMemory } from "../src/machinery/cache.ts";
import { cacheKey } from "../src/machinery/cache-key.ts";
import { call, consume, installFakes, WEBHOOK_BASIC, validCreate, resetAll } from "./helpers.ts";

const PROGRAM = "loyalty-program";
const memberPath = (externalId: string, programId = PROGRAM) =>
  `/v1/members/${encodeURIComponent(programId)}/${encodeURIComponent(externalId)}`;
const enrolment = {
  programId: PROGRAM,
  tierId: "base",
  externalId: "user-123",
  person: { forename: "Ada", surname: "Lovelace", emailAddress: "ada@example.com" },
  metaData: { favourite: "tea", barcode: "B-123" },
  points: 120,
};

type Problem = { code: string; detail: string; errors?: { pointer: string; detail: string }[] };
type MemberView = Record<string, unknown> & { id: string; url: string; metaData: Record<string, string> };

let platform: FakePassKitPlatform;
let passkit: FakePassKit;
let braze: FakeBraze;
let send: MockInstance<Queue["send"]>;
beforeEach(() => {
  ({ platform, passkit, braze } = installFakes());
  send = vi.spyOn(env.LIFECYCLE_EVENTS, "send").mockResolvedValue({ metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } });
});
afterEach(async () => {
  vi.restoreAllMocks();
  await resetAll();
});

const queued = () =>
  send.mock.calls.map(([body]) => body as { name: string; product: string; externalId: string; campaignName: string; passId: string });
const writes = () => platform.apiCalls().filter((c) => c.method !== "GET" && !c.url.includes("/list/"));

describe("POST /v1/members (enrol)", () => {
  it("enrols a member: 201, one member at PassKit with the body, the lookup answered from the cache, `created` queued for the member", async () => {
    const response = await call("POST", "/v1/members", { body: enrolment });
    expect(response.status).toBe(201);
    const body = await response.json<{ id: string; url: string }>();
    const stored = platform.findMember(PROGRAM, "user-123")!;
    expect(body).toEqual({ id: stored.id, url: `https://pub1.pskt.io/${stored.id}`, programId: PROGRAM, externalId: "user-123" });
    expect(stored).toMatchObject({
      tierId: "base",
      points: 120,
      metaData: { favourite: "tea", barcode: "B-123" },
      person: { forename: "Ada", emailAddress: "ada@example.com" },
    });
    expect(platform.memberCount()).toBe(1);

    const calls = platform.calls.length;
    const lookup = await call("GET", memberPath("user-123"));
    expect(lookup.headers.get("X-Cache")).toBe("HIT");
    expect(await lookup.json()).toMatchObject({
      id: stored.id,
      installed: false,
      passStatus: "issued",
      appleUrl: `${body.url}.pkpass`,
      googleUrl: `${body.url}.gpay`,
      points: 120,
    });
    expect(platform.calls.length).toBe(calls);
    expect(queued()).toEqual([
      expect.objectContaining({ name: "created", product: "member", externalId: "user-123", campaignName: PROGRAM, passId: stored.id }),
    ]);
  });

  it("answers an enrolment of a known externalId 200 with the same member, writing only what differs (PassKit's 409 is never passed on)", async () => {
    const first = await (await call("POST", "/v1/members", { body: enrolment })).json<{ id: string }>();
    await resetAll(); // the proxy has forgotten the member: PassKit's 409 is what tells it
    const again = await call("POST", "/v1/members", { body: enrolment });
    expect(again.status).toBe(200);
    expect((await again.json<{ id: string }>()).id).toBe(first.id);
    expect(platform.memberCount()).toBe(1);
    expect(platform.apiCalls().map((c) => [c.method, c.status])).toEqual([
      ["POST", 200],
      ["POST", 409],
      ["GET", 200],
    ]);
    expect(queued().map((m) => m.name)).toEqual(["created", "created"]); // the same eventId: Braze sees it once

    const changed = await call("POST", "/v1/members", { body: { ...enrolment, metaData: { favourite: "coffee" } } });
    expect(changed.status).toBe(200);
    expect(platform.findMember(PROGRAM, "user-123")!.metaData).toEqual({ favourite: "coffee", barcode: "B-123" });
  });

  it("refuses an enrolment into a program or tier PassKit does not have with a 422 naming both, not a 404", async () => {
    const response = await call("POST", "/v1/members", { body: { ...enrolment, programId: "no-such-program" } });
    expect(response.status).toBe(422);
    const problem = await response.json<Problem>();
    expect(problem.errors!.map((e) => e.pointer)).toEqual(["/programId", "/tierId"]);
    expect(problem.detail).toContain("PASSKIT_REGION");
  });

  it("sends metaData numbers and booleans as text, and refuses a nested value with a 422 and no PassKit call", async () => {
    expect(
      (await call("POST", "/v1/members", { body: { ...enrolment, metaData: { visits: 12, vip: true, big: 9007199254740991 } } })).status,
    ).toBe(201);
    expect(JSON.parse(platform.apiCalls("POST")[0]!.body).metaData).toEqual({ visits: "12", vip: "true", big: "9007199254740991" });
    const calls = platform.calls.length;
    const nested = await call("POST", "/v1/members", {
      body: { ...enrolment, externalId: "user-2", metaData: { address: { city: "Paris" } } },
    });
    expect(nested.status).toBe(422);
    expect((await nested.json<Problem>()).errors).toEqual([
      { pointer: "/metaData/address", detail: "must be a string, number or boolean (PassKit keeps text)" },
    ]);
    expect(platform.calls.length).toBe(calls);
  });

  it("treats empty person fields from a user without them as absent, and blanks a metaData value that is empty (contract §8.1)", async () => {
    const response = await call("POST", "/v1/members", {
      body: { ...enrolment, person: { forename: "Ada", emailAddress: "", dateOfBirth: " " }, metaData: { nickname: "" }, points: "" },
    });
    expect(response.status).toBe(201);
    expect(JSON.parse(platform.apiCalls("POST")[0]!.body)).toEqual({
      programId: PROGRAM,
      tierId: "base",
      externalId: "user-123",
      person: { forename: "Ada" },
      metaData: { nickname: "" },
    });
  });
});

describe("PUT /v1/members/{programId}/{externalId}", () => {
  beforeEach(async () => {
    expect((await call("POST", "/v1/members", { body: enrolment })).status).toBe(201);
    platform.calls.length = 0;
    send.mockClear();
  });

  it("merges one metaData key into what PassKit holds, keeping the others, and sends PassKit the whole map", async () => {
    const response = await call("PUT", memberPath("user-123"), { body: { metaData: { favourite: "coffee" } } });
    expect(response.status).toBe(200);
    expect((await response.json<MemberView>()).metaData).toEqual({ favourite: "coffee", barcode: "B-123" });
    expect(platform.findMember(PROGRAM, "user-123")!.metaData).toEqual({ favourite: "coffee", barcode: "B-123" });
    const [put] = writes();
    expect(put).toMatchObject({ method: "PUT" });
    expect(new URL(put!.url).pathname).toBe("/members/member");
    expect(JSON.parse(put!.body).metaData).toEqual({ favourite: "coffee", barcode: "B-123" });
    expect(queued().map((m) => [m.name, m.product])).toEqual([["updated", "member"]]);
  });

  it("removes a metaData key set to null", async () => {
    expect((await call("PUT", memberPath("user-123"), { body: { metaData: { favourite: null } } })).status).toBe(200);
    expect(platform.findMember(PROGRAM, "user-123")!.metaData).toEqual({ barcode: "B-123" });
    const lookup = await call("GET", memberPath("user-123"));
    expect((await lookup.json<MemberView>()).metaData).toEqual({ barcode: "B-123" });
  });

  it("sets points to 0 through the points endpoint with the reset flag, and other balances absolutely", async () => {
    const response = await call("PUT", memberPath("user-123"), { body: { points: 0, tierPoints: "7" } });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ points: 0, tierPoints: 7 });
    expect(platform.findMember(PROGRAM, "user-123")).toMatchObject({ points: 0, tierPoints: 7 });
    const [set] = writes();
    expect(new URL(set!.url).pathname).toBe("/members/member/points/set");
    expect(JSON.parse(set!.body)).toMatchObject({ resetPoints: true, tierPoints: 7 });
  });

  it("changes the tier through the tier endpoint, and answers an unknown tier with a 422 naming /tierId", async () => {
    expect((await call("PUT", memberPath("user-123"), { body: { tierId: "gold" } })).status).toBe(200);
    expect(platform.findMember(PROGRAM, "user-123")!.tierId).toBe("gold");
    expect(new URL(writes()[0]!.url).pathname).toBe("/members/member/tier");
    const unknown = await call("PUT", memberPath("user-123"), { body: { tierId: "platinum" } });
    expect(unknown.status).toBe(422);
    expect((await unknown.json<Problem>()).errors!.map((e) => e.pointer)).toEqual(["/tierId"]);
  });

  it("patches the person fields sent and leaves the others", async () => {
    expect((await call("PUT", memberPath("user-123"), { body: { person: { surname: "Byron", dateOfBirth: "1815-12-10" } } })).status).toBe(
      200,
    );
    expect(platform.findMember(PROGRAM, "user-123")!.person).toMatchObject({
      forename: "Ada",
      surname: "Byron",
      emailAddress: "ada@example.com",
      dateOfBirth: { year: 1815, month: 12, day: 10 },
    });
    expect(writes().map((c) => [c.method, new URL(c.url).pathname])).toEqual([["PATCH", "/members/member/person"]]);
  });

  it("answers an update that changes nothing 200 without writing to PassKit or queueing an event (contract §8.4)", async () => {
    const response = await call("PUT", memberPath("user-123"), {
      body: { metaData: { favourite: "tea" }, points: 120, person: { forename: "Ada" } },
    });
    expect(response.status).toBe(200);
    expect(writes()).toEqual([]);
    expect(queued()).toEqual([]);
  });

  it("keeps both of two concurrent updates of different metaData keys (one read-merge-write at a time)", async () => {
    // Each read takes 150 ms: without ordering, both would read {favourite, barcode} and the
    // second write would drop the first one's key.
    platform.inject({ method: "GET", latencyMs: 150, times: 4 });
    const [a, b] = await Promise.all([
      call("PUT", memberPath("user-123"), { body: { metaData: { colour: "green" } } }),
      call("PUT", memberPath("user-123"), { body: { metaData: { size: "L" } } }),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(platform.findMember(PROGRAM, "user-123")!.metaData).toEqual({ favourite: "tea", barcode: "B-123", colour: "green", size: "L" });
    lookupMemory.clear();
    expect((await (await call("GET", memberPath("user-123"))).json<MemberView>()).metaData).toEqual({
      favourite: "tea",
      barcode: "B-123",
      colour: "green",
      size: "L",
    });
  });

  it("marks the cached view stale when an update fails part-way, so the next lookup shows what PassKit holds", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    platform.inject({ method: "PATCH", status: 503 });
    // The metaData write reaches PassKit, then the person patch fails: Braze gets a 502 and retries.
    const response = await call("PUT", memberPath("user-123"), {
      body: { metaData: { favourite: "coffee" }, person: { surname: "Byron" } },
    });
    expect(response.status).toBe(502);
    expect(platform.findMember(PROGRAM, "user-123")!.metaData).toEqual({ favourite: "coffee", barcode: "B-123" });
    const stale = await call("GET", memberPath("user-123"));
    expect(stale.headers.get("X-Cache")).toBe("STALE");
    const fresh = await call("GET", memberPath("user-123"));
    expect((await fresh.json<MemberView>()).metaData).toEqual({ favourite: "coffee", barcode: "B-123" });
  });

  it("refuses a body whose externalId differs from the path, and a nested metaData value, without calling PassKit", async () => {
    const other = await call("PUT", memberPath("user-123"), { body: { externalId: "user-999", points: 1 } });
    expect(other.status).toBe(422);
    const nested = await call("PUT", memberPath("user-123"), { body: { metaData: { a: [1] } } });
    expect(nested.status).toBe(422);
    expect(platform.calls).toEqual([]);
  });
});

describe("GET /v1/members/{programId}/{externalId}", () => {
  it("shows installed false, then true within seconds of PassKit's install webhook (not at the cache's TTL)", async () => {
    const { id } = await (await call("POST", "/v1/members", { body: enrolment })).json<{ id: string }>();
    expect(await (await call("GET", memberPath("user-123"))).json()).toMatchObject({ installed: false, passStatus: "issued" });
    platform.setPassStatus("member", id, "PASS_INSTALLED");
    const webhook = await call("PUT", "/v1/lifecycle/passkit", {
      auth: WEBHOOK_BASIC,
      body: {
        event: "PASS_EVENT_INSTALLED",
        pass: { id, classId: PROGRAM, protocol: 100, externalId: "user-123", metaData: { status: 1 } },
      },
    });
    expect(webhook.status).toBe(202);
    expect(await env.PASS_CACHE.get(await cacheKey("member", [PROGRAM, "user-123"]))).toBeNull();
    const after = await call("GET", memberPath("user-123"));
    expect(after.headers.get("X-Cache")).toBe("MISS");
    expect(await after.json()).toMatchObject({ installed: true, passStatus: "installed" });
    expect(queued().map((m) => [m.name, m.product])).toEqual([
      ["created", "member"],
      ["installed", "member"],
    ]);
  });

  it("looks up an externalId containing '/' through PassKit's list filter, since no path can carry it", async () => {
    expect((await call("POST", "/v1/members", { body: { ...enrolment, externalId: "crm/42" } })).status).toBe(201);
    lookupMemory.clear();
    await resetAll();
    const lookup = await call("GET", memberPath("crm/42"));
    expect(lookup.status).toBe(200);
    expect(await lookup.json()).toMatchObject({ externalId: "crm/42" });
    const read = platform.apiCalls().at(-1)!;
    expect([read.method, new URL(read.url).pathname]).toEqual(["POST", `/members/member/list/${PROGRAM}`]);
    expect(JSON.parse(read.body).filters.filterGroups[0].fieldFilters).toEqual([
      { filterField: "externalId", filterValue: "crm/42", filterOperator: "eq" },
    ]);
  });

  it("answers 404 for a member PassKit does not have", async () => {
    const response = await call("GET", memberPath("nobody"));
    expect(response.status).toBe(404);
    expect((await response.json<Problem>()).code).toBe("not_found");
  });
});

describe("DELETE /v1/members/{programId}/{externalId}", () => {
  it("deletes the member at PassKit, queues `invalidated`, and the next lookup is a 404", async () => {
    const { id } = await (await call("POST", "/v1/members", { body: enrolment })).json<{ id: string }>();
    const deleted = await call("DELETE", memberPath("user-123"));
    expect(deleted.status).toBe(200);
    expect(platform.findMember(PROGRAM, "user-123")).toBeUndefined();
    const del = platform.apiCalls("DELETE")[0]!;
    expect(JSON.parse(del.body)).toEqual({ id });
    expect((await call("GET", memberPath("user-123"))).status).toBe(404);
    expect((await call("DELETE", memberPath("user-123"))).status).toBe(404);
    expect(queued().map((m) => m.name)).toEqual(["created", "invalidated"]);
  });
});

describe("PassKit's answers, mapped as contract §4 and §7 say", () => {
  const cases: [string, Parameters<FakePassKitPlatform["inject"]>[0], number, string][] = [
    [
      "its 401 (the proxy's own key refused)",
      { status: 401, body: JSON.stringify({ code: 16, message: "token is expired", details: [] }) },
      502,
      "upstream_auth",
    ],
    ["its 429", { status: 429, headers: { "Retry-After": "7" } }, 429, "upstream_rate_limited"],
    ["its 500", { status: 500 }, 502, "upstream_error"],
    ["its 503", { status: 503 }, 502, "upstream_error"],
    [
      "its 501 (a route PassKit does not serve: a proxy defect)",
      { status: 501, body: JSON.stringify({ code: 12, message: "Method Not Allowed", details: [] }) },
      502,
      "upstream_unsupported",
    ],
    [
      "its routing 404 (no such route: a proxy defect, not a missing member)",
      { status: 404, body: JSON.stringify({ code: 5, message: "Not Found", details: [] }) },
      502,
      "upstream_unsupported",
    ],
    ["a hang past PASSKIT_TIMEOUT_MS", { latencyMs: 5_000 }, 504, "upstream_timeout"],
    ["an answer over 1 MiB", { status: 200, body: JSON.stringify({ id: "x".repeat(1_100_000) }) }, 502, "upstream_malformed"],
  ];

  it.each(cases.map(([what, fault, status, code]) => ({ what, fault, status, code })))(
    "answers $what on an enrolment with $status $code",
    async ({ fault, status, code }) => {
      const error = vi.spyOn(console, "error").mockImplementation(() => undefined);
      vi.spyOn(console, "warn").mockImplementation(() => undefined);
      platform.inject({ method: "POST", ...fault });
      const response = await call("POST", "/v1/members", { body: enrolment });
      expect(response.status).toBe(status);
      const problem = await response.json<Problem>();
      expect(problem.code).toBe(code);
      if (status === 429) expect(response.headers.get("Retry-After")).toBe("7");
      if (code === "upstream_unsupported")
        expect(error.mock.calls.some(([line]) => JSON.stringify(line).includes("upstream_failure"))).toBe(true);
    },
  );

  it("answers a lookup's PassKit 500 with 502 and X-Cache MISS, and a routing 404 with 502, never a 'no member' 404", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    platform.inject({ method: "GET", status: 500 });
    expect((await call("GET", memberPath("a"))).status).toBe(502);
    platform.inject({ method: "GET", status: 404, body: JSON.stringify({ code: 5, message: "Not Found", details: [] }) });
    expect((await call("GET", memberPath("b"))).status).toBe(502);
  });
});

describe("configuration of the current platform", () => {
  it("answers config_error naming the missing REST credentials while passes keep working", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const { app } = await import("../src/app.ts");
    const { createExecutionContext, waitOnExecutionContext } = await import("cloudflare:test");
    const bare = { ...env, PASSKIT_REST_KEY: undefined, PASSKIT_REST_SECRET: undefined };
    const ctx = createExecutionContext();
    const headers = { Authorization: (await import("./helpers.ts")).BASIC, "Content-Type": "application/json" };
    const member = await app.request("/v1/members", { method: "POST", headers, body: JSON.stringify(enrolment) }, bare, ctx);
    expect(member.status).toBe(500);
    const problem = await member.json<Problem>();
    expect(problem.code).toBe("config_error");
    expect(problem.detail).toContain("PASSKIT_REST_KEY and PASSKIT_REST_SECRET, or PASSKIT_REST_TOKEN");
    const pass = await app.request("/v1/passes", { method: "POST", headers, body: JSON.stringify(validCreate) }, bare, ctx);
    expect(pass.status).toBe(201);
    await waitOnExecutionContext(ctx);
    expect(platform.calls).toEqual([]);
    expect(passkit.passCount()).toBe(1);
    const health = await app.request("/health", {}, bare, createExecutionContext());
    expect(await health.json()).toMatchObject({ products: { passes: true, members: false, coupons: false } });
  });

  it("signs every call with its own bare JWT (uid, iat, exp) that the strict fake accepts", async () => {
    await call("POST", "/v1/members", { body: enrolment });
    await call("PUT", memberPath("user-123"), { body: { points: 5 } });
    expect(platform.calls.every((c) => c.authError === undefined)).toBe(true);
    const sent = vi
      .mocked(globalThis.fetch)
      .mock.calls.map(([input, init]) => new Request(input, init))
      .filter((r) => r.url.startsWith("http://[::1]:9/"));
    const tokens = sent.map((r) => r.headers.get("Authorization")!);
    expect(tokens.length).toBeGreaterThanOrEqual(3);
    for (const token of tokens) {
      expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      const claims = JSON.parse(atob(token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/")));
      expect(Object.keys(claims).sort()).toEqual(["exp", "iat", "uid"]);
      expect(claims.exp - claims.iat).toBeLessThanOrEqual(60);
      expect(Math.abs(claims.iat - Date.now() / 1000)).toBeLessThan(15);
    }
  });
});

describe("lifecycle events of member writes", () => {
  it("reach the Braze fake with product member and the program as campaign_name", async () => {
    await call("POST", "/v1/members", { body: enrolment });
    await call("PUT", memberPath("user-123"), { body: { points: 200 } });
    await call("DELETE", memberPath("user-123"));
    await consume(send.mock.calls.map(([body]) => body));
    expect(braze.events.map((e) => [e.name, e.external_id, e.properties.product, e.properties.campaign_name])).toEqual([
      ["passkit_pass_created", "user-123", "member", PROGRAM],
      ["passkit_pass_updated", "user-123", "member", PROGRAM],
      ["passkit_pass_invalidated", "user-123", "member", PROGRAM],
    ]);
  });
});

describe("X-Dry-Run on members", () => {
  it("shows the PassKit calls an update would make, with the merge noted, and sends nothing", async () => {
    const response = await call("PUT", memberPath("user-123"), {
      body: { metaData: { a: "1" }, points: 0, tierId: "gold" },
      headers: { "X-Dry-Run": "true" },
    });
    expect(response.status).toBe(200);
    const body = await response.json<{ passKitRequests: { method: string; path: string; note?: string }[] }>();
    expect(body.passKitRequests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "PUT /members/member",
      "PUT /members/member/points/set",
      "PUT /members/member/tier",
    ]);
    expect(body.passKitRequests[0]!.note).toContain("merged");
    expect(platform.calls).toEqual([]);
  });
});
