import * as z from "zod";

/**
 * Body field schemas the products share. Braze renders Liquid into raw text, so booleans and
 * numbers may arrive as strings, and a missing attribute as "" (see `withoutBlanks`).
 */

const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/** An identifier that travels to PassKit exactly as sent: never trimmed or rewritten. At most 255
 * characters: it reaches Braze as an event property, capped there at 255. */
export const identifier = z
  .string({ error: "must be a string" })
  .min(1, { error: "must not be empty" })
  .max(255, { error: "must be at most 255 characters" })
  .refine((value) => !CONTROL_CHARACTERS.test(value), { error: "must not contain control characters" })
  .refine((value) => value.isWellFormed(), { error: "must be well-formed Unicode (no lone surrogates)" })
  // URL parsing removes a "." or ".." path segment (%2E%2E too) before any Worker sees it, so a
  // record so named could be created but never looked up, updated or deleted.
  .refine((value) => value !== "." && value !== "..", { error: 'cannot be "." or "..": no URL path can address it' });

/** Liquid renders everything as text, so "true"/"false" are accepted as booleans. */
export const liquidBoolean = z
  .union([z.boolean(), z.enum(["true", "false"])], { error: 'must be true or false (or the strings "true"/"false")' })
  .transform((value) => value === true || value === "true");

/** A whole number ≥ 0, also as the decimal string Liquid renders (`"120"`). */
export const liquidCount = z
  .union([z.number().int().min(0), z.string().regex(/^\s*\d{1,15}\s*$/)], { error: "must be a whole number of 0 or more" })
  .transform((value) => (typeof value === "number" ? value : Number(value.trim())));

/** A number ≥ 0, also as a decimal string. */
export const liquidAmount = z
  .union([z.number().min(0), z.string().regex(/^\s*\d{1,15}(\.\d{1,6})?\s*$/)], { error: "must be a number of 0 or more" })
  .transform((value) => (typeof value === "number" ? value : Number(value.trim())));

/** Any finite number, also as the decimal string Liquid renders (`"12.50"`). */
export const liquidNumber = z
  .union([z.number(), z.string().regex(/^\s*-?\d{1,15}(\.\d{1,9})?\s*$/)], { error: "must be a number" })
  .transform((value) => (typeof value === "number" ? value : Number(value.trim())));

/** RFC 3339 date-time with `Z` or an offset, on a real calendar date (2019-29-09 is refused). */
export const dateTime = z.iso.datetime({
  offset: true,
  error: "must be an ISO 8601 date-time with a Z or ±hh:mm offset on a real calendar date, e.g. 2019-09-29T12:59:40Z",
});

/** A calendar date `YYYY-MM-DD` that exists. */
const calendarDate = z.iso.date({ error: "must be a real calendar date YYYY-MM-DD" });

export const email = z.email({ error: "must be an email address" });

/**
 * PassKit's current platform keeps `metaData` as strings (docs/upstreams.md): numbers and booleans
 * are sent as their text, nested values are refused. `nullable` (updates) lets `null` remove a key.
 */
const metaValue = z
  .union([z.string(), z.number(), z.boolean()], { error: "must be a string, number or boolean (PassKit keeps text)" })
  .transform(String);
export const metaData = z.record(z.string(), metaValue, { error: "must be an object of strings, numbers or booleans" });
export const metaDataChanges = z.record(
  z.string(),
  z.union([metaValue, z.null()], { error: "must be a string, number, boolean, or null to remove the key" }),
  {
    error: "must be an object of strings, numbers, booleans or null",
  },
);

/**
 * Contract §8.1, "empty means absent": a field Braze rendered from a missing attribute is "" (or
 * spaces), which means "not sent", whatever the field's type. Inside the data maps (`dynamicData`,
 * `metaData`) an empty string is data: it blanks that field on the pass. Removed before
 * validation, so a required field left empty is reported as required, by its pointer.
 */
export function withoutBlanks(value: unknown, dataMaps: readonly string[]): unknown {
  if (Array.isArray(value)) return value.map((item) => withoutBlanks(item, dataMaps));
  if (!value || typeof value !== "object") return value;
  const kept: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    if (typeof child === "string" && child.trim() === "") continue;
    const inner = dataMaps.includes(key) ? child : withoutBlanks(child, dataMaps);
    Object.defineProperty(kept, key, { value: inner, enumerable: true, writable: true, configurable: true });
  }
  return kept;
}

const personText = z.string().max(255, { error: "must be at most 255 characters" });

/** A member's or coupon holder's person (PassKit's current platform); every field optional. */
export const person = z.strictObject({
  forename: personText.optional(),
  surname: personText.optional(),
  displayName: personText.optional(),
  salutation: personText.optional(),
  suffix: personText.optional(),
  emailAddress: email.optional(),
  mobileNumber: z
    .string()
    .regex(/^\+?[0-9 ()-]{4,32}$/, { error: "must be a phone number, e.g. +447700900123" })
    .optional(),
  gender: z
    .enum(["NOT_KNOWN", "MALE", "FEMALE", "not_known", "male", "female"], { error: "must be NOT_KNOWN, MALE or FEMALE" })
    .transform((value) => value.toUpperCase())
    .optional(),
  dateOfBirth: calendarDate.optional(),
});
export const PERSON_FIELDS = Object.keys(person.shape);
