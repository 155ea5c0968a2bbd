import { describe, expect, it } from "vitest";
import { app } from "../src/app.ts";
import { PROBLEM_CODES } from "../src/http/problem-codes.ts";
import { call } from "./helpers.ts";

interface Operation {
  operationId?: string;
  responses: Record<string, { headers?: Record<string, unknown>; content?: Record<string, unknown> }>;
}
interface OpenApi {
  openapi: string;
  servers: unknown[];
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<
      string,
      { required?: string[]; properties: Record<string, { anyOf?: unknown[]; enum?: string[] }>; additionalProperties?: boolean }
    >;
  };
}

const document = async () => (await call("GET", "/openapi.json", { auth: null })).json<OpenApi>();

/** The app's endpoints as `[method, OpenAPI path]`, from Hono's own table. */
function endpoints(): [string, string][] {
  const seen = new Set<string>();
  return app.routes
    .filter((route) => !(route.method === "ALL" && route.path.endsWith("*")))
    .map((route): [string, string] => [route.method.toLowerCase(), route.path.replace(/:([A-Za-z]+)/g, "{$1}")])
    .filter(([method, path]) => !seen.has(`${method} ${path}`) && seen.add(`${method} ${path}`));
}

describe("GET /openapi.json", () => {
  it("is public, OpenAPI 3.1, with a server", async () => {
    const response = await call("GET", "/openapi.json", { auth: null });
    expect(response.status).toBe(200);
    const doc = await response.json<OpenApi>();
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.servers.length).toBeGreaterThan(0);
  });

  it("documents every route the app serves, each with its own operationId", async () => {
    const doc = await document();
    const routes = endpoints();
    expect(routes.length).toBeGreaterThan(15);
    const ids = new Set<string>();
    for (const [method, path] of routes) {
      const operation = doc.paths[path]?.[method];
      expect(operation, `${method} ${path}`).toBeDefined();
      expect(operation!.operationId, `${method} ${path}`).toMatch(/^[a-zA-Z]+$/);
      ids.add(operation!.operationId!);
    }
    expect(ids.size).toBe(routes.length);
  });

  it("documents the response headers: X-Request-Id everywhere, X-Cache on lookups, Retry-After on 429, Idempotent-Replayed on writes", async () => {
    const doc = await document();
    for (const [method, path] of endpoints()) {
      const { responses } = doc.paths[path]![method]!;
      for (const [status, response] of Object.entries(responses))
        expect(response.headers?.["X-Request-Id"], `${method} ${path} ${status}`).toBeDefined();
      if (responses["429"]) expect(responses["429"].headers?.["Retry-After"]).toBeDefined();
    }
    expect(doc.paths["/v1/members/{programId}/{externalId}"]!.get!.responses["200"]!.headers?.["X-Cache"]).toBeDefined();
    expect(
      doc.paths["/v1/coupons/{campaignId}/{externalId}/redeem"]!.post!.responses["200"]!.headers?.["Idempotent-Replayed"],
    ).toBeDefined();
  });

  it("is generated from the same schemas the routes validate with and answer through", async () => {
    const doc = await document();
    const create = doc.components.schemas.CreatePass!;
    expect(create.required?.sort()).toEqual(["campaignName", "templateName", "userDefinedId"]);
    expect(create.additionalProperties).toBe(false);
    // Liquid's "true"/"false" strings are part of the documented input.
    expect(create.properties.isVoided!.anyOf).toEqual([{ type: "boolean" }, { type: "string", enum: ["true", "false"] }]);
    expect(doc.components.schemas.UpdatePass!.required ?? []).toEqual([]);
    expect(doc.components.schemas.EnrolMember!.required?.sort()).toEqual(["externalId", "programId", "tierId"]);
    expect(Object.keys(doc.components.schemas.Coupon!.properties)).toEqual(
      expect.arrayContaining(["redeemed", "appleUrl", "googleUrl", "installed"]),
    );
    expect(Object.keys(doc.components.schemas.RelayStatus!.properties)).toEqual(["delivered", "deadLetters", "expired", "retentionDays"]);
    expect(doc.components.schemas.Problem!.properties.code!.enum).toEqual(Object.keys(PROBLEM_CODES));
  });
});
