import * as z from "zod";
import type { Config } from "../config/config.ts";
import { changedEntries } from "../machinery/diff.ts";
import type { Ids, PlannedCall, Product, Upstream } from "../machinery/product.ts";
import { planned } from "../passkit/exchange.ts";
import { createPlatformClient } from "../passkit/platform/client.ts";
import {
  createRecord,
  freshRecord,
  MERGED_METADATA_NOTE,
  mergedMetaData,
  parserOf,
  passState,
  personChanges,
  platformEvent,
  readBack,
  readByExternalId,
  recordFields,
  requirePlatformCredentials,
  text,
  toPassKitPerson,
  unknownClass,
  type PersonFields,
} from "../passkit/platform/records.ts";
import {
  couponRoute,
  couponViewSchema,
  createCouponSchema,
  knownCouponFields,
  updateCouponSchema,
  type CouponView,
  type CreateCoupon,
  type UpdateCoupon,
} from "./schemas.ts";

/** PassKit's single-use Coupon, as far as the proxy reads it (docs/upstreams.md, Coupons). */
const couponSchema = z.looseObject({
  ...recordFields,
  campaignId: text,
  offerId: text,
  sku: text,
  redemptionDetails: z.preprocess((value) => value ?? undefined, z.looseObject({ redemptionDate: text }).optional()),
});
type Coupon = z.output<typeof couponSchema>;

interface CouponChanges {
  /** The whole map to send: PassKit replaces it on write [inferred, as for members]. */
  metaData?: Record<string, string>;
  sku?: string;
  expiryDate?: string;
  person?: PersonFields;
}

const ROUTES = {
  byPath: (campaignId: string, externalId: string) => `/coupon/singleUse/coupon/externalId/${campaignId}/${externalId}`,
  list: (campaignId: string) => `/coupon/singleUse/coupons/list/${campaignId}`,
};
const REDEEMED = "REDEEMED";

/** `/v1/coupons`: single-use coupons on PassKit's current platform (contract §7). */
export const coupons: Product<CreateCoupon, UpdateCoupon, Coupon, CouponChanges, CouponView> = {
  name: "coupon",
  ...couponRoute,
  dataMaps: ["metaData"],
  schemas: { create: createCouponSchema, update: updateCouponSchema, view: couponViewSchema, knownFieldsAt: knownCouponFields },
  idsOf: (body) => [body.campaignId, body.externalId],
  asUpdate: ({ campaignId: _c, externalId: _x, offerId: _o, ...update }) => update,
  requireConfig: requirePlatformCredentials,
  upstream: singleUseCoupons,
  view: (coupon, config) => {
    const { url, appleUrl, googleUrl, installed, passStatus } = passState(coupon, config.PASSKIT_PASS_BASE_URL);
    return {
      id: coupon.id,
      url,
      appleUrl,
      googleUrl,
      campaignId: coupon.campaignId ?? "",
      offerId: coupon.offerId ?? null,
      externalId: coupon.externalId ?? "",
      status: coupon.status ?? null,
      redeemed: coupon.status === REDEEMED,
      redemptionDate: coupon.redemptionDetails?.redemptionDate ?? null,
      expiryDate: coupon.expiryDate ?? null,
      installed,
      passStatus: passStatus as CouponView["passStatus"],
      metaData: coupon.metaData ?? {},
    };
  },
  event: (view) => platformEvent(view, view.campaignId),
  createdAt: (coupon) => coupon.created,
  actions: [{ ...couponRoute.redeem, isDone: (coupon) => coupon.status === REDEEMED, event: "redeemed" }],
};

function singleUseCoupons(config: Config, fetcher?: typeof fetch): Upstream<CreateCoupon, UpdateCoupon, Coupon, CouponChanges> {
  const client = createPlatformClient(config, fetcher);
  const parse = parserOf(couponSchema);
  const write = (method: "PUT" | "PATCH" | "DELETE", path: string, body: object) =>
    client.send(client.request(method, path, body), (json) => json);
  const read = (ids: Ids) => readByExternalId(client, ROUTES, ids, parse);
  const requests = {
    issue: (body: CreateCoupon) =>
      client.request("POST", "/coupon/singleUse/coupon", { ...body, ...(body.person ? { person: toPassKitPerson(body.person) } : {}) }),
    redeem: (identity: object, body: Record<string, unknown>) =>
      client.request("PUT", "/coupon/singleUse/coupon/redeem", { ...identity, ...body }),
  };

  return {
    read,
    create: (body) =>
      createRecord(
        client,
        requests.issue(body),
        (id): Coupon => ({ ...body, ...freshRecord(id, body, "UNREDEEMED") }),
        () => unknownClass(["campaignId", "offerId"], "coupon campaign or offer"),
      ),
    changes(coupon, update) {
      const changes: CouponChanges = changedEntries(coupon, { sku: update.sku, expiryDate: update.expiryDate });
      const metaData = mergedMetaData(coupon.metaData, update.metaData);
      if (metaData) changes.metaData = metaData;
      const person = personChanges(coupon.person, update.person);
      if (person) changes.person = person;
      return Object.keys(changes).length > 0 ? changes : undefined;
    },
    async update(ids, coupon, changes) {
      const { person, ...fields } = changes;
      if (Object.keys(fields).length > 0) await write("PUT", "/coupon/singleUse/coupon", { id: coupon.id, campaignId: ids[0], ...fields });
      if (person) await write("PATCH", "/coupon/singleUse/coupon/person", { id: coupon.id, person: toPassKitPerson(person) });
      return readBack(() => read(ids));
    },
    isRemoved: () => false,
    async remove(ids, coupon) {
      // Void [doc: gateway route; a field report saw 501s on other spellings]: the record goes away.
      await write("DELETE", "/coupon/singleUse/coupon", { id: coupon.id, campaignId: ids[0] });
      return undefined;
    },
    async act(name, ids, coupon, body) {
      if (name !== "redeem") throw new Error(`coupons have no action ${name}`);
      await client.send(requests.redeem({ id: coupon.id, campaignId: ids[0] }, body), (json) => json);
      return readBack(() => read(ids));
    },
    plan: {
      create: (body) => [planned(requests.issue(body))],
      update: ([campaignId, externalId], { person, metaData, sku, expiryDate }) => {
        const calls: PlannedCall[] = [];
        if (metaData || sku || expiryDate) {
          const call = planned(client.request("PUT", "/coupon/singleUse/coupon", { externalId, campaignId, metaData, sku, expiryDate }));
          calls.push(metaData ? { ...call, note: MERGED_METADATA_NOTE } : call);
        }
        if (person)
          calls.push(
            planned(
              client.request("PATCH", "/coupon/singleUse/coupon/person", {
                externalId,
                classId: campaignId,
                person: toPassKitPerson(person),
              }),
            ),
          );
        return calls;
      },
      remove: ([campaignId, externalId]) => [planned(client.request("DELETE", "/coupon/singleUse/coupon", { externalId, campaignId }))],
      act: (_name, [campaignId, externalId], body) => [planned(requests.redeem({ externalId, campaignId }, body))],
    },
  };
}
