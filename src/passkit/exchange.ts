import { readBoundedText } from "../http/bounded-text.ts";
import { PassKitError } from "./failures.ts";

/** One PassKit call before it is signed: what `X-Dry-Run` shows, and what a client sends. */
export interface PassKitRequest {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  url: string;
  body?: string;
}

export interface PassKitAnswer {
  status: number;
  headers: Headers;
  text: string;
}

/**
 * Sends a signed request to either PassKit API: no redirects (a redirected API is misconfigured,
 * and the token must not follow it), a timeout over the whole exchange, and an answer read only up
 * to 1 MiB. Network failures and timeouts become typed failures; statuses are the client's to read.
 */
export async function exchange(
  fetcher: typeof fetch,
  request: PassKitRequest,
  authorization: string,
  timeoutMs: number,
): Promise<PassKitAnswer> {
  const headers: Record<string, string> = { Authorization: authorization, Accept: "application/json" };
  if (request.body !== undefined) headers["Content-Type"] = "application/json";
  try {
    const response = await fetcher(request.url, {
      method: request.method,
      headers,
      body: request.body,
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await readBoundedText(response);
    if (text === undefined) throw new PassKitError({ kind: "malformed", status: response.status, what: "an answer larger than 1 MiB" });
    return { status: response.status, headers: response.headers, text };
  } catch (error) {
    if (error instanceof PassKitError) throw error;
    if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
      throw new PassKitError({ kind: "timeout", afterMs: timeoutMs });
    }
    throw new PassKitError({ kind: "unreachable", cause: error instanceof Error ? error.message : String(error) });
  }
}

/** A 2xx answer's JSON, checked by `parse`; anything else is a `malformed` failure. */
export function parseAnswer<T>(answer: PassKitAnswer, parse: (json: unknown) => T | undefined): T {
  let json: unknown;
  try {
    json = JSON.parse(answer.text);
  } catch {
    throw new PassKitError({ kind: "malformed", status: answer.status, what: "a body that is not JSON" });
  }
  const parsed = parse(json);
  if (parsed === undefined) throw new PassKitError({ kind: "malformed", status: answer.status, what: "JSON of an unexpected shape" });
  return parsed;
}

/** An upstream's reason, safe to show to Braze: control characters out, at most 300 characters. */
export function safeReason(text: string): string {
  const clean = text.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
  return clean.length > 300 ? `${clean.slice(0, 300)}…` : clean || "no reason given";
}

/** A request as a dry run shows it (contract §2): method, path with query, parsed body; never a token. */
export function planned(request: PassKitRequest): { method: string; path: string; body: unknown } {
  const url = new URL(request.url);
  return { method: request.method, path: url.pathname + url.search, body: request.body === undefined ? null : JSON.parse(request.body) };
}
