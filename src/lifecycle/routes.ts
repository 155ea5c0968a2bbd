import { Hono } from "hono";
import type { AppContext } from "../env.ts";
import { UNAUTHORIZED } from "../auth/basic-auth.ts";
import { authenticateAs, requireRole } from "../auth/roles.ts";
import { ProblemError } from "../http/problem.ts";
import { log } from "../log.ts";
import { assertJsonContentType, parseJsonBytes, readBodyBytes, readJsonBody } from "../http/read-body.ts";
import { validateBody } from "../http/validate.ts";
import { lifecycleMessageSchema } from "./events.ts";
import { ledger } from "./ledger.ts";
import { fromPassKitWebhook } from "./passkit-webhook.ts";
import { passKitWebhookSchema } from "./webhook-body.ts";
import { verifyPassKitSignature } from "./signature.ts";
import { evictLookup } from "../machinery/evict.ts";
import {
  deadLetterListQuerySchema,
  replayRequestSchema,
  type DeadLetterPage,
  type IntakeDeadLettered,
  type IntakeQueued,
  type RelayStatus,
  type ReplayAnswer,
} from "./answers.ts";

export const lifecycleRoutes = new Hono<AppContext>();

/**
 * PassKit's pass-event webhooks. Signed when PASSKIT_WEBHOOK_SECRET is set, else Basic auth:
 * never open. Validates, enqueues and answers 202; an event without a Braze user is kept as a
 * dead letter (and still answered 202: PassKit resending it would not add a user).
 */
lifecycleRoutes.on(["POST", "PUT", "DELETE"], "/passkit", async (c) => {
  const config = c.get("config");
  const secret = config.PASSKIT_WEBHOOK_SECRET;
  let value: unknown;
  if (secret) {
    const bytes = await readBodyBytes(c.req.raw, config.MAX_BODY_BYTES);
    if (!(await verifyPassKitSignature(secret, c.req.header("x-passkit-signature"), bytes))) {
      throw new ProblemError({ ...UNAUTHORIZED.problem, detail: "A valid x-passkit-signature header is required.", headers: {} });
    }
    assertJsonContentType(c.req.raw);
    value = parseJsonBytes(bytes);
  } else {
    await authenticateAs(c, "webhook");
    ({ value } = await readJsonBody(c.req.raw, config.MAX_BODY_BYTES));
  }
  const webhook = validateBody(passKitWebhookSchema, value, () => ["event", "pass"]);
  const outcome = await fromPassKitWebhook(
    webhook,
    { passUrlTemplate: config.PASSKIT_PASS_URL_TEMPLATE, passBaseUrl: config.PASSKIT_PASS_BASE_URL },
    new Date(),
  );
  if (outcome.kind === "no_user") {
    log("warn", "dead_lettered", {
      source: "intake",
      requestId: c.get("requestId"),
      eventId: outcome.eventId,
      product: outcome.known.product,
      reason: "no_user",
      attempts: 0,
    });
    await ledger(c.env).addDeadLetters([
      { eventId: outcome.eventId, reason: "no_user: the pass has no userDefinedId or externalId", attempts: 0, event: outcome.known },
    ]);
    return c.json({ accepted: true, eventId: outcome.eventId, deadLettered: "no_user" } satisfies IntakeDeadLettered, 202);
  }
  try {
    await c.env.LIFECYCLE_EVENTS.send(outcome.message, { contentType: "json" });
  } catch (error) {
    log("error", "enqueue_failed", {
      requestId: c.get("requestId"),
      eventId: outcome.message.eventId,
      product: outcome.message.product,
      reason: String(error),
    });
    throw new ProblemError({
      status: 503,
      code: "queue_unavailable",
      title: "Queue unavailable",
      detail: "The event could not be queued; retry.",
      headers: { "Retry-After": "5" },
    });
  }
  const { product, ids } = outcome.subject;
  c.executionCtx.waitUntil(evictLookup(c.env, config, product, ids));
  return c.json({ accepted: true, eventId: outcome.message.eventId, name: outcome.message.name } satisfies IntakeQueued, 202);
});

/** Operators' routes (contract §2, §9): the dead letters and the relay's status. */
const operatorOnly = requireRole("operator");
const operators = new Hono<AppContext>();
operators.use(operatorOnly);

/** Undeliverable events with their reasons, oldest first, `limit` at a time. */
operators.get("/", async (c) => {
  const query = deadLetterListQuerySchema.safeParse(c.req.query());
  if (!query.success) {
    throw new ProblemError({
      status: 400,
      code: "invalid_query",
      title: "Invalid query",
      detail: "limit must be 1..100 and cursor a dead-letter id.",
    });
  }
  const { items, total } = await ledger(c.env).listDeadLetters(query.data.limit, query.data.cursor);
  const last = items.at(-1);
  return c.json({
    items: items.map(({ eventJson, ...item }) => ({ ...item, event: JSON.parse(eventJson) as unknown })),
    total,
    nextCursor: items.length === query.data.limit && last ? String(last.id) : null,
  } satisfies DeadLetterPage);
});

const REPLAY_PAGE = 100;
const MAX_REPLAY_PAGES = 10;

/** Sends dead letters through the queue again (all, or by id) and removes the ones replayed. */
operators.post("/replay", async (c) => {
  const { value } = await readJsonBody(c.req.raw, c.get("config").MAX_BODY_BYTES);
  const request = validateBody(replayRequestSchema, value, () => ["ids", "all"]);
  // Each id once: an id named twice was sent to the queue twice and counted twice.
  const ids = "ids" in request ? [...new Set(request.ids)] : undefined;
  const book = ledger(c.env);
  let replayed = 0;
  const skipped: { id: number; reason: string }[] = [];
  let afterId = 0;
  const seen = new Set<number>();
  for (let page = 0; page < MAX_REPLAY_PAGES; page++) {
    const { items } = ids ? await book.listDeadLetters(REPLAY_PAGE, 0, ids) : await book.listDeadLetters(REPLAY_PAGE, afterId);
    if (items.length === 0) break;
    afterId = items.at(-1)!.id;
    for (const item of items) seen.add(item.id);
    const replayable = items.flatMap((item) => {
      const parsed = lifecycleMessageSchema.safeParse(JSON.parse(item.eventJson));
      if (parsed.success) return [{ id: item.id, lastFailedAt: item.lastFailedAt, message: parsed.data }];
      skipped.push({ id: item.id, reason: `not replayable: ${item.reason}` });
      return [];
    });
    if (replayable.length > 0) {
      await c.env.LIFECYCLE_EVENTS.sendBatch(replayable.map(({ message }) => ({ body: message, contentType: "json" as const })));
      await book.removeDeadLetters(replayable.map(({ id, lastFailedAt }) => ({ id, lastFailedAt })));
      replayed += replayable.length;
    }
    if (ids || items.length < REPLAY_PAGE) break;
  }
  const total = await book.countDeadLetters();
  return c.json({
    replayed,
    skipped,
    ...(ids ? { notFound: ids.filter((id) => !seen.has(id)) } : {}),
    remaining: total,
  } satisfies ReplayAnswer);
});

lifecycleRoutes.route("/dead-letters", operators);

/**
 * The relay's state as the delivery ledger counts it: deliveries in the last hour and day, dead
 * letters by reason and the oldest one, how many expired, and the retention.
 */
lifecycleRoutes.get("/status", operatorOnly, async (c) => {
  const counts = await ledger(c.env).relayStatus();
  return c.json({ ...counts, retentionDays: c.get("config").DEAD_LETTER_RETENTION_DAYS } satisfies RelayStatus);
});
