/**
 * `npm run test:load`: the load and fault run (test/load/run.ts) for LOAD_SECONDS (default 60)
 * at LOAD_RPS requests per second (default 400), then at most LOAD_DRAIN_SECONDS (default 60) for
 * the relay to drain. Prints a markdown summary, writes .bench/load-results.json, and exits 1 when
 * a check fails (2 when the watchdog stopped it, 130 on a signal). Whatever way it ends, workerd,
 * the fakes, the load thread and the temporary folders are stopped and removed first.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { Cleanups, stopOnExit } from "../../scripts/lib/process.ts";
import { numberSetting } from "../../scripts/lib/settings.ts";
import { renderLoadReport, reportJson } from "./report.ts";
import { runLoadFaults } from "./run.ts";

const seconds = numberSetting("LOAD_SECONDS", 60, 5, 3_600);
const rps = numberSetting("LOAD_RPS", 400, 10, 20_000);
const drainSeconds = numberSetting("LOAD_DRAIN_SECONDS", 60, 10, 600);
const seed = numberSetting("LOAD_SEED", 20261126, 0, 2 ** 32 - 1);

/** Build, seeding and start-up take well under this; the load and drain have their own bounds. */
const SETUP_ALLOWANCE_SECONDS = 120;
const cleanups = new Cleanups();
const stop = stopOnExit("load", cleanups, (seconds + drainSeconds + SETUP_ALLOWANCE_SECONDS) * 1000);

try {
  const report = await runLoadFaults({ seconds, rps, drainSeconds, seed, cleanups, log: (line) => console.error(line) });
  console.log(renderLoadReport(report));
  mkdirSync(".bench", { recursive: true });
  writeFileSync(".bench/load-results.json", reportJson(report));
  console.error(`[load] wrote .bench/load-results.json; ${report.passed ? "all checks passed" : "a check FAILED"}`);
  process.exit(report.passed ? 0 : 1);
} catch (error) {
  stop(1, `failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
}
