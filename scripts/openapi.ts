/**
 * `npm run lint:openapi`: writes the OpenAPI document the Worker serves to .openapi/openapi.json
 * and lints it with Redocly's recommended rules, offline (the document is built from src/ in Node,
 * no Worker needed).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { openApiDocument } from "../src/openapi.ts";

mkdirSync(".openapi", { recursive: true });
writeFileSync(".openapi/openapi.json", `${JSON.stringify(openApiDocument(), null, 2)}\n`);
const lint = spawnSync("npx", ["--no-install", "redocly", "lint", "--format", "stylish", ".openapi/openapi.json"], {
  stdio: "inherit",
  env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
});
process.exit(lint.status ?? 1);
