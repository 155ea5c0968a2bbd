import type { Env } from "../env.ts";
import { loadConfig, type Config } from "../config/config.ts";
import { trackEvents, type BrazeEvent, type TrackResult } from "../braze/client.ts";
import { lifecycleMessageSchema, type LifecycleMessage } from "./events.ts";
import { ledger, type DeadLetterInput } from "./ledger.ts";

/**
 * The queue consumer: lifecycle messages to Braze /users/track, each eventId accepted by Braze
 * once. Every message ends acked (delivered, already delivered, or kept as a dead letter with its
 * reason) or retried with a delay chosen for the failure that caused it.
 */

/** Kept equal to `max_retries` of the consumer in wrangler.toml. */
export const MAX_DELIVERY_ATTEMPTS = 10;
/** The consumer's `max_batch_size` in wrangler.toml: a batch this full means more are waiting. */
export const FULL_BATCH = 100;
/** A message is held back for a fuller request at most this many times. */
const MAX_HOLD_BACKS = 2;

type Outcome =
  | { kind: "ack" }
  /** Back on the queue after `delaySeconds`; `stopsBatch`: the rest of the batch would fail alike. */
  | { kind: "retry"; delaySeconds: number; reason: string; stopsBatch?: boolean }
  /** Back on the queue at once to join a fuller request: never counted as a failed attempt. */
  | { kind: "hold" }
  | { kind: "dead"; reason: string };

/** What one run of the consumer needs to send a chunk. */
interface Run {
  config: Config;
  book: ReturnType<typeof ledger>;
  /** This run's lease owner in the ledger. */
  owner: string;
  results: Map<string, Outcome>;
  random: () => number;
}

export async function consumeLifecycleBatch(batch: MessageBatch<unknown>, env: Env, random: () => number = Math.random): Promise<void> {
  const config = loadConfig(env);
  const book = ledger(env);
  const owner = crypto.randomUUID();
  const outcomes = new Map<Message<unknown>, Outcome>();
  const byEvent = new Map<string, { message: LifecycleMessage; copies: Message<unknown>[] }>();

  for (const message of batch.messages) {
    const parsed = lifecycleMessageSchema.safeParse(message.body);
    if (!parsed.success) {
      outcomes.set(message, { kind: "dead", reason: "invalid_message: not a lifecycle message" });
      continue;
    }
    const entry = byEvent.get(parsed.data.eventId);
    if (entry) entry.copies.push(message);
    else byEvent.set(parsed.data.eventId, { message: parsed.data, copies: [message] });
  }

  const claims = await book.claim([...byEvent.keys()], owner);
  for (const eventId of claims.delivered) settle(byEvent.get(eventId)!.copies, { kind: "ack" }, outcomes);
  for (const eventId of claims.busy) {
    settle(byEvent.get(eventId)!.copies, { kind: "retry", delaySeconds: 5, reason: "another consumer is sending it" }, outcomes);
  }

  const chunkSize = config.BRAZE_MAX_OBJECTS_PER_REQUEST;
  // Oldest first, so what may be held back below is the freshest.
  let pending = claims.claimed.map((eventId) => byEvent.get(eventId)!).sort((a, b) => attemptsOf(b) - attemptsOf(a));
  const remainder = pending.length % chunkSize;
  const moreWaiting = batch.messages.length >= FULL_BATCH;
  if (moreWaiting && remainder > 0 && pending.length > 0) {
    // A partial request now would cost Braze rate limit for few events; while more messages are
    // waiting, the remainder joins the next batch instead (a bounded number of times).
    const tail = pending.slice(pending.length - remainder);
    if (tail.every((entry) => attemptsOf(entry) <= MAX_HOLD_BACKS)) {
      pending = pending.slice(0, pending.length - remainder);
      await bestEffort("ledger_release_failed", () => book.release(tail.map((entry) => entry.message.eventId), owner));
      for (const entry of tail) settle(entry.copies, { kind: "hold" }, outcomes);
    }
  }

  const run: Run = { config, book, owner, results: new Map(), random };
  let stopAfter: Outcome | undefined;
  for (let start = 0; start < pending.length; start += chunkSize) {
    const chunk = pending.slice(start, start + chunkSize).map((entry) => entry.message);
    if (stopAfter) {
      for (const message of chunk) run.results.set(message.eventId, stopAfter);
      continue;
    }
    await deliver(run, chunk, maxAttempts(chunk, byEvent));
    const last = run.results.get(chunk[0]!.eventId);
    if (last?.kind === "retry" && last.stopsBatch) stopAfter = last;
  }

  // Unreleased leases expire by themselves after CLAIM_LEASE_MS.
  const unsent = [...run.results].filter(([, outcome]) => outcome.kind === "retry").map(([eventId]) => eventId);
  if (unsent.length > 0) await bestEffort("ledger_release_failed", () => book.release(unsent, owner));
  for (const [eventId, outcome] of run.results) settle(byEvent.get(eventId)!.copies, outcome, outcomes);

  await finish(outcomes, book, owner, MAX_DELIVERY_ATTEMPTS);
}

async function bestEffort(event: string, write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch {
    try {
      await write();
    } catch (error) {
      console.error(JSON.stringify({ level: "error", event, message: String(error) }));
    }
  }
}

/**
 * Sends one chunk; on a 400 splits it in halves until the poison event stands alone. Before each
 * request the run renews its leases, and sends only what it still holds; right after Braze
 * accepts, the ledger records it, so no other run can send it again in between.
 */
async function deliver(run: Run, chunk: LifecycleMessage[], attempts: number): Promise<void> {
  let held: Set<string>;
  try {
    held = new Set(await run.book.renew(chunk.map((message) => message.eventId), run.owner));
  } catch {
    held = new Set();
  }
  const lost = chunk.filter((message) => !held.has(message.eventId));
  // Delivered meanwhile, or another run holds it: the retry finds out which, and sends nothing twice.
  for (const message of lost) run.results.set(message.eventId, { kind: "retry", delaySeconds: 5, reason: "lease lost" });
  chunk = chunk.filter((message) => held.has(message.eventId));
  if (chunk.length === 0) return;

  const result = await trackEvents(run.config, chunk.map((message) => brazeEvent(run.config, message)));
  if (result.kind === "accepted") {
    const rejected = new Map(result.rejected.map((r) => [r.index, r.reason]));
    const accepted: string[] = [];
    chunk.forEach((message, index) => {
      const reason = rejected.get(index);
      if (reason === undefined) accepted.push(message.eventId);
      run.results.set(message.eventId, reason === undefined ? { kind: "ack" } : { kind: "dead", reason: `braze_rejected: ${reason}` });
    });
    // Braze has these: a ledger failure must not make the queue send them again, so it is retried
    // once and otherwise logged (a later copy of one of them could then reach Braze twice).
    if (accepted.length > 0) await bestEffort("ledger_complete_failed", () => run.book.complete(accepted, run.owner));
    return;
  }
  if (result.kind === "bad_request") {
    if (chunk.length === 1) {
      run.results.set(chunk[0]!.eventId, { kind: "dead", reason: `braze_bad_request: ${result.message}` });
      return;
    }
    const half = Math.ceil(chunk.length / 2);
    await deliver(run, chunk.slice(0, half), attempts);
    await deliver(run, chunk.slice(half), attempts);
    return;
  }
  const outcome = retryOutcome(result, attempts, run.random);
  for (const message of chunk) run.results.set(message.eventId, outcome);
}

/** How long to wait before the next attempt, for the failure that happened. */
export function retryOutcome(result: Exclude<TrackResult, { kind: "accepted" | "bad_request" }>, attempts: number, random: () => number): Outcome {
  switch (result.kind) {
    case "rate_limited":
      // Never before Braze's window resets; a little spread so the consumers do not stampede.
      return { kind: "retry", delaySeconds: result.retryAfterSeconds + Math.floor(random() * 3), reason: "rate_limited", stopsBatch: true };
    case "auth":
      console.error(
        JSON.stringify({ level: "error", event: "braze_auth_failed", status: result.status, message: "Braze refused BRAZE_API_KEY: check the key and its users.track permission" }),
      );
      return { kind: "retry", delaySeconds: backoff(attempts, 300, 3_600, random), reason: `braze_auth: Braze answered ${result.status}`, stopsBatch: true };
    case "unavailable":
      return { kind: "retry", delaySeconds: backoff(attempts, 5, 900, random), reason: `braze_unavailable: Braze answered ${result.status}` };
    case "unreachable":
      return { kind: "retry", delaySeconds: backoff(attempts, 5, 900, random), reason: `braze_unreachable: ${result.cause}` };
    case "timeout":
      return { kind: "retry", delaySeconds: backoff(attempts, 5, 900, random), reason: "braze_timeout" };
  }
}

/** Exponential backoff with "equal jitter": half the step fixed, half random. */
export function backoff(attempts: number, baseSeconds: number, capSeconds: number, random: () => number): number {
  const step = Math.min(capSeconds, baseSeconds * 2 ** Math.max(0, attempts - 1));
  return Math.ceil(step / 2 + (random() * step) / 2);
}

/** The Braze custom event for a lifecycle message (CONTRACT §6). */
export function brazeEvent(config: Pick<Config, "BRAZE_EVENT_PREFIX">, message: LifecycleMessage): BrazeEvent {
  const properties: Record<string, string> = {
    campaign_name: message.campaignName,
    pass_id: message.passId,
    source: message.source,
    product: message.product,
  };
  if (message.passUrl) properties.pass_url = message.passUrl;
  if (message.platform) properties.platform = message.platform;
  if (message.templateName) properties.template_name = message.templateName;
  return { external_id: message.externalId, name: `${config.BRAZE_EVENT_PREFIX}${message.name}`, time: message.time, properties };
}

function maxAttempts(chunk: LifecycleMessage[], byEvent: Map<string, { copies: Message<unknown>[] }>): number {
  return Math.max(...chunk.map((message) => attemptsOf(byEvent.get(message.eventId)!)));
}

function attemptsOf(entry: { copies: Message<unknown>[] }): number {
  return Math.max(...entry.copies.map((copy) => copy.attempts));
}

function settle(copies: Message<unknown>[], outcome: Outcome, outcomes: Map<Message<unknown>, Outcome>): void {
  for (const copy of copies) outcomes.set(copy, outcome);
}

/**
 * Applies the outcomes. A retry on the last allowed attempt becomes a dead letter with the reason,
 * which the queue's own dead-letter queue would lose. Dead letters are stored before their
 * messages are acked; if storing fails, they are retried instead.
 */
async function finish(outcomes: Map<Message<unknown>, Outcome>, book: ReturnType<typeof ledger>, owner: string, maxDeliveryAttempts: number): Promise<void> {
  const letters: { message: Message<unknown>; letter: DeadLetterInput }[] = [];
  const keep = (message: Message<unknown>, reason: string) =>
    letters.push({ message, letter: { eventId: eventIdOf(message), reason, attempts: message.attempts, event: message.body } });
  for (const [message, outcome] of outcomes) {
    switch (outcome.kind) {
      case "ack":
        message.ack();
        break;
      case "hold":
        message.retry({ delaySeconds: 0 });
        break;
      case "retry":
        if (message.attempts >= maxDeliveryAttempts) keep(message, `retries_exhausted: ${outcome.reason}`);
        else message.retry({ delaySeconds: outcome.delaySeconds });
        break;
      case "dead":
        keep(message, outcome.reason);
        break;
    }
  }
  if (letters.length === 0) return;
  try {
    await book.addDeadLetters(
      letters.map((l) => l.letter),
      undefined,
      owner,
    );
    for (const { message } of letters) message.ack();
  } catch (error) {
    console.error(JSON.stringify({ level: "error", event: "dead_letter_write_failed", message: String(error) }));
    for (const { message } of letters) message.retry({ delaySeconds: 30 });
  }
}

/** The eventId of a message, or a stand-in derived from the queue's message id for garbage. */
function eventIdOf(message: Message<unknown>): string {
  const body = message.body as { eventId?: unknown } | null;
  return body && typeof body.eventId === "string" ? body.eventId : `invalid:${message.id}`;
}

/**
 * The dead-letter queue's consumer: whatever the main consumer could not settle (it crashed, or
 * the platform gave up) is kept in the ledger with what is known of why.
 */
export async function consumeDeadLetterBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const letters = batch.messages.map((message) => ({
    eventId: eventIdOf(message),
    reason: "retries_exhausted: delivered to the dead-letter queue by the platform",
    attempts: message.attempts,
    event: message.body,
  }));
  try {
    await ledger(env).addDeadLetters(letters);
  } catch (error) {
    // The last place an event can be kept is the log: write each one whole, then let the queue
    // retry the batch (and, past its retries, drop it, but never without this record).
    for (const message of batch.messages) {
      console.error(JSON.stringify({ level: "error", event: "dead_letter_not_stored", attempts: message.attempts, message: String(error), body: message.body }));
    }
    throw error;
  }
  batch.ackAll();
}
