/**
 * `npm run test:load`: the load and fault run (scripts/load-run.ts) for LOAD_SECONDS (default 60)
 * at LOAD_RPS requests per second (default 400), then at most LOAD_DRAIN_SECONDS (default 60) for
 * the relay to drain. Prints a markdown summary, writes .bench/load-results.json, and exits 1 when
 * a check fails (2 when the watchdog stopped it, 130 on a signal). Whatever way it ends, workerd,
 * the fakes, the load thread and the temporary folders are stopped and removed first.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { renderLoadReport, reportJson } from "./load-report.ts";
import { Cleanups, runLoadFaults } from "./load-run.ts";

function setting(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    console.error(`${name} must be a number from ${min} to ${max}, not ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return value;
}

const seconds = setting("LOAD_SECONDS", 60, 5, 3_600);
const rps = setting("LOAD_RPS", 400, 10, 20_000);
const drainSeconds = setting("LOAD_DRAIN_SECONDS", 60, 10, 600);
const seed = setting("LOAD_SEED", 20261126, 0, 2 ** 32 - 1);

const cleanups = new Cleanups();
let exiting = false;
/** Stops everything, then exits with `code`; the first reason to stop wins. */
function stop(code: number, reason: string): void {
  if (exiting) return;
  exiting = true;
  console.error(`[load] ${reason}`);
  // A cleanup that hangs must not keep the run alive.
  setTimeout(() => process.exit(code), 20_000).unref();
  void cleanups.run().finally(() => process.exit(code));
}

/** Build, seeding and start-up take well under this; the load and drain have their own bounds. */
const SETUP_ALLOWANCE_SECONDS = 120;
const limitMs = (seconds + drainSeconds + SETUP_ALLOWANCE_SECONDS) * 1000;
setTimeout(() => stop(2, `still running after ${limitMs / 1000} s: stopping everything.`), limitMs).unref();
// Once workerd runs, Miniflare's own handlers for these stop it and exit at once; what else the run
// keeps on disk is removed on `exit` (scripts/harness.ts, scripts/load-run.ts).
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => stop(130, `${signal}: stopping.`));
for (const event of ["uncaughtException", "unhandledRejection"] as const) process.once(event, (error: unknown) => stop(1, `failed: ${String(error)}`));

try {
  const report = await runLoadFaults({ seconds, rps, drainSeconds, seed, cleanups, log: (line) => console.error(line) });
  console.log(renderLoadReport(report));
  mkdirSync(".bench", { recursive: true });
  writeFileSync(".bench/load-results.json", reportJson(report));
  console.error(`[load] wrote .bench/load-results.json; ${report.passed ? "all checks passed" : "a check FAILED"}`);
  if (!exiting) process.exit(report.passed ? 0 : 1);
} catch (error) {
  stop(1, `failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
}
