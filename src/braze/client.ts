import type { Config } from "../config/config.ts";
import { retryAfterSeconds } from "../http/retry-after.ts";
import { rejectedEvents, type RejectedObject } from "./inferred.ts";

/** One custom event object of a /users/track request. */
export interface BrazeEvent {
  external_id: string;
  name: string;
  time: string;
  properties: Record<string, string>;
}

/** Every way a /users/track call can end, as the consumer needs to tell them apart. */
export type TrackResult =
  | { kind: "accepted"; rejected: RejectedObject[] }
  | { kind: "bad_request"; message: string }
  | { kind: "rate_limited"; retryAfterSeconds: number }
  | { kind: "auth"; status: number }
  | { kind: "unavailable"; status: number }
  | { kind: "unreachable"; cause: string }
  | { kind: "timeout" };

export const BRAZE_TIMEOUT_MS = 10_000;

export type BrazeConfig = Pick<Config, "BRAZE_REST_ENDPOINT" | "BRAZE_API_KEY">;

export async function trackEvents(config: BrazeConfig, events: readonly BrazeEvent[], fetcher: typeof fetch = fetch, now = Date.now()): Promise<TrackResult> {
  let response: Response;
  let text: string;
  try {
    response = await fetcher(`${config.BRAZE_REST_ENDPOINT}/users/track`, {
      method: "POST",
      headers: { Authorization: `Bearer ${config.BRAZE_API_KEY}`, "Content-Type": "application/json" },
      body: JSON.stringify({ events }),
      redirect: "manual",
      signal: AbortSignal.timeout(BRAZE_TIMEOUT_MS),
    });
    text = await response.text();
  } catch (error) {
    if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) return { kind: "timeout" };
    return { kind: "unreachable", cause: error instanceof Error ? error.message : String(error) };
  }
  const { status } = response;
  if (status === 200 || status === 201) return { kind: "accepted", rejected: rejectedEvents(parse(text)) };
  if (status === 429) return { kind: "rate_limited", retryAfterSeconds: rateLimitWait(response.headers, now) };
  if (status === 401 || status === 403) return { kind: "auth", status };
  if (status === 400) {
    const message = (parse(text) as { message?: unknown } | undefined)?.message;
    return { kind: "bad_request", message: typeof message === "string" ? message.slice(0, 300) : "Braze answered 400" };
  }
  return { kind: "unavailable", status };
}

/** Seconds until Braze's window resets: X-RateLimit-Reset (epoch seconds), else Retry-After. */
export function rateLimitWait(headers: Headers, now = Date.now()): number {
  const reset = Number(headers.get("X-RateLimit-Reset"));
  if (headers.has("X-RateLimit-Reset") && Number.isFinite(reset) && reset > 0) {
    return Math.min(3600, Math.max(1, Math.ceil(reset - now / 1000)));
  }
  return retryAfterSeconds(headers.get("Retry-After"), now);
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
