import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { env } from "cloudflare:workers";
import type { FakeBraze } from "../fakes/braze.ts";
import type { FakePassKitPlatform } from "../fakes/passkit-platform.ts";
import { call, consume, installFakes, WEBHOOK_BASIC, resetAll } from "./helpers.ts";

const CAMPAIGN = "spring-sale";
const couponPath = (externalId: string, suffix = "") => `/v1/coupons/${CAMPAIGN}/${encodeURIComponent(externalId)}${suffix}`;
const issue = {
  campaignId: CAMPAIGN,
  offerId: "ten-off",
  externalId: "user-123",
  sku: "SKU-1",
  metaData: { channel: "email", code: "ABC" },
};

type Problem = { code: string; errors?: { pointer: string }[] };

let platform: FakePassKitPlatform;
let braze: FakeBraze;
let send: MockInstance<Queue["send"]>;
beforeEach(() => {
  ({ platform, braze } = installFakes());
  send = vi.spyOn(env.LIFECYCLE_EVENTS, "send").mockResolvedValue({ metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } });
});
afterEach(async () => {
  vi.restoreAllMocks();
  await resetAll();
});

const names = () => send.mock.calls.map(([body]) => (body as { name: string }).name);

describe("a coupon's life through /v1/coupons", () => {
  it("is issued (201), looked up, redeemed twice with one PassKit redeem call, then voided and gone", async () => {
    const issued = await call("POST", "/v1/coupons", { body: issue });
    expect(issued.status).toBe(201);
    const { id, url } = await issued.json<{ id: string; url: string }>();
    expect(platform.findCoupon(CAMPAIGN, "user-123")).toMatchObject({
      id,
      offerId: "ten-off",
      status: "UNREDEEMED",
      metaData: { channel: "email", code: "ABC" },
    });

    const lookup = await call("GET", couponPath("user-123"));
    expect(lookup.headers.get("X-Cache")).toBe("HIT");
    expect(await lookup.json()).toMatchObject({
      id,
      url,
      campaignId: CAMPAIGN,
      offerId: "ten-off",
      redeemed: false,
      redemptionDate: null,
      installed: false,
      appleUrl: `${url}.pkpass`,
    });

    const first = await call("POST", couponPath("user-123", "/redeem"), { body: { redemptionDetails: { redemptionCode: "TILL-4" } } });
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ redeemed: true, status: "REDEEMED", redemptionDate: expect.any(String) });
    const second = await call("POST", couponPath("user-123", "/redeem"));
    expect(second.status).toBe(200);
    expect(await second.json()).toMatchObject({ redeemed: true });
    expect(platform.apiCalls("PUT", "/redeem")).toHaveLength(1);
    expect(JSON.parse(platform.apiCalls("PUT", "/redeem")[0]!.body)).toMatchObject({
      id,
      campaignId: CAMPAIGN,
      redemptionDetails: { redemptionCode: "TILL-4" },
    });
    expect(await (await call("GET", couponPath("user-123"))).json()).toMatchObject({ redeemed: true });

    const voided = await call("DELETE", couponPath("user-123"));
    expect(voided.status).toBe(200);
    expect(platform.findCoupon(CAMPAIGN, "user-123")).toBeUndefined();
    expect(JSON.parse(platform.apiCalls("DELETE")[0]!.body)).toEqual({ id, campaignId: CAMPAIGN });
    expect((await call("GET", couponPath("user-123"))).status).toBe(404);
    expect(names()).toEqual(["created", "redeemed", "invalidated"]);
  });

  it("answers a re-sent issue 200 with the same coupon, and one with a changed field updates only that", async () => {
    const first = await (await call("POST", "/v1/coupons", { body: issue })).json<{ id: string }>();
    const again = await call("POST", "/v1/coupons", { body: issue });
    expect(again.status).toBe(200);
    expect((await again.json<{ id: string }>()).id).toBe(first.id);
    expect(platform.couponCount()).toBe(1);
    expect(platform.apiCalls().filter((c) => c.method === "PUT")).toEqual([]);
    const changed = await call("POST", "/v1/coupons", { body: { ...issue, metaData: { channel: "sms" } } });
    expect(changed.status).toBe(200);
    expect(platform.findCoupon(CAMPAIGN, "user-123")!.metaData).toEqual({ channel: "sms", code: "ABC" });
    expect(names()).toEqual(["created", "updated"]);
  });

  it("merges metaData on update, and refuses an unknown campaign or offer with a 422 naming both", async () => {
    await call("POST", "/v1/coupons", { body: issue });
    expect((await call("PUT", couponPath("user-123"), { body: { metaData: { code: null, reminder: "2" } } })).status).toBe(200);
    expect(platform.findCoupon(CAMPAIGN, "user-123")!.metaData).toEqual({ channel: "email", reminder: "2" });
    const unknown = await call("POST", "/v1/coupons", { body: { ...issue, externalId: "user-9", offerId: "half-price" } });
    expect(unknown.status).toBe(422);
    expect((await unknown.json<Problem>()).errors!.map((e) => e.pointer)).toEqual(["/campaignId", "/offerId"]);
  });

  it("answers a redemption of a coupon PassKit does not have with 404 and redeems nothing", async () => {
    const response = await call("POST", couponPath("nobody", "/redeem"));
    expect(response.status).toBe(404);
    expect(platform.apiCalls("PUT")).toEqual([]);
  });

  it("shows a redemption reported by PassKit's webhook in the next lookup, and relays it to Braze once", async () => {
    const { id } = await (await call("POST", "/v1/coupons", { body: issue })).json<{ id: string }>();
    expect(await (await call("GET", couponPath("user-123"))).json()).toMatchObject({ redeemed: false });
    // Redeemed at the till, not through the proxy.
    const till = await call("POST", couponPath("user-123", "/redeem"), { headers: { "X-Dry-Run": "true" } });
    expect(till.status).toBe(200);
    await platform.handle(await signedRedeem(id));
    const webhook = { event: "COUPON_EVENT_REDEEMED", pass: { id, classId: CAMPAIGN, protocol: 101, externalId: "user-123" } };
    expect((await call("POST", "/v1/lifecycle/passkit", { body: webhook, auth: WEBHOOK_BASIC })).status).toBe(202);
    expect(await (await call("GET", couponPath("user-123"))).json()).toMatchObject({ redeemed: true });
    await consume(send.mock.calls.map(([body]) => body));
    expect(braze.events.map((e) => [e.name, e.properties.product, e.properties.campaign_name])).toEqual([
      ["passkit_pass_created", "coupon", CAMPAIGN],
      ["passkit_pass_redeemed", "coupon", CAMPAIGN],
    ]);
  });
});

/** A redeem call straight to the fake, as PassKit's own till integration would make it. */
async function signedRedeem(id: string): Promise<Request> {
  const { signHs256 } = await import("../src/crypto.ts");
  const now = Math.floor(Date.now() / 1000);
  const jwt = await signHs256("test-rest-secret", { uid: "test-rest-key", iat: now - 5, exp: now + 30 });
  return new Request("http://[::1]:9/coupon/singleUse/coupon/redeem", {
    method: "PUT",
    headers: { Authorization: jwt },
    body: JSON.stringify({ id, campaignId: CAMPAIGN }),
  });
}
