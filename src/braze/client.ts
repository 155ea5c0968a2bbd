import type { Config } from "../config/config.ts";
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

const BRAZE_TIMEOUT_MS = 10_000;

type BrazeConfig = Pick<Config, "BRAZE_REST_ENDPOINT" | "BRAZE_API_KEY">;

export async function trackEvents(
  config: BrazeConfig,
  events: readonly BrazeEvent[],
  fetcher: typeof fetch = fetch,
  now = Date.now(),
): Promise<TrackResult> {
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

/**
 * The longest wait a 429 is taken to ask for. Braze's windows reset within a day; a reset further
 * ahead than this is taken for a garbled header (say, milliseconds for seconds), and is waited out
 * this long, after which the next 429 says again how long.
 */
export const MAX_RATE_LIMIT_WAIT_SECONDS = 7 * 86_400;
/** Neither header, or one that cannot be read: Braze's windows are seconds long for /users/track. */
const DEFAULT_RATE_LIMIT_WAIT_SECONDS = 30;

/**
 * Seconds until Braze's window resets: X-RateLimit-Reset (epoch seconds), else Retry-After
 * (delta-seconds or an HTTP date). Not clamped to an hour: a reset a day ahead is waited out in
 * full by the consumer, which re-queues the events rather than spend their retries (contract §6).
 */
export function rateLimitWait(headers: Headers, now = Date.now()): number {
  const reset = Number(headers.get("X-RateLimit-Reset"));
  if (headers.has("X-RateLimit-Reset") && Number.isFinite(reset) && reset > 0) return boundedWait(Math.ceil(reset - now / 1000));
  const retryAfter = headers.get("Retry-After")?.trim();
  if (retryAfter) {
    const seconds = /^\d+$/.test(retryAfter) ? Number(retryAfter) : Math.ceil((Date.parse(retryAfter) - now) / 1000);
    if (Number.isFinite(seconds)) return boundedWait(seconds);
  }
  return DEFAULT_RATE_LIMIT_WAIT_SECONDS;
}

function boundedWait(seconds: number): number {
  return Math.min(MAX_RATE_LIMIT_WAIT_SECONDS, Math.max(1, seconds));
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
