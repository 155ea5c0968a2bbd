import { FaultPlan, json, sleep, type Fault } from "./faults.ts";
import { constantTimeEqual, decodeBase64url, hmacBase64url } from "./jwt.ts";
import type { RecordedCall } from "./passkit.ts";

/**
 * A strict fake of PassKit's current REST API (docs/upstreams.md): the grpc-gateway in front of
 * Membership members and Single-use coupons. It refuses what the real gateway refuses (a bare HS256
 * JWT with uid/iat/exp, protojson shapes, string-only metaData, grpc-gateway's 404 and 501 routing),
 * answers every field as EmitUnpopulated does, and can inject statuses, latency and malformed
 * answers. Web APIs only: it runs in the Workers runtime (tests) and in Node (`npm start`).
 *
 * Where docs/upstreams.md marks a behaviour [inferred] or [unknown], the choice is made in one
 * place and its comment says so. Field lists, enums and routes follow PassKit's generated Go SDK
 * (`PassKit/passkit-golang-grpc-sdk` @c189858, `io/members`, `io/single_use_coupons`, `io/*.pb.go`).
 */

export type { RecordedCall };

export interface FakePassKitPlatformOptions {
  /** The REST API key: the JWT's `uid` claim. */
  apiKey: string;
  /** HS256 secret (raw UTF-8 bytes as the HMAC key). */
  apiSecret: string;
  /** When set, `Authorization: Bearer <token>` is also accepted. */
  longLivedToken?: string;
  random?: () => number;
  /** ms clock, default Date.now (tests can move time). */
  now?: () => number;
}

export type PassStatus = "PASS_ISSUED" | "PASS_INSTALLED" | "PASS_UNINSTALLED" | "PASS_INVALIDATED";

type Json = Record<string, unknown>;

// ---- Messages, as protojson sees them -------------------------------------------------------

type Kind =
  | "string"
  | "bool"
  | "float"
  | "double"
  | "int32"
  | "uint32"
  | "uint64"
  | "timestamp"
  /** A message whose inside the fake does not model: any object. */
  | "object"
  | { enum: readonly string[] }
  | { message: Spec }
  | { list: Kind }
  | { map: Kind };
type Spec = { readonly [field: string]: Kind };

// Enum names in number order: protojson accepts either, answers carry names.
const MEMBER_STATUS = ["ENROLLED", "ACTIVE", "CHECKED_IN", "EXPIRED", "CHECKED_OUT", "DELETED"] as const;
const COUPON_STATUS = ["UNREDEEMED", "REDEEMED"] as const;
const GENDER = ["NOT_KNOWN", "MALE", "FEMALE"] as const;
const OPERATION = ["OPERATION_DO_NOT_USE", "OPERATION_PUT", "OPERATION_PATCH"] as const;
const OPERATOR = ["AND", "OR"] as const;

const DATE: Spec = { year: "int32", month: "int32", day: "int32" };
const PERSON: Spec = {
  surname: "string",
  forename: "string",
  otherNames: { list: "string" },
  salutation: "string",
  suffix: "string",
  displayName: "string",
  gender: { enum: GENDER },
  dateOfBirth: { message: DATE },
  emailAddress: "string",
  mobileNumber: "string",
  externalId: "string",
  externalIds: { map: "string" },
};
const PASS_OVERRIDES: Spec = {
  imageIds: "object",
  locations: { list: "object" },
  beacons: { list: "object" },
  links: { list: "object" },
  colors: "object",
  associatedStoreIdentifiers: { list: "uint32" },
  appStoreIdentifiers: { list: "uint64" },
};
const NOTE: Spec = { subjectId: "string", username: "string", message: "string", created: "timestamp" };
const MEMBER: Spec = {
  id: "string",
  externalId: "string",
  groupingIdentifier: "string",
  tierId: "string",
  programId: "string",
  person: { message: PERSON },
  metaData: { map: "string" },
  optOut: "bool",
  points: "float",
  secondaryPoints: "float",
  tierPoints: "uint32",
  expiryDate: "timestamp",
  status: { enum: MEMBER_STATUS },
  passOverrides: { message: PASS_OVERRIDES },
  passMetaData: "object",
  notes: { list: { message: NOTE } },
  currentTierAwarded: "timestamp",
  currentTierExpires: "timestamp",
  created: "timestamp",
  updated: "timestamp",
  profileImage: "string",
  operation: { enum: OPERATION },
};
const EARN_BURN: Spec = {
  id: "string",
  externalId: "string",
  programId: "string",
  points: "float",
  secondaryPoints: "float",
  tierPoints: "uint32",
  eventDetails: "object",
  tierId: "string",
};
const SET_POINTS: Spec = { ...EARN_BURN, resetPoints: "bool", resetSecondaryPoints: "bool", resetTierPoints: "bool" };
const CHANGE_TIER: Spec = { memberId: "string", externalMemberId: "string", programId: "string", tierId: "string", eventDetails: "object" };
const MEMBER_EXPIRY: Spec = { id: "string", externalId: "string", programId: "string", expiryDate: "timestamp" };
const PERSON_REQUEST: Spec = { id: "string", externalId: "string", classId: "string", person: { message: PERSON } };
const FILTERS: Spec = {
  limit: "int32",
  offset: "int32",
  orderBy: "string",
  orderAsc: "bool",
  filterGroups: {
    list: {
      message: {
        condition: { enum: OPERATOR },
        fieldFilters: { list: { message: { filterField: "string", filterValue: "string", filterOperator: "string" } } },
      },
    },
  },
};
const LIST: Spec = { programId: "string", couponCampaignId: "string", filters: { message: FILTERS }, emailAsCsv: "bool" };
const REDEMPTION: Spec = {
  redemptionDate: "timestamp",
  redemptionCode: "string",
  lat: "double",
  lon: "double",
  alt: "int32",
  redemptionSource: "string",
  redemptionReference: "string",
  transactionReference: "string",
  transactionAmount: "double",
  metaData: { map: "string" },
};
const COUPON: Spec = {
  id: "string",
  externalId: "string",
  offerId: "string",
  campaignId: "string",
  person: { message: PERSON },
  metaData: { map: "string" },
  sku: "string",
  optOut: "bool",
  status: { enum: COUPON_STATUS },
  expiryDate: "timestamp",
  redemptionDetails: { message: REDEMPTION },
  passOverrides: { message: PASS_OVERRIDES },
  passMetaData: "object",
  created: "timestamp",
  updated: "timestamp",
};

/** What an update may change. tierId is not here: the tier route changes tiers ([unknown] whether PUT does; ignored). */
const MEMBER_WRITABLE = [
  "groupingIdentifier",
  "person",
  "metaData",
  "optOut",
  "points",
  "secondaryPoints",
  "tierPoints",
  "expiryDate",
  "status",
  "passOverrides",
  "profileImage",
];
/** status is not here: only the redeem route redeems [inferred]; offerId cannot move a coupon [inferred]. */
const COUPON_WRITABLE = ["person", "metaData", "sku", "optOut", "expiryDate", "passOverrides"];

/** Filters the list routes support; the real ones support more, so anything else is a 400 rather than a silent no-op. */
const MEMBER_FILTER_FIELDS = ["id", "externalId", "tierId", "status"];
const COUPON_FILTER_FIELDS = ["id", "externalId", "offerId", "status", "sku"];
/** PassKit's default page size is [unknown]. */
const DEFAULT_LIST_LIMIT = 100;

// ---- Errors ---------------------------------------------------------------------------------

const CODE = { InvalidArgument: 3, NotFound: 5, AlreadyExists: 6, FailedPrecondition: 9, Unimplemented: 12, Unauthenticated: 16 } as const;
/** grpc-gateway's HTTPStatusFromCode (§8). */
const HTTP_STATUS: Record<number, number> = {
  1: 499,
  2: 500,
  3: 400,
  4: 504,
  5: 404,
  6: 409,
  7: 403,
  8: 429,
  9: 400,
  10: 409,
  11: 400,
  12: 501,
  13: 500,
  14: 503,
  15: 500,
  16: 401,
};
/** The gRPC code behind an injected HTTP status, for a gateway-shaped error body. */
const CODE_FOR_STATUS: Record<number, number> = {
  400: 3,
  401: 16,
  403: 7,
  404: 5,
  409: 6,
  429: 8,
  499: 1,
  500: 13,
  501: 12,
  503: 14,
  504: 4,
};

class GrpcError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
  status(): Json {
    return { code: this.code, message: this.message, details: [] };
  }
  response(headers: Record<string, string> = {}): Response {
    return json(this.status(), HTTP_STATUS[this.code] ?? 500, headers);
  }
}

/** PassKit's server-side validation (go-playground validator tags on the Go structs); the message format is [inferred]. */
function invalid(struct: string, field: string, tag: string): GrpcError {
  const name = field.charAt(0).toUpperCase() + field.slice(1);
  return new GrpcError(CODE.InvalidArgument, `Key: '${struct}.${name}' Error:Field validation for '${name}' failed on the '${tag}' tag`);
}

// ---- Routes ---------------------------------------------------------------------------------

type Handler = (params: string[], body: string) => Response;
interface Route {
  method: string;
  template: string;
  segments: string[];
  handle?: Handler;
}

/** Every other member and coupon route of PassKit's gateway: they decide 404 vs 501, and answer "not modelled". */
const UNMODELLED_ROUTES = [
  "POST /members/program",
  "PUT /members/program",
  "GET /members/program/{id}",
  "POST /members/program/copy",
  "DELETE /members/program/{id}",
  "GET /members/programs",
  "POST /members/programs/list",
  "POST /members/tier",
  "PUT /members/tier",
  "GET /members/tier/{programId}/{tierId}",
  "DELETE /members/tier/{programId}/{tierId}",
  "GET /members/tiers",
  "POST /members/tiers/list",
  "POST /members/member/public",
  "POST /members/member/checkIn",
  "POST /members/member/checkOut",
  "GET /members/member/list/{programId}",
  "PUT /members/member/segment",
  "DELETE /members/member/segment",
  "DELETE /members/bulk",
  "GET /members/count/{programId}",
  "POST /members/count/{programId}",
  "GET /members/member/messages",
  "GET /members/member/meta/{id}",
  "PUT /members/member/expiry",
  "POST /members/program/count/events/{programId}",
  "POST /members/program/list/events/{programId}",
  "GET /members/member/events/meta/{id}",
  "POST /members/member/list/events/{id}",
  "DELETE /members/program/events/{programId}",
  "DELETE /members/member/events/{id}",
  "DELETE /members/member/events/id/{id}",
  "GET /members/enrol/url/program/{id}",
  "POST /coupon/singleUse/campaign",
  "PUT /coupon/singleUse/campaign",
  "GET /coupon/singleUse/campaign/{id}",
  "DELETE /coupon/singleUse/campaign/{id}",
  "GET /coupon/singleUse/campaigns",
  "POST /coupon/singleUse/campaigns/list",
  "GET /coupon/singleUse/campaign/{classId}/analytics",
  "POST /coupon/singleUse/offer",
  "PUT /coupon/singleUse/offer",
  "GET /coupon/singleUse/offer/{id}",
  "DELETE /coupon/singleUse/offer/{id}",
  "GET /coupon/singleUse/offers",
  "POST /coupon/singleUse/offers/list",
  "PUT /coupon/singleUse/coupon/externalId",
  "DELETE /coupon/singleUse/coupons/bulk",
  "GET /coupon/singleUse/coupons/{couponCampaignId}",
  "GET /coupon/singleUse/coupons/count/{couponCampaignId}",
  "POST /coupon/singleUse/coupons/count/{couponCampaignId}",
  "POST /coupon/singleUse/campaign/copy",
  "GET /coupon/singleUse/campaign/meta/{id}",
];

function route(spec: string, handle?: Handler): Route {
  const [method = "", template = ""] = spec.split(" ");
  return { method, template, segments: template.slice(1).split("/"), handle };
}

/** A pattern's variables match exactly one segment, even an empty one (grpc-gateway `OpPush`). */
function match(pattern: Route, segments: string[]): string[] | undefined {
  if (pattern.segments.length !== segments.length) return undefined;
  const params: string[] = [];
  for (const [index, part] of pattern.segments.entries()) {
    const segment = segments[index] ?? "";
    if (part.startsWith("{")) params.push(segment);
    else if (part !== segment) return undefined;
  }
  return params;
}

// ---- Records --------------------------------------------------------------------------------

/** Members or coupons, each externalId unique within its program or campaign. */
class Store {
  readonly records = new Map<string, Json>();
  /** programId → tierIds, or campaignId → offerIds: what seed() declared. */
  readonly catalog = new Map<string, Set<string>>();
  readonly noun: string;
  readonly classField: string;
  private readonly index = new Map<string, string>();

  constructor(noun: string, classField: string) {
    this.noun = noun;
    this.classField = classField;
  }

  find(classId: string, externalId: string): Json | undefined {
    const id = this.index.get(JSON.stringify([classId, externalId]));
    return id === undefined ? undefined : this.records.get(id);
  }

  add(record: Json): void {
    this.records.set(str(record.id), record);
    if (record.externalId) this.index.set(JSON.stringify([record[this.classField], record.externalId]), str(record.id));
  }

  remove(record: Json): void {
    this.records.delete(str(record.id));
    this.index.delete(JSON.stringify([record[this.classField], record.externalId]));
  }

  clear(): void {
    this.records.clear();
    this.index.clear();
  }

  /** The record a request names: by id, else by externalId within its program or campaign. */
  locate(body: Json, struct: string, idField = "id", externalField = "externalId", classField = this.classField): Json {
    const id = str(body[idField]);
    const externalId = str(body[externalField]);
    const classId = str(body[classField]);
    if (!id && !externalId) throw invalid(struct, idField, "required_without");
    if (!id && !classId) throw invalid(struct, classField, "required_without");
    const record = id ? this.records.get(id) : this.find(classId, externalId);
    // A different message from the router's "Not Found", so a client can tell the two apart.
    if (!record) throw new GrpcError(CODE.NotFound, `${this.noun} not found`);
    return record;
  }
}

// ---- The fake -------------------------------------------------------------------------------

export class FakePassKitPlatform {
  readonly faults: FaultPlan;
  readonly calls: RecordedCall[] = [];
  private readonly members = new Store("member", "programId");
  private readonly coupons = new Store("coupon", "campaignId");
  private readonly options: FakePassKitPlatformOptions;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly routes: Route[];

  constructor(options: FakePassKitPlatformOptions) {
    this.options = options;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.faults = new FaultPlan(this.random);
    this.routes = [...this.modelledRoutes(), ...UNMODELLED_ROUTES.map((spec) => route(spec))];
  }

  /** Calls whose token was accepted (what PassKit would bill and rate-limit). */
  apiCalls(method?: string, pathIncludes?: string): RecordedCall[] {
    return this.calls.filter(
      (call) =>
        call.authError === undefined &&
        (!method || call.method === method) &&
        (!pathIncludes || new URL(call.url).pathname.includes(pathIncludes)),
    );
  }

  inject(fault: Fault): void {
    this.faults.add(fault);
  }

  /** Forgets calls, records and faults; keeps the seeded programs, tiers, campaigns and offers. */
  reset(): void {
    this.calls.length = 0;
    this.members.clear();
    this.coupons.clear();
    this.faults.clear();
  }

  /** Declares programs (→ tier ids) and coupon campaigns (→ offer ids), as created in PassKit's portal. */
  seed(catalog: { programs?: Record<string, string[]>; couponCampaigns?: Record<string, string[]> }): void {
    for (const [store, entries] of [
      [this.members, catalog.programs],
      [this.coupons, catalog.couponCampaigns],
    ] as const) {
      for (const [classId, ids] of Object.entries(entries ?? {})) {
        const known = store.catalog.get(classId) ?? new Set<string>();
        for (const id of ids) known.add(id);
        store.catalog.set(classId, known);
      }
    }
  }

  findMember(programId: string, externalId: string): Readonly<Json> | undefined {
    const member = this.members.find(programId, externalId);
    return member && structuredClone(member);
  }

  findCoupon(campaignId: string, externalId: string): Readonly<Json> | undefined {
    const coupon = this.coupons.find(campaignId, externalId);
    return coupon && structuredClone(coupon);
  }

  memberCount(): number {
    return this.members.records.size;
  }

  couponCount(): number {
    return this.coupons.records.size;
  }

  /** What the wallet did: sets passMetaData.status (and install timestamps) of a member or coupon, as an install/uninstall would. */
  setPassStatus(kind: "member" | "coupon", id: string, status: PassStatus): void {
    const record = (kind === "member" ? this.members : this.coupons).records.get(id);
    if (!record) throw new Error(`no ${kind} with id ${id}`);
    const meta = record.passMetaData as Json;
    const at = timestamp(this.now());
    meta.status = status;
    if (status === "PASS_INSTALLED") {
      meta.firstInstalledAt ??= at;
      meta.lastInstalledAt = at;
    } else if (status === "PASS_UNINSTALLED") {
      meta.firstUninstalledAt ??= at;
      meta.lastUninstalledAt = at;
    } else if (status === "PASS_INVALIDATED") {
      meta.invalidatedAt = at;
    }
  }

  /** For GET /__fake/state. */
  state(): unknown {
    return {
      counts: { members: this.memberCount(), coupons: this.couponCount() },
      members: [...this.members.records.values()],
      coupons: [...this.coupons.records.values()],
      calls: this.calls,
    };
  }

  async handle(request: Request): Promise<Response> {
    const body = request.method === "GET" || request.method === "HEAD" ? "" : await request.text();
    const call: RecordedCall = { method: request.method, url: request.url, body, status: 0 };
    this.calls.push(call);
    const response = await this.answer(request, body, call);
    call.status = response.status;
    return response;
  }

  private async answer(request: Request, body: string, call: RecordedCall): Promise<Response> {
    // Credentials before routing, as fakes/passkit.ts does: PassKit's order of the two is [unknown].
    const authError = await this.authError(request);
    if (authError) {
      call.authError = authError;
      // grpc-gateway copies an Unauthenticated message into WWW-Authenticate [doc].
      return new GrpcError(CODE.Unauthenticated, authError).response({ "WWW-Authenticate": authError });
    }
    const url = new URL(request.url);
    const fault = this.faults.take(request.method, url.pathname + url.search, body);
    if (fault?.afterProcessing) {
      // The write is done, whatever the caller hears (or misses) next.
      const processed = this.route(request.method, url.pathname, body);
      if (fault.latencyMs) await sleep(fault.latencyMs, request.signal);
      return fault.status || fault.malformed ? faultAnswer(fault) : processed;
    }
    if (fault?.latencyMs) await sleep(fault.latencyMs, request.signal);
    if (fault?.status || fault?.malformed) return faultAnswer(fault);
    return this.route(request.method, url.pathname, body);
  }

  /**
   * grpc-gateway's ServeHTTP with its default (legacy) unescaping: the path is percent-decoded
   * before it is split, so `%2F` is a separator [inferred]. No pattern for any method: 404; a
   * pattern for another method only: 501.
   */
  private route(method: string, pathname: string, body: string): Response {
    let path: string;
    try {
      path = decodeURIComponent(pathname);
    } catch {
      // Go's HTTP server refuses a bad escape before the gateway sees it.
      return new Response("400 Bad Request", { status: 400, headers: { "Content-Type": "text/plain; charset=utf-8" } });
    }
    const segments = path.slice(1).split("/");
    let otherMethod = false;
    for (const candidate of this.routes) {
      const params = match(candidate, segments);
      if (!params) continue;
      if (candidate.method !== method) {
        otherMethod = true;
        continue;
      }
      if (!candidate.handle)
        return new GrpcError(CODE.Unimplemented, `fake: ${candidate.method} ${candidate.template} is not modelled`).response();
      try {
        return candidate.handle(params, body);
      } catch (error) {
        if (error instanceof GrpcError) return error.response();
        throw error;
      }
    }
    return otherMethod
      ? new GrpcError(CODE.Unimplemented, "Method Not Allowed").response()
      : new GrpcError(CODE.NotFound, "Not Found").response();
  }

  private modelledRoutes(): Route[] {
    const { members, coupons } = this;
    return [
      route("POST /members/member", (_, body) => this.enrol(body)),
      route("GET /members/member/id/{id}", ([id = ""]) => json(this.get(members, id))),
      route("GET /members/member/externalId/{programId}/{externalId}", ([programId = "", externalId = ""]) =>
        json(this.getByExternalId(members, programId, externalId)),
      ),
      route("PUT /members/member", (_, body) => this.updateMember(body)),
      route("DELETE /members/member", (_, body) => this.remove(members, decodeBody(body, MEMBER), "Member")),
      route("PUT /members/member/points/earn", (_, body) => this.points(body, "earn")),
      route("PUT /members/member/points/burn", (_, body) => this.points(body, "burn")),
      route("PUT /members/member/points/set", (_, body) => this.points(body, "set")),
      route("PUT /members/member/tier", (_, body) => this.changeTier(body)),
      route("PATCH /members/member/person", (_, body) => this.patchPerson(members, body)),
      route("PUT /members/member/updateExpiry", (_, body) => this.updateExpiry(body)),
      route("POST /members/member/list/{programId}", ([programId = ""], body) => this.list(members, programId, body, MEMBER_FILTER_FIELDS)),
      route("POST /coupon/singleUse/coupon", (_, body) => this.createCoupon(body)),
      route("GET /coupon/singleUse/coupon/{id}", ([id = ""]) => json(this.get(coupons, id))),
      route("GET /coupon/singleUse/coupon/externalId/{couponCampaignId}/{externalId}", ([campaignId = "", externalId = ""]) =>
        json(this.getByExternalId(coupons, campaignId, externalId)),
      ),
      route("PUT /coupon/singleUse/coupon", (_, body) => this.updateCoupon(body, false)),
      route("PUT /coupon/singleUse/coupon/redeem", (_, body) => this.updateCoupon(body, true)),
      route("DELETE /coupon/singleUse/coupon", (_, body) => this.remove(coupons, decodeBody(body, COUPON), "Coupon")),
      route("PATCH /coupon/singleUse/coupon/person", (_, body) => this.patchPerson(coupons, body)),
      route("POST /coupon/singleUse/coupons/list/{couponCampaignId}", ([campaignId = ""], body) =>
        this.list(coupons, campaignId, body, COUPON_FILTER_FIELDS),
      ),
    ];
  }

  // ---- Members ----

  private enrol(text: string): Response {
    const body = decodeBody(text, MEMBER);
    const programId = str(body.programId);
    const tierId = str(body.tierId);
    if (!programId) throw invalid("Member", "programId", "required");
    if (!tierId) throw invalid("Member", "tierId", "required");
    checkMember(body, "Member");
    this.checkCatalog(this.members, programId, tierId);
    this.checkUnique(this.members, programId, str(body.externalId));
    const member = this.blank(MEMBER, { externalId: str(body.externalId), tierId, programId });
    write(member, body, MEMBER_WRITABLE, MEMBER, false);
    this.members.add(member);
    return json({ id: member.id });
  }

  private updateMember(text: string): Response {
    const body = decodeBody(text, MEMBER);
    checkMember(body, "Member");
    const member = this.members.locate(body, "Member");
    write(member, body, MEMBER_WRITABLE, MEMBER, body.operation === "OPERATION_PUT");
    this.touch(member);
    return json({ id: member.id });
  }

  /**
   * Earn and burn add or take amounts (≥ 0, at least one); set writes the non-zero amounts, and a
   * reset flag writes 0, as proto3 cannot send a 0 [inferred]; reset wins over an amount [inferred].
   * Burning below 0 is refused as FailedPrecondition [inferred]. An optional tierId moves the tier.
   */
  private points(text: string, mode: "earn" | "burn" | "set"): Response {
    const body = decodeBody(text, mode === "set" ? SET_POINTS : EARN_BURN);
    const struct = mode === "set" ? "SetPointsRequest" : "EarnBurnPointsRequest";
    const fields = ["points", "secondaryPoints", "tierPoints"] as const;
    const resets = { points: "resetPoints", secondaryPoints: "resetSecondaryPoints", tierPoints: "resetTierPoints" } as const;
    for (const field of ["points", "secondaryPoints"]) if (num(body[field]) < 0) throw invalid(struct, field, "gte");
    if (!fields.some((field) => body[field] || body[resets[field]])) throw invalid(struct, "points", "required_without_all");
    const member = this.members.locate(body, struct);
    const next: Json = {};
    for (const field of fields) {
      const amount = num(body[field]);
      const current = num(member[field]);
      if (mode === "set") next[field] = body[resets[field]] ? 0 : amount || current;
      else next[field] = mode === "earn" ? current + amount : current - amount;
      if (num(next[field]) < 0) throw new GrpcError(CODE.FailedPrecondition, `not enough ${field} to burn`);
      next[field] = field === "tierPoints" ? next[field] : float32(num(next[field]));
    }
    const tierId = str(body.tierId);
    if (tierId) this.moveTier(member, tierId);
    Object.assign(member, next);
    this.touch(member);
    return json({
      id: member.id,
      externalId: member.externalId,
      programId: member.programId,
      points: member.points,
      secondaryPoints: member.secondaryPoints,
      tierPoints: member.tierPoints,
    });
  }

  /** ChangeTierRequest names the member `memberId` / `externalMemberId`, unlike every other body. */
  private changeTier(text: string): Response {
    const body = decodeBody(text, CHANGE_TIER);
    if (!str(body.tierId)) throw invalid("ChangeTierRequest", "tierId", "required");
    const member = this.members.locate(body, "ChangeTierRequest", "memberId", "externalMemberId", "programId");
    this.moveTier(member, str(body.tierId));
    this.touch(member);
    const at = timestamp(this.now());
    const { id, externalId, groupingIdentifier, tierId, programId, person } = member;
    return json({
      id: this.newId(),
      member: structuredClone({ id, externalId, groupingIdentifier, tierId, programId, person }),
      eventType: "EVENT_MEMBER_TIER_CHANGED",
      address: "",
      lat: 0,
      lon: 0,
      alt: 0,
      externalId: "",
      externalUserId: "",
      externalDeviceId: "",
      externalServiceId: "",
      metaData: {},
      notes: "",
      date: at,
      retainedUntilDate: null,
      created: at,
    });
  }

  private updateExpiry(text: string): Response {
    const body = decodeBody(text, MEMBER_EXPIRY);
    if (!body.expiryDate) throw invalid("MemberExpiry", "expiryDate", "required");
    const member = this.members.locate(body, "MemberExpiry");
    member.expiryDate = body.expiryDate;
    this.touch(member);
    return json({ id: member.id });
  }

  private moveTier(member: Json, tierId: string): void {
    this.checkCatalog(this.members, str(member.programId), tierId);
    if (member.tierId !== tierId) member.currentTierAwarded = timestamp(this.now());
    member.tierId = tierId;
  }

  // ---- Coupons ----

  private createCoupon(text: string): Response {
    const body = decodeBody(text, COUPON);
    const campaignId = str(body.campaignId);
    const offerId = str(body.offerId);
    if (!offerId) throw invalid("Coupon", "offerId", "required");
    if (!campaignId) throw invalid("Coupon", "campaignId", "required");
    checkPerson(body.person, "Coupon.Person");
    this.checkCatalog(this.coupons, campaignId, offerId);
    this.checkUnique(this.coupons, campaignId, str(body.externalId));
    const coupon = this.blank(COUPON, { externalId: str(body.externalId), offerId, campaignId });
    write(coupon, body, COUPON_WRITABLE, COUPON, false);
    this.coupons.add(coupon);
    return json({ id: coupon.id });
  }

  /**
   * Update and redeem take the same Coupon body; a redeemed coupon takes neither (FailedPrecondition:
   * the text of a second redeem's answer is [unknown]). Redeem stamps redemptionDetails.redemptionDate,
   * which "is set by the system" [doc].
   */
  private updateCoupon(text: string, redeem: boolean): Response {
    const body = decodeBody(text, COUPON);
    checkPerson(body.person, "Coupon.Person");
    const coupon = this.coupons.locate(body, "Coupon");
    if (coupon.status === "REDEEMED")
      throw new GrpcError(CODE.FailedPrecondition, redeem ? "coupon already redeemed" : "coupon is redeemed and can no longer be updated");
    write(coupon, body, COUPON_WRITABLE, COUPON, false);
    if (redeem) {
      coupon.status = "REDEEMED";
      coupon.redemptionDetails = {
        ...((body.redemptionDetails as Json | null) ?? decodeMessage({}, REDEMPTION, "")),
        redemptionDate: timestamp(this.now()),
      };
    }
    this.touch(coupon);
    return json({ id: coupon.id });
  }

  // ---- Shared by both ----

  private get(store: Store, id: string): Json {
    const record = store.records.get(id);
    if (!record) throw new GrpcError(CODE.NotFound, `${store.noun} not found`);
    return record;
  }

  private getByExternalId(store: Store, classId: string, externalId: string): Json {
    const record = store.find(classId, externalId);
    if (!record) throw new GrpcError(CODE.NotFound, `${store.noun} not found`);
    return record;
  }

  /** DeleteMember and VoidCoupon: the record is gone, later reads are 404 (a voided coupon's GET is [unknown]). */
  private remove(store: Store, body: Json, struct: string): Response {
    store.remove(store.locate(body, struct));
    return json({});
  }

  /** PersonRequest names the program or campaign `classId`; only the person fields sent (non-zero) change. */
  private patchPerson(store: Store, text: string): Response {
    const body = decodeBody(text, PERSON_REQUEST);
    if (!body.person) throw invalid("PersonRequest", "person", "required");
    checkPerson(body.person, "PersonRequest.Person");
    const record = store.locate(body, "PersonRequest", "id", "externalId", "classId");
    if (store === this.coupons && record.status === "REDEEMED")
      throw new GrpcError(CODE.FailedPrecondition, "coupon is redeemed and can no longer be updated");
    record.person = personOf(body.person as Json, record.person as Json | null);
    this.touch(record);
    return json({ id: record.id });
  }

  /**
   * A server stream: one `{"result": …}` line per record. Errors of the request body are the
   * gateway's (a plain error answer); the server's own errors arrive as an `{"error": …}` line, which
   * sets the HTTP status as nothing was written before it [doc]. Order: creation [inferred].
   */
  private list(store: Store, classId: string, text: string, filterFields: string[]): Response {
    const body = decodeBody(text, LIST);
    const headers = { "Content-Type": "application/json" };
    try {
      if (!store.catalog.has(classId)) throw new GrpcError(CODE.NotFound, `${store.noun === "member" ? "program" : "campaign"} not found`);
      const filters = (body.filters as Json | null) ?? decodeMessage({}, FILTERS, "");
      const groups = filters.filterGroups as Json[];
      for (const filter of groups.flatMap((group) => group.fieldFilters as Json[])) {
        if (!filterFields.includes(str(filter.filterField)))
          throw new GrpcError(CODE.InvalidArgument, `unsupported filterField ${JSON.stringify(filter.filterField)}`);
        if (filter.filterOperator !== "eq")
          throw new GrpcError(CODE.InvalidArgument, `unsupported filterOperator ${JSON.stringify(filter.filterOperator)}`);
      }
      const offset = Math.max(0, num(filters.offset));
      const limit = num(filters.limit) > 0 ? num(filters.limit) : DEFAULT_LIST_LIMIT;
      const found = [...store.records.values()]
        .filter((record) => record[store.classField] === classId && groups.every((group) => matchesGroup(record, group)))
        .slice(offset, offset + limit);
      return new Response(found.map((record) => `${JSON.stringify({ result: record })}\n`).join(""), { status: 200, headers });
    } catch (error) {
      if (!(error instanceof GrpcError)) throw error;
      return new Response(`${JSON.stringify({ error: error.status() })}\n`, { status: HTTP_STATUS[error.code] ?? 500, headers });
    }
  }

  /** Unknown program or campaign, then unknown tier or offer: 404 with a record-style message [inferred text]. */
  private checkCatalog(store: Store, classId: string, memberId: string): void {
    const known = store.catalog.get(classId);
    const [classNoun, itemNoun] = store.noun === "member" ? ["program", "tier"] : ["campaign", "offer"];
    if (!known) throw new GrpcError(CODE.NotFound, `${classNoun} not found`);
    if (!known.has(memberId)) throw new GrpcError(CODE.NotFound, `${itemNoun} not found`);
  }

  /** A duplicate externalId is AlreadyExists, 409 [field]; the message is [unknown]. */
  private checkUnique(store: Store, classId: string, externalId: string): void {
    if (externalId && store.find(classId, externalId)) {
      throw new GrpcError(
        CODE.AlreadyExists,
        `${store.noun} with externalId already exists in this ${store.noun === "member" ? "program" : "campaign"}`,
      );
    }
  }

  /** A new record with every field at its zero value, as EmitUnpopulated answers it. */
  private blank(spec: Spec, fields: Json): Json {
    const at = this.stamp();
    return { ...decodeMessage({}, spec, ""), id: this.newId(), ...fields, passMetaData: blankPassMetaData(), created: at, updated: at };
  }

  private touch(record: Json): void {
    record.updated = this.stamp(str(record.updated));
  }

  /** `updated` moves on every write even when a test's clock stands still: real writes are nanoseconds apart. */
  private stamp(previous?: string): string {
    const last = previous ? Date.parse(previous) : Number.NEGATIVE_INFINITY;
    return timestamp(Math.max(this.now(), last + 1));
  }

  private newId(): string {
    let id = "";
    for (let i = 0; i < 22; i++) id += ID_ALPHABET[Math.floor(this.random() * ID_ALPHABET.length)];
    return this.members.records.has(id) || this.coupons.records.has(id) ? this.newId() : id;
  }

  // ---- Authentication (§3) ----

  /** Why PassKit would refuse this request's credentials, or undefined when it would accept them. */
  private async authError(request: Request): Promise<string | undefined> {
    const header = request.headers.get("Authorization");
    // [inferred] text.
    if (!header) return "authorization token not provided";
    if (header.startsWith("Bearer ")) {
      const token = header.slice("Bearer ".length);
      if (this.options.longLivedToken && constantTimeEqual(token, this.options.longLivedToken)) return undefined;
      // Whether PassKit takes `Bearer <jwt>` is [unknown]: refused, the strictest choice, with golang-jwt's words.
      return token.split(".").length === 3 ? "tokenstring should not contain 'bearer '" : "invalid long-lived token";
    }
    return this.jwtError(header);
  }

  /**
   * The bare JWT: base64url segments first (so `PKAuth <jwt>` fails at byte 6, the space [field]),
   * then HS256 with the API secret, the `uid` claim (v3's `key` is not it), and a short life: `iat`
   * not in the future and at most 60 s old, `exp` present and ahead, `exp − iat` ≤ 60 s (the
   * strictest measured account, pub2 [field]). Texts without a source are [inferred].
   */
  private async jwtError(token: string): Promise<string | undefined> {
    const parts = token.split(".");
    if (parts.length !== 3) return "token contains an invalid number of segments";
    for (const part of parts) {
      const byte = illegalBase64urlByte(part);
      if (byte !== undefined) return `illegal base64 data at input byte ${byte}`;
    }
    const [head = "", payload = "", signature = ""] = parts;
    let header: unknown;
    let claims: unknown;
    try {
      header = JSON.parse(decodeBase64url(head));
      claims = JSON.parse(decodeBase64url(payload));
    } catch {
      return "token is malformed";
    }
    if (!isObject(header) || !isObject(claims)) return "token is malformed";
    if (header.alg !== "HS256") return `unexpected signing method: ${String(header.alg)}`;
    if (typeof claims.uid !== "string") return "token has no uid claim";
    if (!constantTimeEqual(claims.uid, this.options.apiKey)) return "unknown uid";
    if (!constantTimeEqual(await hmacBase64url(this.options.apiSecret, `${head}.${payload}`), signature)) return "signature is invalid";
    const now = this.now() / 1000;
    if (typeof claims.iat !== "number") return "token has no iat claim";
    if (claims.iat > now) return "Token used before issued";
    if (claims.iat < now - 60) return "jwt was issued too long ago";
    if (typeof claims.exp !== "number") return "token has no exp claim";
    if (claims.exp <= now) return "token is expired";
    if (claims.exp - claims.iat > 60) return "token lifetime is longer than 60 seconds";
    return undefined;
  }
}

// ---- Bodies: protojson with DiscardUnknown ----------------------------------------------------

/** grpc-gateway decodes an empty body (io.EOF) as an empty message, which the server then validates. */
function decodeBody(text: string, spec: Spec): Json {
  if (text.trim() === "") return decodeMessage({}, spec, "");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new GrpcError(CODE.InvalidArgument, `invalid JSON body: ${error instanceof Error ? error.message : String(error)}`);
  }
  return decodeMessage(value, spec, "");
}

/**
 * A message with every field present: unknown fields dropped, absent and null ones at their zero
 * value (a message or timestamp: null), enums as names. The same shape serves as a stored record.
 */
function decodeMessage(value: unknown, spec: Spec, path: string): Json {
  if (!isObject(value)) throw syntaxError(path, value);
  const message: Json = {};
  for (const [field, kind] of Object.entries(spec)) {
    const item = value[field];
    // protojson skips a null for any field but google.protobuf.Value: absent.
    message[field] = item === undefined || item === null ? zero(kind) : decodeValue(item, kind, path ? `${path}.${field}` : field);
  }
  return message;
}

function decodeValue(value: unknown, kind: Kind, path: string): unknown {
  if (typeof kind === "string") {
    switch (kind) {
      case "string":
        if (typeof value === "string") return value;
        break;
      case "bool":
        if (typeof value === "boolean") return value;
        break;
      case "float":
        if (typeof value === "number" && Number.isFinite(Math.fround(value))) return float32(value);
        break;
      case "double":
        if (typeof value === "number") return value;
        break;
      case "int32":
        if (Number.isInteger(value) && (value as number) >= -(2 ** 31) && (value as number) < 2 ** 31) return value;
        break;
      case "uint32":
        if (Number.isInteger(value) && (value as number) >= 0 && (value as number) < 2 ** 32) return value;
        break;
      case "uint64":
        // protojson writes 64-bit integers as strings.
        if ((Number.isSafeInteger(value) && (value as number) >= 0) || (typeof value === "string" && /^\d{1,20}$/.test(value)))
          return String(value);
        break;
      case "timestamp": {
        const parsed = typeof value === "string" ? parseTimestamp(value) : undefined;
        if (parsed) return parsed;
        break;
      }
      case "object":
        if (isObject(value)) return structuredClone(value);
        break;
    }
  } else if ("enum" in kind) {
    if (typeof value === "string" && kind.enum.includes(value)) return value;
    if (Number.isInteger(value) && kind.enum[value as number] !== undefined) return kind.enum[value as number];
  } else if ("message" in kind) {
    return decodeMessage(value, kind.message, path);
  } else if ("list" in kind) {
    if (Array.isArray(value)) return value.map((item, index) => decodeValue(item, kind.list, `${path}[${index}]`));
  } else if (isObject(value)) {
    // A map: every value must have the value kind; metaData's are strings, so a number, a boolean, null or an object is refused.
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, decodeValue(item, kind.map, `${path}.${key}`)]));
  }
  throw syntaxError(path, value);
}

function zero(kind: Kind): unknown {
  if (typeof kind === "object") return "enum" in kind ? kind.enum[0] : "list" in kind ? [] : "map" in kind ? {} : null;
  return kind === "string" ? "" : kind === "bool" ? false : kind === "timestamp" || kind === "object" ? null : kind === "uint64" ? "0" : 0;
}

/** "a field of the wrong SHAPE surfaces as `proto: syntax error … unexpected token`" [field]; the position format is the fake's. */
function syntaxError(path: string, value: unknown): GrpcError {
  const token = Array.isArray(value) ? "[" : isObject(value) ? "{" : JSON.stringify(value);
  return new GrpcError(CODE.InvalidArgument, `proto: syntax error (${path || "body"}): unexpected token ${token}`);
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** An RFC 3339 date-time that exists on the calendar, normalised to UTC as protojson answers it (ms precision here). */
function parseTimestamp(text: string): string | undefined {
  const parts = RFC3339.exec(text);
  if (!parts) return undefined;
  const [year, month, day, hour, minute, second] = parts.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  if (year < 1 || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59)
    return undefined;
  const ms = Date.parse(text.replace(/\.(\d+)/, (_, digits: string) => `.${digits.padEnd(3, "0").slice(0, 3)}`));
  return Number.isNaN(ms) ? undefined : timestamp(ms);
}

/** protojson's Timestamp: no fraction when it is whole seconds. */
function timestamp(ms: number): string {
  return new Date(ms).toISOString().replace(".000Z", "Z");
}

/** A float32 as protojson writes it: the shortest decimal that reads back as the same float32. */
function float32(value: number): number {
  const single = Math.fround(value);
  for (let digits = 1; digits < 9; digits++) {
    const short = Number(single.toPrecision(digits));
    if (Math.fround(short) === single) return short;
  }
  return single;
}

// ---- Server-side rules --------------------------------------------------------------------------

/**
 * Writes body fields into a record. PATCH, PassKit's default, "will ignore missing or falsey values"
 * [doc]: a value equal to its zero is skipped. metaData is a field like any other, so a non-empty map
 * replaces the stored one whole (the field report, §5.2) and an empty one changes nothing, as proto3
 * cannot tell {} from absent. `operation: "OPERATION_PUT"` writes every field, absent ones as zero
 * [inferred].
 */
function write(record: Json, body: Json, fields: readonly string[], spec: Spec, put: boolean): void {
  for (const field of fields) {
    const value = body[field];
    if (!put && sameJson(value, zero(spec[field] as Kind))) continue;
    if (field === "person") record.person = value === null ? null : personOf(value as Json, put ? null : (record.person as Json | null));
    else record[field] = structuredClone(value);
  }
}

/** Person fields sent (non-zero) over the stored ones; externalIds is not writable, externalId "Not editable" once set. */
function personOf(given: Json, stored: Json | null): Json {
  const person = stored ? structuredClone(stored) : decodeMessage({}, PERSON, "");
  for (const field of Object.keys(PERSON)) {
    if (field === "externalIds" || (field === "externalId" && stored?.externalId)) continue;
    if (!sameJson(given[field], zero(PERSON[field] as Kind))) person[field] = structuredClone(given[field]);
  }
  return person;
}

/** Points are ≥ 0 (validate tag gte=0 on earn and burn [doc]; on Member as well here [inferred]), emails are emails [doc]. */
function checkMember(body: Json, struct: string): void {
  for (const field of ["points", "secondaryPoints"]) if (num(body[field]) < 0) throw invalid(struct, field, "gte");
  checkPerson(body.person, `${struct}.Person`);
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function checkPerson(person: unknown, struct: string): void {
  const email = isObject(person) ? str(person.emailAddress) : "";
  if (email && !EMAIL.test(email)) throw invalid(struct, "emailAddress", "email");
}

/** Groups are ANDed; within a group, `condition` AND (default) or OR. Values compare as answered (enum names). */
function matchesGroup(record: Json, group: Json): boolean {
  const results = (group.fieldFilters as Json[]).map((filter) => String(record[str(filter.filterField)]) === filter.filterValue);
  return group.condition === "OR" ? results.some(Boolean) : results.every(Boolean);
}

function blankPassMetaData(): Json {
  return {
    status: "PASS_ISSUED",
    lifecycleEvents: [],
    utm: null,
    altId: "",
    issueIpAddress: "",
    installIpAddress: "",
    renderLocation: null,
    renderIpAddress: "",
    installUserAgent: "",
    renderUserAgent: "",
    installDeviceAttributes: [],
    renderDeviceAttributes: [],
    issueAt: null,
    renderedAt: null,
    firstInstalledAt: null,
    lastInstalledAt: null,
    firstUninstalledAt: null,
    lastUninstalledAt: null,
    invalidatedAt: null,
    lastUpdatedAt: null,
  };
}

function faultAnswer(fault: Fault): Response {
  if (fault.status) {
    const error = { code: CODE_FOR_STATUS[fault.status] ?? 2, message: `injected ${fault.status}`, details: [] };
    return new Response(fault.body ?? JSON.stringify(error), {
      status: fault.status,
      headers: { "Content-Type": "application/json", ...fault.headers },
    });
  }
  return new Response(fault.body ?? "<html>Service Unavailable</html>", { status: 200, headers: { "Content-Type": "text/html" } });
}

// ---- Small helpers --------------------------------------------------------------------------------

const ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function num(value: unknown): number {
  return typeof value === "number" ? value : 0;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Where Go's base64.RawURLEncoding stops on this text, or undefined when it decodes. */
function illegalBase64urlByte(text: string): number | undefined {
  const bad = text.search(/[^A-Za-z0-9_-]/);
  if (bad >= 0) return bad;
  return text.length % 4 === 1 ? text.length - 1 : undefined;
}
