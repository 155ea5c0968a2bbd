import * as z from "zod";
import { createPassSchema, passViewSchema, updatePassSchema } from "./passes/schemas.ts";
import { passKitWebhookSchema } from "./lifecycle/passkit-webhook.ts";

/** OpenAPI 3.1 (JSON Schema 2020-12) built from the same zod schemas the routes validate with. */
const schema = (s: z.ZodType, io: "input" | "output") => {
  const { $schema: _, ...rest } = z.toJSONSchema(s, { io, target: "draft-2020-12", unrepresentable: "any" });
  return rest;
};

const problem = {
  description: "RFC 9457 problem details",
  content: {
    "application/problem+json": {
      schema: {
        type: "object",
        required: ["type", "title", "status", "detail", "code", "requestId"],
        properties: {
          type: { type: "string" },
          title: { type: "string" },
          status: { type: "integer" },
          detail: { type: "string" },
          code: { type: "string" },
          requestId: { type: "string" },
          errors: {
            type: "array",
            items: { type: "object", properties: { pointer: { type: "string" }, detail: { type: "string" } } },
          },
        },
      },
    },
  },
};

const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [String(s), { $ref: "#/components/responses/Problem" }]));

const passParams = [
  { name: "campaignName", in: "path", required: true, schema: { type: "string" }, description: "PassKit campaign, percent-encoded" },
  { name: "userDefinedId", in: "path", required: true, schema: { type: "string" }, description: "Braze external ID, percent-encoded" },
];
const dryRunHeader = { name: "X-Dry-Run", in: "header", schema: { type: "string", enum: ["true"] }, description: "Validate and show the PassKit request without sending it" };
const jsonBody = (ref: string) => ({ required: true, content: { "application/json": { schema: { $ref: ref } }, "text/plain": { schema: { $ref: ref } } } });
const passAnswer = {
  content: {
    "application/json": {
      schema: { type: "object", required: ["id", "url", "campaignName", "userDefinedId"], properties: { id: { type: "string" }, url: { type: "string" }, campaignName: { type: "string" }, userDefinedId: { type: "string" } } },
    },
  },
};

let built: object | undefined;

export function openApiDocument(): object {
  built ??= {
    openapi: "3.1.0",
    info: { title: "Braze ↔ PassKit proxy", version: "1.0.0", description: "Braze webhooks and Connected Content to PassKit v3." },
    security: [{ basic: [] }],
    paths: {
      "/health": { get: { security: [], summary: "Liveness", responses: { "200": { description: "ok" }, ...errors(500) } } },
      "/v1/passes": {
        post: {
          summary: "Create a pass (Braze webhook); idempotent by campaignName and userDefinedId",
          parameters: [dryRunHeader, { name: "Idempotency-Key", in: "header", schema: { type: "string", maxLength: 255 } }],
          requestBody: jsonBody("#/components/schemas/CreatePass"),
          responses: { "201": { description: "Created", ...passAnswer }, "200": { description: "Already existed; updated", ...passAnswer }, ...errors(400, 401, 413, 415, 422, 429, 500, 502, 504) },
        },
      },
      "/v1/passes/{campaignName}/{userDefinedId}": {
        parameters: passParams,
        get: {
          summary: "Connected Content lookup",
          responses: {
            "200": { description: "The pass; X-Cache tells HIT, MISS or STALE", content: { "application/json": { schema: { $ref: "#/components/schemas/Pass" } } } },
            ...errors(400, 401, 404, 429, 500, 502, 504),
          },
        },
        put: {
          summary: "Update a pass (Braze webhook)",
          parameters: [dryRunHeader],
          requestBody: jsonBody("#/components/schemas/UpdatePass"),
          responses: { "200": { description: "Updated", ...passAnswer }, ...errors(400, 401, 404, 413, 415, 422, 429, 500, 502, 504) },
        },
        delete: {
          summary: "Invalidate a pass (permanent in PassKit)",
          parameters: [dryRunHeader],
          responses: { "200": { description: "Invalidated", ...passAnswer }, ...errors(400, 401, 404, 429, 500, 502, 504) },
        },
      },
      "/v1/lifecycle/passkit": Object.fromEntries(
        ["post", "put", "delete"].map((method) => [
          method,
          {
            summary: "PassKit pass-event webhook; signed (x-passkit-signature) when PASSKIT_WEBHOOK_SECRET is set, else Basic auth",
            security: [{ basic: [] }, { passkitSignature: [] }],
            requestBody: { required: true, content: { "application/json": { schema: { $ref: "#/components/schemas/PassKitWebhook" } } } },
            responses: { "202": { description: "Queued for Braze (or kept as a dead letter when it has no user)" }, ...errors(400, 401, 413, 415, 422, 500, 503) },
          },
        ]),
      ),
      "/v1/lifecycle/dead-letters": {
        get: {
          summary: "Undeliverable lifecycle events with their reasons",
          parameters: [
            { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 100, default: 50 } },
            { name: "cursor", in: "query", schema: { type: "string" }, description: "nextCursor of the previous page" },
          ],
          responses: { "200": { description: "{items, total, nextCursor}" }, ...errors(400, 401, 500) },
        },
      },
      "/v1/lifecycle/dead-letters/replay": {
        post: {
          summary: "Send dead letters through the queue again and remove them",
          requestBody: {
            required: true,
            content: { "application/json": { schema: { oneOf: [{ type: "object", required: ["ids"], properties: { ids: { type: "array", items: { type: "integer" }, maxItems: 100 } } }, { type: "object", required: ["all"], properties: { all: { const: true } } }] } } },
          },
          responses: { "200": { description: "{replayed, skipped, notFound?, remaining}" }, ...errors(400, 401, 422, 500) },
        },
      },
    },
    components: {
      securitySchemes: {
        basic: { type: "http", scheme: "basic" },
        passkitSignature: { type: "apiKey", in: "header", name: "x-passkit-signature" },
      },
      schemas: {
        CreatePass: schema(createPassSchema, "input"),
        UpdatePass: schema(updatePassSchema, "input"),
        Pass: schema(passViewSchema, "output"),
        PassKitWebhook: schema(passKitWebhookSchema, "input"),
      },
      responses: { Problem: problem },
    },
  };
  return built;
}
