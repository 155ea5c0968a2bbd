import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../src/index.ts";
import { app } from "../src/app.ts";
import { lifecycleMessageSchema, type LifecycleMessage } from "../src/lifecycle/events.ts";
import { ledger } from "../src/lifecycle/ledger.ts";
import { BASIC, call, installPassKit, passPath, validCreate, resetAll, WEBHOOK_BASIC } from "./helpers.ts";

const INTAKE = "/v1/lifecycle/passkit";
/** A PassKit pass id is 22 characters. */
const PASS_ID = "4vQbXk2Rr9TnWc7LpJ3sZa";
const PASS_URL = `https://q.passkit.net/~/#/p/${PASS_ID}`;
const SECRET = "s3cret";

type Problem = { code: string; status: number; errors?: { pointer: string; detail: string }[] };
type Accepted = { accepted: true; eventId: string; name?: string; deadLettered?: string };

let send: MockInstance<Queue["send"]>;
beforeEach(() => {
  // The real producer would hand the message to the local consumer; the tests read what was sent.
  send = vi.spyOn(env.LIFECYCLE_EVENTS, "send").mockResolvedValue({ metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } });
});
afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  await resetAll();
});

function webhook(event: string, pass: Record<string, unknown> = {}) {
  return { event, pass: { id: PASS_ID, classId: "summer-loyalty", userDefinedId: "user-123", ...pass } };
}

/** The messages put on the lifecycle queue so far, each checked against the canonical shape. */
function enqueued(): LifecycleMessage[] {
  return send.mock.calls.map(([body, options]) => {
    expect(options).toEqual({ contentType: "json" });
    return lifecycleMessageSchema.parse(body);
  });
}

/** A webhook as PassKit sends it with the webhook role's Basic credentials (no signing secret set). */
async function deliver(body: unknown, method = "POST", options: { auth?: string | null } = {}) {
  return call(method, INTAKE, { body, auth: WEBHOOK_BASIC, ...options });
}

/** `t=<nonce>,s=<hex HMAC-SHA256(secret, nonce + "." + body)>`, computed here without the src code. */
async function signature(secret: string, nonce: string, body: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${nonce}.${body}`)));
  return `t=${nonce},s=${Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** A request to a Worker whose PASSKIT_WEBHOOK_SECRET is set. */
async function deliverWithSecret(body: string, headers: Record<string, string>, method = "POST"): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await app.request(
    INTAKE,
    { method, headers: { "Content-Type": "application/json", ...headers }, body },
    { ...env, PASSKIT_WEBHOOK_SECRET: SECRET },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return response;
}

describe("PassKit webhooks become lifecycle messages", () => {
  const cases = [
    ["RECORD_CREATED", "POST", "created"],
    ["INSTALLED", "PUT", "installed"],
    ["RECORD_UPDATED", "PUT", "updated"],
    ["UNINSTALLED", "PUT", "deleted"],
    ["INVALIDATED", "PUT", "invalidated"],
    ["RECORD_DELETED", "DELETE", "invalidated"],
  ] as const;

  it.each(cases.flatMap(([event, method, name]) => [[`PASS_EVENT_${event}`, method, name] as const, [event, method, name] as const]))(
    "%s sent with %s is queued once as Braze's `%s` event and answered 202 with its eventId",
    async (event, method, name) => {
      const response = await deliver(webhook(event), method);
      expect(response.status).toBe(202);
      const body = await response.json<Accepted>();
      const messages = enqueued();
      expect(messages).toHaveLength(1);
      expect(messages[0]).toMatchObject({
        name,
        externalId: "user-123",
        passId: PASS_ID,
        campaignName: "summer-loyalty",
        source: "passkit_webhook",
      });
      expect(body).toEqual({ accepted: true, eventId: messages[0]!.eventId, name });
    },
  );

  it("reports an update whose universal.status is PASS_INSTALLED as an install", async () => {
    await deliver(webhook("PASS_EVENT_RECORD_UPDATED", { recordData: { "universal.status": "PASS_INSTALLED" } }), "PUT");
    expect(enqueued().map((m) => m.name)).toEqual(["installed"]);
  });

  it("reports an update whose universal.status is PASS_UNINSTALLED as a removal from the wallet", async () => {
    await deliver(webhook("PASS_EVENT_RECORD_UPDATED", { recordData: { "universal.status": "PASS_UNINSTALLED" } }), "PUT");
    expect(enqueued().map((m) => m.name)).toEqual(["deleted"]);
  });

  it("tells Braze about an install once when PassKit reports it both as INSTALLED and through universal.status", async () => {
    const metadata = { lastInstalledAt: new Date(Date.now() - 60_000).toISOString() };
    const installed = await (await deliver(webhook("PASS_EVENT_INSTALLED", { metadata }), "PUT")).json<Accepted>();
    const viaStatus = await (
      await deliver(webhook("PASS_EVENT_RECORD_UPDATED", { metadata, recordData: { "universal.status": "PASS_INSTALLED" } }), "PUT")
    ).json<Accepted>();
    expect(viaStatus.eventId).toBe(installed.eventId);
    expect(enqueued().map((m) => m.eventId)).toEqual([installed.eventId, installed.eventId]);
  });
});

describe("universal.status restated on later updates", () => {
  it("names an install restated by a later update after its own install time, so it is the same event as the install (contract §9)", async () => {
    const lastInstalledAt = new Date(Date.now() - 3 * 86_400_000).toISOString();
    const install = await (await deliver(webhook("PASS_EVENT_INSTALLED", { metadata: { lastInstalledAt } }), "PUT")).json<Accepted>();
    const restated = await (
      await deliver(
        webhook("PASS_EVENT_RECORD_UPDATED", {
          metadata: { lastInstalledAt, updatedAt: new Date().toISOString() },
          recordData: { "universal.status": "PASS_INSTALLED" },
        }),
        "PUT",
      )
    ).json<Accepted>();
    expect(restated.eventId).toBe(install.eventId);
    expect(enqueued().map((m) => m.name)).toEqual(["installed", "installed"]);
  });

  it("gives a redelivered webhook the same eventId whenever it arrives: nothing depends on the clock (contract §9)", async () => {
    const body = webhook("PASS_EVENT_RECORD_UPDATED", {
      metadata: { lastInstalledAt: "2026-11-01T10:00:00Z" },
      recordData: { "universal.status": "PASS_INSTALLED" },
    });
    const first = await (await deliver(body, "PUT")).json<Accepted>();
    vi.useFakeTimers({ now: Date.now() + 20 * 86_400_000, toFake: ["Date"] });
    const later = await (await deliver(body, "PUT")).json<Accepted>();
    expect(later.eventId).toBe(first.eventId);
  });

  it("gives every status-only restatement without timestamps the same eventId, so Braze sees one install", async () => {
    const first = await (
      await deliver(webhook("PASS_EVENT_RECORD_UPDATED", { recordData: { "universal.status": "PASS_INSTALLED", points: 1 } }), "PUT")
    ).json<Accepted>();
    const again = await (
      await deliver(webhook("PASS_EVENT_RECORD_UPDATED", { recordData: { "universal.status": "PASS_INSTALLED", points: 2 } }), "PUT")
    ).json<Accepted>();
    expect(again.eventId).toBe(first.eventId);
  });

  it("tells a reinstall from the first install even when firstInstalledAt stays the same", async () => {
    const firstInstalledAt = "2026-01-01T00:00:00Z";
    const one = await (
      await deliver(webhook("INSTALLED", { metadata: { firstInstalledAt, lastInstalledAt: "2026-01-01T00:00:00Z" } }), "PUT")
    ).json<Accepted>();
    const two = await (
      await deliver(webhook("INSTALLED", { metadata: { firstInstalledAt, lastInstalledAt: "2026-03-01T00:00:00Z" } }), "PUT")
    ).json<Accepted>();
    const three = await (await deliver(webhook("INSTALLED", { metadata: { firstInstalledAt } }), "PUT")).json<Accepted>();
    expect(new Set([one.eventId, two.eventId, three.eventId]).size).toBe(3);
  });
});

describe("who and what the event is about", () => {
  it("sends the event to the pass's userDefinedId even when it also has an externalId", async () => {
    await deliver(webhook("INSTALLED", { userDefinedId: "braze-user-1", externalId: "member-9" }), "PUT");
    expect(enqueued()[0]!.externalId).toBe("braze-user-1");
  });

  it("falls back to the externalId of a current-platform pass, also when userDefinedId is empty", async () => {
    await deliver(webhook("INSTALLED", { userDefinedId: undefined, externalId: "member-9" }), "PUT");
    await deliver(webhook("UNINSTALLED", { userDefinedId: "", externalId: "member-10" }), "PUT");
    expect(enqueued().map((m) => m.externalId)).toEqual(["member-9", "member-10"]);
  });

  it("finds the user in recordData's members.member.externalId when the pass carries no id of its own", async () => {
    await deliver(
      webhook("INSTALLED", {
        userDefinedId: undefined,
        recordData: { "members.member.points": "12", "members.member.externalId": "member-77" },
      }),
      "PUT",
    );
    expect(enqueued()[0]!.externalId).toBe("member-77");
  });

  it("names the campaign after campaignName, else after the pass's classId", async () => {
    await deliver(webhook("INSTALLED", { campaignName: "winter-vip", classId: "class-abc" }), "PUT");
    await deliver(webhook("UNINSTALLED", { classId: "class-abc" }), "PUT");
    expect(enqueued().map((m) => m.campaignName)).toEqual(["winter-vip", "class-abc"]);
  });

  it("carries the pass URL built from the pass id, and the wallet platform and install time when PassKit gives them", async () => {
    await deliver(
      webhook("INSTALLED", { metadata: { installDevicePlatform: "apple", lastInstalledAt: "2026-11-26T10:00:00+01:00" } }),
      "PUT",
    );
    await deliver(webhook("RECORD_UPDATED"), "PUT");
    const [install, update] = enqueued();
    expect(install).toMatchObject({ passUrl: PASS_URL, platform: "apple", time: "2026-11-26T09:00:00.000Z" });
    expect(update!.passUrl).toBe(PASS_URL);
    expect(update).not.toHaveProperty("platform");
  });

  it("reads the metadata also when PassKit spells it metaData", async () => {
    await deliver(webhook("INSTALLED", { metaData: { installDevicePlatform: "android" } }), "PUT");
    expect(enqueued()[0]!.platform).toBe("android");
  });
});

describe("the same occurrence reaches Braze once", () => {
  it("gives a webhook delivered twice, minutes apart, the same eventId", async () => {
    vi.useFakeTimers({ toFake: ["Date"], now: new Date("2026-11-26T10:00:05Z") });
    const payload = webhook("INSTALLED", { metadata: { lastInstalledAt: "2026-11-26T10:00:00Z" } });
    const first = await (await deliver(payload, "PUT")).json<Accepted>();
    vi.setSystemTime(new Date("2026-11-26T10:07:00Z"));
    const again = await (await deliver(payload, "PUT")).json<Accepted>();
    expect(again.eventId).toBe(first.eventId);
    expect(enqueued().map((m) => m.eventId)).toEqual([first.eventId, first.eventId]);
  });

  it("gives a webhook without timestamps, redelivered minutes later, the same eventId, whatever its key order", async () => {
    vi.useFakeTimers({ toFake: ["Date"], now: new Date("2026-11-26T10:00:05Z") });
    const first = await (
      await deliver({ event: "RECORD_UPDATED", pass: { id: PASS_ID, userDefinedId: "user-123", recordData: { a: "1", b: "2" } } }, "PUT")
    ).json<Accepted>();
    vi.setSystemTime(new Date("2026-11-26T10:07:00Z"));
    const again = await (
      await deliver(
        `{"pass":{"recordData":{"b":"2","a":"1"},"userDefinedId":"user-123","id":"${PASS_ID}"},"event":"RECORD_UPDATED"}`,
        "PUT",
      )
    ).json<Accepted>();
    expect(again.eventId).toBe(first.eventId);
  });

  it("keeps two installs of the same pass apart by when they happened", async () => {
    const first = await (
      await deliver(webhook("INSTALLED", { metadata: { lastInstalledAt: "2026-11-26T10:00:00Z" } }), "PUT")
    ).json<Accepted>();
    const second = await (
      await deliver(webhook("INSTALLED", { metadata: { lastInstalledAt: "2026-12-01T08:30:00Z" } }), "PUT")
    ).json<Accepted>();
    expect(second.eventId).not.toBe(first.eventId);
    expect(new Set(enqueued().map((m) => m.eventId)).size).toBe(2);
  });
});

describe("events of the proxy's own writes", () => {
  let passkit: ReturnType<typeof installPassKit>;
  beforeEach(() => {
    passkit = installPassKit();
  });

  it("emits `created` for a pass created through the proxy, with the same eventId as PassKit's RECORD_CREATED webhook for it", async () => {
    const created = await call("POST", "/v1/passes", { body: validCreate });
    expect(created.status).toBe(201);
    const pass = await created.json<{ id: string; url: string }>();
    const [message] = enqueued();
    expect(message).toMatchObject({
      name: "created",
      externalId: "user-123",
      campaignName: "summer-loyalty",
      passId: pass.id,
      passUrl: pass.url,
      source: "proxy",
      templateName: "gold-member",
    });
    const webhookAnswer = await deliver({
      event: "PASS_EVENT_RECORD_CREATED",
      pass: { id: pass.id, campaignName: "summer-loyalty", userDefinedId: "user-123" },
    });
    expect((await webhookAnswer.json<Accepted>()).eventId).toBe(message!.eventId);
  });

  it("emits `updated` for an update and `invalidated` for a delete, the latter matching PassKit's INVALIDATED webhook", async () => {
    const pass = await (await call("POST", "/v1/passes", { body: validCreate })).json<{ id: string }>();
    expect((await call("PUT", passPath("summer-loyalty", "user-123"), { body: { isVoided: true } })).status).toBe(200);
    expect((await call("DELETE", passPath("summer-loyalty", "user-123"))).status).toBe(200);
    const [, updated, invalidated] = enqueued();
    expect(updated).toMatchObject({ name: "updated", externalId: "user-123", passId: pass.id, source: "proxy" });
    expect(invalidated).toMatchObject({ name: "invalidated", externalId: "user-123", passId: pass.id, source: "proxy" });
    const webhookAnswer = await deliver(webhook("PASS_EVENT_INVALIDATED", { id: pass.id }), "PUT");
    expect((await webhookAnswer.json<Accepted>()).eventId).toBe(invalidated!.eventId);
  });

  it("emits one `updated` per change: a Braze retry (same Idempotency-Key) replays, an update that changes nothing is silent", async () => {
    await call("POST", "/v1/passes", { body: validCreate });
    const update = (key: string, isVoided: boolean) =>
      call("PUT", passPath("summer-loyalty", "user-123"), { body: { isVoided }, headers: { "Idempotency-Key": key } });
    expect((await update("dispatch-1-user-123", true)).status).toBe(200);
    const retry = await update("dispatch-1-user-123", true);
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    expect((await update("dispatch-2-user-123", true)).status).toBe(200);
    expect((await update("dispatch-3-user-123", false)).status).toBe(200);
    const [, first, second] = enqueued();
    expect(enqueued().map((m) => m.name)).toEqual(["created", "updated", "updated"]);
    expect(second!.eventId).not.toBe(first!.eventId);
  });

  it("answers a re-sent create of an unchanged pass with 200 and no event (contract §8.4)", async () => {
    const first = await call("POST", "/v1/passes", { body: validCreate });
    expect(first.status).toBe(201);
    const retry = await call("POST", "/v1/passes", { body: validCreate });
    expect(retry.status).toBe(200);
    expect(enqueued().map((m) => m.name)).toEqual(["created"]);
    expect(passkit.apiCalls("PUT")).toHaveLength(0);
  });

  it("re-emits `created` with the same eventId when PassKit refuses a retried create of a pass made moments ago, in case the first answer and its event were lost", async () => {
    expect((await call("POST", "/v1/passes", { body: validCreate })).status).toBe(201);
    const [created] = enqueued();
    // What the proxy remembers of the identifier is gone, as after a crash of the first attempt.
    await resetAll();
    const retry = await call("POST", "/v1/passes", { body: validCreate });
    expect(retry.status).toBe(200);
    expect(enqueued().map((m) => [m.name, m.eventId])).toEqual([
      ["created", created!.eventId],
      ["created", created!.eventId],
    ]);
  });

  it("reports a re-sent create for a pass made long ago as an update only, not as a new pass", async () => {
    const made = await (await call("POST", "/v1/passes", { body: validCreate })).json<{ id: string }>();
    send.mockClear();
    const stored = passkit.findPass("summer-loyalty", "user-123")!;
    passkit.inject({ method: "GET", status: 200, body: JSON.stringify({ ...stored, createdAt: "2025-01-01T00:00:00Z" }) });
    const again = await call("POST", "/v1/passes", { body: { ...validCreate, dynamicData: { points: 9 } } });
    expect(again.status).toBe(200);
    expect(enqueued().map((m) => [m.name, m.passId])).toEqual([["updated", made.id]]);
  });

  it("does not take an update's identity from the caller's X-Request-Id", async () => {
    await call("POST", "/v1/passes", { body: validCreate });
    const headers = { "X-Request-Id": "fixed-id-from-a-client" };
    await call("PUT", passPath("summer-loyalty", "user-123"), { body: { isVoided: true }, headers });
    await call("PUT", passPath("summer-loyalty", "user-123"), { body: { isVoided: false }, headers });
    const [, one, two] = enqueued();
    expect(one!.eventId).not.toBe(two!.eventId);
  });

  it("emits nothing for dry runs", async () => {
    const dry = { "X-Dry-Run": "true" };
    expect((await call("POST", "/v1/passes", { body: validCreate, headers: dry })).status).toBe(200);
    expect((await call("PUT", passPath("summer-loyalty", "user-123"), { body: { isVoided: true }, headers: dry })).status).toBe(200);
    expect((await call("DELETE", passPath("summer-loyalty", "user-123"), { headers: dry })).status).toBe(200);
    expect(send).not.toHaveBeenCalled();
  });

  it("emits nothing for a create replayed by its Idempotency-Key", async () => {
    const headers = { "Idempotency-Key": "dispatch-42-user-123" };
    await call("POST", "/v1/passes", { body: validCreate, headers });
    const replay = await call("POST", "/v1/passes", { body: validCreate, headers });
    expect(replay.headers.get("Idempotent-Replayed")).toBe("true");
    expect(enqueued().map((m) => m.name)).toEqual(["created"]);
  });

  it("answers the create without waiting for the queue, and keeps the event as a dead letter when the queue refuses it", async () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => undefined);
    let refuse!: (error: Error) => void;
    const refusal = new Promise<never>((_, reject) => (refuse = reject));
    send.mockImplementation(() => refusal);

    const ctx = createExecutionContext();
    const headers = { Authorization: BASIC, "Content-Type": "application/json" };
    const response = await worker.fetch(
      new Request("https://proxy.example/v1/passes", { method: "POST", headers, body: JSON.stringify(validCreate) }),
      env,
      ctx,
    );
    // Answered while the queue has not settled the first attempt yet.
    expect(response.status).toBe(201);
    const pass = await response.json<{ id: string }>();
    refuse(new Error("Queue send failed: overloaded"));
    await waitOnExecutionContext(ctx);

    expect(send).toHaveBeenCalledTimes(2);
    const message = lifecycleMessageSchema.parse(send.mock.calls[0]![0]);
    const { items } = await ledger(env).listDeadLetters(10);
    expect(items).toHaveLength(1);
    expect(items[0]!.reason).toMatch(/^enqueue_failed/);
    expect(items[0]!.eventId).toBe(message.eventId);
    expect(JSON.parse(items[0]!.eventJson)).toEqual(message);
    expect(message).toMatchObject({ name: "created", passId: pass.id });
    expect(error.mock.calls.some(([line]) => JSON.stringify(line).includes("enqueue_failed"))).toBe(true);
  });
});

describe("webhooks that cannot become a Braze event", () => {
  it("answers an event without a user 202 and keeps it as a dead letter instead of queueing it", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const response = await deliver(webhook("INSTALLED", { userDefinedId: undefined, recordData: { "members.member.points": "3" } }), "PUT");
    expect(response.status).toBe(202);
    const body = await response.json<Accepted>();
    expect(body).toMatchObject({ accepted: true, deadLettered: "no_user" });
    expect(send).not.toHaveBeenCalled();
    const { items, total } = await ledger(env).listDeadLetters(10);
    expect(total).toBe(1);
    expect(items[0]!.reason).toMatch(/^no_user/);
    expect(items[0]!.eventId).toBe(body.eventId);
    expect(JSON.parse(items[0]!.eventJson)).toMatchObject({ name: "installed", passId: PASS_ID, campaignName: "summer-loyalty" });
  });

  it("refuses an event whose user id Braze could not take with a clear 422, not a misleading dead letter", async () => {
    const response = await deliver(
      webhook("PASS_EVENT_INSTALLED", { userDefinedId: undefined, recordData: { "members.member.externalId": "u".repeat(600) } }),
    );
    expect(response.status).toBe(422);
    expect((await response.json<{ detail: string }>()).detail).toContain("externalId");
    expect(send).not.toHaveBeenCalled();
  });

  it("refuses an unknown event name with a 422 pointing at /event and queues nothing", async () => {
    const response = await deliver(webhook("PASS_EVENT_TELEPORTED"));
    expect(response.status).toBe(422);
    expect(response.headers.get("Content-Type")).toBe("application/problem+json");
    expect((await response.json<Problem>()).errors?.map((e) => e.pointer)).toEqual(["/event"]);
    expect(send).not.toHaveBeenCalled();
  });

  it("refuses a body that is not JSON with a 400 and queues nothing", async () => {
    const response = await deliver('{"event": "INSTALLED", "pass": {', "PUT");
    expect(response.status).toBe(400);
    expect((await response.json<Problem>()).code).toBe("invalid_json");
    expect(send).not.toHaveBeenCalled();
  });

  it("refuses a webhook without pass.id with a 422 and queues nothing", async () => {
    const response = await deliver({ event: "INSTALLED", pass: { userDefinedId: "user-123" } }, "PUT");
    expect(response.status).toBe(422);
    expect((await response.json<Problem>()).errors?.map((e) => e.pointer)).toEqual(["/pass/id"]);
    expect(send).not.toHaveBeenCalled();
  });

  it("answers 503 with Retry-After when the queue refuses the event, so PassKit sends it again", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    send.mockRejectedValue(new Error("Queue send failed: overloaded"));
    const response = await deliver(webhook("INSTALLED"), "PUT");
    expect(response.status).toBe(503);
    expect(Number(response.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect((await response.json<Problem>()).code).toBe("queue_unavailable");
    expect(send).toHaveBeenCalledTimes(1);
  });
});

describe("who may deliver webhooks", () => {
  describe("without PASSKIT_WEBHOOK_SECRET", () => {
    it.each([
      ["no credentials", null],
      ["a wrong password", `Basic ${btoa("braze:wrong")}`],
    ])("refuses a webhook with %s with 401 and queues nothing", async (_, auth) => {
      const response = await deliver(webhook("INSTALLED"), "PUT", { auth });
      expect(response.status).toBe(401);
      expect(response.headers.get("WWW-Authenticate")).toMatch(/^Basic /);
      expect(send).not.toHaveBeenCalled();
    });

    it("does not take a signature in place of Basic credentials, since there is no secret to check it against", async () => {
      const body = JSON.stringify(webhook("INSTALLED"));
      const signed = await call("PUT", INTAKE, {
        body,
        auth: null,
        headers: { "x-passkit-signature": await signature(SECRET, "n1", body) },
      });
      expect(signed.status).toBe(401);
      expect(send).not.toHaveBeenCalled();
    });
  });

  describe("with PASSKIT_WEBHOOK_SECRET set", () => {
    const body = JSON.stringify(webhook("PASS_EVENT_INSTALLED"));

    it("accepts a correctly signed webhook without Basic credentials", async () => {
      const response = await deliverWithSecret(body, { "x-passkit-signature": await signature(SECRET, "1764151200", body) }, "PUT");
      expect(response.status).toBe(202);
      const accepted = await response.json<Accepted>();
      expect(enqueued()).toEqual([expect.objectContaining({ eventId: accepted.eventId, name: "installed", externalId: "user-123" })]);
    });

    it.each([
      ["missing", async () => undefined],
      ["signed with another secret", () => signature("not-the-secret", "1764151200", body)],
      ["truncated", async () => (await signature(SECRET, "1764151200", body)).slice(0, -8)],
      ["for another body", () => signature(SECRET, "1764151200", JSON.stringify(webhook("PASS_EVENT_UNINSTALLED")))],
      ["for another nonce", async () => (await signature(SECRET, "1764151200", body)).replace("t=1764151200", "t=1764151201")],
      ["without its nonce part", async () => (await signature(SECRET, "1764151200", body)).split(",")[1]!],
      ["empty", async () => ""],
    ])("refuses a signature that is %s with 401 and queues nothing", async (_, header) => {
      const value = await header();
      const response = await deliverWithSecret(body, value === undefined ? {} : { "x-passkit-signature": value }, "PUT");
      expect(response.status).toBe(401);
      expect(response.headers.get("Content-Type")).toBe("application/problem+json");
      expect(send).not.toHaveBeenCalled();
    });

    it("does not let valid Basic credentials stand in for the signature", async () => {
      const response = await deliverWithSecret(body, { Authorization: BASIC }, "PUT");
      expect(response.status).toBe(401);
      expect(send).not.toHaveBeenCalled();
    });

    it.each([
      ["a body that is not JSON", "{not json", "application/json"],
      ["a form body", "event=INSTALLED", "application/x-www-form-urlencoded"],
    ])(
      "answers an unsigned caller's %s with 401, telling nothing of what the body would have been",
      async (_what, unsigned, contentType) => {
        const response = await deliverWithSecret(unsigned, { "Content-Type": contentType }, "POST");
        expect(response.status).toBe(401);
        expect((await response.json<{ detail: string }>()).detail).toBe("A valid x-passkit-signature header is required.");
        expect(send).not.toHaveBeenCalled();
      },
    );

    it("verifies the signature over the exact bytes, so a signed body that is not JSON is then a 400", async () => {
      const broken = '{"event": ';
      const response = await deliverWithSecret(broken, { "x-passkit-signature": await signature(SECRET, "n1", broken) }, "POST");
      expect(response.status).toBe(400);
      expect(send).not.toHaveBeenCalled();
    });
  });
});
