import { sha256 } from "../crypto.ts";

/**
 * Whether two strings are equal, in time that depends on neither: both are hashed first, then the
 * equal-length digests are compared with workerd's `timingSafeEqual` (a Workers-only API, hence
 * its own module, away from what the Node tooling imports).
 */
export async function constantTimeEquals(a: string, b: string): Promise<boolean> {
  const [left, right] = await Promise.all([sha256(a), sha256(b)]);
  return crypto.subtle.timingSafeEqual(left, right);
}
