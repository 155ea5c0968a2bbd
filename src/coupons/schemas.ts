import * as z from "zod";
import { dateTime, identifier, liquidNumber, metaData, metaDataChanges, person, PERSON_FIELDS } from "../machinery/fields.ts";

/** Bodies of the Braze coupon webhooks (contract §7); `metaData` merges as for members. */

const sku = z.string().max(255, { error: "must be at most 255 characters" });

export const createCouponSchema = z
  .strictObject({
    campaignId: identifier,
    offerId: identifier,
    externalId: identifier,
    person: person.optional(),
    metaData: metaData.optional(),
    sku: sku.optional(),
    expiryDate: dateTime.optional(),
  })
  .meta({ description: "A Braze coupon issue webhook body; campaignId, offerId and externalId are required." });

export const updateCouponSchema = z
  .strictObject({
    campaignId: identifier.optional(),
    externalId: identifier.optional(),
    person: person.optional(),
    metaData: metaDataChanges.optional(),
    sku: sku.optional(),
    expiryDate: dateTime.optional(),
  })
  .meta({ description: "A Braze coupon update: every field optional; metaData keys are merged, null removes one." });

const redeemCouponSchema = z
  .strictObject({
    redemptionDetails: z
      .strictObject({
        redemptionCode: z.string().max(255).optional(),
        redemptionSource: z.string().max(255).optional(),
        redemptionReference: z.string().max(255).optional(),
        transactionReference: z.string().max(255).optional(),
        transactionAmount: liquidNumber.optional(),
        lat: liquidNumber
          .pipe(z.number().min(-90, { error: "must be from -90 to 90" }).max(90, { error: "must be from -90 to 90" }))
          .optional(),
        lon: liquidNumber
          .pipe(z.number().min(-180, { error: "must be from -180 to 180" }).max(180, { error: "must be from -180 to 180" }))
          .optional(),
        metaData: metaData.optional(),
      })
      .optional(),
  })
  .meta({ description: "An optional body for a coupon redemption." });

/** Where coupons live, what names one, and its action: the routes and the OpenAPI document read it. */
export const couponRoute = {
  basePath: "/v1/coupons",
  idNames: ["campaignId", "externalId"],
  noun: "coupon",
  created: ["id", "url", "campaignId", "externalId"],
  redeem: { name: "redeem", body: redeemCouponSchema },
} as const;

export type CreateCoupon = z.output<typeof createCouponSchema>;
export type UpdateCoupon = z.output<typeof updateCouponSchema>;

export const knownCouponFields = (path: readonly PropertyKey[]): readonly string[] =>
  path.some((segment) => segment === "person")
    ? PERSON_FIELDS
    : [...Object.keys(createCouponSchema.shape), ...Object.keys(redeemCouponSchema.shape)];

export const couponViewSchema = z
  .object({
    id: z.string(),
    url: z.url(),
    appleUrl: z.url(),
    googleUrl: z.url(),
    campaignId: z.string(),
    offerId: z.string().nullable(),
    externalId: z.string(),
    status: z.string().nullable(),
    redeemed: z.boolean(),
    redemptionDate: z.string().nullable(),
    expiryDate: z.string().nullable(),
    installed: z.boolean(),
    passStatus: z.enum(["issued", "installed", "uninstalled", "invalidated"]).nullable(),
    metaData: z.record(z.string(), z.string()),
  })
  .meta({ description: "A coupon as the Connected Content lookup answers it." });

export type CouponView = z.output<typeof couponViewSchema>;
