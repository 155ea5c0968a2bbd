/**
 * `npm start`: runs the proxy under `wrangler dev` with local KV, Queues and Durable Objects.
 * Without real secrets in .dev.vars, it first starts the PassKit and Braze fakes on loopback and
 * points the proxy at them, with the sample secrets of .dev.vars.example, so the whole flow works
 * with no accounts. Real PASSKIT_* (or BRAZE_*) secrets in .dev.vars switch that side to the real
 * service.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readDotenv } from "./dotenv.ts";
import { startLocalFakes } from "./local-fakes.ts";
import { OFFLINE_ENV, WRANGLER } from "./wrangler-dev.ts";

const PROXY_PORT = 8787;
const PASSKIT_PORT = 8788;
const BRAZE_PORT = 8789;
const SAMPLE_FILE = ".dev.vars.example";

const own = existsSync(".dev.vars") ? readDotenv(".dev.vars") : undefined;
const sample = readDotenv(SAMPLE_FILE);
const secrets = own ?? sample;
const realPassKit = own?.PASSKIT_API_KEY !== undefined && own.PASSKIT_API_KEY !== sample.PASSKIT_API_KEY;
const realBraze = own?.BRAZE_API_KEY !== undefined && own.BRAZE_API_KEY !== sample.BRAZE_API_KEY;

const args = ["dev", "--ip", "127.0.0.1", "--port", String(PROXY_PORT)];
if (!own) args.push("--env-file", SAMPLE_FILE);

const fakes = await startLocalFakes({
  passkitKey: secrets.PASSKIT_API_KEY ?? "",
  passkitSecret: secrets.PASSKIT_API_SECRET ?? "",
  brazeKey: secrets.BRAZE_API_KEY ?? "",
  passkitPort: PASSKIT_PORT,
  brazePort: BRAZE_PORT,
});
if (realPassKit) {
  console.log("[start] .dev.vars has PassKit credentials: passes go to the real PassKit API.");
} else {
  args.push("--var", `PASSKIT_API_URL:${fakes.passkitUrl}`);
  console.log(`[start] PassKit fake: ${fakes.passkitUrl} (what it received: GET http://127.0.0.1:${PASSKIT_PORT}/__fake/state)`);
}
if (realBraze) {
  console.log("[start] .dev.vars has a Braze key: lifecycle events go to BRAZE_REST_ENDPOINT.");
} else {
  args.push("--var", `BRAZE_REST_ENDPOINT:${fakes.brazeUrl}`);
  console.log(`[start] Braze fake: ${fakes.brazeUrl} (events it accepted: GET ${fakes.brazeUrl}/__fake/state)`);
}

const wrangler = spawn(process.execPath, [WRANGLER, ...args], { stdio: "inherit", env: { ...process.env, ...OFFLINE_ENV } });
const stop = () => wrangler.kill("SIGINT");
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
wrangler.on("exit", async (code) => {
  await fakes.close();
  process.exit(code ?? 0);
});
