import { env } from "cloudflare:workers";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { app } from "../src/app.ts";
import { loadConfig } from "../src/config/config.ts";
import { products } from "../src/products.ts";
import type { Env } from "../src/env.ts";
import { BASIC, installPassKit, validCreate } from "./helpers.ts";
import { TEST_SECRETS } from "./secrets.ts";

afterEach(() => vi.restoreAllMocks());

/** Every secret string the tests bind, and each password on its own: none may ever be echoed. */
const SECRET_VALUES = [
  ...Object.values(TEST_SECRETS),
  ...TEST_SECRETS.PROXY_CREDENTIALS.split("\n").flatMap((line) => [line, line.slice(line.indexOf(":") + 1)]),
];

/** The test env with some values replaced (`undefined` removes a secret). */
function envWith(overrides: Record<string, unknown>): Env {
  return { ...env, ...overrides } as Env;
}

async function send(path: string, init: RequestInit, overrides: Record<string, unknown>): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await app.request(path, init, envWith(overrides), ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

const createInit = (): RequestInit => ({
  method: "POST",
  headers: { Authorization: BASIC, "Content-Type": "application/json" },
  body: JSON.stringify(validCreate),
});

interface ConfigCase {
  variable: string;
  value: unknown;
  /** Values that must not appear in the answer or the log, besides the bound test secrets. */
  secretValues?: string[];
}

/** A secret a route needs is unset: that route (not the whole proxy) answers config_error. */
const missing: [string, ConfigCase][] = [
  ["PROXY_CREDENTIALS is not set", { variable: "PROXY_CREDENTIALS", value: undefined }],
  ["PROXY_CREDENTIALS is empty", { variable: "PROXY_CREDENTIALS", value: "" }],
  ["PROXY_CREDENTIALS is only whitespace", { variable: "PROXY_CREDENTIALS", value: " \n " }],
  ["PASSKIT_API_KEY is not set", { variable: "PASSKIT_API_KEY", value: undefined }],
  ["PASSKIT_API_SECRET is not set", { variable: "PASSKIT_API_SECRET", value: undefined }],
  ["PASSKIT_API_SECRET is empty", { variable: "PASSKIT_API_SECRET", value: "" }],
];

/** A value is malformed: the whole proxy fails closed. */
const malformed: [string, ConfigCase][] = [
  [
    "a PROXY_CREDENTIALS line has no ':'",
    {
      variable: "PROXY_CREDENTIALS",
      value: "braze:correct horse battery staple\nrotating-line-without-colon",
      secretValues: ["rotating-line-without-colon"],
    },
  ],
  [
    "a PROXY_CREDENTIALS line has an empty password",
    { variable: "PROXY_CREDENTIALS", value: "braze:\nrotating:s3cr3t-next", secretValues: ["s3cr3t-next"] },
  ],
  ["PASSKIT_REGION is not a region", { variable: "PASSKIT_REGION", value: "eu" }],
  [
    "PASSKIT_REST_URL is not a PassKit host, so the REST token would go elsewhere",
    { variable: "PASSKIT_REST_URL", value: "https://api.pub1.passkit.io.attacker.example" },
  ],
  ["PASSKIT_PASS_BASE_URL is plain http", { variable: "PASSKIT_PASS_BASE_URL", value: "http://pub1.pskt.io" }],
  ["PASSKIT_API_URL is http:// on a public host", { variable: "PASSKIT_API_URL", value: "http://api-pass.passkit.net/v3" }],
  [
    "PASSKIT_API_URL is http:// on a host that only starts with localhost",
    { variable: "PASSKIT_API_URL", value: "http://localhost.attacker.example/v3" },
  ],
  ["PASSKIT_API_URL hides a public host behind 127.0.0.1@", { variable: "PASSKIT_API_URL", value: "http://127.0.0.1@attacker.example/v3" }],
  ["PASSKIT_API_URL is not a URL", { variable: "PASSKIT_API_URL", value: "api-pass.passkit.net/v3" }],
  ["BRAZE_REST_ENDPOINT is http:// on a public host", { variable: "BRAZE_REST_ENDPOINT", value: "http://rest.iad-01.braze.com" }],
  ["BRAZE_MAX_OBJECTS_PER_REQUEST is 0", { variable: "BRAZE_MAX_OBJECTS_PER_REQUEST", value: "0" }],
  ["BRAZE_MAX_OBJECTS_PER_REQUEST is 76, over Braze's limit of 75", { variable: "BRAZE_MAX_OBJECTS_PER_REQUEST", value: "76" }],
  ["BRAZE_MAX_OBJECTS_PER_REQUEST is not a whole number", { variable: "BRAZE_MAX_OBJECTS_PER_REQUEST", value: "7.5" }],
  ["PASS_CACHE_TTL_SECONDS is 59, under KV's minimum of 60", { variable: "PASS_CACHE_TTL_SECONDS", value: "59" }],
  ["PASS_CACHE_TTL_SECONDS is a fractional number binding", { variable: "PASS_CACHE_TTL_SECONDS", value: 90.5 }],
  ["PASS_CACHE_TTL_SECONDS is a duration string", { variable: "PASS_CACHE_TTL_SECONDS", value: "1h" }],
  [
    "PASSKIT_API_URL carries a query that would end up before /passes",
    { variable: "PASSKIT_API_URL", value: "https://api-pass.passkit.net/v3?region=eu" },
  ],
  [
    "BRAZE_REST_ENDPOINT ends in a fragment that would swallow /users/track",
    { variable: "BRAZE_REST_ENDPOINT", value: "https://rest.iad-01.braze.com/#" },
  ],
  [
    "BRAZE_REST_ENDPOINT is not a Braze host, so the API key would go elsewhere",
    { variable: "BRAZE_REST_ENDPOINT", value: "https://rest.iad-01.braze.com.attacker.example" },
  ],
  ["PASSKIT_API_URL carries credentials", { variable: "PASSKIT_API_URL", value: "https://user:pass@api-pass.passkit.net/v3" }],
  ["PASSKIT_PASS_URL_TEMPLATE has no {passId}", { variable: "PASSKIT_PASS_URL_TEMPLATE", value: "https://q.passkit.net/~/#/p/" }],
  [
    "PASSKIT_PASS_URL_TEMPLATE would put javascript: links in messages",
    { variable: "PASSKIT_PASS_URL_TEMPLATE", value: "javascript:alert('{passId}')" },
  ],
  ["PASSKIT_PASS_URL_TEMPLATE is plain http", { variable: "PASSKIT_PASS_URL_TEMPLATE", value: "http://q.passkit.net/~/#/p/{passId}" }],
];

describe("a misconfigured proxy fails closed and says which variable is wrong", () => {
  it.each([...missing, ...malformed])(
    "when %s, a create is answered 500 config_error naming it, and PassKit is never called",
    async (_name, { variable, value, secretValues = [] }) => {
      const passkit = installPassKit();
      const log = vi.spyOn(console, "error").mockImplementation(() => {});

      const response = await send("/v1/passes", createInit(), { [variable]: value });
      const text = await response.text();

      expect(response.status, text).toBe(500);
      expect(response.headers.get("Content-Type")).toBe("application/problem+json");
      const body = JSON.parse(text) as { code: string; detail: string; errors?: { pointer: string; detail: string }[]; requestId: string };
      expect(body.code).toBe("config_error");
      expect(body.detail).toContain(variable);
      expect(body.errors).toContainEqual(expect.objectContaining({ pointer: `/${variable}` }));
      expect(body.requestId).toBe(response.headers.get("X-Request-Id"));
      for (const secret of [...SECRET_VALUES, ...secretValues]) {
        expect(text).not.toContain(secret);
        expect(JSON.stringify(log.mock.calls)).not.toContain(secret);
      }
      expect(JSON.stringify(log.mock.calls)).toContain(variable);

      expect(passkit.calls).toEqual([]);
      expect(vi.mocked(globalThis.fetch)).not.toHaveBeenCalled();
    },
  );

  it.each(malformed)(
    "when %s, GET /health reports the same config_error, so monitoring notices",
    async (_name, { variable, value, secretValues = [] }) => {
      installPassKit();
      vi.spyOn(console, "error").mockImplementation(() => {});

      const response = await send("/health", {}, { [variable]: value });
      const text = await response.text();

      expect(response.status, text).toBe(500);
      const body = JSON.parse(text) as { code: string; detail: string };
      expect(body.code).toBe("config_error");
      expect(body.detail).toContain(variable);
      for (const secret of [...SECRET_VALUES, ...secretValues]) expect(text).not.toContain(secret);
      expect(vi.mocked(globalThis.fetch)).not.toHaveBeenCalled();
    },
  );

  it("names every broken variable at once, so an operator fixes them in one deploy", async () => {
    installPassKit();
    vi.spyOn(console, "error").mockImplementation(() => {});
    const response = await send("/health", {}, { PASSKIT_REGION: "us", MAX_BODY_BYTES: "big", PASS_CACHE_TTL_SECONDS: "59" });
    const body = (await response.json()) as { detail: string; errors: { pointer: string }[] };
    expect(response.status).toBe(500);
    expect(body.errors.map((e) => e.pointer).sort()).toEqual(["/MAX_BODY_BYTES", "/PASSKIT_REGION", "/PASS_CACHE_TTL_SECONDS"]);
  });

  it.each(missing)(
    "when %s, GET /health still answers 200 and names what is configured, never a value",
    async (_name, { variable, value }) => {
      installPassKit();
      vi.spyOn(console, "error").mockImplementation(() => {});
      const response = await send("/health", {}, { [variable]: value });
      const text = await response.text();
      expect(response.status, text).toBe(200);
      const body = JSON.parse(text) as { products: Record<string, boolean> };
      expect(body.products.passes).toBe(variable === "PROXY_CREDENTIALS");
      for (const secret of SECRET_VALUES) expect(text).not.toContain(secret);
    },
  );

  it("without BRAZE_API_KEY, passes are still created (the relay waits for the key) and /health says the relay is not configured", async () => {
    const passkit = installPassKit();
    const response = await send("/v1/passes", createInit(), { BRAZE_API_KEY: undefined });
    expect(response.status).toBe(201);
    expect(passkit.passCount()).toBe(1);
    const health = await (await send("/health", {}, { BRAZE_API_KEY: undefined })).json<{ lifecycleRelay: boolean }>();
    expect(health.lifecycleRelay).toBe(false);
  });

  it("a caller without credentials also gets the config error, never a pass (the proxy fails closed)", async () => {
    installPassKit();
    vi.spyOn(console, "error").mockImplementation(() => {});
    const response = await send(
      "/v1/passes",
      { ...createInit(), headers: { "Content-Type": "application/json" } },
      { PROXY_CREDENTIALS: undefined },
    );
    expect(response.status).toBe(500);
    expect(((await response.json()) as { code: string }).code).toBe("config_error");
    expect(vi.mocked(globalThis.fetch)).not.toHaveBeenCalled();
  });
});

describe("a valid configuration", () => {
  const DEFAULTS = {
    PASSKIT_API_URL: "https://api-pass.passkit.net/v3",
    PASSKIT_PASS_URL_TEMPLATE: "https://q.passkit.net/~/#/p/{passId}",
    BRAZE_REST_ENDPOINT: "https://rest.iad-01.braze.com",
    BRAZE_MAX_OBJECTS_PER_REQUEST: 75,
    BRAZE_EVENT_PREFIX: "passkit_pass_",
    PASS_CACHE_TTL_SECONDS: 3600,
    MAX_BODY_BYTES: 65_536,
  };
  const VARS = Object.keys(DEFAULTS);

  it("an empty var means its documented default", () => {
    const config = loadConfig(envWith(Object.fromEntries(VARS.map((name) => [name, ""]))));
    expect(config).toMatchObject(DEFAULTS);
  });

  it("an unset var means its documented default", () => {
    const config = loadConfig(envWith(Object.fromEntries(VARS.map((name) => [name, undefined]))));
    expect(config).toMatchObject(DEFAULTS);
  });

  it("with every var empty, GET /health answers ok", async () => {
    const response = await send("/health", {}, Object.fromEntries(VARS.map((name) => [name, ""])));
    expect(response.status, await response.clone().text()).toBe(200);
    const configured = Object.fromEntries(products.map((product) => [product.basePath.slice("/v1/".length), true]));
    expect(await response.json()).toEqual({ status: "ok", products: configured, lifecycleRelay: true });
  });

  it("the shipped test config (loopback http upstreams) is accepted and its secrets parsed", () => {
    const config = loadConfig(envWith({}));
    expect(config.PASSKIT_API_URL).toBe("http://127.0.0.1:9/v3");
    expect(config.PROXY_CREDENTIALS).toEqual([
      { username: "braze", line: "braze:correct horse battery staple" },
      { username: "rotating", line: "rotating:new:pass:with:colons" },
    ]);
    expect(config.PASSKIT_WEBHOOK_SECRET).toBeUndefined();
  });

  it.each(["http://localhost:8787/v3", "http://[::1]:8787/v3", "https://api-pass.passkit.net/v3/"])(
    "PASSKIT_API_URL %s is accepted, without a trailing slash",
    (url) => {
      expect(loadConfig(envWith({ PASSKIT_API_URL: url })).PASSKIT_API_URL).toBe(url.replace(/\/$/, ""));
    },
  );

  it.each([
    ["BRAZE_MAX_OBJECTS_PER_REQUEST", "1", 1],
    ["BRAZE_MAX_OBJECTS_PER_REQUEST", "75", 75],
    ["PASS_CACHE_TTL_SECONDS", "60", 60],
    ["PASS_CACHE_TTL_SECONDS", " 7200 ", 7200],
  ])("%s = %j is accepted as %i", (variable, value, expected) => {
    expect(loadConfig(envWith({ [variable]: value }))).toMatchObject({ [variable]: expected });
  });

  it("a number var written unquoted in wrangler.toml (a JSON number binding) works like its string", () => {
    const config = loadConfig(envWith({ BRAZE_MAX_OBJECTS_PER_REQUEST: 50, PASS_CACHE_TTL_SECONDS: 7200, MAX_BODY_BYTES: 131_072 }));
    expect(config).toMatchObject({ BRAZE_MAX_OBJECTS_PER_REQUEST: 50, PASS_CACHE_TTL_SECONDS: 7200, MAX_BODY_BYTES: 131_072 });
  });

  it("secrets pasted with a trailing newline are trimmed, and blank PROXY_CREDENTIALS lines are ignored", () => {
    const config = loadConfig(envWith({ PASSKIT_API_SECRET: "test-secret\n", PROXY_CREDENTIALS: "\r\nbraze:pw\r\n\r\n" }));
    expect(config.PASSKIT_API_SECRET).toBe("test-secret");
    expect(config.PROXY_CREDENTIALS).toEqual([{ username: "braze", line: "braze:pw" }]);
  });
});
