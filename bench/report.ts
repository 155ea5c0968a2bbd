/**
 * What `npm run bench` writes: the machine it ran on, and the markdown table of its figures with
 * the goals of issue 4 beside them.
 */
import { readFileSync } from "node:fs";
import { arch, cpus, loadavg, platform, release, totalmem } from "node:os";
import { round } from "../scripts/lib/stats.ts";
import type { LoadResult } from "./autocannon.ts";
import { workerdVersion } from "./raw-workerd.ts";

export interface Figure {
  figure: string;
  value: string | number;
  /** Printed next to the value; figures without one are context. */
  goal?: string;
  met?: boolean;
}

export interface MachineFacts {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  workerd: string;
  miniflare: string;
  wrangler: string;
  autocannon: string;
  /** 1, 5 and 15 minutes: how busy the machine was besides the benchmark. */
  loadAverage: number[];
}

export interface BenchResults {
  command: string;
  startedAt: string;
  totalSeconds: number;
  machine: MachineFacts & { loadAverageAtEnd: number[] };
  settings: { warmupSeconds: number; measureSeconds: number } & Record<string, number>;
  scenarios: Record<string, LoadResult>;
  notes: Record<string, string>;
  ratios: Record<string, number>;
  economy: Record<string, unknown>;
  bundle: Record<string, { modules: string[]; bytes: number; gzipBytes: number }>;
  goals: Figure[];
  info: Figure[];
  /** The last warnings and errors the proxy logged. */
  workerWarnings: string[];
}

export function machineFacts(): MachineFacts {
  return {
    cpu: cpus()[0]?.model.trim() ?? "unknown",
    cores: cpus().length,
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    os: `${platform()} ${release()} ${arch()}`,
    node: process.version,
    workerd: workerdVersion(),
    miniflare: packageVersion("miniflare"),
    wrangler: packageVersion("wrangler"),
    autocannon: packageVersion("autocannon"),
    loadAverage: loadavg().map((load) => round(load, 2)),
  };
}

function packageVersion(name: string): string {
  return (JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), "utf8")) as { version: string })
    .version;
}

export function renderReport(results: BenchResults): string {
  const { machine, settings } = results;
  const lines = [
    `## npm run bench: ${results.startedAt}`,
    "",
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os}; Node ${machine.node}; ${machine.workerd} ` +
      `(miniflare ${machine.miniflare}, wrangler ${machine.wrangler}); autocannon ${machine.autocannon}; ` +
      `load average ${machine.loadAverage.join(" ")} at start, ${machine.loadAverageAtEnd.join(" ")} at end.`,
    "",
    `Each scenario: ${settings.warmupSeconds} s warm-up, then ${settings.measureSeconds} s measured, on loopback; latencies at full resolution; ` +
      "errors are unexpected statuses, socket errors and timeouts. workerd CPU is the server process's CPU time per response, warm-up " +
      "included; for the proxy it includes Miniflare's KV, queue and Durable Object simulators, which run in the same workerd.",
    "",
    "| scenario | connections | requests/s | p50 ms | p99 ms | errors | workerd CPU µs/request | notes |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const [name, result] of Object.entries(results.scenarios)) {
    const errors = result.errors > 0 ? `${result.errors} (${errorText(result)})` : "0";
    const cpu = result.serverCpuUsPerRequest === undefined ? "" : String(Math.round(result.serverCpuUsPerRequest));
    lines.push(
      `| ${name} | ${result.connections} | ${Math.round(result.rps).toLocaleString("en")} | ${round(result.p50Ms, 2)} | ${round(result.p99Ms, 2)} | ${errors} | ${cpu} | ${results.notes[name] ?? ""} |`,
    );
  }
  lines.push("", "| figure | value | goal | |", "| --- | ---: | --- | --- |");
  for (const figure of [...results.goals, ...results.info]) {
    const verdict = figure.met === undefined ? "" : figure.met ? "met" : "**not met**";
    lines.push(`| ${figure.figure} | ${figure.value} | ${figure.goal ?? ""} | ${verdict} |`);
  }
  lines.push("", `Total ${results.totalSeconds} s; figures in .bench/results.json.`);
  const lastWarning = results.workerWarnings.at(-1);
  if (lastWarning)
    lines.push(
      "",
      `The proxy logged warnings or errors (the last ${results.workerWarnings.length} are in results.json); the last: ${lastWarning}`,
    );
  return lines.join("\n");
}

function errorText(result: LoadResult): string {
  const parts = Object.entries(result.statuses)
    .filter(([status]) => !result.expect.includes(Number(status)))
    .map(([status, count]) => `${count}× ${status}`);
  if (result.socketErrors) parts.push(`${result.socketErrors} socket`);
  if (result.timeouts) parts.push(`${result.timeouts} timeouts`);
  return parts.join(", ");
}
