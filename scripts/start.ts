/**
 * `npm start`: runs the proxy under `wrangler dev` with local KV, Queues and Durable Objects.
 * Without real secrets in .dev.vars, it first starts the PassKit and Braze fakes on loopback and
 * points the proxy at them, with the sample secrets of .dev.vars.example, so the whole flow works
 * with no accounts. Real PASSKIT_* (or BRAZE_*) secrets in .dev.vars switch that side to the real
 * service. Ports: PORT (8787), PASSKIT_FAKE_PORT (8788), BRAZE_FAKE_PORT (8789).
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { parseEnv } from "node:util";
import { startLocalFakes } from "./local-fakes.ts";
import { freePort } from "./lib/net.ts";
import { throwawayDir } from "./lib/process.ts";
import { numberSetting } from "./lib/settings.ts";
import { OFFLINE_ENV, WRANGLER } from "./wrangler-dev.ts";

const SAMPLE_FILE = ".dev.vars.example";
const PORTS = {
  PORT: numberSetting("PORT", 8787, 1, 65_535),
  PASSKIT_FAKE_PORT: numberSetting("PASSKIT_FAKE_PORT", 8788, 1, 65_535),
  BRAZE_FAKE_PORT: numberSetting("BRAZE_FAKE_PORT", 8789, 1, 65_535),
};

// Read as wrangler reads them (quotes, inline comments, `export`), so a quoted sample key is the sample.
const readVars = (path: string) => parseEnv(readFileSync(path, "utf8"));
const own = existsSync(".dev.vars") ? readVars(".dev.vars") : undefined;
const sample = readVars(SAMPLE_FILE);
const secrets = own ?? sample;
const realPassKit = own?.PASSKIT_API_KEY !== undefined && own.PASSKIT_API_KEY !== sample.PASSKIT_API_KEY;
const realBraze = own?.BRAZE_API_KEY !== undefined && own.BRAZE_API_KEY !== sample.BRAZE_API_KEY;

// One line instead of a stack trace, before anything has started.
if (new Set(Object.values(PORTS)).size < 3) refuse(`PORT, PASSKIT_FAKE_PORT and BRAZE_FAKE_PORT must differ (${JSON.stringify(PORTS)})`);
for (const [name, port] of Object.entries(PORTS)) {
  await freePort(port).catch((error: NodeJS.ErrnoException) => {
    const why = error.code === "EADDRINUSE" ? "is in use" : `cannot be used (${error.code ?? error.message})`;
    refuse(`port ${port} ${why}; choose another: ${name}=<port> npm start`);
  });
}

// The fakes start empty: so does the proxy's KV, queue and ledger, or a pass created before a
// restart would be a cache HIT that PassKit no longer knows.
const state = throwawayDir("proxy-dev-state-");
const args = ["dev", "--ip", "127.0.0.1", "--port", String(PORTS.PORT), "--persist-to", state.path];
if (!own) args.push("--env-file", SAMPLE_FILE);

const fakes = await startLocalFakes({
  passkitKey: secrets.PASSKIT_API_KEY ?? "",
  passkitSecret: secrets.PASSKIT_API_SECRET ?? "",
  brazeKey: secrets.BRAZE_API_KEY ?? "",
  passkitPort: PORTS.PASSKIT_FAKE_PORT,
  brazePort: PORTS.BRAZE_FAKE_PORT,
});
if (realPassKit) {
  console.log("[start] .dev.vars has PassKit credentials: passes go to the real PassKit API.");
} else {
  args.push("--var", `PASSKIT_API_URL:${fakes.passkitUrl}`);
  console.log(`[start] PassKit fake: ${fakes.passkitUrl} (what it received: GET ${new URL(fakes.passkitUrl).origin}/__fake/state)`);
}
if (realBraze) {
  console.log("[start] .dev.vars has a Braze key: lifecycle events go to BRAZE_REST_ENDPOINT.");
} else {
  args.push("--var", `BRAZE_REST_ENDPOINT:${fakes.brazeUrl}`);
  console.log(`[start] Braze fake: ${fakes.brazeUrl} (events it accepted: GET ${fakes.brazeUrl}/__fake/state)`);
}
console.log("[start] local KV, queue and ledger start empty, like the fakes, and are deleted on exit.");

const wrangler = spawn(process.execPath, [WRANGLER, ...args], { stdio: "inherit", env: { ...process.env, ...OFFLINE_ENV } });
const stop = () => wrangler.kill("SIGINT");
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
wrangler.on("exit", async (code) => {
  await fakes.close();
  // process.exit runs the `exit` handler that removes the state folder.
  process.exit(code ?? 0);
});

function refuse(line: string): never {
  console.error(`[start] ${line}`);
  process.exit(1);
}
