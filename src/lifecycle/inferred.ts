/**
 * What the proxy assumes about PassKit's webhooks without the vendor saying so (docs/upstreams.md marks
 * these [inferred] or partly documented). Each is one small function, so a correction lands in one
 * place.
 */
import type { LifecycleName } from "./events.ts";

/**
 * [doc, gRPC SDK] PassKit's pass events, with or without the `PASS_EVENT_` prefix, and its
 * protocol-specific ones [doc names; payload inferred to be the same `{event, pass}`].
 * RECORD_DELETED has no name of its own in contract §6; a deleted record can no longer be used,
 * which is what `invalidated` tells Braze [inferred].
 */
export function lifecycleNameOf(event: string): LifecycleName | undefined {
  const bare = event
    .trim()
    .toUpperCase()
    .replace(/^PASS_EVENT_/, "");
  return EVENT_NAMES[bare];
}

const EVENT_NAMES: Record<string, LifecycleName> = {
  RECORD_CREATED: "created",
  INSTALLED: "installed",
  RECORD_UPDATED: "updated",
  UNINSTALLED: "deleted",
  INVALIDATED: "invalidated",
  RECORD_DELETED: "invalidated",
  MEMBER_EVENT_ENROLLED: "created",
  MEMBER_EVENT_UPDATED: "updated",
  COUPON_EVENT_CREATED: "created",
  COUPON_EVENT_REDEEMED: "redeemed",
  COUPON_EVENT_UPDATED: "updated",
  COUPON_EVENT_DELETED: "invalidated",
};

export const ACCEPTED_EVENTS = Object.keys(EVENT_NAMES);

/**
 * [doc for the numbers, inferred for the rest] Which product a webhook is about: `pass.protocol` 100
 * is Membership and 101 single-use coupons (as numbers in webhooks, names elsewhere); else the
 * protocol-specific event or the `recordData` key family says; else it is a v3 pass.
 */
export function productOfWebhook(
  event: string,
  protocol: unknown,
  recordData: Record<string, unknown> | undefined,
): "pass" | "member" | "coupon" {
  if (protocol === 100 || protocol === "MEMBERSHIP") return "member";
  if (protocol === 101 || protocol === "SINGLE_USE_COUPON") return "coupon";
  const upper = event.trim().toUpperCase();
  if (upper.startsWith("MEMBER_EVENT_")) return "member";
  if (upper.startsWith("COUPON_EVENT_")) return "coupon";
  const keys = Object.keys(recordData ?? {});
  if (keys.some((key) => key.startsWith("members."))) return "member";
  if (keys.some((key) => key.startsWith("singleUseCoupons."))) return "coupon";
  return "pass";
}

/** [inferred] The program or coupon campaign a current-platform record belongs to, when `classId` is absent. */
export function classIdFromRecordData(recordData: Record<string, unknown> | undefined): string | undefined {
  for (const key of ["members.program.id", "singleUseCoupons.campaign.id"]) {
    const value = recordData?.[key];
    if (typeof value === "string" && value) return value;
  }
  return undefined;
}

/**
 * [doc, public integrations] An update event whose `universal.status` says the pass was installed
 * or uninstalled is reported as that.
 */
export function statusOverride(recordData: Record<string, unknown> | undefined): LifecycleName | undefined {
  const status = recordData?.["universal.status"];
  if (status === "PASS_INSTALLED") return "installed";
  if (status === "PASS_UNINSTALLED") return "deleted";
  return undefined;
}

/** [inferred] The flat `recordData` key that holds the external ID, e.g. `members.member.externalId`. */
export function externalIdFromRecordData(recordData: Record<string, unknown> | undefined): string | undefined {
  for (const [key, value] of Object.entries(recordData ?? {})) {
    if ((key === "externalId" || key.endsWith(".externalId")) && typeof value === "string" && value) return value;
  }
  return undefined;
}

/**
 * [inferred] When the event happened, from the pass's metadata (`firstInstalledAt`,
 * `lastUninstalledAt`, ...); undefined when the payload does not say.
 */
export function occurredAt(name: LifecycleName, metadata: Record<string, unknown> | undefined): string | undefined {
  const candidates: Record<LifecycleName, string[]> = {
    // Only the latest: a reinstall keeps firstInstalledAt, so it would look like the first install.
    installed: ["lastInstalledAt"],
    deleted: ["lastUninstalledAt"],
    updated: ["updatedAt", "lastUpdatedAt"],
    created: ["createdAt"],
    invalidated: ["invalidatedAt", "updatedAt"],
    issued: ["issuedAt", "createdAt"],
    redeemed: ["redeemedAt", "redemptionDate"],
  };
  for (const key of candidates[name]) {
    const value = metadata?.[key];
    if (typeof value === "string" && !Number.isNaN(Date.parse(value))) return new Date(value).toISOString();
  }
  return undefined;
}

/** [inferred] The wallet platform of an install, from metadata such as `installDevicePlatform`. */
export function platformOf(metadata: Record<string, unknown> | undefined): string | undefined {
  for (const key of ["installDevicePlatform", "lastInstalledDevicePlatform", "platform", "walletPlatform"]) {
    const value = metadata?.[key];
    if (typeof value === "string" && value) return value.slice(0, 255);
  }
  // The current platform lists the installing devices, e.g. ["Ios"] [doc, names].
  const devices = metadata?.installDeviceAttributes;
  if (Array.isArray(devices) && typeof devices[0] === "string" && devices[0]) return devices[0].slice(0, 255);
  return undefined;
}

/**
 * [doc, partly] `x-passkit-signature` is two comma-separated parts, each with a two-character
 * prefix (`xx<nonce>,yy<signature>`): a nonce, then an HMAC-SHA256 over nonce and payload.
 */
export function signatureParts(header: string): { nonce: string; signature: string } | undefined {
  const parts = header.split(",").map((part) => part.trim());
  if (parts.length !== 2 || parts.some((part) => part.length <= 2)) return undefined;
  return { nonce: parts[0]!.slice(2), signature: parts[1]!.slice(2) };
}

/**
 * [unknown] How PassKit builds the signature: whether the key is the secret's text or its base64
 * bytes, whether the nonce and the raw body are joined by "." or nothing, and whether the MAC is
 * hex or base64 (docs/upstreams.md). Every combination is tried, in constant time each; the one
 * that matched is logged, so the first real delivery pins it.
 */
export function signatureVariants(
  secret: string,
  nonce: string,
  rawBody: Uint8Array,
): { name: string; key: string | Uint8Array<ArrayBuffer>; message: Uint8Array<ArrayBuffer> }[] {
  const keys: { name: string; key: string | Uint8Array<ArrayBuffer> }[] = [{ name: "secret-text", key: secret }];
  const decoded = base64Bytes(secret);
  if (decoded) keys.push({ name: "secret-base64", key: decoded });
  const messages = [
    { name: "nonce.body", message: joined(`${nonce}.`, rawBody) },
    { name: "nonce+body", message: joined(nonce, rawBody) },
  ];
  return keys.flatMap((key) =>
    messages.map((message) => ({ name: `${key.name}/${message.name}`, key: key.key, message: message.message })),
  );
}

function joined(prefix: string, rawBody: Uint8Array): Uint8Array<ArrayBuffer> {
  const head = new TextEncoder().encode(prefix);
  const content = new Uint8Array(head.byteLength + rawBody.byteLength);
  content.set(head);
  content.set(rawBody, head.byteLength);
  return content;
}

function base64Bytes(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
}
