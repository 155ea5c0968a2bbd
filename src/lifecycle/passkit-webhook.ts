import type * as z from "zod";
import type { passKitWebhookSchema } from "./webhook-body.ts";
import { ProblemError } from "../http/problem.ts";
import { passUrl } from "../passkit/v3/inferred.ts";
import { lifecycleEventId, lifecycleMessageSchema, type LifecycleMessage } from "./events.ts";
import type { ProductName } from "../machinery/product.ts";
import {
  ACCEPTED_EVENTS,
  classIdFromRecordData,
  externalIdFromRecordData,
  lifecycleNameOf,
  occurredAt,
  platformOf,
  productOfWebhook,
  statusOverride,
} from "./inferred.ts";
import { canonicalJson, sha256Hex } from "../crypto.ts";

export type PassKitWebhook = z.output<typeof passKitWebhookSchema>;

/** The record a webhook is about, so its cached lookup can be refreshed. */
interface WebhookSubject {
  product: ProductName;
  ids: readonly [string, string];
}

type WebhookOutcome =
  | { kind: "event"; message: LifecycleMessage; subject: WebhookSubject }
  | { kind: "no_user"; eventId: string; known: Omit<LifecycleMessage, "externalId"> };

/** Where pass pages live: v3's template, or the current platform's base URL. */
interface PassPages {
  passUrlTemplate: string;
  passBaseUrl: string;
}

/** Turns one PassKit webhook into the canonical message, or says why it cannot reach Braze. */
export async function fromPassKitWebhook(webhook: PassKitWebhook, pages: PassPages, receivedAt: Date): Promise<WebhookOutcome> {
  const listed = lifecycleNameOf(webhook.event);
  if (!listed) {
    throw new ProblemError({
      status: 422,
      code: "unknown_event",
      title: "Unknown PassKit event",
      detail: `event must be one of ${ACCEPTED_EVENTS.join(", ")} (the first six with or without the PASS_EVENT_ prefix).`,
      errors: [{ pointer: "/event", detail: "unknown event" }],
    });
  }
  const { pass } = webhook;
  const product = productOfWebhook(webhook.event, pass.protocol, pass.recordData);
  const metadata = pass.metadata ?? pass.metaData;
  // `universal.status` on an update says the pass is (un)installed (contract §2): that install,
  // identified by its own timestamp, so a restatement of it is the same event (§9).
  const status = listed === "updated" ? statusOverride(pass.recordData) : undefined;
  const name = status ?? listed;
  const happened = occurredAt(name, metadata);
  // A recurring event is identified by the payload only (§9), never by when it arrived: PassKit's
  // timestamp for it, else once per record and status, else the payload itself (a redelivery is
  // byte-for-byte the same occurrence).
  const occurrence = happened ?? (status ? `status:${status}` : await sha256Hex(canonicalJson(webhook)));
  const eventId = await lifecycleEventId(name, pass.id, occurrence);
  const campaignName = pass.campaignName ?? pass.classId ?? classIdFromRecordData(pass.recordData) ?? "";
  const known = {
    v: 1 as const,
    eventId,
    name,
    time: happened ?? receivedAt.toISOString(),
    campaignName,
    passId: pass.id,
    passUrl: product === "pass" ? passUrl(pages.passUrlTemplate, pass.id) : `${pages.passBaseUrl}/${encodeURIComponent(pass.id)}`,
    source: "passkit_webhook" as const,
    product,
    ...(platformOf(metadata) ? { platform: platformOf(metadata) } : {}),
    ...(pass.templateName ? { templateName: pass.templateName } : {}),
  };
  const externalId = pass.userDefinedId || pass.externalId || externalIdFromRecordData(pass.recordData);
  if (!externalId) return { kind: "no_user", eventId, known };
  // Checked here, not first in the consumer, so an oversized field is a clear 422 to PassKit
  // rather than a dead letter called "invalid_message".
  const message = lifecycleMessageSchema.safeParse({ ...known, externalId });
  if (!message.success) {
    const issue = message.error.issues[0]!;
    throw new ProblemError({
      status: 422,
      code: "validation_failed",
      title: "Webhook failed validation",
      detail: `The event cannot be relayed to Braze: ${issue.path.join(".")} ${issue.message}.`,
      // Every 422 validation failure carries pointers (contract §4); these point at the body field
      // the message field came from, e.g. a long pass id that made passUrl too long.
      errors: message.error.issues.map((failed) => ({
        pointer: sourcePointer(String(failed.path[0]), pass),
        detail: `${String(failed.path[0])} ${failed.message}`,
      })),
    });
  }
  return { kind: "event", message: message.data, subject: { product, ids: [campaignName, externalId] } };
}

/** The pointer into the webhook body of the field a canonical message field is taken from. */
function sourcePointer(field: string, pass: PassKitWebhook["pass"]): string {
  switch (field) {
    case "passId":
    case "passUrl":
      return "/pass/id";
    case "externalId":
      return pass.userDefinedId ? "/pass/userDefinedId" : pass.externalId ? "/pass/externalId" : "/pass/recordData";
    case "campaignName":
      return pass.campaignName !== undefined ? "/pass/campaignName" : "/pass/classId";
    case "templateName":
      return "/pass/templateName";
    default:
      return "/pass";
  }
}
