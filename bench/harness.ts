/**
 * Runs a Worker the way `wrangler deploy` ships it: the `wrangler deploy --dry-run --outdir`
 * bundle, on workerd through Miniflare's programmatic API, with the bindings of its wrangler.toml
 * (read by wrangler itself, so they cannot drift). No `wrangler dev`: its development proxy caps
 * even a hello-world Worker far below workerd. Shared by `npm run bench` and the load runs
 * (test/load/).
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { Log, LogLevel, Miniflare, convertV4MiniflareOptions, type Json } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { throwawayDir } from "../scripts/lib/process.ts";
import { startLocalFakes, type LocalFakes, type LocalFakesOptions } from "../scripts/local-fakes.ts";
import { OFFLINE_ENV, WRANGLER } from "../scripts/wrangler-dev.ts";
import { childProcesses } from "./process-cpu.ts";

/** The proxy's secrets under the harness: benchmark-only values, matched by the fakes. */
export const HARNESS_SECRETS = {
  PROXY_CREDENTIALS: "bench:bench-password",
  // PassKit's webhooks and the operators have roles of their own (contract §9).
  WEBHOOK_CREDENTIALS: "passkit:bench-webhook-password",
  OPERATOR_CREDENTIALS: "operator:bench-operator-password",
  PASSKIT_API_KEY: "bench-passkit-key",
  PASSKIT_API_SECRET: "bench-passkit-secret",
  PASSKIT_REST_KEY: "bench-rest-key",
  PASSKIT_REST_SECRET: "bench-rest-secret",
  BRAZE_API_KEY: "bench-braze-key",
};
/** The Basic `Authorization` header matching HARNESS_SECRETS.PROXY_CREDENTIALS. */
export const HARNESS_AUTHORIZATION = `Basic ${Buffer.from(HARNESS_SECRETS.PROXY_CREDENTIALS).toString("base64")}`;
/** PassKit's Basic `Authorization` header for /v1/lifecycle/passkit (HARNESS_SECRETS.WEBHOOK_CREDENTIALS). */
export const HARNESS_WEBHOOK_AUTHORIZATION = `Basic ${Buffer.from(HARNESS_SECRETS.WEBHOOK_CREDENTIALS).toString("base64")}`;
/** An operator's Basic `Authorization` header (HARNESS_SECRETS.OPERATOR_CREDENTIALS). */
export const HARNESS_OPERATOR_AUTHORIZATION = `Basic ${Buffer.from(HARNESS_SECRETS.OPERATOR_CREDENTIALS).toString("base64")}`;

/** The fakes on loopback, keyed to HARNESS_SECRETS (benchmark and load run alike). */
export function startHarnessFakes(options: Pick<LocalFakesOptions, "catalog" | "random"> = {}): Promise<LocalFakes> {
  return startLocalFakes({
    passkitKey: HARNESS_SECRETS.PASSKIT_API_KEY,
    passkitSecret: HARNESS_SECRETS.PASSKIT_API_SECRET,
    brazeKey: HARNESS_SECRETS.BRAZE_API_KEY,
    platformKey: HARNESS_SECRETS.PASSKIT_REST_KEY,
    platformSecret: HARNESS_SECRETS.PASSKIT_REST_SECRET,
    ...options,
  });
}

export interface BuiltWorker {
  configPath: string;
  outdir: string;
  /** The entry module, as wrangler named it. */
  mainModule: string;
  /** The modules wrangler would upload (source maps and its README left out). */
  modules: string[];
  bytes: number;
  /** Gzip of the modules together, as wrangler computes "Total Upload ... gzip". */
  gzipBytes: number;
}

/** `wrangler deploy --dry-run --outdir`: bundles offline, no account, no upload, no telemetry. */
export async function buildWorker(configPath: string, outdir: string, signal?: AbortSignal): Promise<BuiltWorker> {
  // Absolute: wrangler resolves a relative --outdir against the config file's folder.
  outdir = resolve(outdir);
  configPath = resolve(configPath);
  rmSync(outdir, { recursive: true, force: true });
  const args = [WRANGLER, "deploy", "--dry-run", "--outdir", outdir, "--config", configPath];
  const env = { ...process.env, ...OFFLINE_ENV, CI: "true" };
  const output = await new Promise<string>((done, fail) => {
    // `signal` stops wrangler mid-build (the load run's cleanup, on a signal).
    const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"], ...(signal ? { signal } : {}) });
    let log = "";
    child.stdout.on("data", (chunk) => (log += chunk));
    child.stderr.on("data", (chunk) => (log += chunk));
    child.on("error", fail);
    child.on("exit", (code) =>
      code === 0 ? done(log) : fail(new Error(`wrangler deploy --dry-run -c ${configPath} failed (${code}):\n${log}`)),
    );
  });
  const modules = readdirSync(outdir)
    .filter((name) => !name.endsWith(".map") && name !== "README.md")
    .sort();
  const mainModule = modules.find((name) => name === "index.js") ?? modules.find((name) => /\.m?js$/.test(name));
  if (!mainModule) throw new Error(`wrangler wrote no JavaScript module to ${outdir}:\n${output}`);
  const contents = modules.map((name) => readFileSync(join(outdir, name)));
  const all = Buffer.concat(contents);
  return { configPath, outdir, mainModule, modules, bytes: all.byteLength, gzipBytes: gzipSync(all).byteLength };
}

export interface HarnessWorker {
  /** The Worker's own socket, e.g. `http://127.0.0.1:41234`: what the benchmark drives. */
  url: string;
  /** Miniflare's entry router in front of the Worker (the URL `wrangler dev`'s runtime serves). */
  entryUrl: string;
  /** The workerd process running it, where it can be told (Linux). */
  pid?: number;
  miniflare: Miniflare;
  /** What the Worker wrote to its console (warnings and errors), newest last, at most 200 lines. */
  logs: string[];
  /** The V8 inspector's WebSocket for the Worker's isolate (loopback), when asked for. */
  inspectorTarget?: string;
  dispose(): Promise<void>;
}

export interface StartWorkerOptions {
  built: BuiltWorker;
  /** Vars and secrets over those of wrangler.toml. */
  bindings?: Record<string, string>;
  /** Also hands every warning and error the Worker logs to this (the load run counts them). */
  onLog?: (level: string, message: string) => void;
  /** Opens workerd's V8 inspector on a free loopback port (the load run reads the heap with it). */
  inspector?: boolean;
}

const WORKER_NAME = "worker";

/**
 * Starts the built bundle on workerd via Miniflare, with every binding of its wrangler.toml (KV,
 * queue producers and consumers with their batch settings and dead-letter queue, SQLite Durable
 * Objects, vars) as wrangler's own `unstable_getMiniflareWorkerOptions` maps them for `wrangler
 * dev`. Listens on loopback only.
 *
 * Storage (KV, Durable Objects, queues) lives in a fresh folder on tmpfs where there is one, and is
 * removed on dispose. Miniflare's default is a folder on disk, where every simulated KV write costs
 * the Worker's own thread a file write (about 3 ms here) that production KV does not.
 *
 * `url` is a socket of the Worker itself (Miniflare's `unsafeDirectSockets`). Miniflare's default
 * URL goes through its entry router, a JavaScript Worker that rewrites each request and pipes each
 * response once more, which measured here at a quarter to a half of the Worker's own throughput;
 * production has no such hop, so the benchmark drives the Worker directly and prints the router's
 * figure beside it.
 */
export async function startWorker(options: StartWorkerOptions): Promise<HarnessWorker> {
  const { built } = options;
  // Module rules only apply to modules found by crawling imports; the bundle is given whole.
  const { modulesRules: _rules, ...workerOptions } = unstable_getMiniflareWorkerOptions(built.configPath).workerOptions;
  // wrangler's type for these options is an Omit<> over an index signature, which turns every
  // value into `unknown`; `bindings` holds wrangler.toml's [vars], JSON values.
  const vars = workerOptions.bindings as Record<string, Json> | undefined;
  const logs: string[] = [];
  const keep = (line: string) => {
    logs.push(line);
    if (logs.length > 200) logs.shift();
  };
  const workerdBefore = new Set(childProcesses("workerd"));
  const storage = throwawayDir("harness-", existsSync("/dev/shm") ? "/dev/shm" : tmpdir());
  const miniflare = new Miniflare(
    convertV4MiniflareOptions({
      resourcePersistencePath: storage.path,
      host: "127.0.0.1",
      port: 0,
      ...(options.inspector ? { inspectorPort: 0 } : {}),
      // Placeholder `request.cf`: the default fetches a real one from Cloudflare.
      cf: false,
      // Request logging would cost every response a second pipe through the router.
      logRequests: false,
      log: new Log(LogLevel.WARN),
      // workerd prints Workers' console output only when verbose; the handler below keeps warnings and errors.
      verbose: true,
      handleStructuredLogs: ({ level, message }) => {
        if (level === "log" || level === "info" || level === "debug") return;
        keep(`[${level}] ${message}`);
        options.onLog?.(level, message);
      },
      workers: [
        {
          ...workerOptions,
          name: WORKER_NAME,
          modules: true,
          modulesRoot: built.outdir,
          scriptPath: join(built.outdir, built.mainModule),
          bindings: { ...vars, ...options.bindings },
          unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
        },
      ],
    }),
  );
  try {
    const entryUrl = (await miniflare.ready).origin;
    const url = (await miniflare.unsafeGetDirectURL(WORKER_NAME)).origin;
    const inspectorTarget = options.inspector ? new URL(`/core:user:${WORKER_NAME}`, await miniflare.getInspectorURL()).href : undefined;
    const spawned = childProcesses("workerd").filter((pid) => !workerdBefore.has(pid));
    const pid = spawned.length === 1 ? spawned[0] : undefined;
    let disposed: Promise<void> | undefined;
    return {
      url,
      entryUrl,
      ...(pid === undefined ? {} : { pid }),
      ...(inspectorTarget === undefined ? {} : { inspectorTarget }),
      miniflare,
      logs,
      dispose: () => (disposed ??= dispose(miniflare, storage.remove)),
    };
  } catch (error) {
    await dispose(miniflare, storage.remove);
    throw error;
  }
}

async function dispose(miniflare: Miniflare, removeStorage: () => void): Promise<void> {
  try {
    await miniflare.dispose();
  } finally {
    removeStorage();
  }
}

/** The proxy under the harness, talking to the fakes on loopback with HARNESS_SECRETS. */
export function startProxy(
  built: BuiltWorker,
  fakes: LocalFakes,
  bindings: Record<string, string> = {},
  options: Pick<StartWorkerOptions, "onLog" | "inspector"> = {},
): Promise<HarnessWorker> {
  return startWorker({
    ...options,
    built,
    bindings: {
      ...HARNESS_SECRETS,
      PASSKIT_API_URL: fakes.passkitUrl,
      PASSKIT_REST_URL: fakes.platformUrl,
      BRAZE_REST_ENDPOINT: fakes.brazeUrl,
      ...bindings,
    },
  });
}
