/**
 * The load and fault run's report (test/load/run.ts) as markdown: the four checks first, then
 * the tables behind them. `npm run test:load` prints it; the CI test prints it to its log.
 */
import { ROUTES } from "./faults.ts";
import { pct, QUIET_SECONDS, type LoadRunReport } from "./run.ts";

export function renderLoadReport(report: LoadRunReport): string {
  const { mix, relay, memory } = report;
  const lines: string[] = [];
  const n = (value: number) => value.toLocaleString("en-US");
  lines.push(
    `## Load and fault run: ${report.settings.seconds} s at ${report.settings.rps} requests/s`,
    "",
    `${report.startedAt}, ${report.machine.cores} cores, Node ${report.machine.node}, load average ${report.machine.loadAverage.join(" ")} at the start; ` +
      `seed ${report.settings.seed}; PASSKIT_TIMEOUT_MS ${report.settings.passkitTimeoutMs}; ${report.totalSeconds} s in all.`,
    "",
    "| Check | Result | Figures |",
    "| --- | --- | --- |",
    ...report.checks.map((check) => `| ${check.name} | ${check.passed ? "pass" : "**FAIL**"} | ${check.detail} |`),
    "",
    "### Answers per route and fault (expected vs actual)",
    "",
    "| Route | User / fault | Rule (CONTRACT §4) | Requests | Expected | Actual | p50 ms | max ms |",
    "| --- | --- | --- | ---: | --- | --- | ---: | ---: |",
  );
  const rows = mix.rows.slice().sort((a, b) => ROUTES.indexOf(a.route) - ROUTES.indexOf(b.route) || b.requests - a.requests);
  for (const row of rows) {
    const actual = Object.entries(row.statuses)
      .sort(([, a], [, b]) => b - a)
      .map(([status, count]) => `${status} ×${n(count)}`)
      .join(", ");
    const cache =
      row.route === "lookup"
        ? ` (X-Cache ${Object.entries(row.cache)
            .map(([value, count]) => `${value} ${n(count)}`)
            .join(", ")})`
        : "";
    const verdict = row.matched === row.requests ? "" : ` **${n(row.requests - row.matched)} unexpected**`;
    lines.push(
      `| ${row.route} | ${row.label} | ${row.rule} | ${n(row.requests)} | ${row.expected} ×${n(row.requests)} | ${actual}${cache}${verdict} | ${row.p50Ms} | ${row.maxMs} |`,
    );
  }
  lines.push(
    "",
    "### Latency per route (ms, client side, loopback)",
    "",
    "| Route | Requests | p50 | p99 | max |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...ROUTES.map((route) => {
      const l = mix.latency[route];
      // A route the run never sent (a short run) has no percentiles.
      return l.count ? `| ${route} | ${n(l.count)} | ${l.p50Ms} | ${l.p99Ms} | ${l.maxMs} |` : `| ${route} | 0 | – | – | – |`;
    }),
    "",
    `Slowest lookups: ${mix.slowestLookups
      .slice(0, 5)
      .map((s) => `${s.ms} ms (${s.label}, ${s.status})`)
      .join("; ")}.`,
    `Requests: ${n(mix.sent)} sent of ${n(mix.due)} due in ${mix.seconds.toFixed(1)} s (${n(mix.shed)} not sent: in-flight cap ${report.settings.maxInFlight}); ${mix.networkErrors} without an answer.`,
    "",
    "### Lifecycle relay",
    "",
    `- ${n(relay.expectedEvents)} events expected at Braze, ${n(relay.delivered)} delivered; ${relay.missing} lost, ${relay.duplicated} duplicated, ${relay.unexpected} unexpected, ${relay.wrongUser} with the wrong user.`,
    `- Drained ${relay.drained ? "" : "**not** "}within ${relay.drainSeconds} s after the load (bound ${report.settings.drainSeconds} s), then ${QUIET_SECONDS} s without a Braze request.`,
    `- Braze requests: ${n(relay.brazeRequests)} (${Object.entries(relay.brazeStatuses)
      .map(([s, c]) => `${s} ×${n(c)}`)
      .join(", ")}); largest ${relay.largestRequest} objects (limit 75).`,
    `- Dead letters: ${relay.deadLetters}; ${relay.deadLettersExplained} are the user-less webhooks the run sent on purpose (${relay.noUserKept} of ${relay.noUserSent} kept).`,
  );
  for (const [kind, list] of Object.entries(relay.samples)) if (list.length) lines.push(`- ${kind}: ${list.join("; ")}`);
  if (relay.unexplainedDeadLetters.length)
    lines.push(
      `- unexplained dead letters: ${relay.unexplainedDeadLetters.map((l) => `${l.eventId.slice(0, 12)}… ${l.reason}`).join("; ")}`,
    );
  lines.push("", "### workerd memory (RSS)", "");
  if (memory.measured) {
    lines.push(
      `Idle ${memory.idleMiB ?? "?"} MiB; after warm-up ${memory.warmMiB} MiB; half-time ${memory.midMiB} MiB; end of load ${memory.endMiB} MiB; after the drain ${memory.afterDrainMiB ?? "?"} MiB. ` +
        `Second half ${pct(memory.secondHalfGrowth!)}; end ${memory.endOverWarm}× the warm-up sample. ` +
        `The Worker isolate's JavaScript heap after a full GC: ${memory.heapBeforeMiB ?? "?"} MiB before the load, ${memory.heapAfterMiB ?? "?"} MiB after the drain. ` +
        `workerd used ${memory.cpuCores ?? "?"} cores of CPU during the load.`,
      "",
      `Series (MiB, every ${Math.max(1, Math.round(report.memorySeries.length / 24))} s): ${thin(report.memorySeries, 24)
        .map((s) => `${s.second}s ${s.rssMiB}`)
        .join(" · ")}`,
    );
  } else {
    lines.push("Not measured (workerd's process not found).");
  }
  lines.push("", "### Worker warnings and errors", "");
  const logLines = Object.entries(report.workerLog).sort(([, a], [, b]) => b - a);
  lines.push(logLines.length ? logLines.map(([event, count]) => `${event} ×${n(count)}`).join(", ") : "none");
  if (mix.mismatches.length) {
    lines.push("", `### Unexpected answers (first ${mix.mismatches.length} of ${mix.mismatchCount})`, "");
    for (const m of mix.mismatches) {
      lines.push(
        `- ${m.atSecond} s ${m.route} ${m.label}: ${m.method} ${m.path} expected ${m.expected}, got ${m.status} in ${m.ms} ms ${JSON.stringify(m.headers)} ${m.body.replace(/\s+/g, " ").slice(0, 200)}`,
      );
    }
  }
  return lines.join("\n");
}

function thin<T>(items: T[], most: number): T[] {
  if (items.length <= most) return items;
  const step = items.length / most;
  const picked = Array.from({ length: most }, (_, i) => items[Math.floor(i * step)]!);
  return picked.at(-1) === items.at(-1) ? picked : [...picked, items.at(-1)!];
}

/** The report as the CLI writes it to .bench/load-results.json. */
export function reportJson(report: LoadRunReport): string {
  return `${JSON.stringify({ command: "npm run test:load", ...report }, null, 2)}\n`;
}
