import type { ProblemCode } from "./problem-codes.ts";

/** RFC 9457 problem details: every error the proxy answers is one of these. */

export interface FieldError {
  /** JSON Pointer (RFC 6901) into the request body, or `/path/...` for a path parameter. */
  pointer: string;
  detail: string;
}

export interface ProblemInit {
  status: number;
  /** Stable machine-readable code, e.g. `validation_failed`; also the last segment of `type`. */
  code: ProblemCode;
  title: string;
  detail: string;
  errors?: FieldError[];
  headers?: Record<string, string>;
}

/** An expected failure: thrown anywhere, answered by `app.onError` as problem+json. */
export class ProblemError extends Error {
  readonly problem: ProblemInit;
  constructor(problem: ProblemInit) {
    super(`${problem.status} ${problem.code}: ${problem.detail}`);
    this.name = "ProblemError";
    this.problem = problem;
  }
}

const PROBLEM_CONTENT_TYPE = "application/problem+json";
// A URN, not a URL: there is no page to dereference; the codes are listed in the README.
const TYPE_BASE = "urn:braze-passkit-proxy:problem:";

export function problemResponse(problem: ProblemInit, requestId: string): Response {
  const body = {
    type: TYPE_BASE + problem.code,
    title: problem.title,
    status: problem.status,
    detail: problem.detail,
    code: problem.code,
    requestId,
    ...(problem.errors?.length ? { errors: problem.errors } : {}),
  };
  const headers = new Headers(problem.headers);
  headers.set("Content-Type", PROBLEM_CONTENT_TYPE);
  headers.set("X-Request-Id", requestId);
  return new Response(JSON.stringify(body), { status: problem.status, headers });
}
