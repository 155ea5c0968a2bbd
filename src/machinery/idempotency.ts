import { canonicalJson, sha256Hex } from "../crypto.ts";
import type { Claim } from "./coordinator.ts";
import type { Ids, ProductName } from "./product.ts";

/**
 * Braze's webhook "Test" tab renders `{{campaign.${dispatch_id}}}` as this constant, whatever the
 * campaign: a key containing it would make every test send a replay of the first.
 */
export const TEST_TAB_DISPATCH_ID = "dispatch_id_for_unsent_campaign";

/**
 * The claim an `Idempotency-Key` header makes (contract §8.2), or undefined when there is none to
 * make. Any non-empty value is accepted and hashed (spaces, non-ASCII, any length): a key never
 * causes a refusal the body would not. It is scoped to the caller's credential and to the
 * identifier the request names, so a template whose key forgot the user id cannot make one user's
 * request replay another's answer.
 */
export async function claimOf(
  header: string | undefined,
  scope: { principal: string; product: ProductName; ids: Ids },
  request: { operation: string; body: unknown },
): Promise<Claim | undefined> {
  if (header === undefined || header.trim() === "" || header.includes(TEST_TAB_DISPATCH_ID)) return undefined;
  const [key, fingerprint] = await Promise.all([
    sha256Hex(JSON.stringify([scope.principal, scope.product, scope.ids, header])),
    sha256Hex(canonicalJson([request.operation, request.body])),
  ]);
  return { key, fingerprint };
}
