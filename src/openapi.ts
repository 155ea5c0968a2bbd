import * as z from "zod";
import { couponRoute, couponViewSchema, createCouponSchema, updateCouponSchema } from "./coupons/schemas.ts";
import { PROBLEM_CODES } from "./http/problem-codes.ts";
import {
  deadLetterListQuerySchema,
  deadLetterPageSchema,
  intakeAnswerSchema,
  relayStatusSchema,
  replayAnswerSchema,
  replayRequestSchema,
} from "./lifecycle/answers.ts";
import { passKitWebhookSchema } from "./lifecycle/webhook-body.ts";
import { dryRunAnswerSchema } from "./machinery/dry-run.ts";
import { createMemberSchema, memberRoute, memberViewSchema, updateMemberSchema } from "./members/schemas.ts";
import { createPassSchema, passRoute, passViewSchema, updatePassSchema } from "./passes/schemas.ts";

/**
 * OpenAPI 3.1 (JSON Schema 2020-12), built from the same zod schemas the routes validate with and
 * answer through; a test walks the app's routes and finds each here. Imports only schemas, so
 * `npm run lint:openapi` can build it in Node.
 */

type Json = Record<string, unknown>;

const schema = (s: z.ZodType, io: "input" | "output") => {
  const { $schema: _, ...rest } = z.toJSONSchema(s, { io, target: "draft-2020-12", unrepresentable: "any" });
  return rest;
};
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string) => ({ "application/json": { schema: ref(name) } });

const header = (name: string) => ({ $ref: `#/components/headers/${name}` });
const REQUEST_ID = { "X-Request-Id": header("RequestId") };

/** The problem answers an operation can give, each with its codes. */
function problems(...statuses: number[]): Json {
  return Object.fromEntries(
    statuses.map((status) => {
      const codes = Object.entries(PROBLEM_CODES)
        .filter(([, s]) => s === status)
        .map(([code]) => `\`${code}\``);
      const headers =
        status === 429
          ? { ...REQUEST_ID, "Retry-After": header("RetryAfter") }
          : status === 401
            ? { ...REQUEST_ID, "WWW-Authenticate": header("WwwAuthenticate") }
            : REQUEST_ID;
      return [
        String(status),
        {
          description: `Problem details: ${codes.join(", ")}`,
          headers,
          content: { "application/problem+json": { schema: ref("Problem") } },
        },
      ];
    }),
  );
}

const WRITE_PROBLEMS = [400, 401, 404, 413, 415, 422, 429, 500, 502, 503, 504];
const dryRun = {
  name: "X-Dry-Run",
  in: "header",
  schema: { type: "string", enum: ["true"] },
  description: "Validate and show the PassKit calls without making them.",
};
const idempotencyKey = {
  name: "Idempotency-Key",
  in: "header",
  schema: { type: "string" },
  description:
    "Any value; a repeat with the same value and body replays the first final answer (keys with Braze's Test-tab dispatch id are ignored).",
};
const written = (description: string, body: string): Json => ({
  description,
  headers: { ...REQUEST_ID, "Idempotent-Replayed": header("IdempotentReplayed") },
  content: { "application/json": { schema: { oneOf: [ref(body), ref("DryRun")] } } },
});

interface ProductDoc {
  route: { basePath: string; idNames: readonly [string, string]; noun: string };
  names: { create: string; update: string; view: string };
  verbs: { create: string; remove: string };
  actions?: { name: string; summary: string; body: string }[];
}

const PRODUCTS: ProductDoc[] = [
  {
    route: passRoute,
    names: { create: "CreatePass", update: "UpdatePass", view: "Pass" },
    verbs: { create: "Create a pass (idempotent by campaignName and userDefinedId)", remove: "Invalidate the pass (permanent in PassKit)" },
  },
  {
    route: memberRoute,
    names: { create: "EnrolMember", update: "UpdateMember", view: "Member" },
    verbs: { create: "Enrol a member (idempotent by programId and externalId)", remove: "Delete the member (permanent in PassKit)" },
  },
  {
    route: couponRoute,
    names: { create: "IssueCoupon", update: "UpdateCoupon", view: "Coupon" },
    verbs: { create: "Issue a coupon (idempotent by campaignId and externalId)", remove: "Void the coupon" },
    actions: [
      {
        name: couponRoute.redeem.name,
        summary: "Redeem the coupon; a redeemed one is answered as it is, with no second redeem",
        body: "RedeemCoupon",
      },
    ],
  },
];

function productPaths({ route, names, verbs, actions = [] }: ProductDoc): Json {
  const Noun = route.noun.charAt(0).toUpperCase() + route.noun.slice(1);
  const one = `${route.basePath}/${route.idNames.map((name) => `{${name}}`).join("/")}`;
  const parameters = route.idNames.map((name) => ({
    name,
    in: "path",
    required: true,
    schema: { type: "string" },
    description: `${name}, percent-encoded (an encoded "/" is part of it)`,
  }));
  const body = (name: string) => ({ required: true, content: { ...json(name), "text/plain": { schema: ref(name) } } });
  const paths: Json = {
    [route.basePath]: {
      post: {
        operationId: `create${Noun}`,
        summary: verbs.create,
        tags: [Noun],
        parameters: [dryRun, idempotencyKey],
        requestBody: body(names.create),
        responses: {
          "201": written("Created", `${names.view}Created`),
          "200": written("It existed; updated with what the body changes", `${names.view}Created`),
          ...problems(...WRITE_PROBLEMS),
        },
      },
    },
    [one]: {
      parameters,
      get: {
        operationId: `get${Noun}`,
        summary: "Connected Content lookup, from the cache when fresh",
        tags: [Noun],
        responses: {
          "200": { description: "The record's view", headers: { ...REQUEST_ID, "X-Cache": header("Cache") }, content: json(names.view) },
          ...problems(400, 401, 404, 429, 500, 502, 503, 504),
        },
      },
      put: {
        operationId: `update${Noun}`,
        summary: `Update the ${route.noun}: only what the body changes is written`,
        tags: [Noun],
        parameters: [dryRun, idempotencyKey],
        requestBody: body(names.update),
        responses: { "200": written("The record's view after the update", names.view), ...problems(...WRITE_PROBLEMS) },
      },
      delete: {
        operationId: `delete${Noun}`,
        summary: verbs.remove,
        tags: [Noun],
        parameters: [dryRun, idempotencyKey],
        responses: { "200": written("The record's view", names.view), ...problems(...WRITE_PROBLEMS) },
      },
    },
  };
  for (const action of actions) {
    paths[`${one}/${action.name}`] = {
      parameters,
      post: {
        operationId: `${action.name}${Noun}`,
        summary: action.summary,
        tags: [Noun],
        parameters: [dryRun, idempotencyKey],
        requestBody: { required: false, content: json(action.body) },
        responses: { "200": written("The record's view", names.view), ...problems(...WRITE_PROBLEMS) },
      },
    };
  }
  return paths;
}

function lifecyclePaths(): Json {
  const intake = (method: string) => ({
    operationId: `passkitWebhook${method}`,
    summary:
      "PassKit's webhook: signed (x-passkit-signature) when PASSKIT_WEBHOOK_SECRET is set, else the webhook role's Basic credentials",
    tags: ["Lifecycle"],
    security: [{ webhookBasic: [] }, { passkitSignature: [] }],
    requestBody: { required: true, content: json("PassKitWebhook") },
    responses: {
      "202": {
        description: "Queued for Braze, or kept as a dead letter when it names no user",
        headers: REQUEST_ID,
        content: json("IntakeAnswer"),
      },
      ...problems(400, 401, 413, 415, 422, 429, 500, 503),
    },
  });
  const operator = { security: [{ operatorBasic: [] }], tags: ["Operators"] };
  return {
    "/v1/lifecycle/passkit": { post: intake("Post"), put: intake("Put"), delete: intake("Delete") },
    "/v1/lifecycle/dead-letters": {
      get: {
        ...operator,
        operationId: "listDeadLetters",
        summary: "Undeliverable lifecycle events with their reasons, oldest first",
        parameters: Object.entries((schema(deadLetterListQuerySchema, "input") as { properties: Record<string, Json> }).properties).map(
          ([name, s]) => ({ name, in: "query", schema: s }),
        ),
        responses: {
          "200": { description: "A page of dead letters", headers: REQUEST_ID, content: json("DeadLetterPage") },
          ...problems(400, 401, 429, 500),
        },
      },
    },
    "/v1/lifecycle/dead-letters/replay": {
      post: {
        ...operator,
        operationId: "replayDeadLetters",
        summary: "Send dead letters through the queue again and remove them",
        requestBody: { required: true, content: json("ReplayRequest") },
        responses: {
          "200": { description: "What was replayed", headers: REQUEST_ID, content: json("ReplayAnswer") },
          ...problems(400, 401, 413, 415, 422, 429, 500),
        },
      },
    },
    "/v1/lifecycle/status": {
      get: {
        ...operator,
        operationId: "relayStatus",
        summary: "The relay's state as the delivery ledger counts it",
        responses: {
          "200": { description: "Deliveries, dead letters, expiries", headers: REQUEST_ID, content: json("RelayStatus") },
          ...problems(401, 429, 500),
        },
      },
    },
  };
}

/** A create's short answer: the view's identifying fields. */
const createdAnswer = (view: z.ZodObject, keys: readonly string[]) =>
  schema(view.pick(Object.fromEntries(keys.map((key) => [key, true])) as Record<string, true>), "output");

let built: Json | undefined;

export function openApiDocument(): Json {
  built ??= {
    openapi: "3.1.0",
    info: {
      title: "Braze ↔ PassKit proxy",
      version: "1.0.0",
      description:
        "Braze webhooks and Connected Content to PassKit (v3 passes; Membership members and single-use coupons), and PassKit's lifecycle webhooks to Braze custom events. The contract: docs/contract.md.",
      license: { name: "MIT", identifier: "MIT" },
    },
    servers: [
      {
        url: "https://{worker}",
        description: "Your deployment",
        variables: { worker: { default: "braze-passkit-proxy.your-account.workers.dev" } },
      },
    ],
    security: [{ brazeBasic: [] }],
    tags: [
      { name: "Pass", description: "PassKit v3 passes (/v1/passes), the Braze partner page's shape" },
      { name: "Member", description: "Membership members on PassKit's current platform" },
      { name: "Coupon", description: "Single-use coupons on PassKit's current platform" },
      { name: "Lifecycle", description: "PassKit's webhooks, relayed to Braze as custom events" },
      { name: "Operators", description: "Dead letters and the relay's state" },
      { name: "Public", description: "No credentials" },
    ],
    paths: {
      "/health": {
        get: {
          operationId: "health",
          summary: "Liveness, and which products are configured (names only); calls nothing upstream",
          tags: ["Public"],
          security: [],
          responses: {
            "200": { description: "ok", headers: REQUEST_ID, content: { "application/json": { schema: { type: "object" } } } },
            ...problems(500),
          },
        },
      },
      "/openapi.json": {
        get: {
          operationId: "openApi",
          summary: "This document",
          tags: ["Public"],
          security: [],
          responses: {
            "200": { description: "OpenAPI 3.1", headers: REQUEST_ID, content: { "application/json": { schema: { type: "object" } } } },
          },
        },
      },
      ...Object.assign({}, ...PRODUCTS.map(productPaths)),
      ...lifecyclePaths(),
    },
    components: {
      securitySchemes: {
        brazeBasic: { type: "http", scheme: "basic", description: "PROXY_CREDENTIALS" },
        webhookBasic: { type: "http", scheme: "basic", description: "WEBHOOK_CREDENTIALS" },
        operatorBasic: { type: "http", scheme: "basic", description: "OPERATOR_CREDENTIALS" },
        passkitSignature: { type: "apiKey", in: "header", name: "x-passkit-signature", description: "PASSKIT_WEBHOOK_SECRET" },
      },
      headers: {
        RequestId: { description: "The proxy's own id of this request (also in the logs)", schema: { type: "string", format: "uuid" } },
        Cache: { description: "Where the answer came from", schema: { type: "string", enum: ["HIT", "MISS", "STALE"] } },
        RetryAfter: { description: "Seconds to wait before retrying", schema: { type: "integer", minimum: 1 } },
        IdempotentReplayed: {
          description: "The first answer to this Idempotency-Key, replayed",
          schema: { type: "string", enum: ["true"] },
        },
        WwwAuthenticate: { description: "Basic realm", schema: { type: "string" } },
      },
      schemas: {
        CreatePass: schema(createPassSchema, "input"),
        UpdatePass: schema(updatePassSchema, "input"),
        Pass: schema(passViewSchema, "output"),
        PassCreated: createdAnswer(passViewSchema, passRoute.created),
        EnrolMember: schema(createMemberSchema, "input"),
        UpdateMember: schema(updateMemberSchema, "input"),
        Member: schema(memberViewSchema, "output"),
        MemberCreated: createdAnswer(memberViewSchema, memberRoute.created),
        IssueCoupon: schema(createCouponSchema, "input"),
        UpdateCoupon: schema(updateCouponSchema, "input"),
        RedeemCoupon: schema(couponRoute.redeem.body, "input"),
        Coupon: schema(couponViewSchema, "output"),
        CouponCreated: createdAnswer(couponViewSchema, couponRoute.created),
        DryRun: schema(dryRunAnswerSchema, "output"),
        PassKitWebhook: schema(passKitWebhookSchema, "input"),
        IntakeAnswer: schema(intakeAnswerSchema, "output"),
        DeadLetterPage: schema(deadLetterPageSchema, "output"),
        ReplayRequest: schema(replayRequestSchema, "input"),
        ReplayAnswer: schema(replayAnswerSchema, "output"),
        RelayStatus: schema(relayStatusSchema, "output"),
        Problem: {
          type: "object",
          description: "RFC 9457 problem details",
          required: ["type", "title", "status", "detail", "code", "requestId"],
          properties: {
            type: { type: "string" },
            title: { type: "string" },
            status: { type: "integer" },
            detail: { type: "string" },
            code: { type: "string", enum: Object.keys(PROBLEM_CODES) },
            requestId: { type: "string" },
            errors: {
              type: "array",
              items: {
                type: "object",
                required: ["pointer", "detail"],
                properties: { pointer: { type: "string" }, detail: { type: "string" } },
              },
            },
          },
        },
      },
    },
  };
  return built;
}
