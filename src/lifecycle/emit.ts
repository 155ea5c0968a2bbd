import type { Env } from "../env.ts";
import { log } from "../log.ts";
import { ledger } from "./ledger.ts";
import type { LifecycleMessage } from "./events.ts";

/** What is known of the request that caused the event, for the log lines. */
interface EmitContext {
  requestId?: string;
}

/**
 * Puts a lifecycle message on the queue without holding up the answer to Braze: the caller hands
 * the returned promise to `waitUntil`. If the queue refuses it twice, the event is kept as a dead
 * letter (replayable), so it is never lost silently; each step logs one line.
 */
export async function emitLifecycle(env: Env, message: LifecycleMessage, context: EmitContext = {}): Promise<void> {
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      await env.LIFECYCLE_EVENTS.send(message, { contentType: "json" });
      return;
    } catch (error) {
      if (attempt < 2) continue;
      const fields = { requestId: context.requestId, eventId: message.eventId, product: message.product };
      const reason = `enqueue_failed: ${String(error).slice(0, 200)}`;
      log("error", "enqueue_failed", { ...fields, reason, attempts: attempt });
      try {
        await ledger(env).addDeadLetters([{ eventId: message.eventId, reason, attempts: 0, event: message }]);
      } catch (storeError) {
        // The log is the last place the event is kept: whole, so an operator can queue it again.
        log("error", "lifecycle_event_lost", { ...fields, reason: `dead letter not stored: ${String(storeError)}`, lost: message });
        return;
      }
      log("error", "dead_lettered", { source: "emit", ...fields, reason, attempts: 0 });
    }
  }
}
