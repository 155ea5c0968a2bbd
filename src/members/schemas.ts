import * as z from "zod";
import {
  dateTime,
  identifier,
  liquidAmount,
  liquidBoolean,
  liquidCount,
  metaData,
  metaDataChanges,
  person,
  PERSON_FIELDS,
} from "../machinery/fields.ts";

/**
 * Bodies of the Braze member webhooks (contract §7). `points` and friends are absolute values
 * (0 included); `metaData` values are text at PassKit; an update's `metaData` keys are merged into
 * what PassKit holds, a key set to null removed.
 */

const memberFields = {
  tierId: identifier,
  person: person.optional(),
  points: liquidAmount.optional(),
  secondaryPoints: liquidAmount.optional(),
  tierPoints: liquidCount.optional(),
  expiryDate: dateTime.optional(),
  optOut: liquidBoolean.optional(),
};

export const createMemberSchema = z
  .strictObject({ programId: identifier, externalId: identifier, ...memberFields, metaData: metaData.optional() })
  .meta({ description: "A Braze enrol webhook body; programId, tierId and externalId are required." });

export const updateMemberSchema = z
  .strictObject({
    programId: identifier.optional(),
    externalId: identifier.optional(),
    ...memberFields,
    tierId: identifier.optional(),
    metaData: metaDataChanges.optional(),
  })
  .meta({ description: "A Braze member update: every field optional; metaData keys are merged, null removes one." });

/** Where members live and what names one: the routes and the OpenAPI document read it. */
export const memberRoute = {
  basePath: "/v1/members",
  idNames: ["programId", "externalId"],
  noun: "member",
  created: ["id", "url", "programId", "externalId"],
} as const;

export type CreateMember = z.output<typeof createMemberSchema>;
export type UpdateMember = z.output<typeof updateMemberSchema>;

export const knownMemberFields = (path: readonly PropertyKey[]): readonly string[] =>
  path.some((segment) => segment === "person") ? PERSON_FIELDS : Object.keys(updateMemberSchema.shape);

/** A member as the Connected Content lookup answers it. */
export const memberViewSchema = z
  .object({
    id: z.string(),
    url: z.url(),
    appleUrl: z.url(),
    googleUrl: z.url(),
    programId: z.string(),
    externalId: z.string(),
    tierId: z.string().nullable(),
    status: z.string().nullable(),
    points: z.number(),
    secondaryPoints: z.number(),
    tierPoints: z.number(),
    expiryDate: z.string().nullable(),
    installed: z.boolean(),
    passStatus: z.enum(["issued", "installed", "uninstalled", "invalidated"]).nullable(),
    metaData: z.record(z.string(), z.string()),
  })
  .meta({ description: "A member as the Connected Content lookup answers it." });

export type MemberView = z.output<typeof memberViewSchema>;
