/**
 * The worker thread behind `runLoad` (bench/autocannon.ts): a warm-up, then the measured run, with
 * latencies kept at autocannon's full (sub-millisecond) resolution rather than its whole-ms
 * histogram, since the proxy's added latency is a figure below 2 ms.
 */
import autocannon from "autocannon";
import { parentPort, workerData } from "node:worker_threads";
import type { LoadPlan, LoadRun } from "./autocannon.ts";

const plan = workerData as LoadPlan;
let n = plan.start ?? 0;

function fill(template: string, index: number): string {
  return template.replaceAll("{n}", String(index).padStart(6, "0"));
}

function phase(durationSeconds: number): Promise<LoadRun> {
  const latencies: number[] = [];
  const run: LoadRun = {
    seconds: 0,
    latencies: new Float64Array(),
    warmupResponses: 0,
    statuses: {},
    tally: {},
    socketErrors: 0,
    timeouts: 0,
    next: n,
    exhausted: false,
  };
  const tallyHeader = plan.tally?.toLowerCase();
  // A `once` plan asks for exactly the n it has left, so no request ever repeats one.
  const remaining = plan.once ? plan.count - n : undefined;
  if (remaining !== undefined && remaining <= 0) return Promise.resolve({ ...run, exhausted: true });
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const instance = autocannon(
      {
        url: plan.url,
        connections: plan.connections,
        duration: durationSeconds,
        ...(remaining === undefined ? {} : { amount: remaining }),
        // How often autocannon checks whether to stop: keeps a stopped run from running on.
        sampleInt: 100,
        timeout: 10,
        requests: [
          {
            method: plan.method,
            setupRequest: (request) => {
              const index = n++ % plan.count;
              const headers: Record<string, string> = { ...plan.headers };
              const authorization = plan.authorizations?.[index];
              if (authorization) headers.Authorization = authorization;
              return {
                ...request,
                path: fill(plan.path, index),
                headers,
                ...(plan.body === undefined ? {} : { body: fill(plan.body, index) }),
              };
            },
            onResponse: (_status, _body, _context, headers) => {
              if (!tallyHeader) return;
              const name = Object.keys(headers ?? {}).find((key) => key.toLowerCase() === tallyHeader);
              const value = name === undefined ? "(none)" : String(headers?.[name]);
              run.tally[value] = (run.tally[value] ?? 0) + 1;
            },
          },
        ],
      },
      (error, summary) => {
        clearTimeout(deadline);
        if (error) return reject(error);
        run.seconds = (performance.now() - started) / 1000;
        run.latencies = Float64Array.from(latencies);
        run.timeouts = summary.timeouts;
        run.socketErrors = summary.errors - summary.timeouts;
        run.next = n;
        run.exhausted = plan.once === true && n >= plan.count;
        resolve(run);
      },
    );
    // With `amount`, autocannon ignores `duration`: hold it to the duration here.
    const deadline = setTimeout(() => instance.stop(), durationSeconds * 1000);
    instance.on("response", (_client, status, _bytes, ms) => {
      latencies.push(ms);
      run.statuses[status] = (run.statuses[status] ?? 0) + 1;
    });
  });
}

const warmup = plan.warmupSeconds > 0 ? await phase(plan.warmupSeconds) : undefined;
const measured = await phase(plan.durationSeconds);
measured.warmupResponses = warmup?.latencies.length ?? 0;
parentPort?.postMessage(measured);
