import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, until } from "./lib/net.ts";
import { killOnExit, stopChild, throwawayDir } from "./lib/process.ts";

export const WRANGLER = fileURLToPath(new URL("../node_modules/wrangler/bin/wrangler.js", import.meta.url));

/**
 * Keeps wrangler on loopback: no telemetry, no version check (the banner asks the npm registry),
 * and no download of `Request.cf` data from workers.cloudflare.com.
 */
export const OFFLINE_ENV = { WRANGLER_SEND_METRICS: "false", WRANGLER_HIDE_BANNER: "true", CLOUDFLARE_CF_FETCH_ENABLED: "false" };

/** The proxy running under `wrangler dev` on loopback, with its own throwaway local storage. */
export interface WranglerDev {
  url: string;
  output: () => string;
  stop(): Promise<void>;
}

export interface WranglerDevOptions {
  /** Secrets and vars, passed as an env file (never on the command line). */
  vars: Record<string, string>;
  readyTimeoutMs?: number;
}

export async function startWranglerDev(options: WranglerDevOptions): Promise<WranglerDev> {
  const dir = throwawayDir("proxy-e2e-");
  const envFile = join(dir.path, ".env");
  writeFileSync(
    envFile,
    Object.entries(options.vars)
      .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
      .join("\n"),
  );
  const port = await freePort();
  // Wrangler on this very Node (22 under npm scripts), whatever `node` PATH would find first;
  // detached, so that stopping its group stops the workerd it starts too.
  const child = killOnExit(
    spawn(
      process.execPath,
      [
        WRANGLER,
        "dev",
        "--ip",
        "127.0.0.1",
        "--port",
        String(port),
        "--env-file",
        envFile,
        "--persist-to",
        join(dir.path, "state"),
        "--show-interactive-dev-session=false",
      ],
      { detached: true, env: { ...process.env, ...OFFLINE_ENV, CI: "true" }, stdio: ["ignore", "pipe", "pipe"] },
    ),
    { group: true },
  );
  let log = "";
  child.stdout?.on("data", (chunk) => (log += chunk));
  child.stderr?.on("data", (chunk) => (log += chunk));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopChild(child, { group: true });
    dir.remove();
  };
  const ready = await until(
    async () => child.exitCode !== null || (await fetch(`${url}/health`)).ok,
    options.readyTimeoutMs ?? 60_000,
    250,
  );
  if (ready && child.exitCode === null) return { url, output: () => log, stop };
  await stop();
  throw new Error(`wrangler dev did not become ready:\n${log}`);
}
