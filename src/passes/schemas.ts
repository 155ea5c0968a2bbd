import * as z from "zod";
import { dateTime, email, identifier, liquidBoolean } from "../machinery/fields.ts";

/**
 * Bodies of the Braze pass webhooks (contract §3). These schemas are the single source of truth:
 * the routes validate with them and /openapi.json is generated from them.
 */

const color = z.string().regex(/^(#[0-9a-fA-F]{6}|rgb\(\s*\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3}\s*\))$/, {
  error: "must be a colour like #1a2b3c or rgb(26, 43, 60)",
});

const relevantText = z.string().max(256, { error: "must be at most 256 characters" });

// A schema-level `error` also replaces the messages of its .min/.max/.int checks, so it names the
// whole range: "must be a number" for a latitude of 91 sent users looking for the wrong mistake.
const locationSchema = z.strictObject({
  lat: z.number({ error: "must be a number from -90 to 90" }).min(-90).max(90),
  lon: z.number({ error: "must be a number from -180 to 180" }).min(-180).max(180),
  alt: z.number({ error: "must be a number" }).optional(),
  relevantText: relevantText.optional(),
});

const beaconNumber = z.number({ error: "must be a whole number from 0 to 65535" }).int().min(0).max(65_535);

const beaconSchema = z.strictObject({
  uuid: z.uuid({ error: "must be a UUID" }),
  major: beaconNumber.optional(),
  minor: beaconNumber.optional(),
  relevantText: relevantText.optional(),
});

const passbookSchema = z.strictObject({
  relevantDate: dateTime.optional(),
  groupId: z.string().max(256).optional(),
  bgColor: color.optional(),
  labelColor: color.optional(),
  fgColor: color.optional(),
  // Apple Wallet shows at most 10 locations and 10 beacons per pass.
  locations: z.array(locationSchema).max(10, { error: "must have at most 10 entries" }).optional(),
  beacons: z.array(beaconSchema).max(10, { error: "must have at most 10 entries" }).optional(),
});

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()], {
  error: "must be a string, number, boolean or null",
});

const passFields = {
  templateName: identifier,
  dynamicData: z.record(z.string(), scalar, { error: "must be an object of scalar values" }).optional(),
  dynamicImages: z.record(z.string(), z.string().min(1).max(2048), { error: "must be an object of image paths or URLs" }).optional(),
  recoveryEmail: email.optional(),
  isVoided: liquidBoolean.optional(),
  isRedeemed: liquidBoolean.optional(),
  isInvalid: liquidBoolean.optional(),
  expiryDate: dateTime.optional(),
  passbook: passbookSchema.optional(),
};

export const createPassSchema = z
  .strictObject({ campaignName: identifier, userDefinedId: identifier, ...passFields })
  .meta({ description: "A Braze create webhook body; campaignName, templateName and userDefinedId are required." });

export const updatePassSchema = z
  .strictObject({
    campaignName: identifier.optional(),
    userDefinedId: identifier.optional(),
    ...passFields,
    templateName: identifier.optional(),
  })
  .meta({ description: "A Braze update webhook body: the create fields, all optional." });

/** Where passes live and what names one: the routes and the OpenAPI document read it. */
export const passRoute = {
  basePath: "/v1/passes",
  idNames: ["campaignName", "userDefinedId"],
  noun: "pass",
  created: ["id", "url", "campaignName", "userDefinedId"],
} as const;

export type CreatePass = z.output<typeof createPassSchema>;
export type UpdatePass = z.output<typeof updatePassSchema>;

/** The field names known at each level of a body, for "did you mean" hints on unknown keys. */
export const knownFieldsAt = (path: readonly PropertyKey[]): readonly string[] => {
  const named = path.filter((segment) => typeof segment === "string");
  const last = named.at(-1);
  if (last === "locations") return Object.keys(locationSchema.shape);
  if (last === "beacons") return Object.keys(beaconSchema.shape);
  if (last === "passbook") return Object.keys(passbookSchema.shape);
  return Object.keys(createPassSchema.shape);
};

/** What the proxy answers for a pass: the create/update answer and the Connected Content lookup. */
export const passViewSchema = z
  .object({
    id: z.string(),
    url: z.url(),
    campaignName: z.string(),
    userDefinedId: z.string(),
    isVoided: z.boolean(),
    isRedeemed: z.boolean(),
    isInvalid: z.boolean(),
    expiryDate: z.string().nullable(),
  })
  .meta({ description: "A pass as the Connected Content lookup answers it." });

export type PassView = z.output<typeof passViewSchema>;
