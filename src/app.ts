import { Hono } from "hono";
import { requestId } from "hono/request-id";
import type { AppContext } from "./env.ts";
import { loadConfig } from "./config/config.ts";
import { ProblemError, problemResponse } from "./http/problem.ts";
import { PassKitError, passKitProblem } from "./passkit/failures.ts";
import { noRoute } from "./http/path.ts";
import { productRoutes } from "./machinery/routes.ts";
import { products } from "./products.ts";
import { lifecycleRoutes } from "./lifecycle/routes.ts";
import { openApiDocument } from "./openapi.ts";

export const app = new Hono<AppContext>();

app.use(requestId());
app.use(async function startClock(c, next) {
  c.set("startedAt", Date.now());
  await next();
});

/** Public: liveness. Reports a broken config (by variable name) and which products have their
 * upstream's credentials (names only), but calls nothing upstream. */
app.get("/health", (c) => {
  const config = loadConfig(c.env);
  const configured = products.filter((product) => {
    try {
      product.requireConfig(config);
      return true;
    } catch {
      return false;
    }
  });
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
  if (error instanceof ProblemError) return problemResponse(error.problem, requestId);
  if (error instanceof PassKitError) {
    console.warn(JSON.stringify({ level: "warn", event: "passkit_failure", requestId, failure: error.failure }));
    return problemResponse(passKitProblem(error.failure).problem, requestId);
  }
  console.error(JSON.stringify({ level: "error", event: "unhandled", requestId, message: error.message, stack: error.stack }));
  return problemResponse({ status: 500, code: "internal_error", title: "Internal error", detail: "The proxy failed unexpectedly; the request id is in the log." }, requestId);
});
