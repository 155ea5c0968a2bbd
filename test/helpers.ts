import { createExecutionContext, createMessageBatch, getQueueResult, reset, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { vi } from "vitest";
import worker from "../src/index.ts";
import { FakeBraze } from "../fakes/braze.ts";
import { FakePassKit } from "../fakes/passkit.ts";
import { FakePassKitPlatform } from "../fakes/passkit-platform.ts";
import { cacheKey } from "../src/machinery/cache-key.ts";
import { lookupMemory } from "../src/machinery/cache.ts";
import { lifecycleEventId, type LifecycleMessage } from "../src/lifecycle/events.ts";
import { TEST_SECRETS } from "./secrets.ts";

export const PASSKIT_ORIGIN = "http://127.0.0.1:9";
/** PASSKIT_REST_URL in vitest.config.ts: PassKit's current platform. */
export const PLATFORM_ORIGIN = "http://[::1]:9";
export const BRAZE_ORIGIN = "http://localhost:9";
export const BASIC = `Basic ${btoa("braze:correct horse battery staple")}`;
/** The other roles' credentials (contract §9). */
export const WEBHOOK_BASIC = `Basic ${btoa("passkit:webhook tuna sandwich")}`;
export const OPERATOR_BASIC = `Basic ${btoa("ops:operator plum orchard")}`;

/** The programs and coupon campaigns the platform fake knows in tests. */
export const CATALOG = {
  programs: { "loyalty-program": ["base", "gold"] },
  couponCampaigns: { "spring-sale": ["ten-off", "twenty-off"] },
};

/** Fresh PassKit (v3 and current platform) and Braze fakes answering every outbound fetch to
 * their URLs; anything else fails. */
export function installFakes(): { passkit: FakePassKit; platform: FakePassKitPlatform; braze: FakeBraze } {
  const passkit = new FakePassKit({ apiKey: TEST_SECRETS.PASSKIT_API_KEY, apiSecret: TEST_SECRETS.PASSKIT_API_SECRET });
  const platform = new FakePassKitPlatform({ apiKey: TEST_SECRETS.PASSKIT_REST_KEY, apiSecret: TEST_SECRETS.PASSKIT_REST_SECRET });
  platform.seed(CATALOG);
  const braze = new FakeBraze({ apiKey: TEST_SECRETS.BRAZE_API_KEY });
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    if (request.url.startsWith(`${PASSKIT_ORIGIN}/v3/`)) return passkit.handle(request);
    if (request.url.startsWith(`${PLATFORM_ORIGIN}/`)) return platform.handle(request);
    if (request.url.startsWith(`${BRAZE_ORIGIN}/`)) return braze.handle(request);
    throw new Error(`unexpected outbound request to ${request.url}`);
  });
  lookupMemory.clear();
  return { passkit, platform, braze };
}

/** Wipes every binding's storage (KV, queues' state, Durable Objects), so one test's identifiers
 * cannot leak into the next. */
export async function resetAll(): Promise<void> {
  await reset();
}

/** The KV key of a pass's lookup entry. */
export function passKey(campaignName: string, userDefinedId: string): Promise<string> {
  return cacheKey("pass", [campaignName, userDefinedId]);
}

export function installPassKit(): FakePassKit {
  return installFakes().passkit;
}

export interface CallOptions {
  body?: unknown;
  headers?: Record<string, string>;
  auth?: string | null;
}

/**
 * Sends a request through the Worker's entry point, as Braze would, and waits for its background
 * work (cache writes, refreshes) to finish, so one test's leftovers cannot leak into the next.
 */
export async function call(method: string, path: string, options: CallOptions = {}): Promise<Response> {
  const headers = new Headers(options.headers);
  if (options.auth !== null) headers.set("Authorization", options.auth ?? BASIC);
  if (!headers.has("CF-Connecting-IP")) headers.set("CF-Connecting-IP", clientAddress());
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    if (!headers.has("Content-Type")) headers.set("Content-Type", "application/json");
  }
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request(`https://proxy.example${path}`, { method, headers, body }), env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

let clients = 0;

/** A client address of its own for each request, so the failed-login throttle (contract §9)
 * counts only what a test sends from one address on purpose. */
export function clientAddress(): string {
  clients++;
  return `198.18.${(clients >> 8) & 255}.${clients & 255}`;
}

export function passPath(campaignName: string, userDefinedId: string): string {
  return `/v1/passes/${encodeURIComponent(campaignName)}/${encodeURIComponent(userDefinedId)}`;
}

export const validCreate = {
  campaignName: "summer-loyalty",
  templateName: "gold-member",
  userDefinedId: "user-123",
  dynamicData: { firstName: "Ada", points: 120 },
  passbook: { relevantDate: "2019-09-29T12:59:40Z" },
};

/** A valid canonical lifecycle message for pass number `n` (an install reported by PassKit). */
export async function lifecycleMessage(n: number, overrides: Partial<LifecycleMessage> = {}): Promise<LifecycleMessage> {
  return {
    v: 1,
    eventId: await lifecycleEventId("installed", `pass-${n}`, "2026-11-26T10:00:00.000Z"),
    name: "installed",
    externalId: `user-${n}`,
    time: "2026-11-26T10:00:00.000Z",
    campaignName: "summer-loyalty",
    passId: `pass-${n}`,
    passUrl: `https://q.passkit.net/~/#/p/pass-${n}`,
    source: "passkit_webhook",
    product: "pass",
    platform: "apple",
    ...overrides,
  };
}

/** Runs the queue consumer over `bodies`, as the platform would deliver one batch of them. */
export async function consume(bodies: readonly unknown[]): Promise<void> {
  const batch = createMessageBatch(
    "passkit-lifecycle",
    bodies.map((body, index) => ({ id: `m${index}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  await getQueueResult(batch, ctx);
}
