/**
 * Everything the proxy assumes about PassKit v3 without the vendor saying so (docs/upstreams.md marks
 * these [inferred] or [unknown]). Each is one small function, so a correction lands in one place.
 */

import { safeReason } from "../exchange.ts";

/**
 * [inferred] The v3 token travels as `Authorization: PKAuth <token>`: the documented v2 form, and
 * the v3 token page shows the same token without naming the header.
 */
export function passKitAuthorization(token: string): string {
  return `PKAuth ${token}`;
}

/**
 * [unknown] How PassKit answers a create whose (campaignName, userDefinedId) already exists. Any
 * of these statuses may mean "duplicate"; the caller confirms by looking the pass up, so a wrong
 * guess costs one GET, never a second pass.
 */
export function mayBeDuplicateCreate(status: number): boolean {
  return status === 400 || status === 409 || status === 422;
}

/**
 * [inferred, v2 era] v3 answers a pass id but no URL; the public pass page is built from the id
 * with PASSKIT_PASS_URL_TEMPLATE.
 */
export function passUrl(template: string, passId: string): string {
  return template.replace("{passId}", encodeURIComponent(passId));
}

/**
 * [unknown] PassKit's error body format. Takes `error`, `message` or `errors` from a JSON body,
 * else the text; shortened and stripped of control characters so it is safe to show to Braze.
 */
export function passKitErrorReason(body: string): string {
  let reason = body;
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === "object") {
      const record = parsed as Record<string, unknown>;
      const found = record.error ?? record.message ?? record.errors;
      if (found !== undefined) reason = typeof found === "string" ? found : JSON.stringify(found);
    }
  } catch {
    // not JSON: the text itself is the reason
  }
  return safeReason(reason);
}
