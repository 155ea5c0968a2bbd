import { ProblemError } from "../http/problem.ts";

/** Every way a call to either PassKit API can fail, as its client sees it. */
export type PassKitFailure =
  /** PassKit refused the content (400/422, or a 409 that is not a duplicate create). */
  | { kind: "rejected"; status: number; reason: string }
  | { kind: "not_found" }
  /** A duplicate create (the current platform's 409), handled by the create flow. */
  | { kind: "exists"; reason: string }
  /** PassKit has no such route or method: the proxy called it wrongly (a defect, logged). */
  | { kind: "no_route"; status: number; request: string }
  | { kind: "auth"; status: number; credentials: string }
  | { kind: "rate_limited"; retryAfterSeconds: number }
  | { kind: "unavailable"; status: number }
  | { kind: "unreachable"; cause: string }
  | { kind: "timeout"; afterMs: number }
  | { kind: "malformed"; status: number; what: string };

export class PassKitError extends Error {
  readonly failure: PassKitFailure;

  constructor(failure: PassKitFailure) {
    super(`PassKit call failed: ${failure.kind}`);
    this.failure = failure;
    this.name = "PassKitError";
  }
}

/**
 * Contract §4: the status Braze sees for each PassKit failure. Braze retries only 408, 429 and
 * 5xx, so a failure a retry can fix maps to one of those and a content error to a 4xx. `noun` names
 * the product's record in the not-found answer ("pass", "member", "coupon").
 */
export function passKitProblem(failure: PassKitFailure, noun = "pass"): ProblemError {
  switch (failure.kind) {
    case "rejected":
    case "exists":
      return new ProblemError({
        status: 422,
        code: "passkit_rejected",
        title: `PassKit rejected the ${noun}`,
        detail: `PassKit answered ${failure.kind === "exists" ? 409 : failure.status}: ${failure.reason}`,
      });
    case "not_found":
      return new ProblemError({
        status: 404,
        code: "not_found",
        title: `${capitalized(noun)} not found`,
        detail: `PassKit has no ${noun} for these identifiers.`,
      });
    case "no_route":
      return new ProblemError({
        status: 502,
        code: "upstream_unsupported",
        title: "PassKit has no such operation",
        detail: `PassKit answered ${failure.status} to ${failure.request}: the proxy called a route PassKit does not serve (a proxy defect, logged).`,
      });
    case "auth":
      return new ProblemError({
        status: 502,
        code: "upstream_auth",
        title: "PassKit refused the proxy's credentials",
        detail: `PassKit answered ${failure.status} to the proxy's credentials; the operator must check ${failure.credentials}.`,
      });
    case "rate_limited":
      return new ProblemError({
        status: 429,
        code: "upstream_rate_limited",
        title: "PassKit is rate limiting",
        detail: "PassKit asked the proxy to slow down; retry later.",
        headers: { "Retry-After": String(failure.retryAfterSeconds) },
      });
    case "unavailable":
      return new ProblemError({
        status: 502,
        code: "upstream_error",
        title: "PassKit failed",
        detail: `PassKit answered ${failure.status}.`,
      });
    case "unreachable":
      return new ProblemError({
        status: 502,
        code: "upstream_unreachable",
        title: "PassKit unreachable",
        detail: "The proxy could not reach PassKit.",
      });
    case "malformed":
      return new ProblemError({
        status: 502,
        code: "upstream_malformed",
        title: "PassKit answered something unexpected",
        detail: `PassKit answered ${failure.status} with ${failure.what}.`,
      });
    case "timeout":
      return new ProblemError({
        status: 504,
        code: "upstream_timeout",
        title: "PassKit too slow",
        detail: `PassKit did not answer within ${failure.afterMs} ms.`,
      });
  }
}

function capitalized(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}
