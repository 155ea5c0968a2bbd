import * as z from "zod";
import { sha256Hex } from "../crypto.ts";

/** Contract §6: the lifecycle names; Braze sees BRAZE_EVENT_PREFIX + name. */
export const LIFECYCLE_NAMES = ["created", "issued", "installed", "updated", "deleted", "invalidated", "redeemed"] as const;
export const PRODUCTS = ["pass", "member", "coupon"] as const;
export type LifecycleName = (typeof LIFECYCLE_NAMES)[number];

/**
 * The canonical queue message: one lifecycle event of one pass, whatever reported it. Everything
 * Braze needs is here, so the consumer never calls PassKit. Layout: docs/storage.md.
 */
export const lifecycleMessageSchema = z.object({
  v: z.literal(1),
  /** Stable: the same occurrence reported twice has the same id; Braze sees it once. */
  eventId: z.string().regex(/^[0-9a-f]{64}$/),
  name: z.enum(LIFECYCLE_NAMES),
  /** The Braze external ID. */
  externalId: z.string().min(1).max(512),
  /** When it happened (ISO 8601). */
  time: z.iso.datetime({ offset: true }),
  campaignName: z.string().max(255),
  passId: z.string().max(255),
  passUrl: z.string().max(255).optional(),
  source: z.enum(["proxy", "passkit_webhook"]),
  /** Messages queued before members and coupons existed have none: they are passes. */
  product: z.enum(PRODUCTS).default("pass"),
  platform: z.string().max(255).optional(),
  templateName: z.string().max(255).optional(),
});
export type LifecycleMessage = z.output<typeof lifecycleMessageSchema>;

/**
 * The eventId of an occurrence. A pass is created, invalidated and redeemed once, so those ids depend
 * only on the pass: the proxy's own `created` and PassKit's RECORD_CREATED webhook for the same
 * pass are one event. Installs, uninstalls and updates recur, so their `occurrence` says which one
 * (a PassKit timestamp, or a hash of the webhook payload, or the proxy request's key).
 */
export async function lifecycleEventId(name: LifecycleName, passId: string, occurrence?: string): Promise<string> {
  const once = name === "created" || name === "invalidated" || name === "issued" || name === "redeemed";
  return sha256Hex(JSON.stringify(once ? [name, passId] : [name, passId, occurrence ?? ""]));
}
