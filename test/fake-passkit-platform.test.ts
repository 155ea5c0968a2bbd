import { beforeEach, describe, expect, it } from "vitest";
import { FakePassKitPlatform, type FakePassKitPlatformOptions } from "../fakes/passkit-platform.ts";

/**
 * The fake of PassKit's current REST API is only worth its strictness: these tests call it directly
 * (no proxy) and pin what it refuses and how it answers (docs/upstreams.md, docs/contract.md §7).
 */

const ORIGIN = "https://api.pub1.passkit.io";
const API_KEY = "3tUmKdyGmBnVmlbbGEXamp";
const API_SECRET = "a-rest-api-secret-for-tests";
const PROGRAM = "prog-summer";
const CAMPAIGN = "camp-welcome";

let clock = Date.UTC(2026, 4, 10, 12, 0, 0);
let fake: FakePassKitPlatform;

function newFake(options: Partial<FakePassKitPlatformOptions> = {}): FakePassKitPlatform {
  const created = new FakePassKitPlatform({ apiKey: API_KEY, apiSecret: API_SECRET, now: () => clock, ...options });
  created.seed({ programs: { [PROGRAM]: ["base", "gold"] }, couponCampaigns: { [CAMPAIGN]: ["offer-10", "offer-20"] } });
  return created;
}

beforeEach(() => {
  clock = Date.UTC(2026, 4, 10, 12, 0, 0);
  fake = newFake();
});

// ---- A local signer: the proxy has its own, this one only has to be right. ----

function b64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function sign(claims: Record<string, unknown>, { secret = API_SECRET, alg = "HS256" } = {}): Promise<string> {
  const encode = (value: unknown) => b64url(new TextEncoder().encode(JSON.stringify(value)));
  const input = `${encode({ alg, typ: "JWT" })}.${encode(claims)}`;
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return `${input}.${b64url(new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(input))))}`;
}

const seconds = () => Math.floor(clock / 1000);
const freshToken = () => sign({ uid: API_KEY, iat: seconds() - 10, exp: seconds() + 30 });

interface SendOptions {
  /** The whole Authorization header; null sends none; default a fresh, valid JWT. */
  authorization?: string | null;
  signal?: AbortSignal;
}

async function send(method: string, path: string, body?: unknown, options: SendOptions = {}): Promise<Response> {
  const headers: Record<string, string> = {};
  const authorization = options.authorization === undefined ? await freshToken() : options.authorization;
  if (authorization !== null) headers.Authorization = authorization;
  let text: string | undefined;
  if (body !== undefined) {
    text = typeof body === "string" ? body : JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  return fake.handle(new Request(`${ORIGIN}${path}`, { method, headers, body: text, signal: options.signal }));
}

interface GrpcStatus {
  code: number;
  message: string;
  details: unknown[];
}

async function expectError(response: Response, status: number, code: number, message?: string | RegExp): Promise<GrpcStatus> {
  expect(response.status).toBe(status);
  expect(response.headers.get("Content-Type")).toBe("application/json");
  const body = await response.json<GrpcStatus>();
  expect(body).toEqual({ code, message: expect.any(String), details: [] });
  if (message !== undefined) expect(body.message).toMatch(message);
  return body;
}

async function enrol(fields: Record<string, unknown> = {}): Promise<string> {
  const response = await send("POST", "/members/member", { programId: PROGRAM, tierId: "base", ...fields });
  expect(response.status).toBe(200);
  return (await response.json<{ id: string }>()).id;
}

async function issueCoupon(fields: Record<string, unknown> = {}): Promise<string> {
  const response = await send("POST", "/coupon/singleUse/coupon", { campaignId: CAMPAIGN, offerId: "offer-10", ...fields });
  expect(response.status).toBe(200);
  return (await response.json<{ id: string }>()).id;
}

async function getMember(id: string): Promise<Record<string, unknown>> {
  const response = await send("GET", `/members/member/id/${id}`);
  expect(response.status).toBe(200);
  return response.json<Record<string, unknown>>();
}

function ndjson(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

// ---- Authentication ----

describe("the fake authenticates like PassKit's REST gateway", () => {
  it("accepts a bare HS256 JWT with uid, iat and exp, and records the call as an API call", async () => {
    const response = await send("POST", "/members/member", { programId: PROGRAM, tierId: "base", externalId: "u1" });
    expect(response.status).toBe(200);
    expect(fake.memberCount()).toBe(1);
    expect(fake.apiCalls("POST", "/members/member")).toHaveLength(1);
    expect(fake.calls[0]).toMatchObject({ method: "POST", url: `${ORIGIN}/members/member`, status: 200 });
    expect(fake.calls[0]?.authError).toBeUndefined();
  });

  const refused: { what: string; authorization: () => Promise<string | null>; message: string | RegExp }[] = [
    { what: "no Authorization header", authorization: async () => null, message: /not provided/ },
    { what: "a PKAuth prefix", authorization: async () => `PKAuth ${await freshToken()}`, message: "illegal base64 data at input byte 6" },
    {
      what: "v3 claims (key instead of uid)",
      authorization: () => sign({ key: API_KEY, iat: seconds() - 10, exp: seconds() + 30 }),
      message: /uid/,
    },
    {
      what: "another account's uid",
      authorization: () => sign({ uid: "someone-else", iat: seconds() - 10, exp: seconds() + 30 }),
      message: /uid/,
    },
    {
      what: "an iat in the future",
      authorization: () => sign({ uid: API_KEY, iat: seconds() + 2, exp: seconds() + 30 }),
      message: "Token used before issued",
    },
    {
      what: "an iat older than 60 s",
      authorization: () => sign({ uid: API_KEY, iat: seconds() - 61, exp: seconds() - 61 + 60 }),
      message: "jwt was issued too long ago",
    },
    {
      what: "an expired token",
      authorization: () => sign({ uid: API_KEY, iat: seconds() - 40, exp: seconds() - 1 }),
      message: "token is expired",
    },
    { what: "no exp", authorization: () => sign({ uid: API_KEY, iat: seconds() - 10 }), message: /exp/ },
    {
      what: "exp − iat over 60 s (a 1-hour token)",
      authorization: () => sign({ uid: API_KEY, iat: seconds() - 10, exp: seconds() + 3600 }),
      message: /60 seconds/,
    },
    {
      what: "a bad signature",
      authorization: () => sign({ uid: API_KEY, iat: seconds() - 10, exp: seconds() + 30 }, { secret: "not-the-secret" }),
      message: "signature is invalid",
    },
    {
      what: "alg HS512",
      authorization: () => sign({ uid: API_KEY, iat: seconds() - 10, exp: seconds() + 30 }, { alg: "HS512" }),
      message: /signing method/,
    },
    {
      what: "an empty signature",
      authorization: async () => `${(await freshToken()).split(".").slice(0, 2).join(".")}.`,
      message: /signature is invalid|signing method/,
    },
    {
      what: "Bearer <jwt>",
      authorization: async () => `Bearer ${await freshToken()}`,
      message: "tokenstring should not contain 'bearer '",
    },
    {
      what: "a Bearer token when no long-lived token is configured",
      authorization: async () => "Bearer some-long-lived-token",
      message: /long-lived/,
    },
  ];

  for (const { what, authorization, message } of refused) {
    it(`refuses ${what} with 401, code 16, WWW-Authenticate, and changes nothing`, async () => {
      const response = await send(
        "POST",
        "/members/member",
        { programId: PROGRAM, tierId: "base", externalId: "u1" },
        { authorization: await authorization() },
      );
      const body = await expectError(response, 401, 16, message);
      expect(response.headers.get("WWW-Authenticate")).toBe(body.message);
      expect(fake.memberCount()).toBe(0);
      expect(fake.apiCalls()).toHaveLength(0);
      expect(fake.calls[0]?.authError).toBe(body.message);
    });
  }

  it("accepts the window's edges: iat exactly now with a 60 s life, and iat 59 s old expiring in 1 s", async () => {
    expect(
      (
        await send("GET", "/members/member/id/x", undefined, {
          authorization: await sign({ uid: API_KEY, iat: seconds(), exp: seconds() + 60 }),
        })
      ).status,
    ).toBe(404);
    expect(
      (
        await send("GET", "/members/member/id/x", undefined, {
          authorization: await sign({ uid: API_KEY, iat: seconds() - 59, exp: seconds() + 1 }),
        })
      ).status,
    ).toBe(404);
    expect(fake.apiCalls()).toHaveLength(2);
  });

  it("judges time by its own clock, so a token signed for then is refused once the clock moves on", async () => {
    const token = await freshToken();
    clock += 31_000;
    await expectError(await send("GET", "/members/member/id/x", undefined, { authorization: token }), 401, 16, "token is expired");
  });

  it("accepts Bearer with the configured long-lived token, and only that one", async () => {
    fake = newFake({ longLivedToken: "pk-long-lived-0123456789" });
    expect(
      (await send("POST", "/members/member", { programId: PROGRAM, tierId: "base" }, { authorization: "Bearer pk-long-lived-0123456789" }))
        .status,
    ).toBe(200);
    await expectError(
      await send("POST", "/members/member", { programId: PROGRAM, tierId: "base" }, { authorization: "Bearer pk-long-lived-0123456788" }),
      401,
      16,
    );
    await expectError(
      await send("POST", "/members/member", { programId: PROGRAM, tierId: "base" }, { authorization: "pk-long-lived-0123456789" }),
      401,
      16,
    );
    expect((await send("POST", "/members/member", { programId: PROGRAM, tierId: "base" })).status).toBe(200);
    expect(fake.memberCount()).toBe(2);
  });
});

// ---- Routing ----

describe("the fake routes like grpc-gateway", () => {
  it("answers an unknown path 404 Not Found and a missing record 404 with a different message", async () => {
    const route = await expectError(await send("GET", "/members/member/external/prog/u1"), 404, 5, "Not Found");
    const record = await expectError(await send("GET", `/members/member/externalId/${PROGRAM}/nobody`), 404, 5);
    expect(record.message).toBe("member not found");
    expect(record.message).not.toBe(route.message);
    await expectError(await send("GET", "/coupon/singleUse/coupon/AAAAAAAAAAAAAAAAAAAAAA"), 404, 5, "coupon not found");
  });

  it("answers 501 Method Not Allowed for a method that only another pattern of the path takes", async () => {
    await expectError(await send("DELETE", "/coupon/singleUse/coupon/AAAAAAAAAAAAAAAAAAAAAA"), 501, 12, /^Method Not Allowed$/);
    await expectError(await send("GET", "/members/member"), 501, 12, /^Method Not Allowed$/);
    await expectError(await send("POST", "/members/member/id/AAAAAAAAAAAAAAAAAAAAAA", {}), 501, 12, /^Method Not Allowed$/);
    await expectError(await send("GET", "/coupon/singleUse/coupon/void"), 404, 5, "coupon not found");
  });

  it("percent-decodes the path before splitting it, so an externalId with / (even %2F) matches no route", async () => {
    await enrol({ externalId: "a/b" });
    await expectError(await send("GET", `/members/member/externalId/${PROGRAM}/a%2Fb`), 404, 5, /^Not Found$/);
    await expectError(await send("GET", `/members/member/externalId/${PROGRAM}/a/b`), 404, 5, /^Not Found$/);
    // Other escapes are decoded into the parameter.
    await enrol({ externalId: "user name+1@x" });
    const found = await send("GET", `/members/member/externalId/${PROGRAM}/${encodeURIComponent("user name+1@x")}`);
    expect(found.status).toBe(200);
    expect((await found.json<{ externalId: string }>()).externalId).toBe("user name+1@x");
  });

  it("answers a known route it does not model with 501 naming it, never a silent success", async () => {
    await expectError(await send("POST", "/members/member/checkIn", {}), 501, 12, /not modelled/);
  });
});

// ---- Bodies ----

describe("the fake reads bodies as protojson", () => {
  it("ignores unknown top-level fields", async () => {
    const id = await enrol({ externalId: "u1", favouriteColour: "teal", tierID: "gold" });
    expect((await getMember(id)).tierId).toBe("base");
  });

  const wrongMetaData: [string, unknown][] = [
    ["a number", { visits: 3 }],
    ["a boolean", { vip: true }],
    ["null", { tier: null }],
    ["a nested object", { address: { city: "Paris" } }],
    ["an array", { tags: ["a"] }],
  ];
  for (const [what, metaData] of wrongMetaData) {
    it(`refuses a metaData value that is ${what} with 400 proto: syntax error, storing nothing`, async () => {
      await expectError(
        await send("POST", "/members/member", { programId: PROGRAM, tierId: "base", externalId: "u1", metaData }),
        400,
        3,
        /^proto: syntax error/,
      );
      expect(fake.memberCount()).toBe(0);
      await expectError(
        await send("POST", "/coupon/singleUse/coupon", { campaignId: CAMPAIGN, offerId: "offer-10", metaData }),
        400,
        3,
        /^proto: syntax error/,
      );
      expect(fake.couponCount()).toBe(0);
    });
  }

  it("refuses a non-string metaData value in an update and leaves the stored map alone", async () => {
    const id = await enrol({ externalId: "u1", metaData: { level: "1" } });
    const before = await getMember(id);
    await expectError(await send("PUT", "/members/member", { id, metaData: { level: 2 } }), 400, 3, /metaData\.level/);
    expect(await getMember(id)).toEqual(before);
  });

  const wrongShapes: [string, Record<string, unknown>][] = [
    ["points as a string", { points: "10" }],
    ["negative points", { points: -1 }],
    ["tierPoints with a fraction", { tierPoints: 1.5 }],
    ["dateOfBirth as a string", { person: { dateOfBirth: "1990-04-01" } }],
    ["an unknown gender", { person: { gender: "OTHER" } }],
    ["an unknown status", { status: "VIP" }],
    ["expiryDate without an offset", { expiryDate: "2026-06-01T00:00:00" }],
    ["expiryDate on a day that does not exist", { expiryDate: "2026-02-30T00:00:00Z" }],
    ["optOut as a string", { optOut: "true" }],
    ["an invalid email", { person: { emailAddress: "not-an-email" } }],
    ["metaData as an array", { metaData: ["a"] }],
  ];
  for (const [what, fields] of wrongShapes) {
    it(`refuses ${what} with 400, code 3`, async () => {
      await expectError(await send("POST", "/members/member", { programId: PROGRAM, tierId: "base", ...fields }), 400, 3);
      expect(fake.memberCount()).toBe(0);
    });
  }

  it("accepts enum numbers and answers names; normalises expiryDate to UTC", async () => {
    const id = await enrol({
      status: 1,
      person: { gender: 2, dateOfBirth: { year: 1990, month: 4, day: 1 } },
      expiryDate: "2026-06-01T02:00:00+02:00",
    });
    const member = await getMember(id);
    expect(member).toMatchObject({ status: "ACTIVE", expiryDate: "2026-06-01T00:00:00Z" });
    expect(member.person).toMatchObject({ gender: "FEMALE", dateOfBirth: { year: 1990, month: 4, day: 1 } });
  });

  it("refuses a body that is not JSON, or not an object, with 400", async () => {
    await expectError(await send("POST", "/members/member", "programId=prog"), 400, 3);
    await expectError(await send("POST", "/members/member", "[]"), 400, 3, /proto: syntax error/);
    await expectError(await send("PUT", "/members/member", "null"), 400, 3);
    expect(fake.memberCount()).toBe(0);
  });
});

// ---- Members ----

describe("members", () => {
  it("answers every Member field with zero values (EmitUnpopulated)", async () => {
    const id = await enrol({ externalId: "u1" });
    expect(id).toMatch(/^[0-9A-Za-z]{22}$/);
    const at = "2026-05-10T12:00:00Z";
    expect(await getMember(id)).toStrictEqual({
      id,
      externalId: "u1",
      groupingIdentifier: "",
      tierId: "base",
      programId: PROGRAM,
      person: null,
      metaData: {},
      optOut: false,
      points: 0,
      secondaryPoints: 0,
      tierPoints: 0,
      expiryDate: null,
      status: "ENROLLED",
      passOverrides: null,
      passMetaData: {
        status: "PASS_ISSUED",
        lifecycleEvents: [],
        utm: null,
        altId: "",
        issueIpAddress: "",
        installIpAddress: "",
        renderLocation: null,
        renderIpAddress: "",
        installUserAgent: "",
        renderUserAgent: "",
        installDeviceAttributes: [],
        renderDeviceAttributes: [],
        issueAt: null,
        renderedAt: null,
        firstInstalledAt: null,
        lastInstalledAt: null,
        firstUninstalledAt: null,
        lastUninstalledAt: null,
        invalidatedAt: null,
        lastUpdatedAt: null,
      },
      notes: [],
      currentTierAwarded: null,
      currentTierExpires: null,
      created: at,
      updated: at,
      profileImage: "",
      operation: "OPERATION_DO_NOT_USE",
    });
  });

  it("answers every Person field once a person is set", async () => {
    const id = await enrol({ person: { displayName: "Ada", emailAddress: "ada@example.com" } });
    expect((await getMember(id)).person).toStrictEqual({
      surname: "",
      forename: "",
      otherNames: [],
      salutation: "",
      suffix: "",
      displayName: "Ada",
      gender: "NOT_KNOWN",
      dateOfBirth: null,
      emailAddress: "ada@example.com",
      mobileNumber: "",
      externalId: "",
      externalIds: {},
    });
  });

  it("finds a member by externalId within its program, and findMember shows the same record", async () => {
    const id = await enrol({ externalId: "u1", metaData: { level: "1" } });
    const response = await send("GET", `/members/member/externalId/${PROGRAM}/u1`);
    expect(response.status).toBe(200);
    const member = await response.json<Record<string, unknown>>();
    expect(member).toMatchObject({ id, externalId: "u1", metaData: { level: "1" } });
    expect(fake.findMember(PROGRAM, "u1")).toEqual(member);
  });

  it("answers 409 AlreadyExists to a second enrolment with the same externalId in the program", async () => {
    await enrol({ externalId: "u1" });
    await expectError(await send("POST", "/members/member", { programId: PROGRAM, tierId: "gold", externalId: "u1" }), 409, 6);
    expect(fake.memberCount()).toBe(1);
    expect(fake.findMember(PROGRAM, "u1")?.tierId).toBe("base");
  });

  it("answers 404 to an enrolment into an unknown program or tier, and 400 without them", async () => {
    await expectError(
      await send("POST", "/members/member", { programId: "no-such-program", tierId: "base", externalId: "u1" }),
      404,
      5,
      "program not found",
    );
    await expectError(
      await send("POST", "/members/member", { programId: PROGRAM, tierId: "platinum", externalId: "u1" }),
      404,
      5,
      "tier not found",
    );
    await expectError(await send("POST", "/members/member", { programId: PROGRAM, externalId: "u1" }), 400, 3, /TierId/);
    await expectError(await send("POST", "/members/member", { tierId: "base", externalId: "u1" }), 400, 3, /ProgramId/);
    expect(fake.memberCount()).toBe(0);
  });

  it("replaces the whole metaData map on PUT, ignores falsey values and tierId, and answers {id}", async () => {
    const id = await enrol({
      externalId: "u1",
      metaData: { barcode: "B-1", level: "1" },
      points: 50,
      optOut: true,
      groupingIdentifier: "family",
    });
    const response = await send("PUT", "/members/member", {
      externalId: "u1",
      programId: PROGRAM,
      tierId: "gold",
      metaData: { level: "2" },
      points: 0,
      optOut: false,
      groupingIdentifier: "",
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ id });
    expect(await getMember(id)).toMatchObject({
      metaData: { level: "2" },
      points: 50,
      optOut: true,
      groupingIdentifier: "family",
      tierId: "base",
    });
  });

  it("ignores an empty metaData map, which proto3 cannot tell from an absent one", async () => {
    const id = await enrol({ metaData: { barcode: "B-1" } });
    expect((await send("PUT", "/members/member", { id, metaData: {} })).status).toBe(200);
    expect((await getMember(id)).metaData).toEqual({ barcode: "B-1" });
  });

  it("writes every field, zeros included, with operation OPERATION_PUT", async () => {
    const id = await enrol({ metaData: { barcode: "B-1" }, points: 50, optOut: true, person: { displayName: "Ada" } });
    expect((await send("PUT", "/members/member", { id, operation: "OPERATION_PUT", points: 5 })).status).toBe(200);
    expect(await getMember(id)).toMatchObject({ metaData: {}, points: 5, optOut: false, person: null });
  });

  it("changes updated on every write and never created", async () => {
    const id = await enrol({ externalId: "u1" });
    const first = await getMember(id);
    await send("PUT", "/members/member", { id, metaData: { a: "1" } });
    const second = await getMember(id);
    clock += 5_000;
    await send("PUT", "/members/member/points/earn", { id, points: 1 });
    const third = await getMember(id);
    expect(second.created).toBe(first.created);
    expect(third.created).toBe(first.created);
    expect(Date.parse(String(second.updated))).toBeGreaterThan(Date.parse(String(first.updated)));
    expect(third.updated).toBe("2026-05-10T12:00:05Z");
  });

  it("needs id, or externalId with programId, to update", async () => {
    await enrol({ externalId: "u1" });
    await expectError(await send("PUT", "/members/member", { externalId: "u1", metaData: { a: "1" } }), 400, 3, /ProgramId/);
    await expectError(await send("PUT", "/members/member", { metaData: { a: "1" } }), 400, 3);
    await expectError(
      await send("PUT", "/members/member", { id: "AAAAAAAAAAAAAAAAAAAAAA", metaData: { a: "1" } }),
      404,
      5,
      "member not found",
    );
  });

  it("leaves points alone when set sends points 0 without resetPoints, and sets 0 with it", async () => {
    const id = await enrol({ externalId: "u1", points: 120, tierPoints: 7 });
    const unchanged = await send("PUT", "/members/member/points/set", { id, points: 0, tierPoints: 9 });
    expect(unchanged.status).toBe(200);
    expect(await unchanged.json()).toEqual({ id, externalId: "u1", programId: PROGRAM, points: 120, secondaryPoints: 0, tierPoints: 9 });
    const reset = await send("PUT", "/members/member/points/set", { externalId: "u1", programId: PROGRAM, points: 0, resetPoints: true });
    expect(await reset.json()).toMatchObject({ points: 0, tierPoints: 9 });
    expect((await getMember(id)).points).toBe(0);
  });

  it("answers 400 to a points set with nothing to set", async () => {
    const id = await enrol({ points: 5 });
    await expectError(await send("PUT", "/members/member/points/set", { id, points: 0 }), 400, 3, /required_without_all/);
    expect((await getMember(id)).points).toBe(5);
  });

  it("earns and burns non-negative amounts, refuses a burn below zero, and keeps float32 points", async () => {
    const id = await enrol({ points: 10 });
    expect(await (await send("PUT", "/members/member/points/earn", { id, points: 2.5 })).json()).toMatchObject({ points: 12.5 });
    expect(await (await send("PUT", "/members/member/points/burn", { id, points: 0.1 })).json()).toMatchObject({ points: 12.4 });
    await expectError(await send("PUT", "/members/member/points/burn", { id, points: 100 }), 400, 9);
    await expectError(await send("PUT", "/members/member/points/earn", { id, points: -5 }), 400, 3, /gte/);
    await expectError(await send("PUT", "/members/member/points/earn", { id }), 400, 3);
    expect((await getMember(id)).points).toBe(12.4);
  });

  it("changes the tier only through the tier route, with memberId / externalMemberId", async () => {
    const id = await enrol({ externalId: "u1" });
    const byId = await send("PUT", "/members/member/tier", { memberId: id, tierId: "gold" });
    expect(byId.status).toBe(200);
    expect(await byId.json()).toMatchObject({
      id: expect.stringMatching(/^[0-9A-Za-z]{22}$/),
      eventType: "EVENT_MEMBER_TIER_CHANGED",
      member: { id, externalId: "u1", tierId: "gold", programId: PROGRAM, groupingIdentifier: "", person: null },
      metaData: {},
    });
    expect(await getMember(id)).toMatchObject({ tierId: "gold", currentTierAwarded: "2026-05-10T12:00:00Z" });
    expect((await send("PUT", "/members/member/tier", { externalMemberId: "u1", programId: PROGRAM, tierId: "base" })).status).toBe(200);
    await expectError(await send("PUT", "/members/member/tier", { id, tierId: "gold" }), 400, 3, /MemberId/);
    await expectError(await send("PUT", "/members/member/tier", { memberId: id, tierId: "platinum" }), 404, 5, "tier not found");
    expect((await getMember(id)).tierId).toBe("base");
  });

  it("patches only the person fields sent, naming the program classId", async () => {
    const id = await enrol({ externalId: "u1", person: { forename: "Ada", surname: "Lovelace", emailAddress: "ada@example.com" } });
    const response = await send("PATCH", "/members/member/person", {
      externalId: "u1",
      classId: PROGRAM,
      person: { surname: "King", forename: "" },
    });
    expect(await response.json()).toEqual({ id });
    expect((await getMember(id)).person).toMatchObject({ forename: "Ada", surname: "King", emailAddress: "ada@example.com" });
    await expectError(
      await send("PATCH", "/members/member/person", { externalId: "u1", programId: PROGRAM, person: { surname: "X" } }),
      400,
      3,
      /ClassId/,
    );
  });

  it("sets the expiry through updateExpiry", async () => {
    const id = await enrol({ externalId: "u1" });
    expect(
      (await send("PUT", "/members/member/updateExpiry", { externalId: "u1", programId: PROGRAM, expiryDate: "2026-12-31T23:59:59Z" }))
        .status,
    ).toBe(200);
    expect((await getMember(id)).expiryDate).toBe("2026-12-31T23:59:59Z");
    await expectError(await send("PUT", "/members/member/updateExpiry", { id }), 400, 3, /ExpiryDate/);
  });

  it("answers 400 to a DELETE without a body, and deletes with {id} or {externalId, programId}", async () => {
    const first = await enrol({ externalId: "u1" });
    await enrol({ externalId: "u2" });
    await expectError(await send("DELETE", "/members/member"), 400, 3);
    await expectError(await send("DELETE", "/members/member", "id=x"), 400, 3);
    expect(fake.memberCount()).toBe(2);
    const byId = await send("DELETE", "/members/member", { id: first });
    expect(byId.status).toBe(200);
    expect(await byId.json()).toEqual({});
    expect((await send("DELETE", "/members/member", { externalId: "u2", programId: PROGRAM })).status).toBe(200);
    expect(fake.memberCount()).toBe(0);
    await expectError(await send("GET", `/members/member/id/${first}`), 404, 5, "member not found");
  });

  it("lists by an externalId filter as NDJSON, which finds a member with / in its externalId", async () => {
    const id = await enrol({ externalId: "team/a" });
    await enrol({ externalId: "team" });
    const filters = {
      limit: 2,
      filterGroups: [{ condition: "AND", fieldFilters: [{ filterField: "externalId", filterValue: "team/a", filterOperator: "eq" }] }],
    };
    const response = await send("POST", `/members/member/list/${PROGRAM}`, { filters });
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text.endsWith("\n")).toBe(true);
    const lines = ndjson(text);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toEqual({ result: await getMember(id) });
    const none = await send("POST", `/members/member/list/${PROGRAM}`, {
      filters: { filterGroups: [{ fieldFilters: [{ filterField: "externalId", filterValue: "nobody", filterOperator: "eq" }] }] },
    });
    expect(none.status).toBe(200);
    expect(await none.text()).toBe("");
    expect(ndjson(await (await send("POST", `/members/member/list/${PROGRAM}`, {})).text())).toHaveLength(2);
  });

  it("answers a list of an unknown program with an error line and the status it sets", async () => {
    const response = await send("POST", "/members/member/list/no-such-program", { filters: {} });
    expect(response.status).toBe(404);
    expect(ndjson(await response.text())).toEqual([{ error: { code: 5, message: "program not found", details: [] } }]);
    const unsupported = await send("POST", `/members/member/list/${PROGRAM}`, {
      filters: { filterGroups: [{ fieldFilters: [{ filterField: "externalId", filterValue: "x", filterOperator: "like" }] }] },
    });
    expect(unsupported.status).toBe(400);
    expect(ndjson(await unsupported.text())[0]).toMatchObject({ error: { code: 3 } });
  });

  it("shows what the wallet did through setPassStatus", async () => {
    const id = await enrol({ externalId: "u1" });
    fake.setPassStatus("member", id, "PASS_INSTALLED");
    expect((await getMember(id)).passMetaData).toMatchObject({
      status: "PASS_INSTALLED",
      firstInstalledAt: "2026-05-10T12:00:00Z",
      lastInstalledAt: "2026-05-10T12:00:00Z",
    });
    clock += 60_000;
    fake.setPassStatus("member", id, "PASS_UNINSTALLED");
    expect(fake.findMember(PROGRAM, "u1")?.passMetaData).toMatchObject({
      status: "PASS_UNINSTALLED",
      firstInstalledAt: "2026-05-10T12:00:00Z",
      lastUninstalledAt: "2026-05-10T12:01:00Z",
    });
    expect(() => fake.setPassStatus("coupon", id, "PASS_INSTALLED")).toThrow();
  });
});

// ---- Coupons ----

describe("single-use coupons", () => {
  it("answers every Coupon field with zero values, and finds it by campaign and externalId", async () => {
    const id = await issueCoupon({ externalId: "u1" });
    const response = await send("GET", `/coupon/singleUse/coupon/externalId/${CAMPAIGN}/u1`);
    expect(response.status).toBe(200);
    const coupon = await response.json<Record<string, unknown>>();
    expect(coupon).toStrictEqual({
      id,
      externalId: "u1",
      offerId: "offer-10",
      campaignId: CAMPAIGN,
      person: null,
      metaData: {},
      sku: "",
      optOut: false,
      status: "UNREDEEMED",
      expiryDate: null,
      redemptionDetails: null,
      passOverrides: null,
      passMetaData: expect.objectContaining({
        status: "PASS_ISSUED",
        lifecycleEvents: [],
        installDeviceAttributes: [],
        firstInstalledAt: null,
      }),
      created: "2026-05-10T12:00:00Z",
      updated: "2026-05-10T12:00:00Z",
    });
    expect(fake.findCoupon(CAMPAIGN, "u1")).toEqual(coupon);
  });

  it("answers 409 to a duplicate externalId in a campaign and 404 to an unknown campaign or offer", async () => {
    await issueCoupon({ externalId: "u1" });
    await expectError(
      await send("POST", "/coupon/singleUse/coupon", { campaignId: CAMPAIGN, offerId: "offer-20", externalId: "u1" }),
      409,
      6,
    );
    await expectError(
      await send("POST", "/coupon/singleUse/coupon", { campaignId: "no-such-campaign", offerId: "offer-10", externalId: "u2" }),
      404,
      5,
      "campaign not found",
    );
    await expectError(
      await send("POST", "/coupon/singleUse/coupon", { campaignId: CAMPAIGN, offerId: "offer-99", externalId: "u2" }),
      404,
      5,
      "offer not found",
    );
    await expectError(await send("POST", "/coupon/singleUse/coupon", { campaignId: CAMPAIGN, externalId: "u2" }), 400, 3, /OfferId/);
    expect(fake.couponCount()).toBe(1);
  });

  it("updates by campaignId and externalId, replacing metaData whole", async () => {
    const id = await issueCoupon({ externalId: "u1", metaData: { code: "C-1", value: "10" }, sku: "SKU-1" });
    const response = await send("PUT", "/coupon/singleUse/coupon", {
      campaignId: CAMPAIGN,
      externalId: "u1",
      metaData: { value: "20" },
      sku: "",
      expiryDate: "2026-06-01T00:00:00Z",
    });
    expect(await response.json()).toEqual({ id });
    expect(fake.findCoupon(CAMPAIGN, "u1")).toMatchObject({ metaData: { value: "20" }, sku: "SKU-1", expiryDate: "2026-06-01T00:00:00Z" });
    await expectError(await send("PUT", "/coupon/singleUse/coupon", { externalId: "u1", sku: "x" }), 400, 3, /CampaignId/);
  });

  it("redeems once: the second redeem is 400 FailedPrecondition and the coupon stays REDEEMED", async () => {
    const id = await issueCoupon({ externalId: "u1" });
    clock += 1_000;
    const first = await send("PUT", "/coupon/singleUse/coupon/redeem", {
      id,
      redemptionDetails: { redemptionCode: "R-1", transactionAmount: 12.5 },
    });
    expect(await first.json()).toEqual({ id });
    const redeemed = fake.findCoupon(CAMPAIGN, "u1");
    expect(redeemed).toMatchObject({ status: "REDEEMED" });
    expect(redeemed?.redemptionDetails).toStrictEqual({
      redemptionDate: "2026-05-10T12:00:01Z",
      redemptionCode: "R-1",
      lat: 0,
      lon: 0,
      alt: 0,
      redemptionSource: "",
      redemptionReference: "",
      transactionReference: "",
      transactionAmount: 12.5,
      metaData: {},
    });
    clock += 1_000;
    await expectError(
      await send("PUT", "/coupon/singleUse/coupon/redeem", { campaignId: CAMPAIGN, externalId: "u1" }),
      400,
      9,
      "coupon already redeemed",
    );
    await expectError(await send("PUT", "/coupon/singleUse/coupon", { id, metaData: { a: "1" } }), 400, 9);
    await expectError(await send("PATCH", "/coupon/singleUse/coupon/person", { id, person: { displayName: "X" } }), 400, 9);
    expect(fake.findCoupon(CAMPAIGN, "u1")).toEqual(redeemed);
  });

  it("voids with a JSON body: the record is gone and a later GET is 404", async () => {
    const id = await issueCoupon({ externalId: "u1" });
    await expectError(await send("DELETE", "/coupon/singleUse/coupon"), 400, 3);
    const voided = await send("DELETE", "/coupon/singleUse/coupon", { campaignId: CAMPAIGN, externalId: "u1" });
    expect(voided.status).toBe(200);
    expect(await voided.json()).toEqual({});
    expect(fake.couponCount()).toBe(0);
    await expectError(await send("GET", `/coupon/singleUse/coupon/${id}`), 404, 5, "coupon not found");
    await expectError(await send("GET", `/coupon/singleUse/coupon/externalId/${CAMPAIGN}/u1`), 404, 5, "coupon not found");
    // The externalId is free again.
    await issueCoupon({ externalId: "u1" });
  });

  it("patches a coupon's person by classId and lists coupons as NDJSON", async () => {
    const id = await issueCoupon({ externalId: "u1", person: { forename: "Ada" } });
    await issueCoupon({ externalId: "u2", offerId: "offer-20" });
    expect(
      (await send("PATCH", "/coupon/singleUse/coupon/person", { externalId: "u1", classId: CAMPAIGN, person: { surname: "Lovelace" } }))
        .status,
    ).toBe(200);
    expect(fake.findCoupon(CAMPAIGN, "u1")?.person).toMatchObject({ forename: "Ada", surname: "Lovelace" });
    const filters = {
      filterGroups: [
        {
          condition: "OR",
          fieldFilters: [
            { filterField: "externalId", filterValue: "u1", filterOperator: "eq" },
            { filterField: "offerId", filterValue: "nothing", filterOperator: "eq" },
          ],
        },
      ],
    };
    const lines = ndjson(await (await send("POST", `/coupon/singleUse/coupons/list/${CAMPAIGN}`, { filters })).text());
    expect(lines.map((line) => (line.result as { id: string }).id)).toEqual([id]);
    const unknown = await send("POST", "/coupon/singleUse/coupons/list/no-such-campaign", {});
    expect(unknown.status).toBe(404);
    expect(ndjson(await unknown.text())).toEqual([{ error: { code: 5, message: "campaign not found", details: [] } }]);
  });
});

// ---- Faults and state ----

describe("fault injection and test controls", () => {
  it("answers an injected status with a gRPC-style body after auth, and only to matching requests", async () => {
    fake.inject({ method: "POST", pathIncludes: "/members/member", status: 503 });
    await expectError(await send("POST", "/members/member", { programId: PROGRAM, tierId: "base" }, { authorization: null }), 401, 16);
    await expectError(await send("POST", "/members/member", { programId: PROGRAM, tierId: "base" }), 503, 14, "injected 503");
    expect(fake.memberCount()).toBe(0);
    expect((await send("POST", "/members/member", { programId: PROGRAM, tierId: "base" })).status).toBe(200);
  });

  it("answers a malformed fault with 200 and a body that is not JSON", async () => {
    fake.inject({ malformed: true });
    const response = await send("GET", "/members/member/id/x");
    expect(response.status).toBe(200);
    await expect(response.clone().json()).rejects.toThrow();
  });

  it("can lose the answer after the write is done (afterProcessing), so a retry meets 409", async () => {
    fake.inject({ method: "POST", status: 504, afterProcessing: true });
    expect((await send("POST", "/members/member", { programId: PROGRAM, tierId: "base", externalId: "u1" })).status).toBe(504);
    expect(fake.memberCount()).toBe(1);
    await expectError(await send("POST", "/members/member", { programId: PROGRAM, tierId: "base", externalId: "u1" }), 409, 6);
  });

  it("honours the caller's abort during injected latency", async () => {
    fake.inject({ latencyMs: 5_000 });
    const controller = new AbortController();
    const pending = send("GET", "/members/member/id/x", undefined, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error("caller gave up")), 10);
    await expect(pending).rejects.toThrow("caller gave up");
  });

  it("reset forgets calls, records and faults but keeps the seeded catalog", async () => {
    await enrol({ externalId: "u1" });
    await issueCoupon({ externalId: "u1" });
    fake.inject({ status: 500, times: 5 });
    fake.reset();
    expect(fake.calls).toHaveLength(0);
    expect(fake.memberCount() + fake.couponCount()).toBe(0);
    await enrol({ externalId: "u1" });
    await issueCoupon({ externalId: "u1" });
    expect(fake.state()).toMatchObject({ counts: { members: 1, coupons: 1 }, calls: [{ status: 200 }, { status: 200 }] });
  });
});
