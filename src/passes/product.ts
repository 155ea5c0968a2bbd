import { requireSecrets, type Config } from "../config/config.ts";
import { changedEntries, sameValue } from "../machinery/diff.ts";
import type { Product, Upstream } from "../machinery/product.ts";
import { planned } from "../passkit/exchange.ts";
import { PassKitError } from "../passkit/failures.ts";
import { createPassKitClient, type PassKitPass } from "../passkit/v3/client.ts";
import { passUrl } from "../passkit/v3/inferred.ts";
import {
  createPassSchema,
  knownFieldsAt,
  passRoute,
  passViewSchema,
  updatePassSchema,
  type CreatePass,
  type PassView,
  type UpdatePass,
} from "./schemas.ts";

/** What an update sends PassKit v3: the body's fields without the identifiers. */
type PassChanges = Omit<UpdatePass, "campaignName" | "userDefinedId">;

const SCALARS = ["templateName", "recoveryEmail", "isVoided", "isRedeemed", "isInvalid", "expiryDate"] as const;
const MAPS = ["dynamicData", "dynamicImages", "passbook"] as const;

/** `/v1/passes`: PassKit's legacy v3 API, the Braze partner page's shape (contract §2). */
export const passes: Product<CreatePass, UpdatePass, PassKitPass, PassChanges, PassView> = {
  name: "pass",
  ...passRoute,
  dataMaps: ["dynamicData"],
  schemas: { create: createPassSchema, update: updatePassSchema, view: passViewSchema, knownFieldsAt },
  idsOf: (body) => [body.campaignName, body.userDefinedId],
  asUpdate: ({ campaignName: _c, userDefinedId: _u, ...update }) => update,
  requireConfig: (config) => requireSecrets(config, ["PASSKIT_API_KEY", "PASSKIT_API_SECRET"]),
  upstream: passKitV3,
  view: (pass, config) => ({
    id: pass.id,
    url: passUrl(config.PASSKIT_PASS_URL_TEMPLATE, pass.id),
    campaignName: pass.campaignName ?? "",
    userDefinedId: pass.userDefinedId ?? "",
    isVoided: pass.isVoided ?? false,
    isRedeemed: pass.isRedeemed ?? false,
    isInvalid: pass.isInvalid ?? false,
    expiryDate: pass.expiryDate ?? null,
  }),
  event: (view, body) => ({
    externalId: view.userDefinedId,
    campaignName: view.campaignName,
    passId: view.id,
    passUrl: view.url,
    ...(body?.templateName ? { templateName: body.templateName } : {}),
  }),
  createdAt: (pass) => pass.createdAt ?? undefined,
  actions: [],
};

function passKitV3(config: Config, fetcher?: typeof fetch): Upstream<CreatePass, UpdatePass, PassKitPass, PassChanges> {
  const client = createPassKitClient(
    { ...config, PASSKIT_API_KEY: config.PASSKIT_API_KEY ?? "", PASSKIT_API_SECRET: config.PASSKIT_API_SECRET ?? "" },
    fetcher,
  );
  return {
    async read([campaignName, userDefinedId]) {
      try {
        // The identifiers are the ones asked for, whatever PassKit echoes.
        return { ...(await client.get(campaignName, userDefinedId)), campaignName, userDefinedId };
      } catch (error) {
        if (error instanceof PassKitError && error.failure.kind === "not_found") return undefined;
        throw error;
      }
    },
    async create(body) {
      const created = await client.create(body);
      if ("mayExist" in created) return { exists: created.mayExist };
      // v3 answers only the id: the record is what was sent over PassKit's defaults.
      const fresh: PassKitPass = {
        id: created.id,
        isVoided: false,
        isRedeemed: false,
        isInvalid: false,
        expiryDate: null,
        createdAt: new Date().toISOString(),
      };
      return { created: applied(fresh, body) };
    },
    changes(pass, update) {
      const { campaignName: _c, userDefinedId: _u, ...fields } = update;
      const changes: PassChanges = changedEntries(pass, pick(fields, SCALARS));
      // v3 merges dynamicData and friends key by key [inferred]: the map is sent whole if any key differs.
      for (const map of MAPS) {
        const sent = fields[map] as Record<string, unknown> | undefined;
        const held = (pass[map] ?? {}) as Record<string, unknown>;
        if (sent && Object.entries(sent).some(([key, value]) => !sameValue(held[key], value))) Object.assign(changes, { [map]: sent });
      }
      return Object.keys(changes).length > 0 ? changes : undefined;
    },
    async update([campaignName, userDefinedId], pass, changes) {
      await client.update(campaignName, userDefinedId, changes);
      return applied(pass, changes);
    },
    isRemoved: (pass) => pass.isInvalid === true,
    async remove([campaignName, userDefinedId], pass) {
      await client.invalidate(campaignName, userDefinedId);
      return { ...pass, isInvalid: true };
    },
    act: (name) => Promise.reject(new Error(`passes have no action ${name}`)),
    plan: {
      create: (body) => [planned(client.requests.create(body))],
      update: ([campaignName, userDefinedId], { campaignName: _c, userDefinedId: _u, ...changes }) => [
        planned(client.requests.update(campaignName, userDefinedId, changes)),
      ],
      remove: ([campaignName, userDefinedId]) => [planned(client.requests.invalidate(campaignName, userDefinedId))],
      act: () => [],
    },
  };
}

/** A pass with fields applied as PassKit applies them: maps merged, `isInvalid` permanent. */
function applied(pass: PassKitPass, fields: Partial<CreatePass>): PassKitPass {
  const next: PassKitPass = { ...pass };
  for (const field of SCALARS) if (fields[field] !== undefined) Object.assign(next, { [field]: fields[field] });
  for (const map of MAPS) if (fields[map]) Object.assign(next, { [map]: { ...(pass[map] ?? {}), ...fields[map] } });
  if (fields.campaignName) next.campaignName = fields.campaignName;
  if (fields.userDefinedId) next.userDefinedId = fields.userDefinedId;
  next.isInvalid = pass.isInvalid === true || next.isInvalid === true;
  return next;
}

function pick<T extends Record<string, unknown>, K extends keyof T>(record: T, keys: readonly K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const key of keys) if (record[key] !== undefined) out[key] = record[key];
  return out;
}
