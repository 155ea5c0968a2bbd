import { ProblemError } from "../http/problem.ts";

/** Every way a PassKit call can fail, as the client sees it. */
export type PassKitFailure =
  | { kind: "rejected"; status: number; reason: string }
  | { kind: "not_found" }
  | { kind: "auth"; status: number }
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
 * CONTRACT §4: the status Braze sees for each PassKit failure. Braze retries only 408, 429 and
 * 5xx, so a failure a retry can fix maps to one of those and a content error to a 4xx.
 */
export function passKitProblem(failure: PassKitFailure): ProblemError {
  switch (failure.kind) {
    case "rejected":
      return new ProblemError({
        status: 422,
        code: "passkit_rejected",
        title: "PassKit rejected the pass",
        detail: `PassKit answered ${failure.status}: ${failure.reason}`,
      });
    case "not_found":
      return new ProblemError({ status: 404, code: "not_found", title: "Pass not found", detail: "PassKit has no pass for this campaign and user." });
    case "auth":
      return new ProblemError({
        status: 502,
        code: "upstream_auth",
        title: "PassKit refused the proxy's credentials",
        detail: `PassKit answered ${failure.status} to the proxy's API key; the operator must check PASSKIT_API_KEY and PASSKIT_API_SECRET.`,
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
      return new ProblemError({ status: 502, code: "upstream_error", title: "PassKit failed", detail: `PassKit answered ${failure.status}.` });
    case "unreachable":
      return new ProblemError({ status: 502, code: "upstream_unreachable", title: "PassKit unreachable", detail: "The proxy could not reach PassKit." });
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
