/**
 * The load and fault run of `npm run test:load` (test/load/run.ts), short: about 12 s of mixed
 * load on the deployable bundle under workerd while PassKit fails per user (5xx, 429, hangs,
 * malformed answers, refused key, rejected content) and Braze answers 429/503 or slowly. The same
 * four checks: every status as CONTRACT §4 prescribes, no lookup at 2 s, every lifecycle event at
 * Braze exactly once, memory bounded (workerd's RSS, and the isolate's heap after a full GC).
 */
import { afterAll, describe, expect, it } from "vitest";
import { Cleanups } from "../../scripts/lib/process.ts";
import { renderLoadReport } from "../load/report.ts";
import { runLoadFaults, type LoadRunReport } from "../load/run.ts";

const cleanups = new Cleanups();
afterAll(() => cleanups.run());

describe("load and fault run (short)", () => {
  it("answers every request as CONTRACT §4 prescribes for its fault, lookups under 2 s, each lifecycle event once, memory bounded", async () => {
    const report: LoadRunReport = await runLoadFaults({
      seconds: 12,
      rps: 250,
      drainSeconds: 30,
      cleanups,
      log: (line) => console.log(line),
    });
    console.log(renderLoadReport(report));

    const { mix, relay, memory } = report;
    // Each check, with what went wrong in its message.
    for (const check of report.checks) expect.soft(check.passed, `${check.name}: ${check.detail}`).toBe(true);
    expect.soft(mix.mismatches, "unexpected answers").toEqual([]);
    expect.soft(mix.latency.lookup.maxMs).toBeLessThan(2_000);
    expect
      .soft({ missing: relay.samples.missing, duplicated: relay.samples.duplicated, unexpected: relay.samples.unexpected })
      .toEqual({ missing: [], duplicated: [], unexpected: [] });
    expect.soft(relay.largestRequest).toBeLessThanOrEqual(75);
    expect.soft(relay.unexplainedDeadLetters).toEqual([]);
    expect.soft(memory.heapAfterMiB).toBeDefined();

    // The faults really happened: the run proved the mapping, not luck.
    const statuses = (route: string, label: string) => mix.rows.find((row) => row.route === route && row.label === label)?.statuses ?? {};
    expect(statuses("lookup", "passkit_500")[502]).toBeGreaterThan(0);
    expect(statuses("lookup", "passkit_429")[429]).toBeGreaterThan(0);
    expect(statuses("lookup", "passkit_hangs")[504]).toBeGreaterThan(0);
    expect(statuses("lookup", "stale_hangs")[200]).toBeGreaterThan(0);
    expect(statuses("create", "healthy (new pass)")[201]).toBeGreaterThan(0);
    expect(relay.expectedEvents).toBeGreaterThan(50);
  }, 110_000);
});
