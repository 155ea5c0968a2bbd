import { verifiedPrincipal } from "../auth/roles.ts";
import { loadConfig, type Config } from "../config/config.ts";
import type { Env } from "../env.ts";
import { rawPathname, routeIdentifiers } from "../http/path.ts";
import { products } from "../products.ts";
import { knownCacheKey } from "./cache-key.ts";
import { answerJson, lookupMemory } from "./cache.ts";
import { isProductConfigured } from "./product.ts";

/**
 * Connected Content's hot path, before the router runs: a GET of a record this isolate answered
 * in the last few seconds, from a caller whose `Authorization` value this config has already
 * verified for the Braze role, is answered straight from memory. It is the lookup route's own
 * answer, reached with the same checks (the config parses, the product is configured, the
 * identifiers are the two segments under the route's literal prefix) without the framework's
 * per-request work. Anything else, a miss, a first-time credential, any other route or method,
 * returns undefined and goes through the app.
 */
export function hotLookup(request: Request, env: Env): Response | undefined {
  if (request.method !== "GET") return undefined;
  const path = rawPathname(request.url);
  const product = products.find((candidate) => path.startsWith(`${candidate.basePath}/`));
  if (!product) return undefined;
  let config: Config;
  try {
    config = loadConfig(env);
  } catch {
    return undefined;
  }
  if (verifiedPrincipal(config, "braze", request.headers.get("Authorization")) === undefined) return undefined;
  if (!isProductConfigured(product, config)) return undefined;
  let ids: [string, string];
  try {
    ids = routeIdentifiers(request.url, product.basePath, 2, [], path) as [string, string];
  } catch {
    return undefined;
  }
  const key = knownCacheKey(product.name, ids);
  const entry = key === undefined ? undefined : lookupMemory.get(key, Date.now());
  if (entry?.kind !== "record") return undefined;
  return new Response(answerJson(entry), {
    headers: { "Content-Type": "application/json", "X-Cache": "HIT", "X-Request-Id": crypto.randomUUID() },
  });
}
