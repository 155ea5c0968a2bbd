/**
 * A bundle on bare workerd, with a generated capnp config and no Miniflare: what the benchmark
 * harness is compared against. Only for Workers without bindings (the ceiling worker).
 */
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { freePort, until } from "../scripts/lib/net.ts";
import { killOnExit, stopChild } from "../scripts/lib/process.ts";
import type { BuiltWorker } from "./harness.ts";

/** The workerd binary Miniflare itself runs, so both sides of the comparison are one runtime. */
export function workerdBinary(): string {
  const fromMiniflare = createRequire(createRequire(import.meta.url).resolve("miniflare"));
  return (fromMiniflare("workerd") as { default: string }).default;
}

export function workerdVersion(): string {
  return execFileSync(workerdBinary(), ["--version"], { encoding: "utf8" }).trim();
}

export interface RawWorkerd {
  url: string;
  pid?: number;
  stop(): Promise<void>;
}

export async function startRawWorkerd(built: BuiltWorker, dir: string): Promise<RawWorkerd> {
  const { compatibilityDate, compatibilityFlags } = unstable_getMiniflareWorkerOptions(built.configPath).workerOptions;
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(built.outdir, built.mainModule), join(dir, built.mainModule));
  const port = await freePort();
  writeFileSync(
    join(dir, "config.capnp"),
    `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "main", worker = .worker)],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);

const worker :Workerd.Worker = (
  modules = [(name = "${built.mainModule}", esModule = embed "${built.mainModule}")],
  compatibilityDate = "${compatibilityDate}",
  compatibilityFlags = ${JSON.stringify(compatibilityFlags ?? [])},
);
`,
  );
  const child = killOnExit(spawn(workerdBinary(), ["serve", join(dir, "config.capnp")], { stdio: ["ignore", "ignore", "pipe"] }));
  let log = "";
  child.stderr.on("data", (chunk) => (log += chunk));
  const url = `http://127.0.0.1:${port}`;
  const stop = () => stopChild(child, { graceMs: 3_000 });
  const ready = await until(async () => child.exitCode !== null || (await fetch(url)).ok, 10_000, 50);
  if (ready && child.exitCode === null) return { url, ...(child.pid === undefined ? {} : { pid: child.pid }), stop };
  await stop();
  throw new Error(`workerd did not serve ${url}:\n${log}`);
}
