import fc from "fast-check";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../src/index.ts";
import type { FakePassKit } from "../fakes/passkit.ts";
import { lookupMemory } from "../src/machinery/cache.ts";
import { BASIC, clientAddress, installFakes, passPath, validCreate, resetAll, WEBHOOK_BASIC } from "./helpers.ts";
import { TEST_SECRETS } from "./secrets.ts";

/**
 * Issue 4, part 3: thousands of generated requests (bodies, headers, path parameters) thrown at
 * the Worker entry with healthy fakes behind it. For every one: no 5xx, no unhandled exception,
 * every refusal a small problem+json naming its request id (with pointers where one applies), no
 * PassKit call for anything refused before PassKit, and never a credential echoed back.
 */

const MAX_BODY_BYTES = 65_536;
const MAX_DEPTH = 16;
/** A refusal is a few hundred bytes; anything near this means part of the request came back. */
const MAX_REFUSAL_BYTES = 8 * 1024;
const MIN_GENERATED = 10_000;
const ROTATING = `Basic ${btoa("rotating:new:pass:with:colons")}`;
const TOKEN = BASIC.slice("Basic ".length);
/** The Authorization values that carry a configured credential; every other one is a 401. */
const ACCEPTED_AUTH = new Set([BASIC, ROTATING, `basic ${TOKEN}`, `BASIC   ${TOKEN}  `, `Basic ${TOKEN.replace(/=+$/, "")}`]);
/** The webhook role's credential (contract §9): the Braze lines are refused on the intake. */
const WEBHOOK_AUTH = new Set([WEBHOOK_BASIC]);
/** Strings that must never appear in any answer. */
const NEVER_ECHOED = [
  "correct horse battery staple",
  "webhook tuna sandwich",
  "new:pass:with:colons",
  TOKEN,
  ROTATING.slice("Basic ".length),
  TEST_SECRETS.PASSKIT_API_SECRET,
  TEST_SECRETS.BRAZE_API_KEY,
  "PKAuth",
];
/** 4xx answers that legitimately come after a PassKit call: PassKit's own 404 and refusal. */
const AFTER_PASSKIT = new Set(["not_found", "passkit_rejected"]);

type Body = string | Uint8Array;
interface FuzzRequest {
  method: string;
  path: string;
  headers: [string, string][];
  body?: Body;
}
interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  requestId: string;
  errors?: { pointer: string; detail: string }[];
}

let passkit: FakePassKit;
let consoleError: MockInstance<typeof console.error>;
let queueSend: MockInstance<Queue["send"]>;
let generated = 0;
let propertiesRun = 0;
const PROPERTIES = 10;

/**
 * fc.assert, counted towards the file's total. A failure's report is made well-formed first: a
 * counterexample holding a lone surrogate would otherwise break the pool's WebSocket to vitest
 * and hide the report.
 */
async function fuzz<T extends unknown[]>(property: fc.IAsyncPropertyWithHooks<T>, numRuns: number): Promise<void> {
  try {
    await fc.assert(property, { numRuns });
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? `\nCaused by: ${error.cause.message}` : "";
    const report = `${error instanceof Error ? error.message : String(error)}${cause}`;
    throw new Error(report.replace(/[\ud800-\udfff]/gu, (unit) => `\\u${unit.charCodeAt(0).toString(16)}`));
  }
  propertiesRun++;
}

beforeAll(() => {
  passkit = installFakes().passkit;
  // The real producer would hand each message to the local consumer, calling Braze; the queue is
  // not under test here and the consumer's timing would only slow the suite down.
  queueSend = vi.spyOn(env.LIFECYCLE_EVENTS, "send").mockResolvedValue({ metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } });
  consoleError = vi.spyOn(console, "error").mockImplementation(() => undefined);
  vi.spyOn(console, "warn").mockImplementation(() => undefined);
});
beforeEach(() => {
  passkit.reset();
  lookupMemory.clear();
  queueSend.mockClear();
});
afterEach(async () => {
  await resetAll();
});
afterAll(() => {
  vi.restoreAllMocks();
  // Only a whole-file run is held to the total (`-t` may select a single property).
  if (propertiesRun === PROPERTIES) expect(generated).toBeGreaterThanOrEqual(MIN_GENERATED);
});

// ---------------------------------------------------------------------------------------------
// Sending and checking

/** Through the Worker's default export, as the runtime would call it; background work drained. */
async function send(request: FuzzRequest): Promise<Response> {
  const ctx = createExecutionContext();
  // Each request from an address of its own: the failed-login throttle (contract §9) is tested in
  // auth.test.ts; here it would turn the thousands of refused logins into 429s.
  const headers = request.headers.some(([name]) => name.toLowerCase() === "cf-connecting-ip")
    ? request.headers
    : [...request.headers, ["CF-Connecting-IP", clientAddress()] as [string, string]];
  const init: RequestInit = { method: request.method, headers };
  if (request.body !== undefined) init.body = request.body;
  const response = await worker.fetch(new Request(`https://proxy.example${request.path}`, init), env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

function byteLength(body: Body | undefined): number {
  if (body === undefined) return 0;
  return typeof body === "string" ? new TextEncoder().encode(body).byteLength : body.byteLength;
}

/** A header as the Worker sees it (Headers trims surrounding spaces and tabs). */
function header(request: FuzzRequest, name: string): string | undefined {
  return request.headers.find(([candidate]) => candidate.toLowerCase() === name.toLowerCase())?.[1].replace(/^[ \t]+|[ \t]+$/g, "");
}

function isPointer(pointer: unknown): boolean {
  return typeof pointer === "string" && (pointer === "" || pointer.startsWith("/"));
}

/** Sends one generated request and checks every property that holds whatever it was. */
async function exchange(request: FuzzRequest): Promise<{ status: number; text: string; problem?: Problem }> {
  generated++;
  const upstreamBefore = passkit.calls.length;
  const errorsBefore = consoleError.mock.calls.length;
  const response = await send(request);
  const text = await response.text();
  const { status } = response;
  const context = `${request.method} ${request.path.slice(0, 200)} -> ${status} ${text.slice(0, 300)}`;

  expect(status, context).toBeLessThan(500);
  const unhandled = consoleError.mock.calls
    .slice(errorsBefore)
    .filter((args) => args.some((arg) => (arg as { event?: unknown } | null)?.event === "unhandled"));
  expect(unhandled, context).toEqual([]);

  const requestId = response.headers.get("X-Request-Id");
  expect(requestId, context).toBeTruthy();
  // Always the proxy's own id (contract §9): a caller's could be forged or repeated.
  expect(requestId, context).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

  const authorization = header(request, "Authorization");
  for (const secret of [...NEVER_ECHOED, ...(authorization && authorization.length >= 16 ? [authorization] : [])]) {
    expect(text.includes(secret), `${context}\nechoes ${secret}`).toBe(false);
  }

  if (status < 400) {
    if (text.startsWith('{"dryRun":true')) expect(passkit.calls.slice(upstreamBefore), `${context}\na dry run called PassKit`).toEqual([]);
    return { status, text };
  }

  expect(response.headers.get("Content-Type"), context).toBe("application/problem+json");
  const problem = JSON.parse(text) as Problem;
  expect(text.length, context).toBeLessThan(MAX_REFUSAL_BYTES);
  expect(problem.status, context).toBe(status);
  expect(typeof problem.code === "string" && problem.code.length > 0, context).toBe(true);
  expect(problem.type, context).toMatch(/^urn:/);
  expect(problem.requestId, context).toBe(requestId);
  if (status === 401) expect(response.headers.get("WWW-Authenticate"), context).toMatch(/^Basic /);
  const pointed =
    (status === 422 && problem.code === "validation_failed") || ["invalid_json", "too_deep", "duplicate_key"].includes(problem.code);
  if (pointed) {
    expect(Array.isArray(problem.errors) && problem.errors.length > 0, context).toBe(true);
    for (const error of problem.errors!) {
      expect(isPointer(error.pointer), `${context}\npointer ${JSON.stringify(error.pointer)}`).toBe(true);
      expect(typeof error.detail, context).toBe("string");
    }
  }
  if (!AFTER_PASSKIT.has(problem.code)) {
    expect(
      passkit.calls.slice(upstreamBefore).map((c) => `${c.method} ${c.url}`),
      `${context}\nrefused, yet PassKit was called`,
    ).toEqual([]);
  }
  return { status, text, problem };
}

// ---------------------------------------------------------------------------------------------
// Generators: strings

const ODD_STRINGS = [
  "",
  " ",
  "\t",
  "\u0000",
  "a\u0000b",
  "\u0007",
  "\u001f",
  "\u007f",
  "\u0085",
  "\u00a0",
  "\u2028",
  "\u2029",
  "\ufeff",
  "\ufeffx",
  "\ud800",
  "\udfff",
  "x\udc00y",
  "\ud83d",
  "😀",
  "𝄞",
  "\u202e",
  "é",
  "e\u0301",
  "ﬀ",
  "İ",
  "ß",
  "\uffff",
  "\ufffd",
  "{{${user_id}}}",
  "{% if %}",
  "..",
  "../..",
  "a/b",
  "%2F",
  "%00",
  "null",
  "true",
  "0",
  "-0",
  "1e999",
  "__proto__",
  "constructor",
  "toString",
  "a".repeat(255),
  "a".repeat(256),
  "a".repeat(257),
  "é".repeat(256),
  "😀".repeat(128),
  "😀".repeat(129),
];
const oddString = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...ODD_STRINGS) },
  { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 24 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 24 }) },
  { weight: 1, arbitrary: fc.integer({ min: 250, max: 4000 }).map((n) => "x".repeat(n)) },
);
const plainId = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.:@ -]{0,30}$/);
const wrongType = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
);
const maybe = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof(
    { weight: 8, arbitrary: valid as fc.Arbitrary<unknown> },
    { weight: 1, arbitrary: oddString },
    { weight: 1, arbitrary: wrongType },
  );

/** A field that is usually absent, else valid-looking, odd or of the wrong type. */
const ABSENT = Symbol("absent");
const optional = <T>(valid: fc.Arbitrary<T>, absentWeight = 3) =>
  fc.oneof({ weight: absentWeight, arbitrary: fc.constant(ABSENT) as fc.Arbitrary<unknown> }, { weight: 2, arbitrary: maybe(valid) });

const dates = fc.oneof(
  fc
    .date({ min: new Date("1900-01-01T00:00:00Z"), max: new Date("2200-01-01T00:00:00Z"), noInvalidDate: true })
    .map((d) => d.toISOString()),
  fc.constantFrom(
    "2019-29-09T12:59:40Z",
    "2019-09-29T12:59:40Z",
    "2019-09-29T12:59:40+02:00",
    "2019-09-29T12:59:40+0200",
    "2019-09-29",
    "2023-02-29T00:00:00Z",
    "2024-02-29T00:00:00Z",
    "2024-02-30T00:00:00Z",
    "2019-09-29T24:00:00Z",
    "2019-09-29T12:59:60Z",
    "2019-09-29T12:59:40.123456789-11:30",
    "2019-09-29t12:59:40z",
    "+275760-09-13T00:00:00Z",
    "0000-01-01T00:00:00Z",
  ),
);
const colors = fc.oneof(
  fc.integer({ min: 0, max: 0xffffff }).map((n) => `#${n.toString(16).padStart(6, "0")}`),
  fc.constantFrom("rgb(1,2,3)", "rgb( 255 , 0 , 999 )", "#abc", "red", "#GGGGGG", "rgb(1,2)"),
);
const scalar = fc.oneof(fc.string({ unit: "binary", maxLength: 16 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
const dictKey = fc.oneof({ weight: 4, arbitrary: fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9_.]{0,12}$/) }, { weight: 1, arbitrary: oddString });

// ---------------------------------------------------------------------------------------------
// Generators: JSON text. Objects are built as entry lists and serialised by hand, so a
// "__proto__" key stays a key and duplicate keys can be written.

type Entries = [string, unknown][];
const RAW = Symbol("raw");
/** A piece of JSON text to splice in verbatim (deep nesting, raw escapes). */
interface RawJson {
  [RAW]: string;
}
const raw = (text: string): RawJson => ({ [RAW]: text });

function serialise(value: unknown): string {
  if (value !== null && typeof value === "object" && RAW in value) return (value as RawJson)[RAW];
  if (value instanceof Map) return `{${[...value].map(([k, v]) => `${JSON.stringify(k)}:${serialise(v)}`).join(",")}}`;
  if (Array.isArray(value)) return `[${value.map(serialise).join(",")}]`;
  if (value !== null && typeof value === "object") return serialise(new Map(Object.entries(value)));
  return JSON.stringify(value) ?? "null";
}
const object = (entries: Entries): Map<string, unknown> => new Map(entries.filter(([, v]) => v !== ABSENT));

const location = fc
  .record({
    lat: maybe(fc.double({ min: -100, max: 100, noNaN: true })),
    lon: maybe(fc.double({ min: -200, max: 200, noNaN: true })),
    alt: optional(fc.double({ noNaN: true })),
    relevantText: optional(fc.string({ maxLength: 300 })),
  })
  .map((l) => object(Object.entries(l)));
const beacon = fc
  .record({
    uuid: maybe(fc.uuid()),
    major: optional(fc.integer({ min: -1, max: 70_000 })),
    minor: optional(fc.integer({ min: -1, max: 70_000 })),
  })
  .map((b) => object(Object.entries(b)));
const passbook = fc
  .record({
    relevantDate: optional(dates, 1),
    groupId: optional(fc.string({ maxLength: 20 })),
    bgColor: optional(colors),
    labelColor: optional(colors),
    fgColor: optional(colors),
    locations: optional(fc.array(location, { maxLength: 12 })),
    beacons: optional(fc.array(beacon, { maxLength: 12 })),
  })
  .map((p) => object(Object.entries(p)));

const NEAR_MISSES = [
  "userDefinedID",
  "campaign_name",
  "templatename",
  "TemplateName",
  "dynamicdata",
  "passBook",
  "expiry",
  "isvoided",
  "__proto__",
  "constructor",
  "prototype",
  "userDefinedId ",
];
const unknownKeys = fc.array(fc.tuple(fc.oneof(fc.constantFrom(...NEAR_MISSES), dictKey), scalar), { maxLength: 3 });
const liquidBoolean = fc.constantFrom<unknown>(true, false, "true", "false", "TRUE", "yes", 1, 0, "");

/** Create or update bodies: valid-looking fields, each sometimes odd, plus sometimes unknown keys. */
const passBody = (absentWeight: number) =>
  fc
    .record({
      campaignName: optional(plainId, absentWeight),
      templateName: optional(plainId, absentWeight),
      userDefinedId: optional(plainId, absentWeight),
      dynamicData: optional(fc.dictionary(dictKey, scalar, { maxKeys: 6 })),
      dynamicImages: optional(fc.dictionary(dictKey, fc.webUrl(), { maxKeys: 3 })),
      recoveryEmail: optional(fc.emailAddress()),
      isVoided: optional(liquidBoolean),
      isRedeemed: optional(liquidBoolean),
      isInvalid: optional(liquidBoolean),
      expiryDate: optional(dates),
      passbook: optional(passbook, 1),
      extra: fc.oneof({ weight: 4, arbitrary: fc.constant([] as [string, unknown][]) }, { weight: 1, arbitrary: unknownKeys }),
    })
    .map(({ extra, ...fields }) => object([...Object.entries(fields), ...extra]));

/** A create body with every field valid: PassKit's fake must take it. */
const validCreateBody = fc
  .record({
    campaignName: plainId,
    templateName: plainId,
    userDefinedId: plainId,
    // `__proto__` is refused on purpose (contract §8.6): not a valid key.
    dynamicData: fc.dictionary(
      fc.string({ unit: "binary", minLength: 1, maxLength: 12 }).filter((key) => key !== "__proto__"),
      scalar,
      { maxKeys: 5 },
    ),
    isVoided: liquidBoolean.filter((b) => b === true || b === false || b === "true" || b === "false"),
    expiryDate: fc
      .date({ min: new Date("2000-01-01T00:00:00Z"), max: new Date("2100-01-01T00:00:00Z"), noInvalidDate: true })
      .map((d) => d.toISOString()),
    passbook: fc.record({
      relevantDate: fc.constant("2019-09-29T12:59:40+02:00"),
      bgColor: fc.constant("#1a2b3c"),
      locations: fc.array(
        fc.record({ lat: fc.double({ min: -90, max: 90, noNaN: true }), lon: fc.double({ min: -180, max: 180, noNaN: true }) }),
        { maxLength: 3 },
      ),
    }),
  })
  .map((fields) => object(Object.entries(fields)));

const PASS_ID = "4vQbXk2Rr9TnWc7LpJ3sZa";
const EVENTS = [
  "RECORD_CREATED",
  "INSTALLED",
  "RECORD_UPDATED",
  "UNINSTALLED",
  "INVALIDATED",
  "RECORD_DELETED",
  "PASS_EVENT_INSTALLED",
  " installed ",
  "issued",
  "BOGUS",
];
const webhookBody = fc
  .record({
    event: maybe(fc.constantFrom(...EVENTS)),
    id: maybe(fc.oneof(fc.constant(PASS_ID), fc.stringMatching(/^[A-Za-z0-9]{22}$/))),
    classId: optional(plainId),
    campaignName: optional(plainId),
    userDefinedId: optional(plainId, 2),
    externalId: optional(plainId),
    templateName: optional(plainId),
    recordData: optional(
      fc
        .record({
          "universal.status": fc.constantFrom<unknown>("PASS_INSTALLED", "PASS_UNINSTALLED", "PASS_ISSUED", 3),
          "members.member.externalId": fc.oneof(plainId, oddString),
        })
        .map((r) => object(Object.entries(r))),
    ),
    metadata: optional(
      fc
        .record({
          installDevicePlatform: fc.oneof(fc.constantFrom("iOS", "Android"), oddString),
          lastInstalledAt: fc.oneof(dates, oddString),
          updatedAt: fc.oneof(dates, oddString),
        })
        .map((r) => object(Object.entries(r))),
    ),
    extra: fc.oneof({ weight: 4, arbitrary: fc.constant([] as [string, unknown][]) }, { weight: 1, arbitrary: unknownKeys }),
    outerExtra: fc.oneof({ weight: 6, arbitrary: fc.constant([] as [string, unknown][]) }, { weight: 1, arbitrary: unknownKeys }),
  })
  .map(({ event, extra, outerExtra, ...pass }) =>
    object([["event", event], ["pass", object([...Object.entries(pass), ...extra])], ...outerExtra]),
  );

// ---------------------------------------------------------------------------------------------
// Generators: text mutations of a serialised body

const BOM = "\ufeff";
const MUTATIONS = [
  "none",
  "truncate",
  "comma",
  "trailing_comma",
  "double_comma",
  "leading_comma",
  "top_level_comma",
  "bom",
  "double_bom",
  "control",
  "nul",
  "duplicate_key",
  "raw_lone_surrogate",
  "escaped_lone_surrogate",
  "bad_escape",
  "liquid",
  "single_quotes",
  "comment",
  "whitespace",
] as const;
type Mutation = (typeof MUTATIONS)[number];

function nthIndex(text: string, char: string, n: number): number {
  const positions: number[] = [];
  for (let i = 0; i < text.length; i++) if (text[i] === char) positions.push(i);
  return positions.length === 0 ? -1 : positions[n % positions.length]!;
}

function mutate(text: string, mutation: Mutation, n: number, char: string): string {
  const at = text.length === 0 ? 0 : n % (text.length + 1);
  const insert = (piece: string, where = at) => text.slice(0, where) + piece + text.slice(where);
  switch (mutation) {
    case "none":
      return text;
    case "truncate":
      return text.slice(0, at);
    case "comma":
      return insert(",");
    case "trailing_comma": {
      const close = nthIndex(text, n % 2 ? "}" : "]", n);
      return close < 0 ? text : insert(",", close);
    }
    case "double_comma": {
      const close = nthIndex(text, "}", n);
      return close < 0 ? text : insert(",,", close);
    }
    case "leading_comma": {
      const open = nthIndex(text, n % 2 ? "{" : "[", n);
      return open < 0 ? text : insert(",", open + 1);
    }
    case "top_level_comma":
      return `${text},`;
    case "bom":
      return BOM + text;
    case "double_bom":
      return BOM + BOM + text;
    case "control":
      return insert(char);
    case "nul":
      return insert("\u0000");
    case "duplicate_key": {
      const open = text.indexOf("{");
      const key = /"((?:[^"\\]|\\.)*)"\s*:/.exec(text);
      return open < 0 || !key ? text : insert(`"${key[1]}":1,`, open + 1);
    }
    case "raw_lone_surrogate":
      return insert("\ud800");
    case "escaped_lone_surrogate": {
      const quote = nthIndex(text, '"', n | 1);
      return quote < 0 ? text : insert("\\udc00", quote);
    }
    case "bad_escape": {
      const quote = nthIndex(text, '"', n | 1);
      return quote < 0 ? text : insert(n % 2 ? "\\x41" : "\\u12", quote);
    }
    case "liquid":
      return insert("{{${user_id}}}");
    case "single_quotes":
      return text.replace(/"/, "'");
    case "comment":
      return insert("/* c */");
    case "whitespace":
      return insert(["\u00a0", "\u2028", "\f", "\v", "\r\n", "\t"][n % 6]!);
  }
}

const controlChar = fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c));
const mutation = fc.oneof({ weight: 4, arbitrary: fc.constant<Mutation>("none") }, { weight: 6, arbitrary: fc.constantFrom(...MUTATIONS) });

/** A body as Braze (or someone else) might send it: text, or bytes that need not be UTF-8. */
const bodyFrom = (value: fc.Arbitrary<unknown>): fc.Arbitrary<Body | undefined> =>
  fc.oneof(
    {
      weight: 16,
      arbitrary: fc.tuple(value, mutation, fc.nat(), controlChar).map(([v, m, n, c]) => mutate(serialise(v), m, n, c)),
    },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
    {
      weight: 1,
      arbitrary: fc.anything({ maxDepth: 3 }).map((v) => {
        try {
          return JSON.stringify(v) ?? "";
        } catch {
          return "x";
        }
      }),
    },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 64 }) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    {
      weight: 1,
      // UTF-16 and UTF-8 BOMs as bytes, invalid UTF-8 (an encoded surrogate, an overlong "/", a cut sequence).
      arbitrary: fc
        .tuple(
          fc.constantFrom([0xef, 0xbb, 0xbf], [0xff, 0xfe], [0xfe, 0xff], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xe2, 0x82], [0x80]),
          fc.boolean(),
        )
        .map(([bytes, before]) => {
          const json = Array.from(new TextEncoder().encode(serialise(validCreate)));
          return Uint8Array.from(before ? [...bytes, ...json] : [...json.slice(0, 20), ...bytes, ...json.slice(20)]);
        }),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom<Body | undefined>(
        undefined,
        "",
        " ",
        "\n",
        BOM,
        "null",
        "[]",
        "{}",
        "{,}",
        "[,]",
        "{}}",
        '"x"',
        "0",
        "1e999",
      ),
    },
  );

// ---------------------------------------------------------------------------------------------
// Generators: headers

const headerValue = (maxLength: number) =>
  fc
    // Visible ASCII, space and tab: workerd takes other bytes too, but warns about each on stderr.
    .array(fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.constant(0x09)), { maxLength })
    .map((codes) => String.fromCharCode(...codes))
    .filter((value) => {
      try {
        new Headers([["x", value]]);
        return true;
      } catch {
        return false;
      }
    });

const authorization = fc.oneof(
  { weight: 12, arbitrary: fc.constant<string | undefined>(BASIC) },
  { weight: 1, arbitrary: fc.constant<string | undefined>(ROTATING) },
  { weight: 2, arbitrary: fc.constant<string | undefined>(undefined) },
  { weight: 1, arbitrary: headerValue(80) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      ...ACCEPTED_AUTH,
      `Basic ${TOKEN}=`,
      `Bearer ${TOKEN}`,
      `Basic ${btoa("braze:correct horse battery staple ")}`,
      `Basic ${btoa("braze:")}`,
      `Basic ${btoa(":")}`,
      `Basic ${btoa("braze")}`,
      `Basic ${btoa("BRAZE:correct horse battery staple")}`,
      "Basic",
      "Basic ",
      "Basic ====",
      "Basic !!!!",
      `Basic ${btoa("braze:correct horse battery staple\nrotating:new:pass:with:colons")}`,
      `Basic ${btoa("\xff\xfe:\xff")}`,
      `${BASIC}, ${BASIC}`,
      `Digest ${TOKEN}`,
    ),
  },
  { weight: 1, arbitrary: fc.tuple(headerValue(20), headerValue(20)).map(([user, password]) => `Basic ${btoa(`${user}:${password}`)}`) },
);
const contentType = fc.oneof(
  { weight: 10, arbitrary: fc.constant<string | undefined>("application/json") },
  {
    weight: 4,
    arbitrary: fc.constantFrom<string | undefined>(
      undefined,
      "",
      "text/plain",
      "text/plain; charset=utf-8",
      "APPLICATION/JSON;CHARSET=UTF-8",
      " application/json ",
      "application/problem+json",
      "application/vnd.braze+json",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "text/html",
      "application/xml",
      "application/octet-stream",
      "application/json, text/plain",
      "application/json;;",
      ";",
      "json",
      "*/*",
      "application/",
      "text/plain; charset=latin1",
    ),
  },
  { weight: 1, arbitrary: headerValue(40) },
);
const optionalHeader = (values: fc.Arbitrary<string>, presentWeight = 1) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constant<string | undefined>(undefined) },
    { weight: presentWeight, arbitrary: values as fc.Arbitrary<string | undefined> },
  );
const dryRun = optionalHeader(fc.oneof(fc.constantFrom("true", "TRUE", " true ", "True", "false", "1", "yes", ""), headerValue(10)));
const idempotencyKey = optionalHeader(
  fc.oneof(
    fc.stringMatching(/^[A-Za-z0-9_.:-]{1,40}$/),
    fc.constantFrom("", " ", "a b", "x".repeat(255), "x".repeat(256), "dispatch-42-user-123", "{{campaign.${dispatch_id}}}-{{${user_id}}}"),
    headerValue(300),
  ),
);
const requestIdHeader = optionalHeader(
  fc.oneof(
    fc.stringMatching(/^[\w=-]{1,40}$/),
    fc.constantFrom("", "a".repeat(255), "a".repeat(256), "braze abc", "<script>", "x\t"),
    headerValue(300),
  ),
);

const headers = fc
  .record({ contentType, authorization, dryRun, idempotencyKey, requestId: requestIdHeader })
  .map(({ contentType, authorization, dryRun, idempotencyKey, requestId }) => {
    const list: [string, string][] = [];
    if (contentType !== undefined) list.push(["Content-Type", contentType]);
    if (authorization !== undefined) list.push(["Authorization", authorization]);
    if (dryRun !== undefined) list.push(["X-Dry-Run", dryRun]);
    if (idempotencyKey !== undefined) list.push(["Idempotency-Key", idempotencyKey]);
    if (requestId !== undefined) list.push(["X-Request-Id", requestId]);
    return list;
  });

// ---------------------------------------------------------------------------------------------
// Generators: path parameters

/** Passes that exist before each path property runs, so PUT, GET and DELETE reach PassKit too. */
const EXISTING: [campaignName: string, userDefinedId: string][] = [
  ["summer-loyalty", "user-123"],
  ["Été 2024", "ü/ser?#1"],
  ["a b+c", "%41%zz"],
  ["c".repeat(255), "😀"],
  ["..x", "a.b"],
];

async function createExisting(): Promise<void> {
  for (const [campaignName, userDefinedId] of EXISTING) {
    const response = await send({
      method: "POST",
      path: "/v1/passes",
      headers: [["Authorization", BASIC]],
      body: serialise({ ...validCreate, campaignName, userDefinedId }),
    });
    expect(response.status).toBe(201);
  }
}

/** Percent-encodes the UTF-8 of `text` (lone surrogates become U+FFFD, as a client would send). */
const percentEncode = (text: string) =>
  Array.from(new TextEncoder().encode(text), (b) => `%${b.toString(16).padStart(2, "0").toUpperCase()}`).join("");
const segment = fc.oneof(
  { weight: 8, arbitrary: plainId.map(encodeURIComponent) },
  { weight: 2, arbitrary: oddString.map(percentEncode) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 16 }).filter((s) => !/[/?#\\]/.test(s)) },
  {
    weight: 1,
    arbitrary: fc
      .uint8Array({ minLength: 1, maxLength: 12 })
      .map((bytes) => Array.from(bytes, (b) => `%${b.toString(16).padStart(2, "0")}`).join("")),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "%",
      "%G0",
      "%E0%A4",
      "%%",
      "a%2",
      "%ED%A0%80",
      "%C0%AF",
      "%00",
      "%0A",
      "%09",
      "%7F",
      "%2F",
      "a%2Fb",
      "%2e%2e",
      "%2E",
      "..",
      ".",
      "%252F",
      "%FF",
      "%EF%BB%BF",
      "%F0%9F%98%80",
      "%u0041",
      "+",
      "a+b",
      "%20",
      "%20a%20",
      "~",
      "%7E",
      "@",
      ":",
      ";x=1",
      "é",
      "😀",
      "%C3%A9",
    ),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: 250, max: 3000 }), fc.constantFrom("x", "%C3%A9", "é", "%41")).map(([n, unit]) => unit.repeat(n)),
  },
);
/** The identifiers of an existing pass, encoded as some client might. */
const existingSegments = fc
  .tuple(fc.constantFrom(...EXISTING), fc.constantFrom("component", "lowercase", "everything"))
  .map(([pair, how]) =>
    pair.map((text) => {
      if (how === "component") return encodeURIComponent(text);
      if (how === "lowercase") return encodeURIComponent(text).replace(/%[0-9A-F]{2}/g, (percent) => percent.toLowerCase());
      return percentEncode(text);
    }),
  );
const segments = fc.oneof(
  { weight: 6, arbitrary: existingSegments },
  { weight: 12, arbitrary: fc.array(segment, { minLength: 2, maxLength: 2 }) },
  { weight: 1, arbitrary: fc.array(segment, { minLength: 0, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.array(segment, { minLength: 3, maxLength: 4 }) },
);
const passPathArb = fc
  .tuple(segments, fc.constantFrom("", "", "", "", "/", "?x=1", "?campaignName=evil&userDefinedId=evil", "#frag", "?%zz"))
  .map(([parts, tail]) => `/v1/passes/${parts.join("/")}${tail}`);

// ---------------------------------------------------------------------------------------------
// Generators: size limits and nesting

/** A create body padded with `unit` to exactly `target` UTF-8 bytes (when `unit` allows it). */
function paddedCreate(target: number, unit: string): string {
  const shell = (blob: string) => serialise(object([...Object.entries(validCreate), ["dynamicData", object([["blob", blob]])]]));
  const overhead = byteLength(shell(""));
  const unitBytes = byteLength(unit);
  const units = Math.max(0, Math.floor((target - overhead) / unitBytes));
  return shell(unit.repeat(units) + "x".repeat(Math.max(0, target - overhead - units * unitBytes)));
}
const hugeBody = fc.tuple(
  fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: MAX_BODY_BYTES - 64, max: MAX_BODY_BYTES + 64 }) },
    { weight: 1, arbitrary: fc.integer({ min: 1024, max: 300_000 }) },
  ),
  fc.constantFrom("x", "é", "€", "😀", "\\u0000", "\\ud800"),
  fc.boolean(),
);

/** Nesting `depth` containers deep at the root, in dynamicData, or in passbook.locations. */
const deepBody = fc
  .tuple(
    fc.integer({ min: MAX_DEPTH - 4, max: MAX_DEPTH + 4 }),
    fc.array(fc.boolean(), { minLength: 24, maxLength: 24 }),
    fc.constantFrom("root", "dynamicData", "locations"),
    fc.boolean(),
  )
  .map(([depth, kinds, where, trailing]) => {
    const comma = trailing ? "," : "";
    const nest = (levels: number) => {
      let text = "1";
      for (let i = 0; i < levels; i++) text = kinds[i] ? `{"a":${text}${comma}}` : `[${text}${comma}]`;
      return text;
    };
    const base = Object.entries(validCreate).filter(([key]) => key !== "dynamicData" && key !== "passbook");
    // Containers above the nested value: the root object (1), then dynamicData (2) or passbook, locations (3).
    if (where === "root") return { text: nest(depth), total: depth };
    if (where === "dynamicData")
      return { text: serialise(object([...base, ["dynamicData", object([["deep", raw(nest(depth))]])]])), total: depth + 2 };
    return { text: serialise(object([...base, ["passbook", object([["locations", raw(`[${nest(depth)}]`)]])]])), total: depth + 3 };
  });

// ---------------------------------------------------------------------------------------------
// The properties

const withAuth = (list: [string, string][], auth = BASIC): [string, string][] => [
  ...list.filter(([n]) => n !== "Authorization"),
  ["Authorization", auth],
];

describe("fuzzing POST /v1/passes", () => {
  it("answers any create body with a 2xx or a well-formed refusal, calling PassKit only for what it accepted", async () => {
    await fuzz(
      fc.asyncProperty(
        bodyFrom(fc.oneof({ weight: 2, arbitrary: passBody(1) }, { weight: 1, arbitrary: validCreateBody })),
        async (body) => {
          await exchange({
            method: "POST",
            path: "/v1/passes",
            headers: [
              ["Content-Type", "application/json"],
              ["Authorization", BASIC],
            ],
            body,
          });
        },
      ),
      2_500,
    );
  }, 90_000);

  it("holds whatever the headers say (Content-Type, Authorization, X-Dry-Run, Idempotency-Key, X-Request-Id)", async () => {
    await fuzz(
      fc.asyncProperty(
        headers,
        fc.oneof({ weight: 2, arbitrary: fc.constant<unknown>(validCreate) }, { weight: 1, arbitrary: passBody(1) }),
        async (list, value) => {
          const { status, problem } = await exchange({ method: "POST", path: "/v1/passes", headers: list, body: serialise(value) });
          const auth = list.find(([n]) => n === "Authorization")?.[1];
          expect(status === 401, `${auth} -> ${status}`).toBe(auth === undefined || !ACCEPTED_AUTH.has(auth));
          if (status === 415) expect(problem?.code).toBe("unsupported_media_type");
        },
      ),
      1_500,
    );
  }, 90_000);

  it("takes every valid create: 201, or 200 for a pass that already exists", async () => {
    await fuzz(
      fc.asyncProperty(
        validCreateBody,
        fc.constantFrom("application/json", "text/plain", undefined),
        fc.boolean(),
        async (value, type, trailing) => {
          const text = serialise(value);
          const body = trailing ? text.replace(/}$/, ",}") : text;
          const list: [string, string][] = [["Authorization", BASIC]];
          if (type) list.push(["Content-Type", type]);
          const { status, text: answer } = await exchange({ method: "POST", path: "/v1/passes", headers: list, body });
          expect([200, 201], answer).toContain(status);
        },
      ),
      400,
    );
  }, 90_000);

  it("refuses exactly the bodies over MAX_BODY_BYTES with 413, counting bytes, not characters", async () => {
    await fuzz(
      fc.asyncProperty(hugeBody, async ([target, unit, dry]) => {
        const body = paddedCreate(target, unit);
        const bytes = byteLength(body);
        const list: [string, string][] = [
          ["Authorization", BASIC],
          ["Content-Type", "application/json"],
        ];
        if (dry) list.push(["X-Dry-Run", "true"]);
        const { status, text } = await exchange({ method: "POST", path: "/v1/passes", headers: list, body });
        if (bytes > MAX_BODY_BYTES) expect(status).toBe(413);
        else expect(status, text.slice(0, 300)).not.toBe(413);
      }),
      300,
    );
  }, 90_000);

  it("refuses nesting deeper than 16 with a 400 pointing into the body, and reads 16 levels", async () => {
    await fuzz(
      fc.asyncProperty(deepBody, async ({ text, total }) => {
        const { status, problem } = await exchange({ method: "POST", path: "/v1/passes", headers: [["Authorization", BASIC]], body: text });
        if (total > MAX_DEPTH) {
          expect(status).toBe(400);
          expect(problem?.code).toBe("too_deep");
        } else {
          expect(problem?.code).not.toBe("too_deep");
        }
      }),
      400,
    );
  });
});

describe("fuzzing /v1/passes/{campaignName}/{userDefinedId}", () => {
  beforeEach(createExisting);

  it("finds an existing pass however its identifiers are percent-encoded in the path", async () => {
    await fuzz(
      fc.asyncProperty(existingSegments, async ([campaignPart, userPart]) => {
        const { status, text } = await exchange({
          method: "GET",
          path: `/v1/passes/${campaignPart}/${userPart}`,
          headers: [["Authorization", BASIC]],
        });
        expect(status, text).toBe(200);
        const pass = JSON.parse(text) as { campaignName: string; userDefinedId: string };
        expect([pass.campaignName, pass.userDefinedId]).toEqual([decodeURIComponent(campaignPart!), decodeURIComponent(userPart!)]);
      }),
      200,
    );
  });

  it("answers GET and DELETE on any path with a 2xx or a well-formed refusal", async () => {
    await fuzz(
      fc.asyncProperty(fc.constantFrom("GET", "DELETE"), passPathArb, headers, async (method, path, list) => {
        await exchange({ method, path, headers: withAuth(list.filter(([n]) => n !== "Content-Type")) });
      }),
      2_000,
    );
  }, 90_000);

  it("answers PUT with any path, headers and body with a 2xx or a well-formed refusal", async () => {
    await fuzz(
      fc.asyncProperty(passPathArb, headers, fc.boolean(), bodyFrom(passBody(6)), async (path, list, authed, body) => {
        await exchange({ method: "PUT", path, headers: authed ? withAuth(list) : list, body });
      }),
      1_500,
    );
  }, 90_000);

  it("updates, looks up and invalidates an existing pass whatever its identifiers, without a 5xx", async () => {
    // "." and ".." are left out: the proxy refuses them (no URL path can carry them).
    const name = fc
      .oneof(plainId, fc.string({ unit: "grapheme", minLength: 1, maxLength: 30 }))
      .filter((text) => text !== "." && text !== "..");
    await fuzz(
      fc.asyncProperty(name, plainId, async (campaignName, userDefinedId) => {
        const path = passPath(campaignName, userDefinedId);
        const created = await exchange({
          method: "POST",
          path: "/v1/passes",
          headers: [["Authorization", BASIC]],
          body: serialise({ ...validCreate, campaignName, userDefinedId }),
        });
        const update = await exchange({
          method: "PUT",
          path,
          headers: [["Authorization", BASIC]],
          body: serialise({ campaignName, isVoided: "true" }),
        });
        const lookup = await exchange({ method: "GET", path, headers: [["Authorization", BASIC]] });
        const removal = await exchange({ method: "DELETE", path, headers: [["Authorization", BASIC]] });
        // Identifiers the schema refuses (control characters, lone surrogates) are refused alike everywhere.
        if (created.status < 300) expect([update.status, lookup.status, removal.status]).toEqual([200, 200, 200]);
      }),
      150,
    );
  }, 90_000);
});

describe("fuzzing /v1/lifecycle/passkit", () => {
  it("answers any webhook, with or without Basic auth, with a 202 or a well-formed refusal and no PassKit call", async () => {
    await fuzz(
      fc.asyncProperty(
        fc.constantFrom("POST", "PUT", "DELETE"),
        fc.oneof({ weight: 3, arbitrary: fc.constant<string | undefined>(WEBHOOK_BASIC) }, { weight: 1, arbitrary: authorization }),
        contentType,
        bodyFrom(webhookBody),
        async (method, auth, type, body) => {
          const list: [string, string][] = [];
          if (auth !== undefined) list.push(["Authorization", auth]);
          if (type !== undefined) list.push(["Content-Type", type]);
          const upstreamBefore = passkit.calls.length;
          const { status } = await exchange({ method, path: "/v1/lifecycle/passkit", headers: list, body });
          expect(status === 401, `${auth} -> ${status}`).toBe(auth === undefined || !WEBHOOK_AUTH.has(auth));
          expect([202, 400, 401, 413, 415, 422]).toContain(status);
          expect(passkit.calls.length).toBe(upstreamBefore);
        },
      ),
      1_500,
    );
  }, 90_000);
});

/**
 * What the fuzzer found, each as its minimal input, fixed and kept as a regression test.
 */
describe("fuzzing regressions", () => {
  const intake = (body: string) =>
    exchange({
      method: "POST",
      path: "/v1/lifecycle/passkit",
      headers: [
        ["Authorization", WEBHOOK_BASIC],
        ["Content-Type", "application/json"],
      ],
      body,
    });

  it("refuses a webhook whose pass id is a lone surrogate with a 422 at /pass/id, not a 500 (lone_surrogate_pass_id)", async () => {
    const { status, problem } = await intake(String.raw`{"event":"RECORD_CREATED","pass":{"id":"\udfff","userDefinedId":"0"}}`);
    expect(status).toBe(422);
    expect(problem?.errors?.map((e) => e.pointer)).toEqual(["/pass/id"]);
    expect(queueSend).not.toHaveBeenCalled();
  });

  it("points at /pass/id when a long pass id makes the pass URL too long for Braze (webhook_422_without_pointer)", async () => {
    const { status, problem } = await intake(serialise({ event: "RECORD_CREATED", pass: { id: "x".repeat(255), userDefinedId: "0" } }));
    expect(status).toBe(422);
    expect(problem?.code).toBe("validation_failed");
    expect(problem?.errors?.map((e) => e.pointer)).toEqual(["/pass/id"]);
    expect(queueSend).not.toHaveBeenCalled();
  });

  it("does not quote a long unknown path back in its 404 (route_not_found_echoes_path)", async () => {
    const response = await send({ method: "GET", path: `/v1/passes/a/b/${"x".repeat(9_000)}`, headers: [["Authorization", BASIC]] });
    expect(response.status).toBe(404);
    expect((await response.text()).length).toBeLessThan(MAX_REFUSAL_BYTES);
  });

  it('refuses to create a pass named "..", which no URL path could address afterwards (dot_segment_identifier)', async () => {
    // Clients and the URL parser resolve "." and ".." (also "%2e%2e") away, so no path can name this pass.
    const created = await send({
      method: "POST",
      path: "/v1/passes",
      headers: [["Authorization", BASIC]],
      body: serialise({ ...validCreate, userDefinedId: ".." }),
    });
    expect(created.status).toBe(422);
    expect(passkit.calls).toEqual([]);
  });

  it("answers an update with no fields without writing anything: 404 for a pass that does not exist (empty_update_without_pointer)", async () => {
    const response = await send({
      method: "PUT",
      path: passPath("summer-loyalty", "user-123"),
      headers: [["Authorization", BASIC]],
      body: "{}",
    });
    expect(response.status).toBe(404);
    expect((await response.json<Problem>()).code).toBe("not_found");
    expect(passkit.apiCalls().map((c) => c.method)).toEqual(["GET"]);
  });
});
