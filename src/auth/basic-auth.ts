import type { Credential } from "../config/config.ts";
import { sha256 } from "../crypto.ts";
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

/** One body for every failure: a caller learns nothing about which part was wrong. */
export const UNAUTHORIZED = new ProblemError({
  status: 401,
  code: "unauthorized",
  title: "Unauthorized",
  detail: "Valid HTTP Basic credentials are required.",
  headers: { "WWW-Authenticate": 'Basic realm="braze-passkit-proxy", charset="UTF-8"' },
});
