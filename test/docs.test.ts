import { describe, expect, it } from "vitest";
import readme from "../README.md?raw";
import contract from "../docs/contract.md?raw";
import { app } from "../src/app.ts";
import { PROBLEM_CODES } from "../src/http/problem-codes.ts";

/** The README's status table: `| status | \`code\` | …` rows. */
function statusRows(): Map<string, number> {
  const rows = new Map<string, number>();
  for (const match of readme.matchAll(/^\|\s*(\d{3})\s*\|\s*`([a-z_]+)`\s*\|/gm)) rows.set(match[2]!, Number(match[1]));
  return rows;
}

describe("the README and the contract document what the proxy does", () => {
  it("names every problem code the proxy answers, with its status, in the README's status table", () => {
    const rows = statusRows();
    for (const [code, status] of Object.entries(PROBLEM_CODES)) expect(rows.get(code), code).toBe(status);
    // …and nothing the proxy never answers.
    for (const code of rows.keys()) expect(Object.keys(PROBLEM_CODES), code).toContain(code);
  });

  it("documents every route the app serves, in the README and in docs/contract.md", () => {
    const routes = new Set(
      app.routes
        .filter((route) => !(route.method === "ALL" && route.path.endsWith("*")))
        .map((route) => route.path.replace(/:([A-Za-z]+)/g, "{$1}")),
    );
    expect(routes.size).toBeGreaterThan(10);
    for (const path of routes) {
      // A route appears literally, or its prefix with the identifiers written as {…}.
      const base = path.replace(/\/\{[^}]+\}.*$/, "");
      expect(readme.includes(path) || readme.includes(base), `README: ${path}`).toBe(true);
      expect(contract.includes(path) || contract.includes(base), `contract: ${path}`).toBe(true);
    }
  });
});
