import type { Context } from "hono";
import type { AppContext } from "../env.ts";
import { emitLifecycle } from "../lifecycle/emit.ts";
import { lifecycleEventId, type LifecycleMessage, type LifecycleName } from "../lifecycle/events.ts";
import type { AnyProduct } from "./product.ts";

/**
 * Queues the lifecycle events of a write the proxy made (contract §6), without delaying the answer.
 * Created, invalidated and redeemed happen once per record, so their ids depend on it alone; an
 * update is an occurrence of its own (a write that changed nothing emits none, contract §8.4).
 */
export async function emitProxyEvents(
  c: Context<AppContext>,
  product: AnyProduct,
  names: readonly LifecycleName[],
  view: Record<string, unknown>,
  body: unknown,
): Promise<void> {
  if (names.length === 0) return;
  const fields = product.event(view, body);
  const time = new Date().toISOString();
  for (const name of names) {
    const message: LifecycleMessage = {
      v: 1,
      eventId: await lifecycleEventId(name, fields.passId, crypto.randomUUID()),
      name,
      time,
      source: "proxy",
      product: product.name,
      ...fields,
    };
    c.executionCtx.waitUntil(emitLifecycle(c.env, message, { requestId: c.get("requestId") }));
  }
}
