import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { FakeBraze } from "../fakes/braze.ts";
import worker from "../src/index.ts";
import { emitLifecycle } from "../src/lifecycle/emit.ts";
import { ledger } from "../src/lifecycle/ledger.ts";
import { installFakes, lifecycleMessage, resetAll } from "./helpers.ts";

/**
 * Issue 9, "an operator's first incident": every dead letter and every Braze retry writes one
 * structured line (an object, which Workers Logs indexes) with `event`, `requestId` where there is
 * one, `product`, the upstream `status` and the `reason`.
 */

type Line = Record<string, unknown>;
let braze: FakeBraze;
let consoles: MockInstance[];

beforeEach(() => {
  braze = installFakes().braze;
  vi.spyOn(env.LIFECYCLE_EVENTS, "sendBatch").mockResolvedValue({ metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } });
  consoles = (["log", "info", "warn", "error"] as const).map((method) => vi.spyOn(console, method).mockImplementation(() => undefined));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await resetAll();
});

/** Every console line written so far; each must be an object, not a string. */
function lines(): Line[] {
  return consoles.flatMap((spy) =>
    spy.mock.calls.map(([line]) => {
      expect(typeof line, String(line)).toBe("object");
      return line as Line;
    }),
  );
}
const linesOf = (event: string) => lines().filter((line) => line.event === event);

async function consume(queue: string, bodies: unknown[], attempts = 1): Promise<void> {
  const batch = createMessageBatch(
    queue,
    bodies.map((body, i) => ({ id: `m${i}`, timestamp: new Date(), attempts, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  await getQueueResult(batch, ctx);
}

describe("structured log lines of the lifecycle relay", () => {
  it("a Braze 503 writes one braze_retry line with the product, Braze's status, the reason and the delay", async () => {
    braze.inject({ status: 503 });
    await consume("passkit-lifecycle", [await lifecycleMessage(1), await lifecycleMessage(2)]);
    expect(linesOf("braze_retry")).toEqual([
      {
        level: "warn",
        event: "braze_retry",
        product: "pass",
        status: 503,
        reason: "braze_unavailable: Braze answered 503",
        events: 2,
        attempts: 1,
        delaySeconds: expect.any(Number),
      },
    ]);
    expect(linesOf("dead_lettered")).toEqual([]);
  });

  it("an unreachable Braze and a gateway 504 each write one braze_retry line with the reason", async () => {
    braze.inject({ status: 504, times: 1 });
    vi.mocked(fetch).mockRejectedValueOnce(new TypeError("Network connection lost."));
    await consume("passkit-lifecycle", [await lifecycleMessage(1, { product: "coupon" })]);
    await consume("passkit-lifecycle", [await lifecycleMessage(1, { product: "coupon" })], 2);
    expect(linesOf("braze_retry").map((line) => [line.product, line.status, line.reason])).toEqual([
      ["coupon", undefined, "braze_unreachable: Network connection lost."],
      ["coupon", 504, "braze_unavailable: Braze answered 504"],
    ]);
  });

  it("a 429 writes one braze_retry line saying the events were sent again, and when they are due", async () => {
    braze.inject({ status: 429, headers: { "X-RateLimit-Reset": String(Math.ceil(Date.now() / 1000) + 600) } });
    await consume("passkit-lifecycle", [await lifecycleMessage(1, { product: "member" })]);
    expect(linesOf("braze_retry")).toEqual([
      expect.objectContaining({
        level: "warn",
        product: "member",
        status: 429,
        reason: "rate_limited",
        resend: true,
        waitSeconds: expect.any(Number),
        notBefore: expect.any(String),
      }),
    ]);
  });

  it("a dead letter stored by the consumer writes one dead_lettered line with its event id, product, status and reason", async () => {
    const poison = await lifecycleMessage(5, { product: "member" });
    braze.inject({ status: 400, body: JSON.stringify({ message: "Invalid 'external_id'" }) });
    await consume("passkit-lifecycle", [poison]);
    expect(linesOf("dead_lettered")).toEqual([
      {
        level: "error",
        event: "dead_lettered",
        source: "consumer",
        eventId: poison.eventId,
        product: "member",
        status: 400,
        reason: "braze_bad_request: Invalid 'external_id'",
        attempts: 1,
      },
    ]);
    expect((await ledger(env).listDeadLetters(10)).total).toBe(1);
  });

  it("a retry budget spent on Braze 503s dead-letters with Braze's status in the line", async () => {
    braze.inject({ status: 503 });
    const body = await lifecycleMessage(3);
    await consume("passkit-lifecycle", [body], 10);
    expect(linesOf("dead_lettered")).toEqual([
      expect.objectContaining({
        eventId: body.eventId,
        product: "pass",
        status: 503,
        reason: "retries_exhausted: braze_unavailable: Braze answered 503",
        attempts: 10,
      }),
    ]);
  });

  it("the dead-letter queue's consumer writes one dead_lettered line per letter it keeps", async () => {
    const [a, b] = [await lifecycleMessage(1), await lifecycleMessage(2, { product: "coupon" })];
    await consume("passkit-lifecycle-dlq", [a, b], 11);
    expect(linesOf("dead_lettered").map((line) => [line.source, line.eventId, line.product, line.reason])).toEqual([
      ["dead_letter_queue", a.eventId, "pass", "retries_exhausted: delivered to the dead-letter queue by the platform"],
      ["dead_letter_queue", b.eventId, "coupon", "retries_exhausted: delivered to the dead-letter queue by the platform"],
    ]);
  });

  it("an event the queue refuses twice writes enqueue_failed and dead_lettered, with the request id and product", async () => {
    vi.spyOn(env.LIFECYCLE_EVENTS, "send").mockRejectedValue(new Error("Queue send failed: overloaded"));
    const message = await lifecycleMessage(4, { product: "member" });
    await emitLifecycle(env, message, { requestId: "req-42" });
    const reason = "enqueue_failed: Error: Queue send failed: overloaded";
    expect(linesOf("enqueue_failed")).toEqual([
      { level: "error", event: "enqueue_failed", requestId: "req-42", eventId: message.eventId, product: "member", reason, attempts: 2 },
    ]);
    expect(linesOf("dead_lettered")).toEqual([
      {
        level: "error",
        event: "dead_lettered",
        source: "emit",
        requestId: "req-42",
        eventId: message.eventId,
        product: "member",
        reason,
        attempts: 0,
      },
    ]);
    expect((await ledger(env).listDeadLetters(10)).items.map((item) => item.reason)).toEqual([reason]);
  });

  it("an event that neither the queue nor the ledger takes is logged whole, as lost", async () => {
    vi.spyOn(env.LIFECYCLE_EVENTS, "send").mockRejectedValue(new Error("Queue send failed: overloaded"));
    vi.spyOn(env.LIFECYCLE_LEDGER, "getByName").mockReturnValue(
      new Proxy(env.LIFECYCLE_LEDGER.getByName("ledger"), {
        get: (target, property) =>
          property === "addDeadLetters" ? () => Promise.reject(new Error("ledger down")) : Reflect.get(target, property),
      }),
    );
    const message = await lifecycleMessage(6);
    await emitLifecycle(env, message, { requestId: "req-43" });
    expect(linesOf("lifecycle_event_lost")).toEqual([
      expect.objectContaining({ requestId: "req-43", eventId: message.eventId, product: "pass", lost: message }),
    ]);
    expect(linesOf("dead_lettered")).toEqual([]);
  });
});
