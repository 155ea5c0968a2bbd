import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { FakeBraze } from "../fakes/braze.ts";
import worker from "../src/index.ts";
import { ledger } from "../src/lifecycle/ledger.ts";
import { FULL_BATCH, MAX_DELIVERY_ATTEMPTS } from "../src/lifecycle/consumer.ts";
import { installFakes, lifecycleMessage, resetAll } from "./helpers.ts";

let braze: FakeBraze;
beforeEach(() => {
  braze = installFakes().braze;
});
afterEach(async () => {
  vi.restoreAllMocks();
  await resetAll();
});

async function run(bodies: unknown[], attempts = 1) {
  const batch = createMessageBatch(
    "passkit-lifecycle",
    bodies.map((body, i) => ({ id: `m${i}`, timestamp: new Date(), attempts, body })),
  );
  // getQueueResult records which messages were retried but not the delay asked for, so the
  // delay is read from the call itself.
  const retries = new Map(batch.messages.map((message) => [message.id, vi.spyOn(message, "retry")]));
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  const result = await getQueueResult(batch, ctx);
  const retried = Object.fromEntries(result.retryMessages.map((r) => [r.msgId, retries.get(r.msgId)!.mock.calls[0]![0]?.delaySeconds]));
  return { result, acked: [...result.explicitAcks].sort(), retried };
}

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
      properties: { campaign_name: "summer-loyalty", pass_id: "pass-0", pass_url: "https://q.passkit.net/~/#/p/pass-0", source: "passkit_webhook", product: "pass", platform: "apple" },
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

  it("retries a 429 no earlier than X-RateLimit-Reset and sends nothing more from the batch", async () => {
    const reset = Math.ceil(Date.now() / 1000) + 40;
    braze.inject({ status: 429, headers: { "X-RateLimit-Reset": String(reset) } });
    const { acked, retried } = await run(await messages(80));
    expect(acked).toEqual([]);
    const delays = Object.values(retried);
    expect(delays).toHaveLength(80);
    for (const delay of delays) expect(delay).toBeGreaterThanOrEqual(reset - Math.floor(Date.now() / 1000) - 1);
    expect(braze.requests).toHaveLength(1);
    expect(braze.events).toHaveLength(0);
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
    braze.inject({ status: 201, body: JSON.stringify({ message: "success", errors: [{ type: "'external_id' is blocklisted", input_array: "events", index: 1 }] }) });
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
    expect(error.mock.calls.some(([line]) => String(line).includes("braze_auth_failed"))).toBe(true);
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
      new Proxy(real, { get: (target, property) => (property === "complete" ? () => Promise.reject(new Error("storage overloaded")) : Reflect.get(target, property)) }),
    );
    const { acked, retried } = await run(await messages(2));
    expect(acked).toEqual(["m0", "m1"]);
    expect(retried).toEqual({});
    expect(braze.events).toHaveLength(2);
    expect(error.mock.calls.some(([line]) => String(line).includes("ledger_complete_failed"))).toBe(true);
  });

  describe("leases in the ledger", () => {
    async function runWith(env2: typeof env, bodies: unknown[]) {
      const batch = createMessageBatch("passkit-lifecycle", bodies.map((body, i) => ({ id: `m${i}`, timestamp: new Date(), attempts: 1, body })));
      const retries = new Map(batch.messages.map((message) => [message.id, vi.spyOn(message, "retry")]));
      const ctx = createExecutionContext();
      await worker.queue(batch, env2, ctx);
      const result = await getQueueResult(batch, ctx);
      return { acked: [...result.explicitAcks].sort(), retried: Object.fromEntries(result.retryMessages.map((r) => [r.msgId, retries.get(r.msgId)!.mock.calls[0]![0]])) };
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
      new Proxy(env.LIFECYCLE_LEDGER.getByName("ledger"), { get: (target, property) => (property === "addDeadLetters" ? () => Promise.reject(new Error("ledger down")) : Reflect.get(target, property)) }),
    );
    const body = await lifecycleMessage(8);
    const batch = createMessageBatch("passkit-lifecycle-dlq", [{ id: "d1", timestamp: new Date(), attempts: 3, body }]);
    const ctx = createExecutionContext();
    await expect(worker.queue(batch, env, ctx)).rejects.toThrow("ledger down");
    const logged = error.mock.calls.map(([line]) => JSON.parse(String(line)) as { event: string; body: unknown });
    expect(logged).toContainEqual(expect.objectContaining({ event: "dead_letter_not_stored", body }));
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
