import type { Config } from "../../config/config.ts";
import { signHs256 } from "../../crypto.ts";
import { retryAfterSeconds } from "../../http/retry-after.ts";
import { exchange, parseAnswer, type PassKitAnswer, type PassKitRequest } from "../exchange.ts";
import { PassKitError, type PassKitFailure } from "../failures.ts";
import { isRoutingFailure, platformAuthorization, platformErrorMessage, tokenWindow } from "./inferred.ts";

type PlatformConfig = Pick<
  Config,
  "PASSKIT_REST_URL" | "PASSKIT_REST_KEY" | "PASSKIT_REST_SECRET" | "PASSKIT_REST_TOKEN" | "PASSKIT_TIMEOUT_MS"
>;

const CREDENTIALS = "PASSKIT_REST_KEY and PASSKIT_REST_SECRET (or PASSKIT_REST_TOKEN) and PASSKIT_REGION";

export type PlatformClient = ReturnType<typeof createPlatformClient>;

/**
 * PassKit's current REST API (the grpc-gateway at api.{region}.passkit.io): a fresh HS256 JWT per
 * request (claims uid, iat, exp), or the long-lived token; JSON bodies, DELETE included; answers
 * checked by the caller's parser; failures typed like v3's (docs/upstreams.md).
 */
export function createPlatformClient(config: PlatformConfig, fetcher: typeof fetch = fetch) {
  const request = (method: PassKitRequest["method"], path: string, body?: object): PassKitRequest => ({
    method,
    url: `${config.PASSKIT_REST_URL}${path}`,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

  async function authorization(): Promise<string> {
    // Key and secret when both are set (PassKit's recommendation), else the long-lived token.
    if (config.PASSKIT_REST_KEY && config.PASSKIT_REST_SECRET) {
      const { iat, exp } = tokenWindow(Math.floor(Date.now() / 1000));
      return platformAuthorization({ jwt: await signHs256(config.PASSKIT_REST_SECRET, { uid: config.PASSKIT_REST_KEY, iat, exp }) });
    }
    return platformAuthorization({ longLived: config.PASSKIT_REST_TOKEN ?? "" });
  }

  async function call(sent: PassKitRequest): Promise<PassKitAnswer> {
    const answer = await exchange(fetcher, sent, await authorization(), config.PASSKIT_TIMEOUT_MS);
    if (answer.status >= 200 && answer.status < 300) return answer;
    throw new PassKitError(failureOf(answer, sent, config.PASSKIT_TIMEOUT_MS));
  }

  return {
    request,
    /** One call whose JSON answer `parse` checks (undefined: an unexpected shape, a 502). */
    async send<T>(sent: PassKitRequest, parse: (json: unknown) => T | undefined): Promise<T> {
      return parseAnswer(await call(sent), parse);
    },
    /** A list call: NDJSON, one `{"result": …}` per line, or an `{"error": …}` line. */
    async list<T>(sent: PassKitRequest, parse: (json: unknown) => T | undefined): Promise<T[]> {
      const answer = await call(sent);
      const results: T[] = [];
      for (const line of answer.text.split("\n")) {
        if (!line.trim()) continue;
        const item = parseAnswer({ ...answer, text: line }, (json) => json as { result?: unknown; error?: unknown });
        if (item.error !== undefined)
          throw new PassKitError(
            failureOf({ ...answer, status: streamStatus(item.error), text: JSON.stringify(item.error) }, sent, config.PASSKIT_TIMEOUT_MS),
          );
        const parsed = parse(item.result);
        if (parsed === undefined)
          throw new PassKitError({ kind: "malformed", status: answer.status, what: "a list line of an unexpected shape" });
        results.push(parsed);
      }
      return results;
    },
  };
}

function failureOf({ status, text, headers }: PassKitAnswer, sent: PassKitRequest, timeoutMs: number): PassKitFailure {
  const reason = platformErrorMessage(text);
  if (isRoutingFailure(status, reason)) return { kind: "no_route", status, request: `${sent.method} ${new URL(sent.url).pathname}` };
  if (status === 404) return { kind: "not_found" };
  if (status === 409) return { kind: "exists", reason };
  if (status === 401 || status === 403) return { kind: "auth", status, credentials: CREDENTIALS };
  if (status === 429) return { kind: "rate_limited", retryAfterSeconds: retryAfterSeconds(headers.get("Retry-After")) };
  if (status === 408 || status === 504) return { kind: "timeout", afterMs: timeoutMs };
  if (status === 400 || status === 422) return { kind: "rejected", status, reason };
  if (status >= 500) return { kind: "unavailable", status };
  return { kind: "malformed", status, what: "an unexpected status" };
}

/** An in-band stream error's gRPC code as the HTTP status grpc-gateway would have answered. */
function streamStatus(error: unknown): number {
  const code = (error as { code?: unknown } | null)?.code;
  const byCode: Record<number, number> = { 3: 400, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 12: 501, 14: 503, 16: 401 };
  return typeof code === "number" ? (byCode[code] ?? 500) : 500;
}
