import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { app } from "../src/app.ts";
import { decodeBasicAuthorization, matchCredential } from "../src/auth/basic-auth.ts";
import type { Credential } from "../src/config/config.ts";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { ledger } from "../src/lifecycle/ledger.ts";
import { BASIC, call, installPassKit, OPERATOR_BASIC, passPath, resetAll, validCreate, WEBHOOK_BASIC } from "./helpers.ts";
import { TEST_SECRETS } from "./secrets.ts";

afterEach(async () => {
  vi.restoreAllMocks();
  await resetAll();
});

/** Routes anyone may call (contract §2); every other route must demand credentials. */
const PUBLIC_ROUTES = new Set(["GET /health", "GET /openapi.json"]);

const [BRAZE_LINE, ROTATING_LINE] = TEST_SECRETS.PROXY_CREDENTIALS.split("\n") as [string, string];
const basic = (userPass: string) => `Basic ${btoa(userPass)}`;

/** Every outbound request the Worker made while the PassKit fake's fetch spy was installed. */
function outboundRequests(): Request[] {
  return vi.mocked(globalThis.fetch).mock.calls.map(([input, init]) => new Request(input, init));
}

/** Everything in the 401 body but the per-request id: what must be the same for every failure. */
async function unauthorizedShape(response: Response) {
  const body = (await response.json()) as Record<string, unknown>;
  expect(body.requestId).toBe(response.headers.get("X-Request-Id"));
  const { requestId: _requestId, ...rest } = body;
  return {
    status: response.status,
    contentType: response.headers.get("Content-Type"),
    wwwAuthenticate: response.headers.get("WWW-Authenticate"),
    body: rest,
  };
}

const EXPECTED_401 = {
  status: 401,
  contentType: "application/problem+json",
  wwwAuthenticate: expect.stringMatching(/^Basic realm="[^"]+"/),
  body: {
    type: "urn:braze-passkit-proxy:problem:unauthorized",
    title: "Unauthorized",
    status: 401,
    code: "unauthorized",
    detail: "Valid HTTP Basic credentials are required.",
  },
};

async function kvKeys(): Promise<string[]> {
  return (await env.PASS_CACHE.list()).keys.map((key) => key.name);
}

/** A concrete path for a Hono route pattern: every `:param` (with optional regex) and `*` filled in. */
function samplePath(pattern: string): string {
  return pattern.replace(/:[A-Za-z_][A-Za-z0-9_]*(\{[^}]*\})?\??/g, "sample-value").replace(/\*/g, "sample-value");
}

/** The app's routes as `METHOD /path`, from Hono's own table, so a route added later is covered. */
function protectedRoutes(): { method: string; path: string }[] {
  const seen = new Set<string>();
  const routes: { method: string; path: string }[] = [];
  for (const route of app.routes) {
    // `app.use()` middleware is registered as method ALL on a wildcard path; it is not an endpoint.
    // An `app.all()` handler on a concrete path is one, so it is probed with GET and POST.
    if (route.method === "ALL" && route.path.endsWith("*")) continue;
    const methods = route.method === "ALL" ? ["GET", "POST"] : [route.method];
    for (const method of methods) {
      const key = `${method} ${route.path}`;
      if (PUBLIC_ROUTES.has(key) || seen.has(key)) continue;
      seen.add(key);
      routes.push({ method, path: route.path });
    }
  }
  return routes;
}

describe("every Braze-facing and operator route requires credentials", () => {
  it("the route table walked includes the pass routes (so the walk below is not vacuous)", () => {
    const keys = protectedRoutes().map((route) => `${route.method} ${route.path}`);
    expect(keys).toEqual(
      expect.arrayContaining([
        "POST /v1/passes",
        "GET /v1/passes/:campaignName/:userDefinedId",
        "PUT /v1/passes/:campaignName/:userDefinedId",
        "DELETE /v1/passes/:campaignName/:userDefinedId",
      ]),
    );
    for (const key of PUBLIC_ROUTES) {
      const [method, path] = key.split(" ");
      expect(
        app.routes.some((route) => route.method === method && route.path === path),
        key,
      ).toBe(true);
    }
  });

  it("a caller without credentials gets the same 401 from every non-public route and nothing reaches PassKit or the cache", async () => {
    const passkit = installPassKit();
    const keysBefore = await kvKeys();
    for (const { method, path } of protectedRoutes()) {
      const concrete = samplePath(path);
      const hasBody = method === "POST" || method === "PUT" || method === "PATCH";
      const response = await call(method, concrete, { auth: null, body: hasBody ? validCreate : undefined });
      expect(await unauthorizedShape(response), `${method} ${concrete}`).toEqual(EXPECTED_401);
    }
    expect(passkit.calls).toEqual([]);
    expect(outboundRequests()).toEqual([]);
    expect(await kvKeys()).toEqual(keysBefore);
  });

  it("a HEAD request to a protected GET route is refused too, not answered as a bodiless GET", async () => {
    installPassKit();
    for (const { path } of protectedRoutes().filter((route) => route.method === "GET")) {
      const response = await call("HEAD", samplePath(path), { auth: null });
      expect(response.status, path).toBe(401);
      expect(response.headers.get("WWW-Authenticate"), path).toMatch(/^Basic /);
    }
    expect(outboundRequests()).toEqual([]);
  });

  it.each([
    "/v1/passes/",
    "/v1/passes/summer-loyalty/user-123/",
    "/v1/passes/summer-loyalty/user-123/extra",
    "/v1//passes/summer-loyalty/user-123",
    "/v1/passes/%2e%2e/passes/summer-loyalty/user-123",
    "/v1/passes/..%2f..%2fhealth/x",
  ])("an odd path such as %s is never served without credentials", async (path) => {
    installPassKit();
    for (const method of ["GET", "POST", "PUT", "DELETE"]) {
      const response = await call(method, path, { auth: null, body: method === "POST" || method === "PUT" ? validCreate : undefined });
      expect([401, 404], `${method} ${path}`).toContain(response.status);
    }
    expect(outboundRequests()).toEqual([]);
  });

  it("the public routes answer without credentials", async () => {
    installPassKit();
    for (const key of PUBLIC_ROUTES) {
      const [method, path] = key.split(" ") as [string, string];
      const response = await call(method, path, { auth: null });
      expect(response.status, key).toBe(200);
    }
    expect(outboundRequests()).toEqual([]);
  });
});

describe("a bad credential learns nothing and costs nothing upstream", () => {
  const nonUtf8 = `Basic ${btoa("braze:correct horse battery staple\xff\xfe")}`;
  const cases: [string, string | null][] = [
    ["no Authorization header", null],
    ["the Bearer scheme with the right secret", `Bearer ${btoa(BRAZE_LINE)}`],
    ["the right secret without any scheme", btoa(BRAZE_LINE)],
    ["base64 that does not decode", "Basic !!not*base64!!"],
    ["base64 with broken padding", "Basic YnJhemU6eA="],
    ["an empty Basic value", "Basic "],
    ["a credential without a colon", basic("brazecorrect horse battery staple")],
    ["a wrong password", basic("braze:correct horse battery stapler")],
    ["a wrong user", basic("brazer:correct horse battery staple")],
    ["the right password for the other user", basic("rotating:correct horse battery staple")],
    ["the other user's password for this user", basic("braze:new:pass:with:colons")],
    ["an empty password", basic("braze:")],
    ["an empty user and password", basic(":")],
    ["a prefix of the right credential", basic(BRAZE_LINE.slice(0, -1))],
    ["a prefix of the rotating credential cut at a colon", basic("rotating:new:pass")],
    ["the right credential with a trailing newline", basic(`${BRAZE_LINE}\n`)],
    ["the right credential in upper case", basic(BRAZE_LINE.toUpperCase())],
    ["both lines of PROXY_CREDENTIALS at once", basic(TEST_SECRETS.PROXY_CREDENTIALS)],
    ["bytes that are not UTF-8", nonUtf8],
  ];

  it.each(cases)("%s gets the one 401 answer and PassKit is never called", async (_name, auth) => {
    const passkit = installPassKit();
    const response = await call("POST", "/v1/passes", { auth, body: validCreate });
    expect(await unauthorizedShape(response)).toEqual(EXPECTED_401);
    expect(passkit.calls).toEqual([]);
    expect(outboundRequests()).toEqual([]);
  });

  it("the 401 for a wrong password is byte-for-byte the 401 for no header at all (but the request id)", async () => {
    installPassKit();
    const strip = async (response: Response) => {
      const headers = Object.fromEntries([...response.headers].filter(([name]) => name !== "x-request-id"));
      const { requestId: _requestId, ...body } = (await response.json()) as Record<string, unknown>;
      return { status: response.status, headers, body };
    };
    const none = await strip(await call("GET", passPath("summer-loyalty", "user-123"), { auth: null }));
    const wrong = await strip(await call("GET", passPath("summer-loyalty", "user-123"), { auth: basic("braze:nope") }));
    expect(wrong).toEqual(none);
  });
});

describe("valid credentials", () => {
  it("both lines of PROXY_CREDENTIALS are accepted, so a password can be rotated without downtime", async () => {
    const passkit = installPassKit();
    const first = await call("POST", "/v1/passes", { auth: basic(BRAZE_LINE), body: { ...validCreate, userDefinedId: "user-old-line" } });
    expect(first.status, await first.clone().text()).toBe(201);
    const second = await call("POST", "/v1/passes", {
      auth: basic(ROTATING_LINE),
      body: { ...validCreate, userDefinedId: "user-new-line" },
    });
    expect(second.status, await second.clone().text()).toBe(201);
    expect(passkit.findPass(validCreate.campaignName, "user-old-line")).toBeDefined();
    expect(passkit.findPass(validCreate.campaignName, "user-new-line")).toBeDefined();
  });

  it("a password that itself contains ':' is accepted whole", async () => {
    expect(ROTATING_LINE).toBe("rotating:new:pass:with:colons");
    installPassKit();
    const response = await call("DELETE", passPath("summer-loyalty", "user-123"), {
      auth: basic(ROTATING_LINE),
      headers: { "X-Dry-Run": "true" },
    });
    expect(response.status, await response.clone().text()).toBe(200);
    expect(outboundRequests()).toEqual([]);
  });

  it("the scheme name is case-insensitive, as RFC 7617 says", async () => {
    installPassKit();
    for (const scheme of ["basic", "BASIC", "bAsIc"]) {
      const response = await call("DELETE", passPath("summer-loyalty", "user-123"), {
        auth: `${scheme} ${btoa(BRAZE_LINE)}`,
        headers: { "X-Dry-Run": "true" },
      });
      expect(response.status, scheme).toBe(200);
    }
  });

  it("the caller's Basic credentials never reach PassKit: only the proxy's own PKAuth token does", async () => {
    const passkit = installPassKit();
    const response = await call("POST", "/v1/passes", { body: validCreate });
    expect(response.status, await response.clone().text()).toBe(201);

    const sent = outboundRequests();
    expect(sent.length).toBeGreaterThan(0);
    expect(passkit.apiCalls().length).toBe(sent.length);
    const encoded = BASIC.slice("Basic ".length);
    for (const request of sent) {
      expect(request.headers.get("Authorization"), request.url).toMatch(/^PKAuth \S+$/);
      const everything = [...request.headers].map(([name, value]) => `${name}: ${value}`).join("\n") + request.url + (await request.text());
      expect(everything).not.toContain(encoded);
      expect(everything).not.toContain(BRAZE_LINE);
      expect(everything).not.toMatch(/basic /i);
    }
  });
});

describe("decodeBasicAuthorization", () => {
  it("returns the user:password a Basic header carries", () => {
    expect(decodeBasicAuthorization(basic("braze:secret"))).toBe("braze:secret");
  });

  it("keeps every ':' after the first in the password", () => {
    expect(decodeBasicAuthorization(basic(ROTATING_LINE))).toBe(ROTATING_LINE);
  });

  it("decodes UTF-8 passwords", () => {
    const bytes = new TextEncoder().encode("braze:pässwörd✓");
    const header = `Basic ${btoa(String.fromCharCode(...bytes))}`;
    expect(decodeBasicAuthorization(header)).toBe("braze:pässwörd✓");
  });

  it("accepts the scheme in any case and extra spaces around the token", () => {
    expect(decodeBasicAuthorization(`bAsIc   ${btoa("a:b")}  `)).toBe("a:b");
  });

  it.each([
    ["no header", undefined],
    ["a null header", null],
    ["an empty header", ""],
    ["another scheme", `Bearer ${btoa("a:b")}`],
    ["a scheme that only starts with Basic", `Basicx ${btoa("a:b")}`],
    ["no space after the scheme", `Basic${btoa("a:b")}`],
    ["only the scheme", "Basic"],
    ["characters outside base64", "Basic a:b"],
    ["two tokens", `Basic ${btoa("a:b")} ${btoa("c:d")}`],
    ["broken padding", "Basic YTpi="],
    ["too much padding", "Basic YTpi==="],
    ["base64url instead of base64", `Basic ${btoa("a:b??>").replace(/\+/g, "-").replace(/\//g, "_")}`],
    ["no colon", `Basic ${btoa("ab")}`],
    ["bytes that are not UTF-8", `Basic ${btoa("a:\xff")}`],
    ["an overlong UTF-8 encoding of ':'", `Basic ${btoa("a\xc0\xbab")}`],
  ])("returns undefined for %s, without throwing", (_name, header) => {
    expect(decodeBasicAuthorization(header)).toBeUndefined();
  });
});

describe("matchCredential", () => {
  const credentials: Credential[] = [
    { username: "braze", line: BRAZE_LINE },
    { username: "rotating", line: ROTATING_LINE },
  ];

  it("finds the line the presented user:password equals, whichever line it is", async () => {
    expect(await matchCredential(BRAZE_LINE, credentials)).toEqual(credentials[0]);
    expect(await matchCredential(ROTATING_LINE, credentials)).toEqual(credentials[1]);
  });

  it.each([
    ["a prefix", BRAZE_LINE.slice(0, -1)],
    ["an extension", `${BRAZE_LINE}x`],
    ["another user's password", "braze:new:pass:with:colons"],
    ["the user alone", "braze"],
    ["an empty string", ""],
    ["a different case", BRAZE_LINE.toUpperCase()],
  ])("rejects %s of a configured line", async (_name, presented) => {
    expect(await matchCredential(presented, credentials)).toBeUndefined();
  });

  it("matches nothing when no credentials are configured", async () => {
    expect(await matchCredential(BRAZE_LINE, [])).toBeUndefined();
  });
});

describe("roles (contract §9): each route demands exactly its role", () => {
  /** The role each route belongs to, by path. */
  const roleOf = (path: string) =>
    path.startsWith("/v1/lifecycle/passkit") ? "webhook" : path.startsWith("/v1/lifecycle/") ? "operator" : "braze";
  const CREDENTIALS = { braze: BASIC, webhook: WEBHOOK_BASIC, operator: OPERATOR_BASIC } as const;

  it("walks every protected route: another role's valid credential gets the same 401 as a wrong password, and touches nothing", async () => {
    const passkit = installPassKit();
    const send = vi.spyOn(env.LIFECYCLE_EVENTS, "send");
    const roles = new Set<string>();
    for (const { method, path } of protectedRoutes()) {
      const role = roleOf(path);
      roles.add(role);
      for (const [other, auth] of Object.entries(CREDENTIALS)) {
        if (other === role) continue;
        const hasBody = method === "POST" || method === "PUT" || method === "PATCH";
        const response = await call(method, samplePath(path), { auth, body: hasBody ? validCreate : undefined });
        expect(await unauthorizedShape(response), `${other} on ${method} ${path}`).toEqual(EXPECTED_401);
      }
    }
    expect([...roles].sort()).toEqual(["braze", "operator", "webhook"]);
    expect(passkit.calls).toEqual([]);
    expect(send).not.toHaveBeenCalled();
    expect((await ledger(env).listDeadLetters(10)).total).toBe(0);
  });

  it("lets each role's own credential through on its routes, rotated lines included", async () => {
    installPassKit();
    expect((await call("GET", "/v1/lifecycle/dead-letters", { auth: OPERATOR_BASIC })).status).toBe(200);
    expect((await call("GET", "/v1/lifecycle/dead-letters", { auth: basic("ops-next:operator rotated") })).status).toBe(200);
    const webhook = { event: "PASS_EVENT_INSTALLED", pass: { id: "4vQbXk2Rr9TnWc7LpJ3sZa", classId: "c", userDefinedId: "u" } };
    vi.spyOn(env.LIFECYCLE_EVENTS, "send").mockResolvedValue({ metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } });
    expect((await call("POST", "/v1/lifecycle/passkit", { auth: WEBHOOK_BASIC, body: webhook })).status).toBe(202);
    expect((await call("POST", "/v1/passes", { body: validCreate })).status).toBe(201);
  });

  it.each(Object.entries({ WEBHOOK_CREDENTIALS: "/v1/lifecycle/passkit", OPERATOR_CREDENTIALS: "/v1/lifecycle/dead-letters" }))(
    "answers 500 config_error naming %s on its routes while it is unset (PassKit retries, nothing is lost)",
    async (variable, path) => {
      vi.spyOn(console, "error").mockImplementation(() => undefined);
      const ctx = createExecutionContext();
      const response = await app.request(
        path,
        {
          method: path.endsWith("passkit") ? "POST" : "GET",
          headers: { Authorization: WEBHOOK_BASIC, "Content-Type": "application/json" },
          body: path.endsWith("passkit") ? "{}" : undefined,
        },
        { ...env, [variable]: undefined },
        ctx,
      );
      await waitOnExecutionContext(ctx);
      expect(response.status).toBe(500);
      const problem = await response.json<{ code: string; detail: string }>();
      expect(problem.code).toBe("config_error");
      expect(problem.detail).toContain(variable);
    },
  );
});

describe("failed logins are throttled (contract §9)", () => {
  /** A config of its own (one more line), so nothing was verified in it before this test. */
  const fresh = { ...env, PROXY_CREDENTIALS: `${TEST_SECRETS.PROXY_CREDENTIALS}\nfresh:never used before` };
  const from = async (address: string, auth: string | null) => {
    const ctx = createExecutionContext();
    const headers: Record<string, string> = { "CF-Connecting-IP": address, ...(auth ? { Authorization: auth } : {}) };
    const response = await app.request(passPath("c", "u"), { headers }, fresh, ctx);
    await waitOnExecutionContext(ctx);
    return response;
  };

  it("answers 429 with Retry-After and no credential check after 20 failures a minute from one address; other addresses and verified values are unaffected", async () => {
    const passkit = installPassKit();
    const attacker = "203.0.113.7";
    // Braze's working line is verified once from this address before the attack.
    expect((await from(attacker, BASIC)).status).toBe(404);
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) statuses.push((await from(attacker, basic(`braze:guess-${i}`))).status);
    expect(statuses.slice(0, 20)).toEqual(Array(20).fill(401));
    expect(statuses.slice(20)).toEqual(Array(5).fill(429));
    const throttled = await from(attacker, basic("braze:guess-final"));
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get("Retry-After")).toBe("60");
    expect((await throttled.json<{ code: string }>()).code).toBe("too_many_failed_logins");
    // A correct line not yet verified in this isolate is not checked either…
    expect((await from(attacker, basic("fresh:never used before"))).status).toBe(429);
    // …but the value already verified still works, and another address is unaffected.
    expect((await from(attacker, BASIC)).status).toBe(404);
    expect((await from("203.0.113.8", basic("braze:one-typo"))).status).toBe(401);
    expect((await from("203.0.113.8", BASIC)).status).toBe(404);
    expect(passkit.apiCalls().filter((c) => c.method !== "GET")).toEqual([]);
  });

  it("counts another role's valid credential as a failure", async () => {
    installPassKit();
    const address = "203.0.113.9";
    for (let i = 0; i < 20; i++) expect((await from(address, OPERATOR_BASIC)).status).toBe(401);
    expect((await from(address, OPERATOR_BASIC)).status).toBe(429);
  });
});
