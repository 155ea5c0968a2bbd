import { Hono } from "hono";
import { requestId } from "hono/request-id";
import type { AppContext } from "./env.ts";
import { loadConfig } from "./config/config.ts";
import { ProblemError, problemResponse } from "./http/problem.ts";
import { PassKitError, passKitProblem } from "./passkit/failures.ts";
import { passRoutes } from "./passes/routes.ts";
import { lifecycleRoutes } from "./lifecycle/routes.ts";
import { openApiDocument } from "./openapi.ts";

export const app = new Hono<AppContext>();

app.use(requestId());
app.use(async function startClock(c, next) {
  c.set("startedAt", Date.now());
  await next();
});

/** Public: liveness. Reports a broken config (by variable name) but calls nothing upstream. */
app.get("/health", (c) => {
  loadConfig(c.env);
  return c.json({ status: "ok" });
});

app.get("/openapi.json", (c) => c.json(openApiDocument()));

app.use("/v1/*", async function config(c, next) {
  c.set("config", loadConfig(c.env));
  await next();
});
app.route("/v1/passes", passRoutes);
app.route("/v1/lifecycle", lifecycleRoutes);

app.notFound((c) => {
  const path = new URL(c.req.url).pathname;
  // Shortened: an error answer never quotes a large request back.
  const shown = path.length > 200 ? `${path.slice(0, 200)}…` : path;
  return problemResponse({ status: 404, code: "route_not_found", title: "Not found", detail: `No route for ${c.req.method} ${shown}.` }, c.get("requestId"));
});

app.onError((error, c) => {
  const requestId = c.get("requestId") ?? crypto.randomUUID();
  if (error instanceof ProblemError) return problemResponse(error.problem, requestId);
  if (error instanceof PassKitError) {
    console.warn(JSON.stringify({ level: "warn", event: "passkit_failure", requestId, failure: error.failure }));
    return problemResponse(passKitProblem(error.failure).problem, requestId);
  }
  console.error(JSON.stringify({ level: "error", event: "unhandled", requestId, message: error.message, stack: error.stack }));
  return problemResponse({ status: 500, code: "internal_error", title: "Internal error", detail: "The proxy failed unexpectedly; the request id is in the log." }, requestId);
});
