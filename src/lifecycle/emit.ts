import type { Env } from "../env.ts";
import { ledger } from "./ledger.ts";
import type { LifecycleMessage } from "./events.ts";

/**
 * Puts a lifecycle message on the queue without holding up the answer to Braze: the caller hands
 * the returned promise to `waitUntil`. If the queue refuses it twice, the event is kept as a dead
 * letter (replayable), so it is never lost silently.
 */
export async function emitLifecycle(env: Env, message: LifecycleMessage): Promise<void> {
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      await env.LIFECYCLE_EVENTS.send(message, { contentType: "json" });
      return;
    } catch (error) {
      if (attempt === 2) {
        console.error(JSON.stringify({ level: "error", event: "enqueue_failed", eventId: message.eventId, message: String(error) }));
        await ledger(env)
          .addDeadLetters([{ eventId: message.eventId, reason: `enqueue_failed: ${String(error).slice(0, 200)}`, attempts: 0, event: message }])
          .catch((storeError: unknown) =>
            console.error(JSON.stringify({ level: "error", event: "lifecycle_event_lost", eventId: message.eventId, message: String(storeError), lost: message })),
          );
      }
    }
  }
}
