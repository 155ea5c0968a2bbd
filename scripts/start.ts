/**
 * `npm start`: runs the proxy under `wrangler dev` with local KV, Queues and Durable Objects.
 * Without real secrets in .dev.vars, it first starts the PassKit v3, PassKit current-platform and
 * Braze fakes on loopback and points the proxy at them, with the sample secrets of
 * .dev.vars.example, so all three products (/v1/passes, /v1/members, /v1/coupons) and the
 * lifecycle relay work with no accounts. Real PASSKIT_API_* (passes), PASSKIT_REST_* (members and
 * coupons) or BRAZE_* secrets in .dev.vars switch that side to the real service. Ports: PORT
 * (8787), PASSKIT_FAKE_PORT (8788), BRAZE_FAKE_PORT (8789), PLATFORM_FAKE_PORT (8790).
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
  PLATFORM_FAKE_PORT: numberSetting("PLATFORM_FAKE_PORT", 8790, 1, 65_535),
};
/** What the platform fake knows at start, as if made in PassKit's portal: enrols and issues name these. */
const DEMO_CATALOG = {
  programs: { "demo-program": ["base", "gold"] },
  couponCampaigns: { "demo-campaign": ["ten-off", "twenty-off"] },
};
/** The fakes' ids come from seeded streams: the README's session answers the same ids every start. */
const FAKE_SEED = 20261202;

// Read as wrangler reads them (quotes, inline comments, `export`), so a quoted sample key is the sample.
const readVars = (path: string) => parseEnv(readFileSync(path, "utf8"));
const own = existsSync(".dev.vars") ? readVars(".dev.vars") : undefined;
const sample = readVars(SAMPLE_FILE);
const secrets = own ?? sample;
const realPassKit = own?.PASSKIT_API_KEY !== undefined && own.PASSKIT_API_KEY !== sample.PASSKIT_API_KEY;
const realBraze = own?.BRAZE_API_KEY !== undefined && own.BRAZE_API_KEY !== sample.BRAZE_API_KEY;
// Members and coupons: a key other than the sample's, a long-lived token, or a REST URL of one's own.
const realPlatform =
  (own?.PASSKIT_REST_KEY !== undefined && own.PASSKIT_REST_KEY !== sample.PASSKIT_REST_KEY) ||
  Boolean(own?.PASSKIT_REST_TOKEN) ||
  Boolean(own?.PASSKIT_REST_URL);
// A .dev.vars copied before members and coupons existed has no REST credentials: the fake's sample
// ones are lent (they are public, in .dev.vars.example), rather than members answering config_error.
const lendSampleRestKey = !realPlatform && !secrets.PASSKIT_REST_KEY && !secrets.PASSKIT_REST_SECRET;
// The key and secret the platform fake accepts: those the proxy will sign with when it talks to the fake.
const fakeRest = realPlatform || lendSampleRestKey ? sample : secrets;
// Roles came later than some .dev.vars files: say which routes will answer config_error.
for (const role of ["WEBHOOK_CREDENTIALS", "OPERATOR_CREDENTIALS"] as const) {
  if (own && !own[role])
    console.warn(`[start] .dev.vars has no ${role}: its routes answer config_error until you add it (see ${SAMPLE_FILE}).`);
}

// One line instead of a stack trace, before anything has started.
if (new Set(Object.values(PORTS)).size < Object.keys(PORTS).length)
  refuse(`PORT, PASSKIT_FAKE_PORT, BRAZE_FAKE_PORT and PLATFORM_FAKE_PORT must differ (${JSON.stringify(PORTS)})`);
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
  platformKey: fakeRest.PASSKIT_REST_KEY ?? "",
  platformSecret: fakeRest.PASSKIT_REST_SECRET ?? "",
  catalog: DEMO_CATALOG,
  passkitPort: PORTS.PASSKIT_FAKE_PORT,
  brazePort: PORTS.BRAZE_FAKE_PORT,
  platformPort: PORTS.PLATFORM_FAKE_PORT,
  seed: FAKE_SEED,
});
if (realPassKit) {
  console.log("[start] .dev.vars has PassKit credentials: passes go to the real PassKit API.");
} else {
  args.push("--var", `PASSKIT_API_URL:${fakes.passkitUrl}`);
  console.log(`[start] PassKit fake: ${fakes.passkitUrl} (what it received: GET ${new URL(fakes.passkitUrl).origin}/__fake/state)`);
}
if (realPlatform) {
  console.log("[start] .dev.vars has PassKit REST credentials: members and coupons go to the real PassKit platform (PASSKIT_REGION).");
} else {
  args.push("--var", `PASSKIT_REST_URL:${fakes.platformUrl}`);
  if (lendSampleRestKey) {
    // Sample values of the fake, not secrets: the proxy needs them to sign its JWTs.
    args.push(
      "--var",
      `PASSKIT_REST_KEY:${sample.PASSKIT_REST_KEY ?? ""}`,
      "--var",
      `PASSKIT_REST_SECRET:${sample.PASSKIT_REST_SECRET ?? ""}`,
    );
    console.log(`[start] .dev.vars has no PASSKIT_REST_KEY/SECRET: using the sample ones of ${SAMPLE_FILE} for the platform fake.`);
  }
  const programs = Object.entries(DEMO_CATALOG.programs)
    .map(([id, tiers]) => `${id} (tiers ${tiers.join(", ")})`)
    .join("; ");
  const campaigns = Object.entries(DEMO_CATALOG.couponCampaigns)
    .map(([id, offers]) => `${id} (offers ${offers.join(", ")})`)
    .join("; ");
  console.log(
    `[start] PassKit platform fake (members, coupons): ${fakes.platformUrl} (what it received: GET ${fakes.platformUrl}/__fake/state; a wallet install: POST ${fakes.platformUrl}/__fake/pass-status)`,
  );
  console.log(`[start]   program ${programs}; coupon campaign ${campaigns}`);
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
