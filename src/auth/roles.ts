import type { Context, MiddlewareHandler } from "hono";
import { requireSecrets, type Config, type Credential } from "../config/config.ts";
import type { AppContext } from "../env.ts";
import { ProblemError } from "../http/problem.ts";
import { log } from "../log.ts";
import { MemoryLayer } from "../machinery/memory.ts";
import { decodeBasicAuthorization, matchCredential, UNAUTHORIZED } from "./basic-auth.ts";

/**
 * The three roles of contract §9, each with its own secret (one `user:password` per line, several
 * while rotating). A credential of one role gets the same 401 on another role's routes as a wrong
 * password, and counts as a failed login.
 */
const ROLES = {
  braze: "PROXY_CREDENTIALS",
  webhook: "WEBHOOK_CREDENTIALS",
  operator: "OPERATOR_CREDENTIALS",
} as const satisfies Record<string, keyof Config>;
type Role = keyof typeof ROLES;

/**
 * Authorization values already verified, per parsed config and role. A hit costs one map lookup
 * instead of a SHA-256 of the header and a comparison with every line, which is most of a cached
 * lookup's CPU. Only values that matched are kept: a wrong user and a wrong password both take the
 * full constant-time path, so their timings stay alike and nothing about a password is learned
 * from a hit (a Map lookup hashes the whole string; it does not compare prefixes). The map belongs
 * to the parsed config, so a rotated or revoked line stops working with the config that removed it.
 */
const verifiedByConfig = new WeakMap<readonly Credential[], Map<string, string>>();
/** Bounded: past this many distinct verified values (there are a handful), the map starts over. */
const VERIFIED_MAX = 1_000;

/** An address throttled here stays so for the limiter's period without asking it again. */
const THROTTLE_SECONDS = 60;
const throttled = new MemoryLayer<true>(10_000);

/** The user an `Authorization` value was already verified as for `role` in this config, if it was. */
export function verifiedPrincipal(config: Config, role: Role, header: string | null): string | undefined {
  const credentials = config[ROLES[role]] as Credential[] | undefined;
  return credentials && header !== null ? verifiedByConfig.get(credentials)?.get(header) : undefined;
}

/** Requires HTTP Basic credentials of `role`; sets `principal`. */
export function requireRole(role: Role): MiddlewareHandler<AppContext> {
  const variable = ROLES[role];
  return async function authenticate(c, next) {
    await authenticateAs(c, role, variable);
    await next();
  };
}

/** The check itself, for a route that needs it only on some requests (webhooks without a signature). */
export async function authenticateAs(c: Context<AppContext>, role: Role, variable: keyof Config = ROLES[role]): Promise<void> {
  const config = c.get("config");
  requireSecrets(config, [variable]);
  const credentials = config[variable] as Credential[];
  const header = c.req.header("Authorization") ?? "";
  let verified = verifiedByConfig.get(credentials);
  if (!verified) {
    verified = new Map();
    verifiedByConfig.set(credentials, verified);
  }

  const known = verified.get(header);
  if (known !== undefined) {
    c.set("principal", known);
    return;
  }
  const address = clientAddress(c);
  const now = Date.now();
  if (throttled.get(address, now)) throw tooManyFailures(c, role, "throttled");

  const presented = decodeBasicAuthorization(header);
  const credential = presented === undefined ? undefined : await matchCredential(presented, credentials);
  if (credential) {
    if (verified.size >= VERIFIED_MAX) verified.clear();
    verified.set(header, credential.username);
    c.set("principal", credential.username);
    return;
  }
  // Counted only on failure: a working Braze template never spends the budget.
  const { success } = await c.env.AUTH_FAILURES.limit({ key: address });
  if (!success) {
    throttled.set(address, true, now + THROTTLE_SECONDS * 1000);
    throw tooManyFailures(c, role, "limit_reached");
  }
  throw UNAUTHORIZED;
}

/** The client's address as Cloudflare reports it; one shared key when there is none (local runs). */
function clientAddress(c: Context<AppContext>): string {
  return c.req.header("CF-Connecting-IP") ?? "unknown";
}

function tooManyFailures(c: Context<AppContext>, role: Role, reason: string): ProblemError {
  log("warn", "login_throttled", { requestId: c.get("requestId"), role, reason });
  return new ProblemError({
    status: 429,
    code: "too_many_failed_logins",
    title: "Too many failed logins",
    detail: `Too many failed logins from this address; retry in ${THROTTLE_SECONDS} s.`,
    headers: { "Retry-After": String(THROTTLE_SECONDS) },
  });
}
