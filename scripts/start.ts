/**
 * `npm start`: runs the proxy under `wrangler dev` with local KV. Without real PassKit secrets in
 * .dev.vars, it first starts the PassKit fake on loopback and points the proxy at it, using the
 * sample secrets of .dev.vars.example, so the whole flow works with no accounts.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { FakePassKit } from "../fakes/passkit.ts";
import { readDotenv } from "./dotenv.ts";
import { serveFake } from "./serve.ts";

const PROXY_PORT = 8787;
const PASSKIT_PORT = 8788;
const SAMPLE_FILE = ".dev.vars.example";

const own = existsSync(".dev.vars") ? readDotenv(".dev.vars") : undefined;
const sample = readDotenv(SAMPLE_FILE);
const realPassKit = own?.PASSKIT_API_KEY !== undefined && own.PASSKIT_API_KEY !== sample.PASSKIT_API_KEY;

const args = ["dev", "--ip", "127.0.0.1", "--port", String(PROXY_PORT)];
if (!own) args.push("--env-file", SAMPLE_FILE);

if (realPassKit) {
  console.log("[start] .dev.vars has PassKit credentials: the proxy talks to the real PassKit API.");
} else {
  const secrets = own ?? sample;
  const passkit = new FakePassKit({ apiKey: secrets.PASSKIT_API_KEY ?? "", apiSecret: secrets.PASSKIT_API_SECRET ?? "" });
  await serveFake(
    {
      handle: (request) => passkit.handle(request),
      inject: (fault) => passkit.inject(fault),
      reset: () => passkit.reset(),
      state: () => ({ passes: passkit.passCount(), calls: passkit.calls }),
    },
    PASSKIT_PORT,
  );
  args.push("--var", `PASSKIT_API_URL:http://127.0.0.1:${PASSKIT_PORT}/v3`);
  console.log(`[start] PassKit fake on http://127.0.0.1:${PASSKIT_PORT}/v3 (calls: GET /__fake/state)`);
}

const wrangler = spawn("wrangler", args, { stdio: "inherit" });
const stop = () => wrangler.kill("SIGINT");
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
wrangler.on("exit", (code) => process.exit(code ?? 0));
