import { afterEach, describe, expect, it, vi } from "vitest";
import { call, installPassKit, validCreate } from "./helpers.ts";

afterEach(() => vi.restoreAllMocks());

describe("smoke", () => {
  it("health answers ok", async () => {
    const response = await call("GET", "/health", { auth: null });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });

  it("creates a pass", async () => {
    const passkit = installPassKit();
    const response = await call("POST", "/v1/passes", { body: validCreate });
    const text = await response.text();
    expect(response.status, text).toBe(201);
    expect(passkit.passCount()).toBe(1);
  });
});
