import type * as z from "zod";
import type { Config } from "../config/config.ts";
import type { LifecycleName } from "../lifecycle/events.ts";
import type { PassKitFailure } from "../passkit/failures.ts";
import type { plannedCallSchema } from "./dry-run.ts";

/**
 * What differs between passes, members and coupons: one adapter each. Everything else (auth, body
 * reading, validation, dry run, idempotency, ordering, the lookup cache, status mapping, lifecycle
 * events) is the machinery's, written once in this folder.
 */

export type ProductName = "pass" | "member" | "coupon";
/** The two identifiers a route names, in path order (e.g. campaignName, userDefinedId). */
export type Ids = readonly [string, string];

/** A PassKit call as a dry run shows it: never a token. */
export type PlannedCall = z.output<typeof plannedCallSchema>;

/** The fields of a lifecycle event that come from the product's view. */
interface EventFields {
  externalId: string;
  campaignName: string;
  passId: string;
  passUrl?: string;
  templateName?: string;
}

/** A product action on one identifier beyond create/update/delete, e.g. a coupon's redeem. */
export interface ProductAction<Rec> {
  name: string;
  body: z.ZodObject;
  /** Already done (a redeemed coupon): answered from the record, with no upstream write. */
  isDone(record: Rec): boolean;
  event: LifecycleName;
}

/** The upstream operations of one product, bound to one request's config. Records are the
 * upstream's own objects; `Changes` is what `changes` found to differ, ready to write. */
export interface Upstream<Create, Update, Rec, Changes> {
  /** The record, or undefined when PassKit has none. */
  read(ids: Ids): Promise<Rec | undefined>;
  /** Creates the record; `exists` when PassKit refused because it (may) exist already, with
   * PassKit's refusal to report if it turns out not to. */
  create(body: Create): Promise<{ created: Rec } | { exists: PassKitFailure }>;
  /** What `update` would change in `record`; undefined when it would change nothing. */
  changes(record: Rec, update: Update): Changes | undefined;
  /** Writes the changes; answers the record as PassKit now holds it. */
  update(ids: Ids, record: Rec, changes: Changes): Promise<Rec>;
  /** Invalidated, deleted or voided already. */
  isRemoved(record: Rec): boolean;
  /** Removes the record; answers what remains of it (v3 keeps an invalid pass), or undefined. */
  remove(ids: Ids, record: Rec): Promise<Rec | undefined>;
  /** Performs a product action (see `ProductAction`). */
  act(name: string, ids: Ids, record: Rec, body: Record<string, unknown>): Promise<Rec>;
  /** The calls a dry run shows, from the request alone (no upstream read). */
  plan: {
    create(body: Create): PlannedCall[];
    update(ids: Ids, update: Update): PlannedCall[];
    remove(ids: Ids): PlannedCall[];
    act(name: string, ids: Ids, body: Record<string, unknown>): PlannedCall[];
  };
}

export interface Product<Create, Update, Rec, Changes, View extends Record<string, unknown>> {
  name: ProductName;
  /** The record, for messages: "pass", "member", "coupon". */
  noun: string;
  /** Route prefix, e.g. `/v1/passes`. */
  basePath: string;
  idNames: readonly [string, string];
  schemas: {
    create: z.ZodType<Create>;
    update: z.ZodType<Update>;
    view: z.ZodType<View>;
    /** Field names known at a body path, for "did you mean" hints. */
    knownFieldsAt(path: readonly PropertyKey[]): readonly string[];
  };
  /** Body fields whose empty strings are data, not "absent" (contract §8.1). */
  dataMaps: readonly string[];
  /** The identifiers a create body names. */
  idsOf(body: Create): Ids;
  /** A create body as the update it means for a record that already exists. */
  asUpdate(body: Create): Update;
  /** Throws `config_error` naming what this product's upstream lacks. */
  requireConfig(config: Config): void;
  upstream(config: Config, fetcher?: typeof fetch): Upstream<Create, Update, Rec, Changes>;
  view(record: Rec, config: Config): View;
  /** The view's fields a create answers (update, delete and actions answer the whole view). */
  created: readonly string[];
  event(view: View, body?: Create): EventFields;
  /** When PassKit created the record, if it says. */
  createdAt(record: Rec): string | undefined;
  actions: readonly ProductAction<Rec>[];
}

/** Configs a product was found configured in (its upstream's secrets set), checked once each. */
const configuredIn = new WeakMap<AnyProduct, WeakSet<Config>>();

/** Throws `config_error` naming what `product`'s upstream lacks in `config`; remembers success. */
export function requireProduct(product: AnyProduct, config: Config): void {
  let configs = configuredIn.get(product);
  if (!configs) {
    configs = new WeakSet();
    configuredIn.set(product, configs);
  }
  if (configs.has(config)) return;
  product.requireConfig(config);
  configs.add(config);
}

/** Whether `product` can run under `config`, without throwing. */
export function isProductConfigured(product: AnyProduct, config: Config): boolean {
  try {
    requireProduct(product, config);
    return true;
  } catch {
    return false;
  }
}

/** Any product, for the machinery that does not look inside records. */
// biome-ignore lint/suspicious/noExplicitAny: the machinery is generic over every adapter's types.
export type AnyProduct = Product<any, any, any, any, Record<string, unknown>>;
