import * as z from "zod";
import type { Env } from "../env.ts";
import { loadConfig, type Config } from "../config/config.ts";
import { MAX_RATE_LIMIT_WAIT_SECONDS, trackEvents, type BrazeEvent, type TrackResult } from "../braze/client.ts";
import { log } from "../log.ts";
import { lifecycleMessageSchema, type LifecycleMessage } from "./events.ts";
import { ledger, type DeadLetterInput } from "./ledger.ts";

/**
 * The queue consumer: lifecycle messages to Braze /users/track, each eventId accepted by Braze
 * once. Every message ends acked (delivered, already delivered, kept as a dead letter with its
 * reason, or sent to the queue again to wait out Braze's rate limit) or retried with a delay chosen
 * for the failure that caused it.
 */

/** Kept equal to `max_retries` of the consumer in wrangler.toml. */
export const MAX_DELIVERY_ATTEMPTS = 10;
/** The consumer's `max_batch_size` in wrangler.toml: a batch this full means more are waiting. */
export const FULL_BATCH = 100;
/** A message is held back for a fuller request at most this many times. */
const MAX_HOLD_BACKS = 2;
/** The queue's longest delay (12 h), for `send` and `retry` alike: a longer wait takes steps. */
export const MAX_QUEUE_DELAY_SECONDS = 43_200;
/** One `sendBatch` holds at most 100 messages and 256 KB; kept well inside both. */
const RESEND_MAX_MESSAGES = 100;
const RESEND_MAX_BYTES = 200_000;

/**
 * A message sent to the queue again to wait out Braze's 429 carries when it may be sent, so a wait
 * longer than the queue's 12-hour delay is waited out in steps, without asking Braze in between.
 * The canonical schema does not know the field (it strips it), so it is read here on its own.
 */
const deferredSchema = z.object({ notBefore: z.iso.datetime() });
type DeferredMessage = LifecycleMessage & { notBefore: string };

type Outcome =
  | { kind: "ack" }
  /** Back on the queue after `delaySeconds` (spends one of `max_retries`); `stopsBatch`: the rest
   * of the batch would fail alike; `status`: Braze's answer, when there was one. */
  | { kind: "retry"; delaySeconds: number; reason: string; status?: number; stopsBatch?: boolean }
  /** Sent to the queue again as a new message that arrives at `notBefore` (ms), and the original
   * acked: Braze's 429 is waited out without spending a retry. */
  | { kind: "defer"; notBefore: number; reason: string; status?: number; stopsBatch?: boolean }
  /** Back on the queue at once to join a fuller request: never counted as a failed attempt. */
  | { kind: "hold" }
  | { kind: "dead"; reason: string; status?: number };

export interface ConsumeOptions {
  random?: () => number;
  /** The clock (ms), for the rate-limit waits. */
  now?: () => number;
}

/** What one run of the consumer needs to send a chunk. */
interface Run {
  config: Config;
  book: ReturnType<typeof ledger>;
  /** This run's lease owner in the ledger. */
  owner: string;
  results: Map<string, Outcome>;
  random: () => number;
  now: () => number;
}

export async function consumeLifecycleBatch(batch: MessageBatch<unknown>, env: Env, options: ConsumeOptions = {}): Promise<void> {
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const config = loadConfig(env);
  const book = ledger(env);
  const owner = crypto.randomUUID();
  const outcomes = new Map<Message<unknown>, Outcome>();
  const parsedOf = new Map<Message<unknown>, LifecycleMessage>();
  const byEvent = new Map<string, { message: LifecycleMessage; copies: Message<unknown>[] }>();
  const waiting: number[] = [];

  for (const message of batch.messages) {
    const parsed = lifecycleMessageSchema.safeParse(message.body);
    if (!parsed.success) {
      outcomes.set(message, { kind: "dead", reason: "invalid_message: not a lifecycle message" });
      continue;
    }
    parsedOf.set(message, parsed.data);
    const notBefore = waitingUntil(message.body, now());
    if (notBefore !== undefined) {
      // Still inside the window Braze named: on to the next step of the wait, without asking Braze.
      outcomes.set(message, { kind: "defer", notBefore, reason: "rate_limited: waiting for Braze's reset", status: 429 });
      waiting.push(notBefore);
      continue;
    }
    const entry = byEvent.get(parsed.data.eventId);
    if (entry) entry.copies.push(message);
    else byEvent.set(parsed.data.eventId, { message: parsed.data, copies: [message] });
  }

  if (waiting.length > 0) {
    log("info", "braze_rate_limit_wait", {
      events: waiting.length,
      notBefore: new Date(Math.min(...waiting)).toISOString(),
      reason: "rate_limited",
    });
  }
  if (byEvent.size === 0) {
    await finish(outcomes, parsedOf, book, owner, env.LIFECYCLE_EVENTS, now);
    return;
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
      await bestEffort("ledger_release_failed", () =>
        book.release(
          tail.map((entry) => entry.message.eventId),
          owner,
        ),
      );
      for (const entry of tail) settle(entry.copies, { kind: "hold" }, outcomes);
    }
  }

  const run: Run = { config, book, owner, results: new Map(), random, now };
  let stopAfter: Outcome | undefined;
  for (let start = 0; start < pending.length; start += chunkSize) {
    const chunk = pending.slice(start, start + chunkSize).map((entry) => entry.message);
    if (stopAfter) {
      // A 429 (or a refused key) holds for the whole workspace: the rest would fail alike.
      for (const message of chunk) run.results.set(message.eventId, stopAfter);
      continue;
    }
    await deliver(run, chunk, maxAttempts(chunk, byEvent));
    stopAfter = chunk
      .map((message) => run.results.get(message.eventId))
      .find((outcome) => (outcome?.kind === "retry" || outcome?.kind === "defer") && outcome.stopsBatch);
  }

  // Unreleased leases expire by themselves after CLAIM_LEASE_MS.
  const unsent = [...run.results].filter(([, outcome]) => outcome.kind === "retry" || outcome.kind === "defer").map(([eventId]) => eventId);
  if (unsent.length > 0) await bestEffort("ledger_release_failed", () => book.release(unsent, owner));
  for (const [eventId, outcome] of run.results) settle(byEvent.get(eventId)!.copies, outcome, outcomes);

  await finish(outcomes, parsedOf, book, owner, env.LIFECYCLE_EVENTS, now);
}

/** When a message re-queued for Braze's rate limit may be sent, if that is still ahead. */
function waitingUntil(body: unknown, now: number): number | undefined {
  const deferred = deferredSchema.safeParse(body);
  if (!deferred.success) return undefined;
  const notBefore = Date.parse(deferred.data.notBefore);
  if (!(notBefore > now)) return undefined;
  return Math.min(notBefore, now + MAX_RATE_LIMIT_WAIT_SECONDS * 1000);
}

async function bestEffort(event: string, write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch {
    try {
      await write();
    } catch (error) {
      log("error", event, { reason: String(error) });
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
    held = new Set(
      await run.book.renew(
        chunk.map((message) => message.eventId),
        run.owner,
      ),
    );
  } catch {
    held = new Set();
  }
  const lost = chunk.filter((message) => !held.has(message.eventId));
  // Delivered meanwhile, or another run holds it: the retry finds out which, and sends nothing twice.
  for (const message of lost) run.results.set(message.eventId, { kind: "retry", delaySeconds: 5, reason: "lease lost" });
  chunk = chunk.filter((message) => held.has(message.eventId));
  if (chunk.length === 0) return;

  const result = await trackEvents(
    run.config,
    chunk.map((message) => brazeEvent(run.config, message)),
    undefined,
    run.now(),
  );
  if (result.kind === "accepted") {
    const rejected = new Map(result.rejected.map((r) => [r.index, r.reason]));
    const accepted: string[] = [];
    chunk.forEach((message, index) => {
      const reason = rejected.get(index);
      if (reason === undefined) accepted.push(message.eventId);
      run.results.set(
        message.eventId,
        reason === undefined ? { kind: "ack" } : { kind: "dead", reason: `braze_rejected: ${reason}`, status: 201 },
      );
    });
    // Braze has these: a ledger failure must not make the queue send them again, so it is retried
    // once and otherwise logged (a later copy of one of them could then reach Braze twice).
    if (accepted.length > 0) await bestEffort("ledger_complete_failed", () => run.book.complete(accepted, run.owner));
    return;
  }
  if (result.kind === "bad_request") {
    if (chunk.length === 1) {
      run.results.set(chunk[0]!.eventId, { kind: "dead", reason: `braze_bad_request: ${result.message}`, status: 400 });
      return;
    }
    const half = Math.ceil(chunk.length / 2);
    await deliver(run, chunk.slice(0, half), attempts);
    await deliver(run, chunk.slice(half), attempts);
    return;
  }
  const outcome = retryOutcome(result, attempts, run.random, run.now());
  logBrazeRetry(chunk, outcome, attempts, run.now());
  for (const message of chunk) run.results.set(message.eventId, outcome);
}

type BrazeFailure = Exclude<TrackResult, { kind: "accepted" | "bad_request" }>;

/**
 * What to do after a failure that a later attempt can cure. Braze's 429 is waited out: the events
 * go back to the queue as new messages due at its reset (a little spread, so the consumers do not
 * stampede), which spends none of their retries. Everything else backs off with jitter.
 */
function retryOutcome(
  result: BrazeFailure,
  attempts: number,
  random: () => number,
  now = Date.now(),
): Extract<Outcome, { kind: "retry" | "defer" }> {
  switch (result.kind) {
    case "rate_limited":
      return {
        kind: "defer",
        notBefore: now + (result.retryAfterSeconds + Math.floor(random() * 3)) * 1000,
        reason: "rate_limited",
        status: 429,
        stopsBatch: true,
      };
    case "auth":
      return {
        kind: "retry",
        delaySeconds: backoff(attempts, 300, 3_600, random),
        reason: `braze_auth: Braze answered ${result.status}`,
        status: result.status,
        stopsBatch: true,
      };
    case "unavailable":
      return {
        kind: "retry",
        delaySeconds: backoff(attempts, 5, 900, random),
        reason: `braze_unavailable: Braze answered ${result.status}`,
        status: result.status,
      };
    case "unreachable":
      return { kind: "retry", delaySeconds: backoff(attempts, 5, 900, random), reason: `braze_unreachable: ${result.cause}` };
    case "timeout":
      return { kind: "retry", delaySeconds: backoff(attempts, 5, 900, random), reason: "braze_timeout" };
  }
}

/** One line per failed /users/track request that will be tried again. */
function logBrazeRetry(
  chunk: LifecycleMessage[],
  outcome: Extract<Outcome, { kind: "retry" | "defer" }>,
  attempts: number,
  now: number,
): void {
  const products = [...new Set(chunk.map((message) => message.product))];
  const auth = outcome.reason.startsWith("braze_auth");
  log(auth ? "error" : "warn", "braze_retry", {
    reason: outcome.reason,
    status: outcome.status,
    ...(products.length === 1 ? { product: products[0] } : { products }),
    events: chunk.length,
    attempts,
    ...(outcome.kind === "retry"
      ? { delaySeconds: outcome.delaySeconds }
      : { resend: true, waitSeconds: Math.ceil((outcome.notBefore - now) / 1000), notBefore: new Date(outcome.notBefore).toISOString() }),
    ...(auth ? { action: "Braze refused BRAZE_API_KEY: check the key and its users.track permission" } : {}),
  });
}

/** Exponential backoff with "equal jitter": half the step fixed, half random. */
function backoff(attempts: number, baseSeconds: number, capSeconds: number, random: () => number): number {
  const step = Math.min(capSeconds, baseSeconds * 2 ** Math.max(0, attempts - 1));
  return Math.ceil(step / 2 + (random() * step) / 2);
}

/** The Braze custom event for a lifecycle message (contract §6). */
function brazeEvent(config: Pick<Config, "BRAZE_EVENT_PREFIX">, message: LifecycleMessage): BrazeEvent {
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
 * which the queue's own dead-letter queue would lose. Deferred events are sent to the queue again
 * (one message per eventId, due at Braze's reset, at most 12 h per step) before their originals
 * are acked; only if the queue refuses that are they retried instead. Dead letters are stored
 * before their messages are acked; if storing fails, they are retried instead.
 */
async function finish(
  outcomes: Map<Message<unknown>, Outcome>,
  parsedOf: Map<Message<unknown>, LifecycleMessage>,
  book: ReturnType<typeof ledger>,
  owner: string,
  queue: Queue,
  now: () => number,
): Promise<void> {
  const letters: { message: Message<unknown>; letter: DeadLetterInput; status?: number }[] = [];
  const keep = (message: Message<unknown>, reason: string, status?: number) =>
    letters.push({ message, letter: { eventId: eventIdOf(message), reason, attempts: message.attempts, event: message.body }, status });
  const deferred = new Map<
    string,
    { body: DeferredMessage; notBefore: number; outcome: Extract<Outcome, { kind: "defer" }>; copies: Message<unknown>[] }
  >();
  for (const [message, outcome] of outcomes) {
    switch (outcome.kind) {
      case "ack":
        message.ack();
        break;
      case "hold":
        message.retry({ delaySeconds: 0 });
        break;
      case "retry":
        if (message.attempts >= MAX_DELIVERY_ATTEMPTS) keep(message, `retries_exhausted: ${outcome.reason}`, outcome.status);
        else message.retry({ delaySeconds: outcome.delaySeconds });
        break;
      case "defer": {
        const parsed = parsedOf.get(message)!;
        const entry = deferred.get(parsed.eventId);
        if (entry) entry.copies.push(message);
        else {
          const body: DeferredMessage = { ...parsed, notBefore: new Date(outcome.notBefore).toISOString() };
          deferred.set(parsed.eventId, { body, notBefore: outcome.notBefore, outcome, copies: [message] });
        }
        break;
      }
      case "dead":
        keep(message, outcome.reason, outcome.status);
        break;
    }
  }

  for (const group of resendGroups([...deferred.values()])) {
    const at = now();
    const delayOf = (notBefore: number) => Math.min(MAX_QUEUE_DELAY_SECONDS, Math.max(0, Math.ceil((notBefore - at) / 1000)));
    try {
      await queue.sendBatch(group.map(({ body, notBefore }) => ({ body, contentType: "json" as const, delaySeconds: delayOf(notBefore) })));
      for (const { copies } of group) for (const copy of copies) copy.ack();
    } catch (error) {
      // The wait then spends a retry after all; on the last one it becomes a dead letter.
      log("error", "rate_limit_resend_failed", { events: group.length, reason: String(error) });
      for (const { copies, notBefore, outcome } of group) {
        for (const copy of copies) {
          if (copy.attempts >= MAX_DELIVERY_ATTEMPTS)
            keep(copy, `retries_exhausted: ${outcome.reason} (the queue refused the re-send)`, outcome.status);
          else copy.retry({ delaySeconds: delayOf(notBefore) });
        }
      }
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
    log("error", "dead_letter_write_failed", { events: letters.length, reason: String(error) });
    for (const { message } of letters) message.retry({ delaySeconds: 30 });
    return;
  }
  for (const { message, letter, status } of letters)
    logDeadLetter("consumer", letter, productOf(parsedOf.get(message) ?? message.body), status);
}

/** The deferred events in `sendBatch`-sized groups. */
function resendGroups<T extends { body: DeferredMessage }>(entries: T[]): T[][] {
  const groups: T[][] = [];
  let group: T[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = JSON.stringify(entry.body).length + 64;
    if (group.length > 0 && (group.length >= RESEND_MAX_MESSAGES || bytes + size > RESEND_MAX_BYTES)) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(entry);
    bytes += size;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/** One line per dead letter stored, with what an operator needs to act on it. */
function logDeadLetter(source: string, letter: DeadLetterInput, product: string | undefined, status?: number): void {
  log("error", "dead_lettered", { source, eventId: letter.eventId, product, status, reason: letter.reason, attempts: letter.attempts });
}

/** The product of a message, or of what is known of one. */
function productOf(body: unknown): string | undefined {
  const product = (body as { product?: unknown } | null)?.product;
  return typeof product === "string" ? product : undefined;
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
      log("error", "dead_letter_not_stored", {
        eventId: eventIdOf(message),
        product: productOf(message.body),
        attempts: message.attempts,
        reason: String(error),
        body: message.body,
      });
    }
    throw error;
  }
  batch.ackAll();
  batch.messages.forEach((message, index) => {
    logDeadLetter("dead_letter_queue", letters[index]!, productOf(message.body));
  });
}
