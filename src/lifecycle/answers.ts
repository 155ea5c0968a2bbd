import * as z from "zod";
import { LIFECYCLE_NAMES } from "./events.ts";

/**
 * The wire shapes of the lifecycle routes (contract §2): what the intake answers PassKit, and what
 * the operator routes take and answer. The handlers build their answers typed from these, and the
 * OpenAPI document can be generated from the same zod (`z.toJSONSchema(schema, { io: "output" })`),
 * so the document cannot drift from what is sent. Objects are strict: an answer with a field the
 * schema does not name fails the tests that parse the answers through them.
 */

const eventId = z
  .string()
  .regex(/^[0-9a-f]{64}$/)
  .describe("The lifecycle event's stable id (SHA-256 hex).");
const timestamp = z.iso.datetime().describe("ISO 8601, UTC.");

// ---------------------------------------------------------------------------------------------
// Intake: POST, PUT, DELETE /v1/lifecycle/passkit

/** 202: the webhook became a lifecycle event and is queued for Braze. */
export const intakeQueuedSchema = z
  .strictObject({
    accepted: z.literal(true),
    eventId,
    /** The lifecycle name (Braze sees BRAZE_EVENT_PREFIX + name). */
    name: z.enum(LIFECYCLE_NAMES).optional(),
  })
  .describe("Queued for Braze.");
export type IntakeQueued = z.output<typeof intakeQueuedSchema>;

/** 202: the webhook named no Braze user; it is kept as a dead letter, never dropped (contract §2). */
export const intakeDeadLetteredSchema = z
  .strictObject({
    accepted: z.literal(true),
    eventId,
    deadLettered: z.literal("no_user"),
  })
  .describe("Accepted, but kept as a dead letter: the pass names no Braze user.");
export type IntakeDeadLettered = z.output<typeof intakeDeadLetteredSchema>;

/** Every 202 body of the intake. */
export const intakeAnswerSchema = z.union([intakeQueuedSchema, intakeDeadLetteredSchema]);
export type IntakeAnswer = z.output<typeof intakeAnswerSchema>;

// ---------------------------------------------------------------------------------------------
// Operators: GET /v1/lifecycle/dead-letters

/** The query of the list: `limit` per page (1..100, default 50), `cursor` = the previous page's nextCursor. */
export const deadLetterListQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.coerce.number().int().min(0).default(0),
});

/** One undeliverable lifecycle event with why. */
export const deadLetterSchema = z.strictObject({
  id: z.number().int().positive().describe("The letter's id: what replay takes, and the list's cursor."),
  eventId: z.string().describe("The event's id (or `invalid:<queue message id>` for a message that was not a lifecycle event)."),
  reason: z
    .string()
    .describe("Why it was not delivered: `kind: detail`, e.g. `no_user: …`, `braze_bad_request: …`, `retries_exhausted: …`."),
  attempts: z.number().int().min(0).describe("Delivery attempts spent (0: it never reached the queue)."),
  event: z.unknown().describe("The queue message, or what was known of an event that could not become one."),
  firstFailedAt: timestamp,
  lastFailedAt: timestamp.describe("The latest failure; the letter expires DEAD_LETTER_RETENTION_DAYS after it."),
});

/** 200 of the list: oldest first; `total` counts every stored letter. */
export const deadLetterPageSchema = z.strictObject({
  items: z.array(deadLetterSchema),
  total: z.number().int().min(0),
  nextCursor: z.string().nullable().describe("Pass back as `cursor` for the next page; null on the last one."),
});
export type DeadLetterPage = z.output<typeof deadLetterPageSchema>;

// ---------------------------------------------------------------------------------------------
// Operators: POST /v1/lifecycle/dead-letters/replay

/** Replay the letters named (each once), or all of them. */
export const replayRequestSchema = z.union([
  z.strictObject({ ids: z.array(z.number().int().positive()).min(1).max(100) }),
  z.strictObject({ all: z.literal(true) }),
]);
export type ReplayRequest = z.output<typeof replayRequestSchema>;

/** 200 of a replay. `notFound` only when ids were named. */
export const replayAnswerSchema = z.strictObject({
  replayed: z.number().int().min(0).describe("Letters sent through the queue again and removed."),
  skipped: z
    .array(z.strictObject({ id: z.number().int(), reason: z.string() }))
    .describe("Letters kept: not a whole lifecycle message (e.g. no user)."),
  notFound: z.array(z.number().int()).optional().describe("Ids named that are not stored."),
  remaining: z.number().int().min(0).describe("Letters stored after the replay."),
});
export type ReplayAnswer = z.output<typeof replayAnswerSchema>;

// ---------------------------------------------------------------------------------------------
// Operators: GET /v1/lifecycle/status

/** The relay's state as the delivery ledger counts it. */
export const relayStatusSchema = z.strictObject({
  delivered: z
    .strictObject({
      lastHour: z.number().int().min(0),
      lastDay: z.number().int().min(0),
    })
    .describe("Events Braze accepted, by when the ledger recorded them."),
  deadLetters: z.strictObject({
    total: z.number().int().min(0),
    byReason: z.record(z.string(), z.number().int().min(1)).describe("Stored letters by the part of their reason before the first `:`."),
    oldest: z
      .strictObject({ id: z.number().int().positive(), eventId: z.string(), reason: z.string(), firstFailedAt: timestamp })
      .nullable()
      .describe("The letter that first failed longest ago; null when there are none."),
  }),
  expired: z
    .strictObject({
      total: z.number().int().min(0),
      lastExpiredAt: timestamp.nullable().describe("When the last sweep that expired any letter ran."),
    })
    .describe("Letters deleted because their last failure was older than the retention, since the ledger began."),
  retentionDays: z.number().int().min(1).describe("DEAD_LETTER_RETENTION_DAYS."),
});
export type RelayStatus = z.output<typeof relayStatusSchema>;
