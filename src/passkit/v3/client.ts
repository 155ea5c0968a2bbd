import * as z from "zod";
import type { Config } from "../config/config.ts";
import { PassKitError, type PassKitFailure } from "./failures.ts";
import { mayBeDuplicateCreate, passKitAuthorization, passKitErrorReason } from "./inferred.ts";
import { signPassKitToken } from "./token.ts";
import { retryAfterSeconds } from "../http/retry-after.ts";

/** A PassKit call before it is signed: what `X-Dry-Run` shows, and what `send` sends. */
export interface PassKitRequest {
  method: "GET" | "POST" | "PUT";
  url: string;
  body?: string;
}

/** PassKit ids go into paths only after this check (and encoding), never caller input. */
const passId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);

const idAnswer = z.looseObject({ id: passId });

/** The fields of PassKit's pass object (UPSTREAMS.md, C# v2 model) that the proxy reads. */
export const passKitPassSchema = z.looseObject({
  id: passId,
  campaignName: z.string().optional(),
  userDefinedId: z.string().optional(),
  isVoided: z.boolean().optional(),
  isRedeemed: z.boolean().optional(),
  isInvalid: z.boolean().optional(),
  expiryDate: z.string().nullish(),
  createdAt: z.string().nullish(),
});
export type PassKitPass = z.output<typeof passKitPassSchema>;


export type PassKitConfig = Pick<Config, "PASSKIT_API_URL" | "PASSKIT_API_KEY" | "PASSKIT_API_SECRET" | "PASSKIT_TIMEOUT_MS">;

/** Builds PassKit v3 requests. Identifiers travel only as encoded query values. */
export const passKitRequests = (config: Pick<Config, "PASSKIT_API_URL">) => {
  // Normalised through URL, so the token's `url` claim is exactly the URL fetch sends.
  const byUser = (campaignName: string, userDefinedId: string) =>
    new URL(`${config.PASSKIT_API_URL}/passes?userDefinedId=${encodeURIComponent(userDefinedId)}&campaignName=${encodeURIComponent(campaignName)}`).href;
  return {
    create: (pass: object): PassKitRequest => ({ method: "POST", url: new URL(`${config.PASSKIT_API_URL}/passes`).href, body: JSON.stringify(pass) }),
    get: (campaignName: string, userDefinedId: string): PassKitRequest => ({ method: "GET", url: byUser(campaignName, userDefinedId) }),
    update: (campaignName: string, userDefinedId: string, changes: object): PassKitRequest => ({
      method: "PUT",
      url: byUser(campaignName, userDefinedId),
      body: JSON.stringify(changes),
    }),
    /** PassKit has no DELETE: invalidating is `isInvalid: true`, and it is permanent. */
    invalidate: (campaignName: string, userDefinedId: string): PassKitRequest => ({
      method: "PUT",
      url: byUser(campaignName, userDefinedId),
      body: JSON.stringify({ isInvalid: true }),
    }),
  };
};

export interface SendOptions {
  timeoutMs?: number;
}

export type PassKitClient = ReturnType<typeof createPassKitClient>;

export function createPassKitClient(config: PassKitConfig, fetcher: typeof fetch = fetch) {
  const requests = passKitRequests(config);

  async function send<S extends z.ZodType>(request: PassKitRequest, schema: S, options: SendOptions = {}): Promise<z.output<S>> {
    const timeoutMs = options.timeoutMs ?? config.PASSKIT_TIMEOUT_MS;
    const { status, text, headers } = await exchange(request, timeoutMs);
    if (status >= 200 && status < 300) return parseAnswer(status, text, schema);
    throw new PassKitError(failureOf(status, text, headers, timeoutMs));
  }

  async function exchange(request: PassKitRequest, timeoutMs: number) {
    const body = request.body ?? "";
    const token = await signPassKitToken({
      key: config.PASSKIT_API_KEY,
      secret: config.PASSKIT_API_SECRET,
      method: request.method,
      url: request.url,
      body,
    });
    const headers: Record<string, string> = { Authorization: passKitAuthorization(token), Accept: "application/json" };
    if (request.body !== undefined) headers["Content-Type"] = "application/json";
    try {
      const response = await fetcher(request.url, {
        method: request.method,
        headers,
        body: request.body,
        redirect: "manual",
        signal: AbortSignal.timeout(timeoutMs),
      });
      return { status: response.status, headers: response.headers, text: await response.text() };
    } catch (error) {
      if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
        throw new PassKitError({ kind: "timeout", afterMs: timeoutMs });
      }
      throw new PassKitError({ kind: "unreachable", cause: error instanceof Error ? error.message : String(error) });
    }
  }

  return {
    requests,
    send,
    /** Creates a pass; `{ mayExist }` when PassKit's refusal may mean the pass already exists. */
    async create(pass: object, options?: SendOptions): Promise<{ id: string } | { mayExist: PassKitFailure }> {
      try {
        return await send(requests.create(pass), idAnswer, options);
      } catch (error) {
        if (error instanceof PassKitError && error.failure.kind === "rejected" && mayBeDuplicateCreate(error.failure.status)) {
          return { mayExist: error.failure };
        }
        throw error;
      }
    },
    get: (campaignName: string, userDefinedId: string, options?: SendOptions) =>
      send(requests.get(campaignName, userDefinedId), passKitPassSchema, options),
    update: (campaignName: string, userDefinedId: string, changes: object, options?: SendOptions) =>
      send(requests.update(campaignName, userDefinedId, changes), idAnswer, options),
    invalidate: (campaignName: string, userDefinedId: string, options?: SendOptions) =>
      send(requests.invalidate(campaignName, userDefinedId), idAnswer, options),
  };
}

function parseAnswer<S extends z.ZodType>(status: number, text: string, schema: S): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new PassKitError({ kind: "malformed", status, what: "a body that is not JSON" });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new PassKitError({ kind: "malformed", status, what: "JSON of an unexpected shape" });
  return parsed.data;
}

function failureOf(status: number, text: string, headers: Headers, timeoutMs: number): PassKitFailure {
  if (status === 404) return { kind: "not_found" };
  // PassKit's own "request timeout": too slow, as far as Braze is concerned.
  if (status === 408) return { kind: "timeout", afterMs: timeoutMs };
  if (status === 401 || status === 403) return { kind: "auth", status };
  if (status === 429) return { kind: "rate_limited", retryAfterSeconds: retryAfterSeconds(headers.get("Retry-After")) };
  if (status === 400 || status === 409 || status === 422) return { kind: "rejected", status, reason: passKitErrorReason(text) };
  if (status >= 500) return { kind: "unavailable", status };
  // 3xx (redirects are not followed: a redirected API is misconfigured) and other 4xx.
  return { kind: "malformed", status, what: "an unexpected status" };
}
