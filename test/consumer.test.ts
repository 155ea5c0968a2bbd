import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { FakeBraze } from "../fakes/braze.ts";
import worker from "../src/index.ts";
import { ledger } from "../src/lifecycle/ledger.ts";
import {
  consumeLifecycleBatch,
  FULL_BATCH,
  MAX_DELIVERY_ATTEMPTS,
  MAX_QUEUE_DELAY_SECONDS,
  type ConsumeOptions,
} from "../src/lifecycle/consumer.ts";
import { MAX_RATE_LIMIT_WAIT_SECONDS, rateLimitWait } from "../src/braze/client.ts";
import { lifecycleMessageSchema } from "../src/lifecycle/events.ts";
import { installFakes, lifecycleMessage, resetAll } from "./helpers.ts";

let braze: FakeBraze;
/** The consumer's re-sends to the queue (a 429 is waited out there); never really queued here. */
let sendBatch: MockInstance<Queue["sendBatch"]>;
beforeEach(() => {
  braze = installFakes().braze;
  sendBatch = vi
    .spyOn(env.LIFECYCLE_EVENTS, "sendBatch")
    .mockResolvedValue({ metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } });
});
afterEach(async () => {
  vi.restoreAllMocks();
  await resetAll();
});

/**
 * One batch through the consumer. With `options` (a clock), the consumer is called directly;
 * otherwise through the Worker's queue handler, as the platform calls it.
 */
async function run(bodies: unknown[], attempts = 1, options?: ConsumeOptions) {
  const batch = createMessageBatch(
    "passkit-lifecycle",
    bodies.map((body, i) => ({ id: `m${i}`, timestamp: new Date(), attempts, body })),
  );
  // getQueueResult records which messages were retried but not the delay asked for, so the
  // delay is read from the call itself.
  const retries = new Map(batch.messages.map((message) => [message.id, vi.spyOn(message, "retry")]));
  const ctx = createExecutionContext();
  const resentBefore = sendBatch.mock.calls.length;
  if (options) await consumeLifecycleBatch(batch, env, options);
  else await worker.queue(batch, env, ctx);
  const result = await getQueueResult(batch, ctx);
  const retried = Object.fromEntries(result.retryMessages.map((r) => [r.msgId, retries.get(r.msgId)!.mock.calls[0]![0]?.delaySeconds]));
  /** What this run sent to the queue again: bodies with their delays. */
  const resent = sendBatch.mock.calls.slice(resentBefore).flatMap(([requests]) =>
    [...requests].map((request) => {
      expect(request.contentType).toBe("json");
      return { body: request.body as Record<string, unknown>, delaySeconds: request.delaySeconds! };
    }),
  );
  return { result, acked: [...result.explicitAcks].sort(), retried, resent };
}

const HOUR = 3_600_000;

const messages = (n: number, from = 0) => Promise.all(Array.from({ length: n }, (_, i) => lifecycleMessage(from + i)));

describe("lifecycle consumer", () => {
  it("delivers a batch as one /users/track call with the contract's event shape, and acks every message", async () => {
    const bodies = await messages(3);
    const { acked, retried } = await run(bodies);
    expect(acked).toEqual(["m0", "m1", "m2"]);
    expect(retried).toEqual({});
    expect(braze.acceptedRequests()).toHaveLength(1);
    expect(braze.events[0]).toEqual({
      external_id: "user-0",
      name: "passkit_pass_installed",
      time: "2026-11-26T10:00:00.000Z",
      properties: {
        campaign_name: "summer-loyalty",
        pass_id: "pass-0",
        pass_url: "https://q.passkit.net/~/#/p/pass-0",
        source: "passkit_webhook",
        product: "pass",
        platform: "apple",
      },
    });
    expect(await ledger(env).isDelivered(bodies[1]!.eventId)).toBe(true);
  });

  it("never puts more than 75 objects in one request", async () => {
    const { acked } = await run(await messages(99));
    expect(acked).toHaveLength(99);
    expect(braze.requests.map((r) => r.objects)).toEqual([75, 24]);
    expect(braze.events).toHaveLength(99);
  });

  it("holds back the remainder of a full batch for a fuller request, then sends it", async () => {
    const { acked, retried } = await run(await messages(FULL_BATCH));
    expect(acked).toHaveLength(75);
    expect(Object.keys(retried)).toHaveLength(25);
    expect(Object.values(retried).every((delay) => delay === 0)).toBe(true);
    expect(braze.requests.map((r) => r.objects)).toEqual([75]);
    // Held back too often already: sent now even though the batch is full.
    const again = await run(await messages(FULL_BATCH, 1000), 3);
    expect(again.acked).toHaveLength(FULL_BATCH);
    expect(braze.requests.map((r) => r.objects)).toEqual([75, 75, 25]);
  });

  it("sends an eventId once: copies in one batch, and copies in later batches, are acked without a second send", async () => {
    const [a, b] = await messages(2);
    const first = await run([a, b, a]);
    expect(first.acked).toEqual(["m0", "m1", "m2"]);
    expect(braze.events).toHaveLength(2);
    const later = await run([b, a]);
    expect(later.acked).toEqual(["m0", "m1"]);
    expect(braze.events).toHaveLength(2);
    expect(braze.requests).toHaveLength(1);
  });

  describe("Braze's 429 is waited out, never spent (contract §6)", () => {
    it("sends the events to the queue again, due at X-RateLimit-Reset, acks the originals, and sends nothing more from the batch", async () => {
      const reset = Math.ceil(Date.now() / 1000) + 40;
      braze.inject({ status: 429, headers: { "X-RateLimit-Reset": String(reset) } });
      const bodies = await messages(80);
      const { acked, retried, resent } = await run(bodies);
      // Acked, not retried: no attempt is spent.
      expect(acked).toHaveLength(80);
      expect(retried).toEqual({});
      // The first request's 75 and the 5 the 429 stopped, each once, in one sendBatch.
      expect(sendBatch).toHaveBeenCalledTimes(1);
      expect(resent.map((r) => r.body.eventId)).toEqual(bodies.map((b) => b.eventId));
      const wait = reset - Math.floor(Date.now() / 1000);
      for (const { body, delaySeconds } of resent) {
        expect(delaySeconds).toBeGreaterThanOrEqual(wait - 1);
        expect(delaySeconds).toBeLessThanOrEqual(wait + 3);
        // The whole canonical message, plus when it may be sent.
        expect(lifecycleMessageSchema.parse(body)).toEqual(bodies.find((b) => b.eventId === body.eventId));
        expect(Date.parse(body.notBefore as string)).toBeGreaterThanOrEqual(reset * 1000);
      }
      expect(braze.requests).toHaveLength(1);
      expect(braze.events).toHaveLength(0);
      expect((await ledger(env).listDeadLetters(10)).total).toBe(0);
      // The run's leases are freed: the re-sent messages are not "busy" when they come back.
      expect((await ledger(env).claim([bodies[0]!.eventId, bodies[79]!.eventId], "next-run")).claimed).toHaveLength(2);
    });

    it("re-sends a message that is on its last attempt instead of dead-lettering it: the 429 spends no attempt", async () => {
      braze.inject({ status: 429, headers: { "X-RateLimit-Reset": String(Math.ceil(Date.now() / 1000) + 86_400) } });
      const [body] = await messages(1);
      const { acked, retried, resent } = await run([body, body], MAX_DELIVERY_ATTEMPTS);
      expect(acked).toEqual(["m0", "m1"]);
      expect(retried).toEqual({});
      // Two copies of one event: it is re-sent once.
      expect(resent.map((r) => [r.body.eventId, r.delaySeconds])).toEqual([[body!.eventId, MAX_QUEUE_DELAY_SECONDS]]);
      expect((await ledger(env).listDeadLetters(10)).total).toBe(0);
    });

    it("waits out a reset 30 h ahead in steps of at most 12 h, without asking Braze in between, then delivers once", async () => {
      const t0 = Date.now();
      const clock = { now: t0 };
      const options: ConsumeOptions = { random: () => 0, now: () => clock.now };
      const reset = Math.ceil(t0 / 1000) + 30 * 3_600;
      braze.inject({ status: 429, headers: { "X-RateLimit-Reset": String(reset) } });
      const [original] = await messages(1);

      const first = await run([original], 4, options);
      expect(first.acked).toEqual(["m0"]);
      expect(first.resent.map((r) => r.delaySeconds)).toEqual([MAX_QUEUE_DELAY_SECONDS]);
      // Due at the reset, never before it (whole seconds from the clock's instant).
      const notBefore = Date.parse(first.resent[0]!.body.notBefore as string);
      expect(notBefore).toBeGreaterThanOrEqual(reset * 1000);
      expect(notBefore).toBeLessThan(reset * 1000 + 1000);

      // 12 h later the re-sent message arrives as a new one (attempt 1): still 18 h to go.
      clock.now = t0 + 12 * HOUR;
      const second = await run([first.resent[0]!.body], 1, options);
      expect(second.acked).toEqual(["m0"]);
      expect(second.retried).toEqual({});
      expect(second.resent.map((r) => [r.body.notBefore, r.delaySeconds])).toEqual([
        [first.resent[0]!.body.notBefore, MAX_QUEUE_DELAY_SECONDS],
      ]);

      // 24 h: the remainder, 6 h.
      clock.now = t0 + 24 * HOUR;
      const third = await run([second.resent[0]!.body], 1, options);
      expect(third.acked).toEqual(["m0"]);
      const remainder = Math.ceil((notBefore - clock.now) / 1000);
      expect(third.resent.map((r) => r.delaySeconds)).toEqual([remainder]);
      expect(remainder).toBeGreaterThanOrEqual(6 * 3_600);
      expect(remainder).toBeLessThanOrEqual(6 * 3_600 + 1);
      expect(braze.requests).toHaveLength(1);

      // At the reset it goes to Braze, once, and nothing more is queued.
      clock.now = notBefore;
      const last = await run([third.resent[0]!.body], 1, options);
      expect(last.acked).toEqual(["m0"]);
      expect(last.resent).toEqual([]);
      expect(braze.requests.map((r) => r.status)).toEqual([429, 201]);
      expect(braze.events.map((e) => e.external_id)).toEqual([original!.externalId]);
      expect(await ledger(env).isDelivered(original!.eventId)).toBe(true);
    });

    it("falls back to retry({delaySeconds}) when the queue refuses the re-send, and dead-letters only on the last attempt", async () => {
      const error = vi.spyOn(console, "error").mockImplementation(() => undefined);
      vi.spyOn(console, "warn").mockImplementation(() => undefined);
      sendBatch.mockRejectedValue(new Error("Queue sendBatch failed: overloaded"));
      const reset = Math.ceil(Date.now() / 1000) + 120;
      braze.inject({ status: 429, headers: { "X-RateLimit-Reset": String(reset) }, times: 2 });
      const early = await run(await messages(2), 3);
      expect(early.acked).toEqual([]);
      expect(Object.keys(early.retried)).toEqual(["m0", "m1"]);
      for (const delay of Object.values(early.retried)) {
        expect(delay).toBeGreaterThanOrEqual(118);
        expect(delay).toBeLessThanOrEqual(123);
      }
      expect(error.mock.calls.map(([line]) => line)).toContainEqual(
        expect.objectContaining({ event: "rate_limit_resend_failed", events: 2 }),
      );

      const last = await run(await messages(1, 5), MAX_DELIVERY_ATTEMPTS);
      expect(last.acked).toEqual(["m0"]);
      const { items } = await ledger(env).listDeadLetters(10);
      expect(items.map((i) => i.reason)).toEqual(["retries_exhausted: rate_limited (the queue refused the re-send)"]);
    });

    it("reads how long to wait from X-RateLimit-Reset, else Retry-After, without clamping to an hour", () => {
      const now = Date.parse("2026-11-26T10:00:00.000Z");
      const reset = (seconds: number) => new Headers({ "X-RateLimit-Reset": String(now / 1000 + seconds) });
      expect(rateLimitWait(reset(40), now)).toBe(40);
      expect(rateLimitWait(reset(86_400), now)).toBe(86_400);
      expect(rateLimitWait(reset(30 * 3_600), now)).toBe(108_000);
      // Already past: at least a second.
      expect(rateLimitWait(reset(-5), now)).toBe(1);
      expect(rateLimitWait(new Headers({ "Retry-After": "7200" }), now)).toBe(7_200);
      expect(rateLimitWait(new Headers({ "Retry-After": "Fri, 27 Nov 2026 10:00:00 GMT" }), now)).toBe(86_400);
      expect(rateLimitWait(new Headers(), now)).toBe(30);
      // A reset in milliseconds by mistake is not a wait of 55,000 years.
      expect(rateLimitWait(new Headers({ "X-RateLimit-Reset": String(now) }), now)).toBe(MAX_RATE_LIMIT_WAIT_SECONDS);
    });
  });

  it("backs off 5xx with jittered exponential delays that grow with attempts", async () => {
    braze.inject({ status: 503, times: 2 });
    const first = await run(await messages(1), 1);
    const later = await run(await messages(1, 10), 5);
    expect(first.acked).toEqual([]);
    expect(first.retried.m0).toBeGreaterThanOrEqual(3);
    expect(first.retried.m0).toBeLessThanOrEqual(5);
    expect(later.retried.m0).toBeGreaterThanOrEqual(40);
    expect(later.retried.m0).toBeLessThanOrEqual(80);
  });

  it("releases the claim of a failed send, so the retry delivers it", async () => {
    braze.inject({ status: 500 });
    const bodies = await messages(2);
    await run(bodies);
    expect(braze.events).toHaveLength(0);
    const retry = await run(bodies, 2);
    expect(retry.acked).toEqual(["m0", "m1"]);
    expect(braze.events).toHaveLength(2);
  });

  it("bisects a 400 so the poison event is dead-lettered and the rest delivered", async () => {
    const bodies = await messages(8);
    // Braze refuses every request that holds the poison event with a 400.
    braze.inject({ status: 400, rate: 1, bodyIncludes: '"user-5"', body: JSON.stringify({ message: "Invalid 'external_id'" }) });
    const { acked, retried } = await run(bodies);
    expect(retried).toEqual({});
    expect(acked).toHaveLength(8);
    expect(braze.events.map((e) => e.external_id).sort()).toEqual(["user-0", "user-1", "user-2", "user-3", "user-4", "user-6", "user-7"]);
    // 8 → [0-3] ok, [4-7] → [4,5] → [4] ok, [5] poison; [6,7] ok: the bisection's requests, no more.
    expect(braze.requests.map((r) => r.status)).toEqual([400, 201, 400, 400, 201, 400, 201]);
    const { items } = await ledger(env).listDeadLetters(10);
    expect(items.map((i) => [i.eventId, i.reason])).toEqual([[bodies[5]!.eventId, "braze_bad_request: Invalid 'external_id'"]]);
    expect(await ledger(env).isDelivered(bodies[5]!.eventId)).toBe(false);
    expect(await ledger(env).isDelivered(bodies[4]!.eventId)).toBe(true);
  });

  it("dead-letters the events a 201 lists in errors, with Braze's reason, and acks the rest", async () => {
    const bodies = await messages(3);
    braze.inject({
      status: 201,
      body: JSON.stringify({ message: "success", errors: [{ type: "'external_id' is blocklisted", input_array: "events", index: 1 }] }),
    });
    const { acked } = await run(bodies);
    expect(acked).toEqual(["m0", "m1", "m2"]);
    const { items } = await ledger(env).listDeadLetters(10);
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ eventId: bodies[1]!.eventId, reason: "braze_rejected: 'external_id' is blocklisted", attempts: 1 });
    expect(await ledger(env).isDelivered(bodies[1]!.eventId)).toBe(false);
    expect(await ledger(env).isDelivered(bodies[0]!.eventId)).toBe(true);
    expect(await ledger(env).isDelivered(bodies[2]!.eventId)).toBe(true);
  });

  it("retries slowly and logs loudly when Braze refuses the API key, then dead-letters on the last attempt", async () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => undefined);
    braze.inject({ status: 401, times: 2 });
    const early = await run(await messages(1), 1);
    expect(early.retried.m0).toBeGreaterThanOrEqual(150);
    expect(error.mock.calls.map(([line]) => line)).toContainEqual(
      expect.objectContaining({
        level: "error",
        event: "braze_retry",
        status: 401,
        reason: "braze_auth: Braze answered 401",
        action: expect.stringContaining("BRAZE_API_KEY"),
      }),
    );
    const last = await run(await messages(1), MAX_DELIVERY_ATTEMPTS);
    expect(last.acked).toEqual(["m0"]);
    const { items } = await ledger(env).listDeadLetters(10);
    expect(items[0]!.reason).toBe("retries_exhausted: braze_auth: Braze answered 401");
    expect(items[0]!.attempts).toBe(MAX_DELIVERY_ATTEMPTS);
  });

  it("acks what Braze accepted even when the ledger cannot record it, rather than sending it again", async () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const real = env.LIFECYCLE_LEDGER.getByName("ledger");
    vi.spyOn(env.LIFECYCLE_LEDGER, "getByName").mockReturnValue(
      new Proxy(real, {
        get: (target, property) =>
          property === "complete" ? () => Promise.reject(new Error("storage overloaded")) : Reflect.get(target, property),
      }),
    );
    const { acked, retried } = await run(await messages(2));
    expect(acked).toEqual(["m0", "m1"]);
    expect(retried).toEqual({});
    expect(braze.events).toHaveLength(2);
    expect(error.mock.calls.map(([line]) => line)).toContainEqual(
      expect.objectContaining({ event: "ledger_complete_failed", reason: expect.stringContaining("storage overloaded") }),
    );
  });

  describe("leases in the ledger", () => {
    async function runWith(env2: typeof env, bodies: unknown[]) {
      const batch = createMessageBatch(
        "passkit-lifecycle",
        bodies.map((body, i) => ({ id: `m${i}`, timestamp: new Date(), attempts: 1, body })),
      );
      const retries = new Map(batch.messages.map((message) => [message.id, vi.spyOn(message, "retry")]));
      const ctx = createExecutionContext();
      await worker.queue(batch, env2, ctx);
      const result = await getQueueResult(batch, ctx);
      return {
        acked: [...result.explicitAcks].sort(),
        retried: Object.fromEntries(result.retryMessages.map((r) => [r.msgId, retries.get(r.msgId)!.mock.calls[0]![0]])),
      };
    }
    const smallChunks = () => ({ ...env, BRAZE_MAX_OBJECTS_PER_REQUEST: "2" });

    it("records each accepted request at once, so another run cannot send those events while the batch goes on", async () => {
      const bodies = await messages(4);
      braze.inject({ latencyMs: 400, bodyIncludes: '"user-2"' });
      const running = runWith(smallChunks(), bodies);
      await vi.waitFor(() => expect(braze.events).toHaveLength(2), { timeout: 2_000, interval: 20 });
      expect(await ledger(env).isDelivered(bodies[0]!.eventId)).toBe(true);
      expect(await ledger(env).isDelivered(bodies[2]!.eventId)).toBe(false);
      // A second copy of an event from the first request, arriving now, is acked without a send.
      const copy = await runWith(env, [bodies[0]]);
      expect(copy.acked).toEqual(["m0"]);
      expect((await running).acked).toEqual(["m0", "m1", "m2", "m3"]);
      expect(braze.events.map((e) => e.external_id)).toEqual(["user-0", "user-1", "user-2", "user-3"]);
    });

    it("does not send what another run took over after its lease lapsed, and retries it instead", async () => {
      const bodies = await messages(4);
      braze.inject({ latencyMs: 300, bodyIncludes: '"user-0"' });
      const running = runWith(smallChunks(), bodies);
      await vi.waitFor(() => expect(braze.requests).toHaveLength(1), { timeout: 2_000, interval: 10 });
      // As if the first request had outlasted the lease: another run claims the second chunk.
      const other = await ledger(env).claim([bodies[2]!.eventId, bodies[3]!.eventId], "another-run", Date.now() + 61_000);
      expect(other.claimed).toHaveLength(2);
      const { acked, retried } = await running;
      expect(acked).toEqual(["m0", "m1"]);
      expect(Object.keys(retried).sort()).toEqual(["m2", "m3"]);
      expect(braze.events.map((e) => e.external_id)).toEqual(["user-0", "user-1"]);
    });

    it("never frees another run's lease", async () => {
      const [a] = await messages(1);
      expect((await ledger(env).claim([a!.eventId], "run-a")).claimed).toEqual([a!.eventId]);
      await ledger(env).release([a!.eventId], "run-b");
      expect((await ledger(env).claim([a!.eventId], "run-c")).busy).toEqual([a!.eventId]);
    });
  });

  it("retries after a 5xx that Braze returned after processing, so Braze then holds the events twice (the window docs/storage.md describes)", async () => {
    const bodies = await messages(2);
    braze.inject({ status: 503, afterProcessing: true });
    const first = await run(bodies);
    expect(Object.keys(first.retried)).toEqual(["m0", "m1"]);
    expect(braze.events).toHaveLength(2);
    const retry = await run(bodies, 2);
    expect(retry.acked).toEqual(["m0", "m1"]);
    // Nothing the proxy can see tells the lost answer from a failure: Braze does not deduplicate.
    expect(braze.events.map((e) => e.external_id)).toEqual(["user-0", "user-1", "user-0", "user-1"]);
  });

  it("dead-letters a message that is not a lifecycle message instead of retrying it forever", async () => {
    const { acked } = await run([{ hello: "world" }]);
    expect(acked).toEqual(["m0"]);
    expect(braze.requests).toHaveLength(0);
    const { items } = await ledger(env).listDeadLetters(10);
    expect(items[0]!.reason).toBe("invalid_message: not a lifecycle message");
  });

  it("logs every dead-lettered event whole when the ledger cannot keep it, and lets the queue retry", async () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => undefined);
    vi.spyOn(env.LIFECYCLE_LEDGER, "getByName").mockReturnValue(
      new Proxy(env.LIFECYCLE_LEDGER.getByName("ledger"), {
        get: (target, property) =>
          property === "addDeadLetters" ? () => Promise.reject(new Error("ledger down")) : Reflect.get(target, property),
      }),
    );
    const body = await lifecycleMessage(8);
    const batch = createMessageBatch("passkit-lifecycle-dlq", [{ id: "d1", timestamp: new Date(), attempts: 3, body }]);
    const ctx = createExecutionContext();
    await expect(worker.queue(batch, env, ctx)).rejects.toThrow("ledger down");
    const logged = error.mock.calls.map(([line]) => line);
    expect(logged).toContainEqual(
      expect.objectContaining({ event: "dead_letter_not_stored", eventId: body.eventId, product: "pass", body }),
    );
  });

  it("keeps what reaches the dead-letter queue in the ledger", async () => {
    const body = await lifecycleMessage(7);
    const batch = createMessageBatch("passkit-lifecycle-dlq", [{ id: "d1", timestamp: new Date(), attempts: 11, body }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.ackAll).toBe(true);
    const { items } = await ledger(env).listDeadLetters(10);
    expect(items[0]).toMatchObject({ eventId: body.eventId, attempts: 11 });
    expect(JSON.parse(items[0]!.eventJson)).toEqual(body);
  });
});
