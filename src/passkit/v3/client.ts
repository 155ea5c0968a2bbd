import * as z from "zod";
import type { Config } from "../../config/config.ts";
import { retryAfterSeconds } from "../../http/retry-after.ts";
import { exchange, parseAnswer, type PassKitAnswer, type PassKitRequest } from "../exchange.ts";
import { PassKitError, type PassKitFailure } from "../failures.ts";
import { mayBeDuplicateCreate, passKitAuthorization, passKitErrorReason } from "./inferred.ts";
import { signPassKitToken } from "./token.ts";

/** PassKit ids go into paths only after this check (and encoding), never caller input. */
const passId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);

const idAnswer = z.looseObject({ id: passId });

/** The fields of PassKit's pass object (docs/upstreams.md, the C# v2 model) that the proxy reads. */
const passKitPassSchema = z.looseObject({
  id: passId,
  templateName: z.string().nullish(),
  campaignName: z.string().nullish(),
  userDefinedId: z.string().nullish(),
  recoveryEmail: z.string().nullish(),
  isVoided: z.boolean().nullish(),
  isRedeemed: z.boolean().nullish(),
  isInvalid: z.boolean().nullish(),
  expiryDate: z.string().nullish(),
  createdAt: z.string().nullish(),
  dynamicData: z.record(z.string(), z.unknown()).nullish(),
  dynamicImages: z.record(z.string(), z.unknown()).nullish(),
  passbook: z.record(z.string(), z.unknown()).nullish(),
});
export type PassKitPass = z.output<typeof passKitPassSchema>;

type PassKitV3Config = Pick<Config, "PASSKIT_API_URL" | "PASSKIT_TIMEOUT_MS"> & { PASSKIT_API_KEY: string; PASSKIT_API_SECRET: string };

/** Builds PassKit v3 requests. Identifiers travel only as encoded query values. */
export const passKitRequests = (config: Pick<Config, "PASSKIT_API_URL">) => {
  // Normalised through URL, so the token's `url` claim is exactly the URL fetch sends.
  const byUser = (campaignName: string, userDefinedId: string) =>
    new URL(
      `${config.PASSKIT_API_URL}/passes?userDefinedId=${encodeURIComponent(userDefinedId)}&campaignName=${encodeURIComponent(campaignName)}`,
    ).href;
  return {
    create: (pass: object): PassKitRequest => ({
      method: "POST",
      url: new URL(`${config.PASSKIT_API_URL}/passes`).href,
      body: JSON.stringify(pass),
    }),
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

export function createPassKitClient(config: PassKitV3Config, fetcher: typeof fetch = fetch) {
  const requests = passKitRequests(config);

  async function send<S extends z.ZodType>(request: PassKitRequest, schema: S): Promise<z.output<S>> {
    const token = await signPassKitToken({
      key: config.PASSKIT_API_KEY,
      secret: config.PASSKIT_API_SECRET,
      method: request.method,
      url: request.url,
      body: request.body ?? "",
    });
    const answer = await exchange(fetcher, request, passKitAuthorization(token), config.PASSKIT_TIMEOUT_MS);
    if (answer.status >= 200 && answer.status < 300) return parseAnswer(answer, (json) => schema.safeParse(json).data);
    throw new PassKitError(failureOf(answer, config.PASSKIT_TIMEOUT_MS));
  }

  return {
    requests,
    /** Creates a pass; `{ mayExist }` when PassKit's refusal may mean the pass already exists. */
    async create(pass: object): Promise<{ id: string } | { mayExist: PassKitFailure }> {
      try {
        return await send(requests.create(pass), idAnswer);
      } catch (error) {
        if (error instanceof PassKitError && error.failure.kind === "rejected" && mayBeDuplicateCreate(error.failure.status)) {
          return { mayExist: error.failure };
        }
        throw error;
      }
    },
    get: (campaignName: string, userDefinedId: string) => send(requests.get(campaignName, userDefinedId), passKitPassSchema),
    update: (campaignName: string, userDefinedId: string, changes: object) =>
      send(requests.update(campaignName, userDefinedId, changes), idAnswer),
    invalidate: (campaignName: string, userDefinedId: string) => send(requests.invalidate(campaignName, userDefinedId), idAnswer),
  };
}

function failureOf({ status, text, headers }: PassKitAnswer, timeoutMs: number): PassKitFailure {
  if (status === 404) return { kind: "not_found" };
  // PassKit's own "request timeout": too slow, as far as Braze is concerned.
  if (status === 408) return { kind: "timeout", afterMs: timeoutMs };
  if (status === 401 || status === 403) return { kind: "auth", status, credentials: "PASSKIT_API_KEY and PASSKIT_API_SECRET" };
  if (status === 429) return { kind: "rate_limited", retryAfterSeconds: retryAfterSeconds(headers.get("Retry-After")) };
  if (status === 400 || status === 409 || status === 422) return { kind: "rejected", status, reason: passKitErrorReason(text) };
  if (status >= 500) return { kind: "unavailable", status };
  // 3xx (redirects are not followed: a redirected API is misconfigured) and other 4xx.
  return { kind: "malformed", status, what: "an unexpected status" };
}
