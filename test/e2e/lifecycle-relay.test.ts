/**
 * End to end under `wrangler dev` (local Queues and Durable Objects) with the fakes on loopback:
 * 1,000 PassKit webhooks, 10% of them delivered twice, while Braze fails 20% of requests with 429
 * or 503. Braze must end with each of the 1,000 events exactly once, in requests of at most 75
 * objects, and no more than 1.2 × ceil(1000 / 75) accepted requests. Then a member enrol and a
 * coupon issue and redeem, through the same proxy: they reach PassKit's current platform (its
 * fake), and their lifecycle events reach Braze marked `product` member and coupon.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededRandom } from "../../fakes/faults.ts";
import { passKitWebhook } from "../../fakes/webhooks.ts";
import { until } from "../../scripts/lib/net.ts";
import { inPool } from "../../scripts/lib/pool.ts";
import { startLocalFakes, type LocalFakes } from "../../scripts/local-fakes.ts";
import { startWranglerDev, type WranglerDev } from "../../scripts/wrangler-dev.ts";

const EVENTS = 1_000;
const SECRETS = {
  PROXY_CREDENTIALS: "braze:e2e-braze-password",
  WEBHOOK_CREDENTIALS: "passkit:e2e-webhook-password",
  OPERATOR_CREDENTIALS: "operator:e2e-operator-password",
  PASSKIT_API_KEY: "e2e-key",
  PASSKIT_API_SECRET: "e2e-secret",
  PASSKIT_REST_KEY: "e2e-rest-key",
  PASSKIT_REST_SECRET: "e2e-rest-secret",
  BRAZE_API_KEY: "e2e-braze-key",
};
const basic = (line: string) => `Basic ${Buffer.from(line).toString("base64")}`;
/** PassKit's webhooks, Braze's webhooks and lookups, an operator: each role its own credential. */
const AUTH = basic(SECRETS.WEBHOOK_CREDENTIALS);
const BRAZE_AUTH = basic(SECRETS.PROXY_CREDENTIALS);
const OPERATOR_AUTH = basic(SECRETS.OPERATOR_CREDENTIALS);
const CATALOG = { programs: { "e2e-program": ["base", "gold"] }, couponCampaigns: { "e2e-campaign": ["ten-off"] } };

let fakes: LocalFakes;
let proxy: WranglerDev;

beforeAll(async () => {
  fakes = await startLocalFakes({
    passkitKey: SECRETS.PASSKIT_API_KEY,
    passkitSecret: SECRETS.PASSKIT_API_SECRET,
    brazeKey: SECRETS.BRAZE_API_KEY,
    platformKey: SECRETS.PASSKIT_REST_KEY,
    platformSecret: SECRETS.PASSKIT_REST_SECRET,
    catalog: CATALOG,
    random: seededRandom(20261126),
  });
  proxy = await startWranglerDev({
    vars: { ...SECRETS, PASSKIT_API_URL: fakes.passkitUrl, PASSKIT_REST_URL: fakes.platformUrl, BRAZE_REST_ENDPOINT: fakes.brazeUrl },
  });
}, 90_000);

afterAll(async () => {
  await proxy?.stop();
  await fakes?.close();
});

function webhook(n: number): string {
  const pass = { id: `pass${String(n).padStart(18, "0")}`, classId: "summer-loyalty", externalId: `user-${n}`, protocol: "MEMBERSHIP" };
  return JSON.stringify(passKitWebhook("INSTALLED", pass, { at: "2026-11-26T10:00:00Z", platform: "apple" }));
}

async function sendAll(bodies: string[], concurrency: number): Promise<number[]> {
  const statuses: number[] = [];
  await inPool(bodies, concurrency, async (body) => {
    const response = await fetch(`${proxy.url}/v1/lifecycle/passkit`, {
      method: "PUT",
      headers: { Authorization: AUTH, "Content-Type": "application/json" },
      body,
    });
    statuses.push(response.status);
    await response.arrayBuffer();
  });
  return statuses;
}

describe("lifecycle relay under wrangler dev", () => {
  it("delivers 1,000 webhooks (10% sent twice) to Braze exactly once each while Braze fails 20% of requests", async () => {
    // 10% 429 (the fake's X-RateLimit-Reset says when), then 10% of the rest 503: about 20% in all.
    fakes.braze.inject({ rate: 0.1, status: 429 });
    fakes.braze.inject({ rate: 0.111, status: 503 });

    const bodies = Array.from({ length: EVENTS }, (_, n) => webhook(n));
    const duplicates = bodies.filter((_, n) => n % 10 === 3);
    const statuses = await sendAll([...bodies, ...duplicates], 20);
    expect(statuses.filter((s) => s !== 202)).toEqual([]);

    await until(() => new Set(fakes.braze.events.map((e) => e.external_id)).size >= EVENTS, 170_000, 500);
    // Anything still queued (a retry, a late duplicate) would show up within a few batch windows.
    await sleep(12_000);

    const delivered = fakes.braze.events.map((e) => e.external_id);
    const accepted = fakes.braze.acceptedRequests();
    const failed = fakes.braze.requests.filter((r) => r.status !== 201);
    console.log(
      `[e2e] ${delivered.length} events in ${accepted.length} accepted requests (${failed.length} failed: ` +
        `${failed.filter((r) => r.status === 429).length}×429, ${failed.filter((r) => r.status === 503).length}×503); ` +
        `largest request ${Math.max(...fakes.braze.requests.map((r) => r.objects))} objects`,
    );
    if (new Set(delivered).size !== EVENTS) {
      const dead = await fetch(`${proxy.url}/v1/lifecycle/dead-letters?limit=5`, { headers: { Authorization: OPERATOR_AUTH } });
      const queueLines = proxy
        .output()
        .split("\n")
        .filter((line) => /QUEUE|rror/.test(line));
      console.log("[e2e] dead letters:", await dead.text(), "\n[e2e] wrangler queue log:\n", queueLines.join("\n"));
    }
    expect(new Set(delivered).size).toBe(EVENTS);
    expect(delivered).toHaveLength(EVENTS);
    expect(Math.max(...fakes.braze.requests.map((r) => r.objects))).toBeLessThanOrEqual(75);
    // The faults really happened: the run proved retries, not luck.
    expect(failed.filter((r) => r.status === 429).length).toBeGreaterThan(0);
    expect(failed.filter((r) => r.status === 503).length).toBeGreaterThan(0);
    expect(accepted.length).toBeLessThanOrEqual(Math.floor(1.2 * Math.ceil(EVENTS / 75)));
    expect(fakes.braze.events.every((e) => e.name === "passkit_pass_installed" && e.properties.platform === "apple")).toBe(true);
  }, 240_000);

  it("enrols a member and issues and redeems a coupon at PassKit's current platform; Braze gets their events as member and coupon", async () => {
    // The relay's Braze faults stay active forever (rate faults): this test is about products, not retries.
    fakes.braze.faults.clear();
    const send = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${proxy.url}${path}`, {
        method,
        headers: { Authorization: BRAZE_AUTH, "Content-Type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };

    const enrolled = await send("POST", "/v1/members", {
      programId: "e2e-program",
      tierId: "gold",
      externalId: "e2e-member",
      metaData: { favourite: "espresso" },
      points: 10,
    });
    expect(enrolled, JSON.stringify(enrolled.body)).toMatchObject({
      status: 201,
      body: { programId: "e2e-program", externalId: "e2e-member" },
    });
    const issued = await send("POST", "/v1/coupons", { campaignId: "e2e-campaign", offerId: "ten-off", externalId: "e2e-coupon" });
    expect(issued, JSON.stringify(issued.body)).toMatchObject({
      status: 201,
      body: { campaignId: "e2e-campaign", externalId: "e2e-coupon" },
    });
    const redeemed = await send("POST", "/v1/coupons/e2e-campaign/e2e-coupon/redeem", { redemptionDetails: { redemptionSource: "till" } });
    expect(redeemed, JSON.stringify(redeemed.body)).toMatchObject({ status: 200, body: { redeemed: true } });

    // PassKit's current platform holds them, as the proxy said.
    expect(fakes.platform.findMember("e2e-program", "e2e-member")).toMatchObject({
      id: enrolled.body.id,
      tierId: "gold",
      points: 10,
      metaData: { favourite: "espresso" },
    });
    expect(fakes.platform.findCoupon("e2e-campaign", "e2e-coupon")).toMatchObject({
      id: issued.body.id,
      offerId: "ten-off",
      status: "REDEEMED",
    });
    expect(fakes.platform.apiCalls("PUT", "/coupon/singleUse/coupon/redeem")).toHaveLength(1);

    const ours = () => fakes.braze.events.filter((e) => e.external_id === "e2e-member" || e.external_id === "e2e-coupon");
    await until(() => ours().length >= 3, 30_000, 250);
    const events = ours().map((e) => ({
      user: e.external_id,
      name: e.name,
      product: e.properties.product,
      campaign: e.properties.campaign_name,
      passId: e.properties.pass_id,
    }));
    expect(events).toEqual(
      expect.arrayContaining([
        { user: "e2e-member", name: "passkit_pass_created", product: "member", campaign: "e2e-program", passId: enrolled.body.id },
        { user: "e2e-coupon", name: "passkit_pass_created", product: "coupon", campaign: "e2e-campaign", passId: issued.body.id },
        { user: "e2e-coupon", name: "passkit_pass_redeemed", product: "coupon", campaign: "e2e-campaign", passId: issued.body.id },
      ]),
    );
    expect(events).toHaveLength(3);
  }, 45_000);
});
