/**
 * Everything the proxy assumes about PassKit's current REST API where the sources conflict or are
 * silent (docs/upstreams.md marks these [inferred] or [unknown]). One small function each, so a
 * first run against a real account corrects them in one place.
 */

import { safeReason } from "../exchange.ts";

/**
 * [inferred, sources conflict] The JWT's lifetime. pub2 refuses an `iat` at "now" (its clock runs
 * ~3 s behind) or older than ~60 s, and an `exp` more than 60 s out; pub1 accepts an hour. The
 * PHP SDK's window, iat 10 s back and exp 30 s ahead, satisfies every report.
 */
export function tokenWindow(nowSeconds: number): { iat: number; exp: number } {
  return { iat: nowSeconds - 10, exp: nowSeconds + 30 };
}

/** [doc] A JWT travels bare (`Authorization: <jwt>`: PassKit base64-decodes the whole value); the
 * long-lived token as `Bearer <token>`. */
export function platformAuthorization(credential: { jwt: string } | { longLived: string }): string {
  return "jwt" in credential ? credential.jwt : `Bearer ${credential.longLived}`;
}

/**
 * [doc, grpc-gateway] A 404 is "no such record" or "no such route": the router answers exactly
 * `{"code":5,"message":"Not Found"}`, the services name the record ("member not found"). A 501 is a
 * method PassKit does not serve on that path. Either of the latter is the proxy's defect.
 */
export function isRoutingFailure(status: number, message: string): boolean {
  return status === 501 || (status === 404 && message.trim() === "Not Found");
}

/** [inferred] The gateway's error text: v2 `{code, message, details}`, v1 `{error, …}`, or plain
 * text; shortened and stripped of control characters so it is safe to show to Braze. */
export function platformErrorMessage(body: string): string {
  let message = body;
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === "object") {
      const record = parsed as Record<string, unknown>;
      const found = record.message ?? record.error;
      if (typeof found === "string") message = found;
      else if (found && typeof found === "object" && typeof (found as Record<string, unknown>).message === "string")
        message = (found as Record<string, string>).message!;
    }
  } catch {
    // not JSON: the text itself is the message
  }
  return safeReason(message);
}

/**
 * [inferred] The gateway percent-decodes a path before splitting it, so an externalId with "/"
 * (even as %2F) reaches no route, and "." or ".." are removed by URL normalisation: those are
 * looked up through the list filter instead.
 */
export function addressableInPath(externalId: string): boolean {
  return !externalId.includes("/") && externalId !== "." && externalId !== "..";
}

/** [inferred] The list filter that finds one record by its externalId (field name as in the proto). */
export function externalIdFilter(externalId: string): object {
  return {
    filters: {
      limit: 2,
      offset: 0,
      filterGroups: [{ condition: "AND", fieldFilters: [{ filterField: "externalId", filterValue: externalId, filterOperator: "eq" }] }],
    },
  };
}

/** [doc] `passMetaData.status` as a name (REST answers) or a number (webhooks): 0 issued,
 * 1 installed, 2 uninstalled, 3 invalidated. Answers `issued`, `installed`, … or null. */
export function passStatusOf(status: unknown): string | null {
  const names = ["PASS_ISSUED", "PASS_INSTALLED", "PASS_UNINSTALLED", "PASS_INVALIDATED"];
  const name = typeof status === "number" ? names[status] : status;
  return typeof name === "string" && names.includes(name) ? name.slice("PASS_".length).toLowerCase() : null;
}

/** [doc] Apple's pass file and Google's save flow hang off the pass page URL. */
export function walletUrls(url: string): { appleUrl: string; googleUrl: string } {
  return { appleUrl: `${url}.pkpass`, googleUrl: `${url}.gpay` };
}
