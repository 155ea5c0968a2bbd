import { describe, expect, it } from "vitest";
import { call } from "./helpers.ts";

interface OpenApi {
  openapi: string;
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, { required?: string[]; properties: Record<string, { anyOf?: unknown[]; pattern?: string }>; additionalProperties?: boolean }> };
}

describe("GET /openapi.json", () => {
  it("is public and documents every route of the contract", async () => {
    const response = await call("GET", "/openapi.json", { auth: null });
    expect(response.status).toBe(200);
    const doc = await response.json<OpenApi>();
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths["/v1/passes/{campaignName}/{userDefinedId}"]!)).toEqual(expect.arrayContaining(["get", "put", "delete"]));
    expect(Object.keys(doc.paths["/v1/passes"]!)).toEqual(["post"]);
    expect(doc.paths["/v1/lifecycle/passkit"]).toBeDefined();
    expect(doc.paths["/v1/lifecycle/dead-letters"]).toBeDefined();
    expect(doc.paths["/v1/lifecycle/dead-letters/replay"]).toBeDefined();
  });

  it("is generated from the same schemas the routes validate with", async () => {
    const doc = await (await call("GET", "/openapi.json", { auth: null })).json<OpenApi>();
    const create = doc.components.schemas.CreatePass!;
    expect(create.required?.sort()).toEqual(["campaignName", "templateName", "userDefinedId"]);
    expect(create.additionalProperties).toBe(false);
    // Liquid's "true"/"false" strings are part of the documented input.
    expect(create.properties.isVoided!.anyOf).toEqual([{ type: "boolean" }, { type: "string", enum: ["true", "false"] }]);
    expect(doc.components.schemas.UpdatePass!.required ?? []).toEqual([]);
  });
});
