import type { Env } from "./env.ts";
import { app } from "./app.ts";
import { hotLookup } from "./machinery/hot-lookup.ts";
import { consumeDeadLetterBatch, consumeLifecycleBatch } from "./lifecycle/consumer.ts";

export { LifecycleLedger } from "./lifecycle/ledger.ts";
export { IdentifierCoordinator } from "./machinery/coordinator.ts";

export default {
  fetch: (request: Request, env: Env, ctx: ExecutionContext) => hotLookup(request, env) ?? app.fetch(request, env, ctx),
  async queue(batch, env, _ctx) {
    if (batch.queue.endsWith("-dlq")) await consumeDeadLetterBatch(batch, env);
    else await consumeLifecycleBatch(batch, env);
  },
} satisfies ExportedHandler<Env>;
