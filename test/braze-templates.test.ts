import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { env } from "cloudflare:workers";
import Liquid from "brazejs";
import readme from "../README.md?raw";
import type { FakePassKit } from "../fakes/passkit.ts";
import type { FakePassKitPlatform } from "../fakes/passkit-platform.ts";
import { cacheKey } from "../src/machinery/cache-key.ts";
import { lookupMemory } from "../src/machinery/cache.ts";
import { BASIC, call, installFakes, resetAll } from "./helpers.ts";
import { TEST_SECRETS } from "./secrets.ts";

/**
 * The Braze set-ups of README "Setting up Braze", as Braze renders them. Each template is read
 * from the README (the ```liquid block under its `<!-- template: NAME -->` marker), rendered by
 * brazejs (a Braze-compatible Liquid engine) for awkward but real users, and sent through the Worker
 * with `call()`; the assertions are on what reached the PassKit fakes and on what Braze would send.
 *
 * brazejs runs inside the Workers runtime. Its `connected_content` fetches with Node's `request`,
 * which would leave the test's fetch fakes, so that one tag is replaced: brazejs still parses the
 * tag and its options, and renders the URL, and the GET goes through the Worker with the Basic
 * credential named by `:basic_auth`; a 2xx JSON answer is saved under `:save`, anything else saves
 * nothing (Braze renders a 404 as nothing).
 *
 * brazejs differs from Braze in ways these templates steer clear of: `json_escape` is
 * JSON.stringify (it throws on a missing attribute, hence `| default: ''` before it, which Braze
 * wants anyway), and `url_param_escape` is encodeURIComponent. Braze documents `hey<&>hi` →
 * `hey%3C%26%3Ehi`, as brazejs gives, with Shopify's description of the filter, whose output writes
 * a space as `%20` (not `+`); that Braze does the same for a space is inferred, not documented.
 * The non-ASCII user's Idempotency-Key is sent as Braze sends it, UTF-8 bytes in a header; workerd
 * prints a warning for each such request, which is expected.
 */

const WORKER = "https://<your-worker>";
const AUTH_PLACEHOLDER = "Basic <base64 of user:password>";
const IDEMPOTENCY_KEY = "{{campaign.${dispatch_id}}}-{{${user_id}}}";
const TEST_TAB_DISPATCH_ID = "dispatch_id_for_unsent_campaign";
const PROGRAM = "loyalty-program";
const COUPON_CAMPAIGN = "spring-sale";

const WEBHOOKS = [
  "pass-create",
  "pass-update",
  "pass-invalidate",
  "member-enrol",
  "member-update",
  "member-points",
  "coupon-issue",
  "coupon-redeem",
] as const;
const LOOKUPS = ["pass-lookup", "member-lookup", "coupon-lookup"] as const;
type WebhookName = (typeof WEBHOOKS)[number];
type LookupName = (typeof LOOKUPS)[number];

// ---- The templates, from the README ---------------------------------------------------------

const MARKED_BLOCK = /<!-- template: ([a-z-]+) -->\n```liquid\n([\s\S]*?)\n```\n/g;
const templates = new Map([...readme.matchAll(MARKED_BLOCK)].map(([, name, text]) => [name!, text!]));

function template(name: WebhookName | LookupName): string {
  const text = templates.get(name);
  if (text === undefined) throw new Error(`README.md has no \`\`\`liquid block under <!-- template: ${name} -->`);
  return text;
}

// ---- Users as Braze holds them --------------------------------------------------------------

interface BrazeUser {
  label: string;
  user_id: string;
  /** The user id as the URL carries it after `url_param_escape`. */
  segment: string;
  first_name?: string;
  last_name?: string;
  email_address?: string;
  custom_attribute?: { loyalty_points?: number; favourite_store?: string };
}

const USERS: BrazeUser[] = [
  { label: "no email, no last name, no custom attributes", user_id: "user-no-email", segment: "user-no-email", first_name: "Ada" },
  {
    label: `a quote and an apostrophe in the name (O'Brien "Bob")`,
    user_id: "obrien-7",
    segment: "obrien-7",
    first_name: `O'Brien "Bob"`,
    last_name: `Back\\slash`,
    email_address: "bob@example.com",
    custom_attribute: { loyalty_points: 120, favourite_store: `Bob's "Best"` },
  },
  {
    label: "a non-ASCII id (ümlaut-日本)",
    user_id: "ümlaut-日本",
    segment: "%C3%BCmlaut-%E6%97%A5%E6%9C%AC",
    first_name: "Jürgen",
    last_name: "山田",
    email_address: "jurgen@example.com",
    custom_attribute: { loyalty_points: 7, favourite_store: "München" },
  },
  {
    label: "an id with a space",
    user_id: "ada lovelace",
    segment: "ada%20lovelace",
    first_name: "Ada",
    last_name: "Lovelace",
    email_address: "ada@example.com",
    custom_attribute: { loyalty_points: 0, favourite_store: "Leeds" },
  },
  {
    label: "an id with /",
    user_id: "crm/42",
    segment: "crm%2F42",
    first_name: "Grace",
    last_name: "Hopper",
    email_address: "grace@example.com",
    custom_attribute: { loyalty_points: 3.5, favourite_store: "Arlington" },
  },
];

const [firstLine = ""] = TEST_SECRETS.PROXY_CREDENTIALS.split("\n");
const colon = firstLine.indexOf(":");
/** Settings → Connected Content → Basic credential `passkit_proxy`, as brazejs reads it. */
const SECRETS = { passkit_proxy: { username: firstLine.slice(0, colon), password: firstLine.slice(colon + 1) } };

let dispatches = 0;
/** A fresh Braze dispatch id: each send of a campaign has its own. */
const nextDispatchId = () => `65a1c0e9f2b4d0012${String(++dispatches).padStart(7, "0")}`;

function contextOf(user: BrazeUser, dispatchId: string): Record<string, unknown> {
  const { label: _label, segment: _segment, ...attributes } = user;
  return { ...attributes, campaign: { dispatch_id: dispatchId }, __secrets: SECRETS };
}

// ---- Rendering, as Braze does --------------------------------------------------------------

const engine = new Liquid();
type TagImpl = { url: string; options: Record<string, string | true>; liquid: Liquid };
const brazeConnectedContent = Object.getPrototypeOf(
  (engine.parse(`{% connected_content ${WORKER}/ %}`)[0] as unknown as { impl: object }).impl,
) as {
  parse: (...args: unknown[]) => void;
};

/** The Connected Content lookups made while rendering, with the proxy's status. */
let lookups: { url: string; status: number }[] = [];

engine.registerTag("connected_content", {
  parse: brazeConnectedContent.parse as never,
  async render(ctx) {
    const tag = this as unknown as TagImpl;
    const url: string = await tag.liquid.parseAndRender(tag.url, ctx.getAll());
    expect(url.startsWith(`${WORKER}/`)).toBe(true);
    const secrets = (ctx.environments as Record<string, unknown>).__secrets as Record<string, { username: string; password: string }>;
    const secret = secrets[String(tag.options.basic_auth)];
    if (!secret) throw new Error(`no Connected Content credential named ${String(tag.options.basic_auth)}`);
    const response = await call("GET", url.slice(WORKER.length), { auth: `Basic ${btoa(`${secret.username}:${secret.password}`)}` });
    lookups.push({ url, status: response.status });
    if (response.status >= 200 && response.status < 300) {
      const json = await response.json<Record<string, unknown>>();
      (ctx.environments as Record<string, unknown>)[String(tag.options.save ?? "connected")] = {
        ...json,
        __http_status_code__: response.status,
      };
    }
    return "";
  },
});

interface Webhook {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** Splits a webhook block (method and URL; headers; blank line; body) and renders each field on
 * its own, as Braze renders the composer's fields. */
async function renderWebhook(name: WebhookName, user: BrazeUser, dispatchId = nextDispatchId()): Promise<Webhook> {
  const text = template(name);
  const blank = text.indexOf("\n\n");
  const head = blank === -1 ? text : text.slice(0, blank);
  const [requestLine = "", ...headerLines] = head.split("\n");
  const space = requestLine.indexOf(" ");
  const context = contextOf(user, dispatchId);
  const render = (part: string): Promise<string> => engine.parseAndRender(part, context);
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const separator = line.indexOf(": ");
    headers[line.slice(0, separator)] = await render(line.slice(separator + 2));
  }
  return {
    method: requestLine.slice(0, space),
    url: await render(requestLine.slice(space + 1)),
    headers,
    body: blank === -1 ? undefined : await render(text.slice(blank + 2)),
  };
}

/** Sends a rendered webhook to the Worker, as Braze would, with the real credential in place of the placeholder. */
async function send(hook: Webhook, extraHeaders: Record<string, string> = {}): Promise<Response> {
  expect(hook.url.startsWith(`${WORKER}/v1/`)).toBe(true);
  const { Authorization: authorization, ...headers } = hook.headers;
  expect(authorization).toBe(AUTH_PLACEHOLDER);
  return call(hook.method, hook.url.slice(WORKER.length), { headers: { ...headers, ...extraHeaders }, auth: BASIC, body: hook.body });
}

type Message = { sent: string } | { aborted: string };

/** Renders a Connected Content snippet for `user`: the message text Braze would send (blank lines
 * and indentation dropped), or the reason it was aborted. */
async function renderMessage(name: LookupName, user: BrazeUser): Promise<Message> {
  try {
    const text = await engine.render(engine.parse(template(name)), contextOf(user, nextDispatchId()));
    return {
      sent: text
        .split("\n")
        .map((line) => line.trim())
        .filter(Boolean)
        .join("\n"),
    };
  } catch (error) {
    if (error instanceof Error && error.name === "AbortError") return { aborted: error.message };
    throw error;
  }
}

// ---- Fakes -----------------------------------------------------------------------------------

let passkit: FakePassKit;
let platform: FakePassKitPlatform;
let queue: MockInstance<Queue["send"]>;
beforeEach(() => {
  ({ passkit, platform } = installFakes());
  queue = vi.spyOn(env.LIFECYCLE_EVENTS, "send").mockResolvedValue({ metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } });
  lookups = [];
});
afterEach(async () => {
  vi.restoreAllMocks();
  await resetAll();
});

const queued = () => queue.mock.calls.map(([body]) => (body as { name: string; externalId: string }).name);
const platformWrites = () => platform.apiCalls().filter((c) => c.method !== "GET" && !c.url.includes("/list/"));
const lookupUrl = (product: string, campaign: string, user: BrazeUser) => `${WORKER}/v1/${product}/${campaign}/${user.segment}`;

/** Forgets the cached lookup, as PassKit's lifecycle webhook does when the wallet changes. */
async function evictMemberLookup(externalId: string): Promise<void> {
  lookupMemory.clear();
  await env.PASS_CACHE.delete(await cacheKey("member", [PROGRAM, externalId]));
}

// ---- Tests -----------------------------------------------------------------------------------

describe("README 'Setting up Braze'", () => {
  it("holds exactly the eleven templates, each a ```liquid block under its marker; every webhook sends the Basic credential and the Idempotency-Key", () => {
    expect(readme.match(/<!-- template: /g)).toHaveLength(templates.size);
    expect([...templates.keys()].sort()).toEqual([...WEBHOOKS, ...LOOKUPS].sort());
    for (const name of WEBHOOKS) {
      const text = template(name);
      const [head = "", body] = text.split("\n\n");
      const [requestLine = "", ...headerLines] = head.split("\n");
      expect(requestLine, name).toMatch(/^(POST|PUT|DELETE) https:\/\/<your-worker>\/v1\/.+$/);
      const headers = Object.fromEntries(
        headerLines.map((line) => [line.slice(0, line.indexOf(": ")), line.slice(line.indexOf(": ") + 2)]),
      );
      expect(headers, name).toEqual({
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        Authorization: AUTH_PLACEHOLDER,
        "Idempotency-Key": IDEMPOTENCY_KEY,
      });
      // The user id is escaped wherever it goes: url_param_escape in the URL, json_escape in the body.
      expect(requestLine.replaceAll("{{${user_id} | url_param_escape}}", ""), name).not.toContain("${");
      if (body !== undefined)
        expect(body.match(/\{\{\$\{(user_id|first_name|last_name)\}(?! \| (default: '' \| )?json_escape)/g), name).toBeNull();
    }
    for (const name of LOOKUPS)
      expect(template(name), name).toMatch(
        /^\{% connected_content https:\/\/<your-worker>\/v1\/\S+\/\{\{\$\{user_id\} \| url_param_escape\}\} :basic_auth passkit_proxy /,
      );
  });
});

describe("passes (PassKit v3), rendered for awkward users", () => {
  it.each(USERS)("create, Braze's retry of it, lookup, update, invalidate, lookup: $label", async (user) => {
    const create = await renderWebhook("pass-create", user);
    const created = await send(create);
    expect(created.status).toBe(201);
    const answer = await created.json<{ id: string; url: string }>();
    const stored = passkit.findPass("summer-loyalty", user.user_id)!;
    expect(answer).toEqual({
      id: stored.id,
      url: `https://q.passkit.net/~/#/p/${stored.id}`,
      campaignName: "summer-loyalty",
      userDefinedId: user.user_id,
    });
    expect(stored).toMatchObject({
      templateName: "gold-member",
      dynamicData: { firstName: user.first_name ?? "", lastName: user.last_name ?? "" },
      passbook: { relevantDate: "2026-12-24T18:00:00Z" },
    });
    // No email: "" is not sent to PassKit at all (contract §8.1).
    const [sent] = passkit.apiCalls("POST");
    expect(JSON.parse(sent!.body).recoveryEmail).toBe(user.email_address);
    expect(stored.recoveryEmail).toBe(user.email_address);

    // Braze retries the very same request (a timeout, a 5xx on the way): the first answer, no PassKit call.
    const calls = passkit.calls.length;
    const retried = await send(create);
    expect(retried.status).toBe(201);
    expect(await retried.json()).toEqual(answer);
    expect(passkit.calls.length).toBe(calls);

    expect(await renderMessage("pass-lookup", user)).toEqual({ sent: `<a href="${answer.url}">Add to Apple Wallet or Google Wallet</a>` });
    expect(lookups).toEqual([{ url: lookupUrl("passes", "summer-loyalty", user), status: 200 }]);

    const updated = await send(await renderWebhook("pass-update", user));
    expect(updated.status).toBe(200);
    expect(passkit.findPass("summer-loyalty", user.user_id)!.dynamicData).toMatchObject({
      points: String(user.custom_attribute?.loyalty_points ?? 0),
    });

    const invalidated = await send(await renderWebhook("pass-invalidate", user));
    expect(invalidated.status).toBe(200);
    expect(await invalidated.json()).toMatchObject({ id: stored.id, userDefinedId: user.user_id, isInvalid: true });
    expect(passkit.findPass("summer-loyalty", user.user_id)!.isInvalid).toBe(true);
    expect(await renderMessage("pass-lookup", user)).toEqual({ sent: "Your summer pass is no longer valid." });

    expect(passkit.passCount()).toBe(1);
    expect(queued()).toEqual(["created", "updated", "invalidated"]);
  });

  it("shows the wallet link only while the pass is neither voided, redeemed nor invalid", async () => {
    const user = USERS[1]!;
    const { url } = await (await send(await renderWebhook("pass-create", user))).json<{ url: string }>();
    const link = { sent: `<a href="${url}">Add to Apple Wallet or Google Wallet</a>` };
    const invalid = { sent: "Your summer pass is no longer valid." };
    const path = `/v1/passes/summer-loyalty/${user.segment}`;
    for (const field of ["isVoided", "isRedeemed"]) {
      expect((await call("PUT", path, { body: { [field]: true } })).status).toBe(200);
      expect(await renderMessage("pass-lookup", user), field).toEqual(invalid);
      expect((await call("PUT", path, { body: { [field]: false } })).status).toBe(200);
      expect(await renderMessage("pass-lookup", user), `${field} false`).toEqual(link);
    }
    expect((await call("DELETE", path)).status).toBe(200);
    expect(await renderMessage("pass-lookup", user)).toEqual(invalid);
  });
});

describe("members (PassKit Membership), rendered for awkward users", () => {
  it.each(USERS)("enrol, Braze's retry of it, lookup before and after install, update one metaData key, points: $label", async (user) => {
    const enrol = await renderWebhook("member-enrol", user);
    const enrolled = await send(enrol);
    expect(enrolled.status).toBe(201);
    const answer = await enrolled.json<{ id: string; url: string }>();
    const member = platform.findMember(PROGRAM, user.user_id)!;
    expect(answer).toEqual({ id: member.id, url: `https://pub1.pskt.io/${member.id}`, programId: PROGRAM, externalId: user.user_id });
    // What PassKit was sent: empty attributes left out, names exactly as Braze holds them, metaData as text.
    const [sent] = platformWrites();
    expect(JSON.parse(sent!.body)).toEqual({
      programId: PROGRAM,
      tierId: "base",
      externalId: user.user_id,
      person: {
        ...(user.first_name === undefined ? {} : { forename: user.first_name }),
        ...(user.last_name === undefined ? {} : { surname: user.last_name }),
        ...(user.email_address === undefined ? {} : { emailAddress: user.email_address }),
      },
      ...(user.custom_attribute?.loyalty_points === undefined ? {} : { points: user.custom_attribute.loyalty_points }),
      metaData: { signupSource: "braze" },
    });
    expect(member).toMatchObject({
      tierId: "base",
      points: user.custom_attribute?.loyalty_points ?? 0,
      metaData: { signupSource: "braze" },
    });

    const calls = platform.calls.length;
    const retried = await send(enrol);
    expect(retried.status).toBe(201);
    expect(await retried.json()).toEqual(answer);
    expect(platform.calls.length).toBe(calls);

    // Not installed yet: the nudge, with both official buttons.
    expect(await renderMessage("member-lookup", user)).toEqual({
      sent: [
        "Your membership card is waiting:",
        `<a href="${answer.url}.pkpass"><img src="https://<your-cdn>/add-to-apple-wallet.svg" alt="Add to Apple Wallet" height="48"></a>`,
        `<a href="${answer.url}.gpay"><img src="https://<your-cdn>/add-to-google-wallet.svg" alt="Add to Google Wallet" height="48"></a>`,
      ].join("\n"),
    });
    expect(lookups).toEqual([{ url: lookupUrl("members", PROGRAM, user), status: 200 }]);

    // One metaData key: merged into what PassKit holds, the whole map sent.
    const update = await send(await renderWebhook("member-update", user));
    expect(update.status).toBe(200);
    const merged = { signupSource: "braze", favouriteStore: user.custom_attribute?.favourite_store ?? "" };
    expect((await update.json<{ metaData: unknown }>()).metaData).toEqual(merged);
    expect(platform.findMember(PROGRAM, user.user_id)!.metaData).toEqual(merged);

    // Points: set to the attribute's value. A user without the attribute changes nothing: the
    // balance PassKit holds (set here by another source) is not zeroed.
    const withoutPoints = user.custom_attribute?.loyalty_points === undefined;
    if (withoutPoints) expect((await call("PUT", `/v1/members/${PROGRAM}/${user.segment}`, { body: { points: 40 } })).status).toBe(200);
    const writes = platformWrites().length;
    const points = await send(await renderWebhook("member-points", user));
    expect(points.status).toBe(200);
    expect(await points.json()).toMatchObject({ points: user.custom_attribute?.loyalty_points ?? 40 });
    if (withoutPoints) expect(platformWrites().length).toBe(writes);
    const later = { ...user, custom_attribute: { ...user.custom_attribute, loyalty_points: 250 } };
    expect((await send(await renderWebhook("member-points", later))).status).toBe(200);
    expect(platform.findMember(PROGRAM, user.user_id)).toMatchObject({ points: 250 });

    // Installed: no nudge.
    platform.setPassStatus("member", member.id as string, "PASS_INSTALLED");
    await evictMemberLookup(user.user_id);
    expect(await renderMessage("member-lookup", later)).toEqual({ sent: "You have 250 points." });
    expect(platform.memberCount()).toBe(1);
  });
});

describe("coupons (PassKit Single-use coupons), rendered for awkward users", () => {
  it.each(USERS)("issue, Braze's retry of it, lookup, redeem, Braze's retry and a second redeem, lookup: $label", async (user) => {
    const issue = await renderWebhook("coupon-issue", user);
    const issued = await send(issue);
    expect(issued.status).toBe(201);
    const answer = await issued.json<{ id: string; url: string }>();
    const coupon = platform.findCoupon(COUPON_CAMPAIGN, user.user_id)!;
    expect(answer).toEqual({
      id: coupon.id,
      url: `https://pub1.pskt.io/${coupon.id}`,
      campaignId: COUPON_CAMPAIGN,
      externalId: user.user_id,
    });
    expect(coupon).toMatchObject({ offerId: "ten-off", status: "UNREDEEMED", metaData: { channel: "braze" } });
    const [sent] = platformWrites();
    expect(JSON.parse(sent!.body).person).toEqual({
      ...(user.first_name === undefined ? {} : { forename: user.first_name }),
      ...(user.email_address === undefined ? {} : { emailAddress: user.email_address }),
    });

    const calls = platform.calls.length;
    expect((await send(issue)).status).toBe(201);
    expect(platform.calls.length).toBe(calls);

    expect(await renderMessage("coupon-lookup", user)).toEqual({
      sent: `Your 10% off is still waiting: <a href="${answer.url}">add it to your wallet</a>.`,
    });
    expect(lookups).toEqual([{ url: lookupUrl("coupons", COUPON_CAMPAIGN, user), status: 200 }]);

    const dispatchId = nextDispatchId();
    const redeem = await renderWebhook("coupon-redeem", user, dispatchId);
    expect(redeem.url).toBe(`${lookupUrl("coupons", COUPON_CAMPAIGN, user)}/redeem`);
    const redeemed = await send(redeem);
    expect(redeemed.status).toBe(200);
    const view = await redeemed.json();
    expect(view).toMatchObject({
      id: coupon.id,
      externalId: user.user_id,
      redeemed: true,
      status: "REDEEMED",
      redemptionDate: expect.any(String),
    });
    const redeemCalls = platform.apiCalls("PUT", "/redeem");
    expect(redeemCalls).toHaveLength(1);
    expect(JSON.parse(redeemCalls[0]!.body)).toMatchObject({
      redemptionDetails: { redemptionSource: "braze", redemptionReference: dispatchId },
    });

    const before = platform.calls.length;
    const retried = await send(redeem);
    expect(retried.status).toBe(200);
    expect(await retried.json()).toEqual(view);
    expect(platform.calls.length).toBe(before);
    const again = await send(await renderWebhook("coupon-redeem", user));
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ redeemed: true });
    expect(platform.apiCalls("PUT", "/redeem")).toHaveLength(1);

    expect(await renderMessage("coupon-lookup", user)).toEqual({ sent: "Thanks for using your spring coupon." });
    expect(platform.couponCount()).toBe(1);
    expect(queued()).toEqual(["created", "redeemed"]);
  });
});

describe("Connected Content for a user the proxy has nothing for", () => {
  it.each(USERS)("aborts each message (the proxy answers 404): $label", async (user) => {
    expect(await renderMessage("pass-lookup", user)).toEqual({ aborted: "no pass for this user" });
    expect(await renderMessage("member-lookup", user)).toEqual({ aborted: "no member for this user" });
    expect(await renderMessage("coupon-lookup", user)).toEqual({ aborted: "no coupon for this user" });
    expect(lookups).toEqual([
      { url: lookupUrl("passes", "summer-loyalty", user), status: 404 },
      { url: lookupUrl("members", PROGRAM, user), status: 404 },
      { url: lookupUrl("coupons", COUPON_CAMPAIGN, user), status: 404 },
    ]);
  });
});

describe("Braze's Test tab", () => {
  it("renders dispatch_id_for_unsent_campaign, which the proxy ignores: a second test send really updates, not a replay", async () => {
    const user = USERS[1]!;
    const first = await renderWebhook("member-enrol", user, TEST_TAB_DISPATCH_ID);
    expect(first.headers["Idempotency-Key"]).toBe(`${TEST_TAB_DISPATCH_ID}-${user.user_id}`);
    expect((await send(first)).status).toBe(201);
    const renamed = await renderWebhook("member-enrol", { ...user, first_name: "Robert" }, TEST_TAB_DISPATCH_ID);
    expect(renamed.headers["Idempotency-Key"]).toBe(first.headers["Idempotency-Key"]);
    expect((await send(renamed)).status).toBe(200);
    expect(platform.findMember(PROGRAM, user.user_id)!.person).toMatchObject({ forename: "Robert" });
    expect(platform.memberCount()).toBe(1);
  });

  it.each(WEBHOOKS)("with X-Dry-Run: true, %s answers 200 with the PassKit calls it would make, and makes none", async (name) => {
    const user = USERS[4]!;
    const response = await send(await renderWebhook(name, user, TEST_TAB_DISPATCH_ID), { "X-Dry-Run": "true" });
    expect(response.status).toBe(200);
    const answer = await response.json<{ dryRun: boolean; passKitRequests: { method: string; path: string }[] }>();
    expect(answer.dryRun).toBe(true);
    expect(answer.passKitRequests.length).toBeGreaterThan(0);
    for (const request of answer.passKitRequests) expect(request).toMatchObject({ method: expect.any(String), path: expect.any(String) });
    expect(passkit.calls).toEqual([]);
    expect(platform.calls).toEqual([]);
    expect(queued()).toEqual([]);
  });
});
