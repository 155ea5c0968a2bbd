import type { Context, MiddlewareHandler } from "hono";
import type { AppContext } from "../env.ts";
import { requireSecrets, type Credential } from "../config/config.ts";
import { ProblemError } from "../http/problem.ts";

const BASIC = /^ *[Bb][Aa][Ss][Ii][Cc] +([A-Za-z0-9+/]+={0,2}) *$/;

/**
 * The `user:password` a Basic `Authorization` header carries (RFC 7617), or `undefined` for
 * anything malformed. Never throws.
 */
export function decodeBasicAuthorization(header: string | null | undefined): string | undefined {
  const match = BASIC.exec(header ?? "");
  if (!match) return undefined;
  try {
    const binary = atob(match[1]!);
    const decoded = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
    return decoded.includes(":") ? decoded : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The configured credential `presented` equals, if any. Every line is compared, in constant time
 * over SHA-256 digests, so the answer's timing reveals neither which user exists nor how much of a
 * password matched.
 */
export async function matchCredential(presented: string, credentials: readonly Credential[]): Promise<Credential | undefined> {
  const [presentedDigest, digests] = await Promise.all([sha256(presented), lineDigests(credentials)]);
  let matched: Credential | undefined;
  credentials.forEach((credential, index) => {
    if (crypto.subtle.timingSafeEqual(presentedDigest, digests[index]!)) matched = credential;
  });
  return matched;
}

/** The configured lines' digests, computed once per parsed config rather than per request. */
const digestsOf = new WeakMap<readonly Credential[], Promise<ArrayBuffer[]>>();

function lineDigests(credentials: readonly Credential[]): Promise<ArrayBuffer[]> {
  let digests = digestsOf.get(credentials);
  if (!digests) {
    digests = Promise.all(credentials.map((credential) => sha256(credential.line)));
    digestsOf.set(credentials, digests);
  }
  return digests;
}

async function sha256(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
}

/** One body for every failure: a caller learns nothing about which part was wrong. */
export const UNAUTHORIZED = new ProblemError({
  status: 401,
  code: "unauthorized",
  title: "Unauthorized",
  detail: "Valid HTTP Basic credentials are required.",
  headers: { "WWW-Authenticate": 'Basic realm="braze-passkit-proxy", charset="UTF-8"' },
});

/** Checks HTTP Basic credentials against PROXY_CREDENTIALS and sets `principal`, or throws 401. */
export async function authenticateBasic(c: Context<AppContext>): Promise<void> {
  const config = c.get("config");
  requireSecrets(config, ["PROXY_CREDENTIALS"]);
  const presented = decodeBasicAuthorization(c.req.header("Authorization"));
  const credential = presented === undefined ? undefined : await matchCredential(presented, config.PROXY_CREDENTIALS!);
  if (!credential) throw UNAUTHORIZED;
  c.set("principal", credential.username);
}

/** Requires HTTP Basic credentials matching a line of PROXY_CREDENTIALS. */
export function requireBasicAuth(): MiddlewareHandler<AppContext> {
  return async function basicAuth(c, next) {
    await authenticateBasic(c);
    await next();
  };
}
