import { Hono } from "hono";
import type { AppContext } from "./env.ts";
import { loadConfig } from "./config/config.ts";
import { ProblemError, problemResponse } from "./http/problem.ts";
import { CLIENT_GONE, ClientGone } from "./http/read-body.ts";
import { log } from "./log.ts";
import { PassKitError, passKitProblem } from "./passkit/failures.ts";
import { noRoute } from "./http/path.ts";
import { isProductConfigured } from "./machinery/product.ts";
import { productRoutes } from "./machinery/routes.ts";
import { products } from "./products.ts";
import { lifecycleRoutes } from "./lifecycle/routes.ts";
import { openApiDocument } from "./openapi.ts";

export const app = new Hono<AppContext>();

/**
 * Every answer carries the proxy's own request id (contract §9): a caller's X-Request-Id could be
 * repeated or forged, so it is only logged beside ours. The clock starts here for the lookup's
 * deadline.
 */
app.use(async function requestContext(c, next) {
  const requestId = crypto.randomUUID();
  c.set("requestId", requestId);
  c.set("startedAt", Date.now());
  const callerRequestId = c.req.header("X-Request-Id");
  if (callerRequestId) c.set("callerRequestId", callerRequestId.slice(0, 200));
  c.header("X-Request-Id", requestId);
  await next();
});

/** Public: liveness. Reports a broken config (by variable name) and which products have their
 * upstream's credentials (names only), but calls nothing upstream. */
app.get("/health", (c) => {
  const config = loadConfig(c.env);
  const configured = products.filter((product) => isProductConfigured(product, config));
  return c.json({
    status: "ok",
    products: Object.fromEntries(products.map((product) => [product.basePath.slice("/v1/".length), configured.includes(product)])),
    lifecycleRelay: config.BRAZE_API_KEY !== undefined,
  });
});

app.get("/openapi.json", (c) => c.json(openApiDocument()));

app.use("/v1/*", async function config(c, next) {
  c.set("config", loadConfig(c.env));
  await next();
});
for (const product of products) app.route(product.basePath, productRoutes(product));
app.route("/v1/lifecycle", lifecycleRoutes);

app.notFound((c) => problemResponse(noRoute(new URL(c.req.url).pathname, c.req.method).problem, c.get("requestId")));

app.onError((error, c) => {
  const requestId = c.get("requestId") ?? crypto.randomUUID();
  const callerRequestId = c.get("callerRequestId");
  if (error instanceof ProblemError) return problemResponse(error.problem, requestId);
  if (error instanceof ClientGone) {
    // The caller hung up before its body arrived: nothing for an operator to act on.
    log("info", "client_closed_request", { requestId, callerRequestId, path: c.req.path });
    return problemResponse(CLIENT_GONE, requestId);
  }
  if (error instanceof PassKitError) {
    log("warn", "upstream_failure", {
      requestId,
      callerRequestId,
      failure: error.failure.kind,
      reason: passKitProblem(error.failure).problem.detail,
    });
    return problemResponse(passKitProblem(error.failure).problem, requestId);
  }
  log("error", "unhandled", { requestId, callerRequestId, message: error.message, stack: error.stack });
  return problemResponse(
    {
      status: 500,
      code: "internal_error",
      title: "Internal error",
      detail: "The proxy failed unexpectedly; the request id is in the log.",
    },
    requestId,
  );
});
