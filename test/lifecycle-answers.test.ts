import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { env } from "cloudflare:workers";
import * as z from "zod";
import * as answers from "../src/lifecycle/answers.ts";
import { ledger } from "../src/lifecycle/ledger.ts";
import { call, lifecycleMessage, OPERATOR_BASIC, resetAll, WEBHOOK_BASIC } from "./helpers.ts";

/**
 * The lifecycle routes answer exactly what src/lifecycle/answers.ts says (strict objects: no field
 * more, none missing), so an OpenAPI document generated from those schemas is the truth.
 */

const QUEUED = { metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } };
beforeEach(() => {
  vi.spyOn(env.LIFECYCLE_EVENTS, "send").mockResolvedValue(QUEUED);
  vi.spyOn(env.LIFECYCLE_EVENTS, "sendBatch").mockResolvedValue(QUEUED);
});
afterEach(async () => {
  vi.restoreAllMocks();
  await resetAll();
});

const webhook = (pass: Record<string, unknown>) => ({
  event: "PASS_EVENT_INSTALLED",
  pass: { id: "4vQbXk2Rr9TnWc7LpJ3sZa", classId: "summer-loyalty", ...pass },
});

describe("the lifecycle routes' answers match their schemas", () => {
  it("the intake's 202 for a queued event and for a dead-lettered one", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const queued = await call("PUT", "/v1/lifecycle/passkit", { auth: WEBHOOK_BASIC, body: webhook({ userDefinedId: "user-1" }) });
    expect(queued.status).toBe(202);
    const queuedBody = await queued.json();
    expect(answers.intakeQueuedSchema.parse(queuedBody)).toMatchObject({ accepted: true, name: "installed" });
    expect(answers.intakeAnswerSchema.safeParse(queuedBody).success).toBe(true);

    const noUser = await call("PUT", "/v1/lifecycle/passkit", { auth: WEBHOOK_BASIC, body: webhook({}) });
    expect(noUser.status).toBe(202);
    const noUserBody = await noUser.json();
    expect(answers.intakeDeadLetteredSchema.parse(noUserBody)).toMatchObject({ accepted: true, deadLettered: "no_user" });
    expect(answers.intakeAnswerSchema.safeParse(noUserBody).success).toBe(true);
  });

  it("the dead-letter list and the replay", async () => {
    const message = await lifecycleMessage(1);
    await ledger(env).addDeadLetters([
      { eventId: message.eventId, reason: "braze_bad_request: Invalid 'external_id'", attempts: 1, event: message },
    ]);
    const page = answers.deadLetterPageSchema.parse(
      await (await call("GET", "/v1/lifecycle/dead-letters?limit=1", { auth: OPERATOR_BASIC })).json(),
    );
    expect(page.items.map((item) => item.event)).toEqual([message]);
    expect(page.nextCursor).toBe(String(page.items[0]!.id));

    const byId = answers.replayAnswerSchema.parse(
      await (
        await call("POST", "/v1/lifecycle/dead-letters/replay", { auth: OPERATOR_BASIC, body: { ids: [page.items[0]!.id, 77] } })
      ).json(),
    );
    expect(byId).toEqual({ replayed: 1, skipped: [], notFound: [77], remaining: 0 });
    const all = answers.replayAnswerSchema.parse(
      await (await call("POST", "/v1/lifecycle/dead-letters/replay", { auth: OPERATOR_BASIC, body: { all: true } })).json(),
    );
    expect(all).toEqual({ replayed: 0, skipped: [], remaining: 0 });
  });

  it("a schema refuses an answer with a field it does not name (so drift fails these tests)", () => {
    expect(answers.replayAnswerSchema.safeParse({ replayed: 0, skipped: [], remaining: 0, extra: 1 }).success).toBe(false);
    expect(answers.intakeQueuedSchema.safeParse({ accepted: true, eventId: "0".repeat(64), deadLettered: "no_user" }).success).toBe(false);
  });

  it("every exported schema converts to JSON Schema, for the OpenAPI document", () => {
    const schemas = Object.entries(answers as Record<string, unknown>).filter(
      (entry): entry is [string, z.ZodType] => entry[1] instanceof z.ZodType,
    );
    expect(schemas.map(([name]) => name).sort()).toEqual([
      "deadLetterListQuerySchema",
      "deadLetterPageSchema",
      "deadLetterSchema",
      "intakeAnswerSchema",
      "intakeDeadLetteredSchema",
      "intakeQueuedSchema",
      "relayStatusSchema",
      "replayAnswerSchema",
      "replayRequestSchema",
    ]);
    for (const [name, schema] of schemas) {
      const io = name.endsWith("QuerySchema") || name.endsWith("RequestSchema") ? "input" : "output";
      expect(() => z.toJSONSchema(schema, { io, target: "draft-2020-12" }), name).not.toThrow();
    }
    const status = z.toJSONSchema(answers.relayStatusSchema, { io: "output", target: "draft-2020-12" }) as {
      required: string[];
      additionalProperties: boolean;
    };
    expect(status.required.sort()).toEqual(["deadLetters", "delivered", "expired", "retentionDays"]);
    expect(status.additionalProperties).toBe(false);
  });
});
