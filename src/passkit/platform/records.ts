import * as z from "zod";
import { requireSecrets, type Config } from "../../config/config.ts";
import { ProblemError } from "../../http/problem.ts";
import { changedEntries, sameValue } from "../../machinery/diff.ts";
import type { PassKitRequest } from "../exchange.ts";
import { PassKitError, type PassKitFailure } from "../failures.ts";
import type { PlatformClient } from "./client.ts";
import { addressableInPath, externalIdFilter, passStatusOf, walletUrls } from "./inferred.ts";

/**
 * What members and coupons share at PassKit's current platform: the answer's common fields, the
 * read by externalId, `metaData` merging and `person` patching (docs/upstreams.md).
 */

/** The gateway answers every field, unset ones as "", 0 or null: all read as absent here. */
const unsetAsAbsent = (value: unknown) => (value === "" || value === null ? undefined : value);
export const text = z.preprocess(unsetAsAbsent, z.string().optional());
export const amount = z.preprocess(unsetAsAbsent, z.number().optional());

/** PassKit ids reach paths and pass URLs: checked, never trusted. */
const platformId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);

const personSchema = z.looseObject({
  forename: text,
  surname: text,
  displayName: text,
  salutation: text,
  suffix: text,
  emailAddress: text,
  mobileNumber: text,
  gender: text,
  dateOfBirth: z.preprocess(unsetAsAbsent, z.object({ year: z.number(), month: z.number(), day: z.number() }).optional()),
});
type PassKitPerson = z.output<typeof personSchema>;

/** The fields both records have, as the proxy reads them. */
export const recordFields = {
  id: platformId,
  externalId: text,
  person: z.preprocess(unsetAsAbsent, personSchema.optional()),
  metaData: z.preprocess(unsetAsAbsent, z.record(z.string(), z.string()).optional()),
  expiryDate: text,
  status: text,
  passMetaData: z.preprocess(unsetAsAbsent, z.looseObject({ status: z.unknown() }).optional()),
  created: text,
};

export const idAnswer = z.looseObject({ id: platformId });

/** The person fields a Braze body sets (dateOfBirth as YYYY-MM-DD). */
export interface PersonFields {
  forename?: string;
  surname?: string;
  displayName?: string;
  salutation?: string;
  suffix?: string;
  emailAddress?: string;
  mobileNumber?: string;
  gender?: string;
  dateOfBirth?: string;
}

/** A body's person as PassKit takes it: dateOfBirth becomes `{year, month, day}`. */
export function toPassKitPerson(person: PersonFields): Record<string, unknown> {
  const { dateOfBirth, ...rest } = person;
  if (!dateOfBirth) return rest;
  const [year, month, day] = dateOfBirth.split("-").map(Number);
  return { ...rest, dateOfBirth: { year, month, day } };
}

/** The person fields that differ from what PassKit holds, or undefined. */
export function personChanges(held: PassKitPerson | undefined, sent: PersonFields | undefined): PersonFields | undefined {
  if (!sent) return undefined;
  const { dateOfBirth: _held, ...heldRest } = held ?? {};
  const { dateOfBirth: _sent, ...sentRest } = sent;
  const changed: PersonFields = changedEntries(heldRest, sentRest);
  if (sent.dateOfBirth && !sameValue(held?.dateOfBirth, toPassKitPerson({ dateOfBirth: sent.dateOfBirth }).dateOfBirth))
    changed.dateOfBirth = sent.dateOfBirth;
  return Object.keys(changed).length > 0 ? changed : undefined;
}

/**
 * `metaData` after an update: PassKit replaces the whole map on write [field], so the proxy sends
 * the map it holds with the body's keys overlaid, a key set to null removed (contract §7).
 * Undefined when nothing changes.
 */
export function mergedMetaData(
  held: Record<string, string> | undefined,
  changes: Record<string, string | null> | undefined,
): Record<string, string> | undefined {
  if (!changes) return undefined;
  const merged: Record<string, string> = { ...held };
  for (const [key, value] of Object.entries(changes)) {
    if (value === null) delete merged[key];
    else merged[key] = value;
  }
  return sameValue(merged, held ?? {}) ? undefined : merged;
}

/** Members and coupons need the REST key and secret, or the long-lived token instead. */
export function requirePlatformCredentials(config: Config): void {
  requireSecrets(config, ["PASSKIT_REST_KEY", "PASSKIT_REST_SECRET"], [["PASSKIT_REST_TOKEN"]]);
}

/** A member's or coupon's lifecycle event fields: its program or coupon campaign is the campaign. */
export function platformEvent(view: { id: string; url: string; externalId: string }, classId: string) {
  return { externalId: view.externalId, campaignName: classId, passId: view.id, passUrl: view.url };
}

/** The lookup fields both views share: URLs and install state. */
export function passState(record: { id: string; passMetaData?: { status?: unknown } | undefined }, passBaseUrl: string) {
  const url = `${passBaseUrl}/${encodeURIComponent(record.id)}`;
  const passStatus = passStatusOf(record.passMetaData?.status);
  return { url, ...walletUrls(url), installed: passStatus === "installed", passStatus };
}

/**
 * A record by its externalId within its program or campaign: by path when the id can be one, else
 * through the list filter (its NDJSON answer). Undefined when PassKit has none.
 */
export async function readByExternalId<T extends { externalId?: string | undefined }>(
  client: PlatformClient,
  routes: { byPath: (classId: string, externalId: string) => string; list: (classId: string) => string },
  [classId, externalId]: readonly [string, string],
  parse: (json: unknown) => T | undefined,
): Promise<T | undefined> {
  try {
    if (addressableInPath(externalId)) {
      return await client.send(client.request("GET", routes.byPath(encodeURIComponent(classId), encodeURIComponent(externalId))), parse);
    }
    const found = await client.list(client.request("POST", routes.list(encodeURIComponent(classId)), externalIdFilter(externalId)), parse);
    return found.find((record) => record.externalId === externalId);
  } catch (error) {
    if (error instanceof PassKitError && error.failure.kind === "not_found") return undefined;
    throw error;
  }
}

/** A parser for `schema`'s answers: the record, or undefined for an unexpected shape. */
export function parserOf<S extends z.ZodType>(schema: S): (json: unknown) => z.output<S> | undefined {
  return (json) => {
    const parsed = schema.safeParse(json);
    return parsed.success ? parsed.data : undefined;
  };
}

/** The 422 a create or update gets when PassKit has no such program, tier, campaign or offer. */
export function unknownClass(fields: readonly string[], what: string): ProblemError {
  return new ProblemError({
    status: 422,
    code: "validation_failed",
    title: "Body failed validation",
    detail: `PassKit has no such ${what} in this account, or PASSKIT_REGION names the wrong region.`,
    errors: fields.map((field) => ({ pointer: `/${field}`, detail: `no such ${what} in this account (or the wrong PASSKIT_REGION)` })),
  });
}

/**
 * Creates a record. PassKit answers only its id, so the record is the body over PassKit's
 * defaults; a 409 means it exists (the create flow then reads and updates it), a 404 that the
 * program, tier, campaign or offer the body names does not (`unknown`).
 */
export async function createRecord<T>(
  client: PlatformClient,
  sent: PassKitRequest,
  record: (id: string) => T,
  unknown: () => ProblemError,
): Promise<{ created: T } | { exists: PassKitFailure }> {
  try {
    const { id } = await client.send(sent, parserOf(idAnswer));
    return { created: record(id) };
  } catch (error) {
    if (!(error instanceof PassKitError)) throw error;
    if (error.failure.kind === "exists") return { exists: error.failure };
    if (error.failure.kind === "not_found") throw unknown();
    throw error;
  }
}

/** What PassKit holds after a write: its write answers carry only the id, and PATCH semantics
 * ignore falsey values, so the record is read back rather than assumed. */
export async function readBack<T>(read: () => Promise<T | undefined>): Promise<T> {
  const now = await read();
  if (now === undefined) throw new PassKitError({ kind: "not_found" });
  return now;
}

/** A dry run's note on a write whose `metaData` is merged before it is sent. */
export const MERGED_METADATA_NOTE = "metaData: these keys are merged into the map PassKit holds (null removes one), which is sent whole";

/** The fields every new record starts with at PassKit. */
export function freshRecord(id: string, body: { person?: PersonFields | undefined }, status: string) {
  return {
    id,
    person: body.person ? (toPassKitPerson(body.person) as PassKitPerson) : undefined,
    status,
    passMetaData: { status: "PASS_ISSUED" },
    created: new Date().toISOString(),
  };
}
