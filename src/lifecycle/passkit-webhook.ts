import * as z from "zod";
import { ProblemError } from "../http/problem.ts";
import { passUrl } from "../passkit/inferred.ts";
import { lifecycleEventId, lifecycleMessageSchema, type LifecycleMessage, type LifecycleName } from "./events.ts";
import { ACCEPTED_EVENTS, externalIdFromRecordData, lifecycleNameOf, occurredAt, platformOf, statusOverride } from "./inferred.ts";
import { sha256Hex } from "../passkit/token.ts";

/** PassKit's pass-event webhook (UPSTREAMS.md): `{event, pass}`; unknown pass fields are kept. */
export const passKitWebhookSchema = z.object({
  event: z.string().min(1).max(64),
  pass: z.looseObject({
    // Well-formed: the id goes through encodeURIComponent into the pass URL, which throws a
    // URIError (a 500) on a lone surrogate such as "\udfff".
    id: z
      .string()
      .min(1)
      .max(255)
      .refine((value) => value.isWellFormed(), { error: "must be well-formed Unicode (no lone surrogates)" }),
    classId: z.string().max(255).optional(),
    campaignName: z.string().max(255).optional(),
    userDefinedId: z.string().max(512).optional(),
    externalId: z.string().max(512).optional(),
    templateName: z.string().max(255).optional(),
    protocol: z.union([z.string(), z.number()]).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    metaData: z.record(z.string(), z.unknown()).optional(),
    recordData: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type PassKitWebhook = z.output<typeof passKitWebhookSchema>;

export type WebhookOutcome = { kind: "event"; message: LifecycleMessage } | { kind: "no_user"; eventId: string; known: Omit<LifecycleMessage, "externalId"> };

/** Turns one PassKit webhook into the canonical message, or says why it cannot reach Braze. */
export async function fromPassKitWebhook(webhook: PassKitWebhook, passUrlTemplate: string, receivedAt: Date): Promise<WebhookOutcome> {
  const listed = lifecycleNameOf(webhook.event);
  if (!listed) {
    throw new ProblemError({
      status: 422,
      code: "unknown_event",
      title: "Unknown PassKit event",
      detail: `event must be one of ${ACCEPTED_EVENTS.join(", ")} (with or without the PASS_EVENT_ prefix).`,
      errors: [{ pointer: "/event", detail: "unknown event" }],
    });
  }
  const { pass } = webhook;
  const metadata = pass.metadata ?? pass.metaData;
  const { name, occurrence: statusOccurrence } = nameOf(listed, pass.recordData, metadata, receivedAt);
  const happened = occurredAt(name, metadata);
  // A recurring event is identified by when PassKit says it happened, else by the payload itself
  // (a redelivered webhook is byte-for-byte the same occurrence).
  const occurrence = happened ?? statusOccurrence ?? (await sha256Hex(canonicalJson(webhook)));
  const eventId = await lifecycleEventId(name, pass.id, occurrence);
  const known = {
    v: 1 as const,
    eventId,
    name,
    time: happened ?? receivedAt.toISOString(),
    campaignName: pass.campaignName ?? pass.classId ?? "",
    passId: pass.id,
    passUrl: passUrl(passUrlTemplate, pass.id),
    source: "passkit_webhook" as const,
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
      // Every 422 validation failure carries pointers (CONTRACT §4); these point at the body field
      // the message field came from, e.g. a long pass id that made passUrl too long.
      errors: message.error.issues.map((failed) => ({ pointer: sourcePointer(String(failed.path[0]), pass), detail: `${String(failed.path[0])} ${failed.message}` })),
    });
  }
  return { kind: "event", message: message.data };
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

/** A RECORD_UPDATED whose status is older than this restates an install; it is not a new one. */
const RESTATEMENT_AFTER_MS = 86_400_000;

/**
 * `universal.status` on an update says the pass *is* installed (or not), not that it just was
 * (CONTRACT §2 asks for it to become an install or uninstall). It is one when the matching
 * timestamp is recent, or absent (then once per pass and status, not once per update); with an old
 * timestamp the update is what happened, so it stays `updated`.
 */
function nameOf(
  listed: LifecycleName,
  recordData: Record<string, unknown> | undefined,
  metadata: Record<string, unknown> | undefined,
  receivedAt: Date,
): { name: LifecycleName; occurrence?: string } {
  const status = listed === "updated" ? statusOverride(recordData) : undefined;
  if (!status) return { name: listed };
  const happened = occurredAt(status, metadata);
  if (!happened) return { name: status, occurrence: `status:${status}` };
  return receivedAt.getTime() - Date.parse(happened) > RESTATEMENT_AFTER_MS ? { name: listed } : { name: status };
}

/** JSON with object keys sorted, so the same payload always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
