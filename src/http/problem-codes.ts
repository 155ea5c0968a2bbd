/**
 * Every problem code the proxy answers, with its status: the one list the README's status table
 * and the OpenAPI document are checked against (test/docs.test.ts). Braze retries 408, 429 and
 * 5xx only, so the status decides whether a webhook is tried again (contract §4).
 */
export const PROBLEM_CODES = {
  invalid_json: 400,
  invalid_encoding: 400,
  invalid_path: 400,
  invalid_query: 400,
  too_deep: 400,
  unauthorized: 401,
  not_found: 404,
  route_not_found: 404,
  body_too_large: 413,
  unsupported_media_type: 415,
  validation_failed: 422,
  duplicate_key: 422,
  inexact_number: 422,
  passkit_rejected: 422,
  idempotency_key_reused: 422,
  unknown_event: 422,
  identifier_busy: 429,
  upstream_rate_limited: 429,
  too_many_failed_logins: 429,
  client_closed_request: 499,
  config_error: 500,
  internal_error: 500,
  upstream_auth: 502,
  upstream_error: 502,
  upstream_unreachable: 502,
  upstream_malformed: 502,
  upstream_unsupported: 502,
  queue_unavailable: 503,
  coordination_unavailable: 503,
  upstream_timeout: 504,
} as const;

export type ProblemCode = keyof typeof PROBLEM_CODES;
