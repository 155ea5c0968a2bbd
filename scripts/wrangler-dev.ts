import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createServer } from "node:net";

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
  const dir = mkdtempSync(join(tmpdir(), "proxy-e2e-"));
  const envFile = join(dir, ".env");
  writeFileSync(envFile, Object.entries(options.vars).map(([key, value]) => `${key}=${JSON.stringify(value)}`).join("\n"));
  const port = await freePort();
  // Wrangler on this very Node (22 under npm scripts), whatever `node` PATH would find first.
  const child = spawn(
    process.execPath,
    [WRANGLER, "dev", "--ip", "127.0.0.1", "--port", String(port), "--env-file", envFile, "--persist-to", join(dir, "state"), "--show-interactive-dev-session=false"],
    { detached: true, env: { ...process.env, ...OFFLINE_ENV, CI: "true" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  child.stdout?.on("data", (chunk) => (log += chunk));
  child.stderr?.on("data", (chunk) => (log += chunk));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await kill(child);
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      if ((await fetch(`${url}/health`)).ok) return { url, output: () => log, stop };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await stop();
  throw new Error(`wrangler dev did not become ready:\n${log}`);
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  process.kill(-child.pid, "SIGTERM");
  const timer = setTimeout(() => child.pid && process.kill(-child.pid, "SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

/** A port free on loopback right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
