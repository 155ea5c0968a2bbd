/**
 * Drives load with autocannon in a worker thread of its own, so the load generator does not share
 * an event loop with the fakes it measures through. Loopback only; every run is bounded by its
 * duration. Scenarios that are compared run interleaved, in slices, so that a change in the
 * machine's background load during the run weighs on both sides of a ratio alike.
 */
import { Worker } from "node:worker_threads";
import { assertLoopback } from "../scripts/lib/net.ts";
import { percentile } from "../scripts/lib/stats.ts";
import { cpuTimeMs } from "./process-cpu.ts";

export interface LoadPlan {
  name: string;
  /** Origin of the server under load; must be a loopback address. */
  url: string;
  connections: number;
  /** Run first and thrown away (JIT, caches, connection setup). */
  warmupSeconds: number;
  durationSeconds: number;
  method: "GET" | "POST" | "PUT";
  /** `{n}` in the path and body becomes the request's number, zero-padded to six digits. */
  path: string;
  body?: string;
  headers?: Record<string, string>;
  /** Requests take n = start, start + 1, ... across all connections, modulo `count`. */
  count: number;
  start?: number;
  /** Every request must be the first for its n: stop when n reaches `count` instead of repeating. */
  once?: boolean;
  /** Per-n `Authorization` header (e.g. one PassKit token per URL). */
  authorizations?: string[];
  /** The statuses that count as success; anything else is an error. */
  expect: number[];
  /** A response header whose values are counted (e.g. X-Cache). */
  tally?: string;
  /** The server process whose CPU time is charged to this plan (Linux /proc). */
  serverPid?: number;
}

/** One run's raw figures, as the load thread reports them. */
export interface LoadRun {
  seconds: number;
  /** Milliseconds, one per response in the measured time. */
  latencies: Float64Array;
  warmupResponses: number;
  statuses: Record<string, number>;
  tally: Record<string, number>;
  socketErrors: number;
  timeouts: number;
  /** The n the next request would have taken. */
  next: number;
  /** A `once` plan ran out of n before its time was up (so it stopped early). */
  exhausted: boolean;
  /** CPU time the server used during the run, warm-up included (with `serverPid`). */
  serverCpuMs?: number;
}

export interface LoadResult {
  name: string;
  connections: number;
  /** Measured time, without the warm-up. */
  seconds: number;
  /** Responses received in the measured time. */
  responses: number;
  /** Responses received during the warm-up. */
  warmupResponses: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  /** Unexpected statuses, socket errors and timeouts in the measured time. */
  errors: number;
  /** The statuses that counted as success. */
  expect: number[];
  statuses: Record<string, number>;
  socketErrors: number;
  timeouts: number;
  tally: Record<string, number>;
  /** Distinct n used, warm-up included. */
  used: number;
  exhausted: boolean;
  /** Requests per second of each slice, in the order they ran. */
  sliceRps: number[];
  /** The server's CPU time per response, warm-up included, in µs (with `serverPid`). */
  serverCpuUsPerRequest?: number;
}

export function runLoad(plan: LoadPlan): Promise<LoadRun> {
  assertLoopback(plan.url, "the load generator");
  const cpuBefore = plan.serverPid === undefined ? undefined : cpuTimeMs(plan.serverPid);
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./autocannon-thread.ts", import.meta.url), { workerData: plan });
    let settled = false;
    worker.once("message", (run: LoadRun) => {
      settled = true;
      const cpuAfter = plan.serverPid === undefined ? undefined : cpuTimeMs(plan.serverPid);
      resolve(cpuBefore === undefined || cpuAfter === undefined ? run : { ...run, serverCpuMs: cpuAfter - cpuBefore });
    });
    worker.once("error", reject);
    worker.once("exit", (code) => {
      if (!settled) reject(new Error(`load thread for ${plan.name} exited with ${code} before reporting`));
    });
  });
}

/**
 * Runs the plans in turn, `rounds` times, each round a slice of its `durationSeconds` (the warm-up
 * only before its first slice); `n` carries on from slice to slice. One result per plan.
 */
export async function runInterleaved(
  plans: LoadPlan[],
  rounds: number,
  onRound?: (plan: LoadPlan, round: number) => void,
): Promise<LoadResult[]> {
  const runs = plans.map((): LoadRun[] => []);
  const next = plans.map((plan) => plan.start ?? 0);
  for (let round = 0; round < rounds; round++) {
    for (const [index, plan] of plans.entries()) {
      if (runs[index]!.at(-1)?.exhausted) continue;
      onRound?.(plan, round);
      const run = await runLoad({
        ...plan,
        start: next[index],
        warmupSeconds: round === 0 ? plan.warmupSeconds : 0,
        durationSeconds: plan.durationSeconds / rounds,
      });
      runs[index]!.push(run);
      next[index] = run.next;
    }
  }
  return plans.map((plan, index) => summarize(plan, runs[index]!));
}

export function summarize(plan: LoadPlan, runs: LoadRun[]): LoadResult {
  const latencies = new Float64Array(runs.reduce((sum, run) => sum + run.latencies.length, 0));
  let offset = 0;
  for (const run of runs) {
    latencies.set(run.latencies, offset);
    offset += run.latencies.length;
  }
  latencies.sort();
  const statuses = merge(runs.map((run) => run.statuses));
  const seconds = runs.reduce((sum, run) => sum + run.seconds, 0);
  const socketErrors = runs.reduce((sum, run) => sum + run.socketErrors, 0);
  const timeouts = runs.reduce((sum, run) => sum + run.timeouts, 0);
  const unexpected = Object.entries(statuses)
    .filter(([status]) => !plan.expect.includes(Number(status)))
    .reduce((sum, [, count]) => sum + count, 0);
  const last = runs.at(-1);
  const cpuMs = runs.every((run) => run.serverCpuMs !== undefined) ? runs.reduce((sum, run) => sum + run.serverCpuMs!, 0) : undefined;
  const allResponses = latencies.length + runs.reduce((sum, run) => sum + run.warmupResponses, 0);
  return {
    name: plan.name,
    connections: plan.connections,
    seconds,
    responses: latencies.length,
    warmupResponses: runs.reduce((sum, run) => sum + run.warmupResponses, 0),
    rps: latencies.length / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    meanMs: latencies.length ? latencies.reduce((sum, ms) => sum + ms, 0) / latencies.length : Number.NaN,
    errors: unexpected + socketErrors + timeouts,
    expect: plan.expect,
    statuses,
    socketErrors,
    timeouts,
    tally: merge(runs.map((run) => run.tally)),
    used: Math.min((last?.next ?? 0) - (plan.start ?? 0), plan.count),
    exhausted: last?.exhausted ?? false,
    sliceRps: runs.map((run) => Math.round(run.latencies.length / run.seconds)),
    ...(cpuMs === undefined || allResponses === 0 ? {} : { serverCpuUsPerRequest: (cpuMs * 1000) / allResponses }),
  };
}

function merge(counts: Record<string, number>[]): Record<string, number> {
  const total: Record<string, number> = {};
  for (const count of counts) for (const [key, value] of Object.entries(count)) total[key] = (total[key] ?? 0) + value;
  return total;
}
