/**
 * The load and fault run behind `npm run test:load` and its short CI version
 * (test/e2e/load.test.ts): the deployable bundle on workerd under the benchmark's harness, a
 * sustained open-loop mix of Connected Content lookups, creates, updates, deletes and PassKit
 * webhooks (test/load/mix-thread.ts) while the fakes inject faults, then four checks:
 *
 * 1. every answer had the status CONTRACT §4 prescribes for the fault that caused it;
 * 2. no lookup took 2 s or more;
 * 3. Braze ended with every lifecycle event exactly once, in requests of at most 75 objects, and
 *    the only dead letters are the ones the run caused on purpose;
 * 4. memory did not keep growing: workerd's RSS, and the JavaScript heap the Worker's isolate
 *    keeps after a full GC.
 *
 * Loopback only; every phase is bounded; whatever it started is stopped on the way out.
 */
import { readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import {
  buildWorker,
  HARNESS_AUTHORIZATION,
  HARNESS_OPERATOR_AUTHORIZATION,
  startHarnessFakes,
  HARNESS_WEBHOOK_AUTHORIZATION,
  startProxy,
  type HarnessWorker,
} from "../../bench/harness.ts";
import { heapAfterGc } from "../../bench/isolate-heap.ts";
import { cpuTimeMs } from "../../bench/process-cpu.ts";
import { seededRandom } from "../../fakes/faults.ts";
import { cacheKey, type CacheEntry } from "../../src/machinery/cache-key.ts";
import { Cleanups, throwawayDir } from "../../scripts/lib/process.ts";
import { round } from "../../scripts/lib/stats.ts";
import type { LocalFakes } from "../../scripts/local-fakes.ts";
import { OFFLINE_ENV } from "../../scripts/wrangler-dev.ts";
import {
  BRAZE_FAULTS,
  CAMPAIGN,
  LOOKUP_LIMIT_MS,
  PASSKIT_BACKGROUND_LATENCY,
  PASSKIT_TIMEOUT_MS,
  TEMPLATE,
  USER_CLASSES,
  passKitFaults,
  seededUser,
  userClass,
} from "./faults.ts";
import type { ExpectedEvent, MixMessage, MixPlan, MixResult } from "./mix-thread.ts";

export interface LoadRunOptions {
  /** Seconds of load. */
  seconds: number;
  /** Requests started per second. */
  rps: number;
  /** At most this long, after the load, for Braze to receive every expected event. */
  drainSeconds: number;
  seed?: number;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
  /** Where what the run starts is registered for stopping; the CLI's signal handlers use it too. */
  cleanups?: Cleanups;
}

export interface Check {
  name: string;
  passed: boolean;
  detail: string;
}

export interface MemorySample {
  /** Seconds since the load began (negative before it). */
  second: number;
  /** VmRSS: what check 4 judges. */
  rssMiB: number;
  /** RssAnon, the part of it that is heap (the rest is mapped files: binary, libraries). */
  anonMiB: number;
}

export interface MemoryVerdict {
  measured: boolean;
  idleMiB?: number;
  warmMiB?: number;
  midMiB?: number;
  endMiB?: number;
  afterDrainMiB?: number;
  secondHalfGrowth?: number;
  endOverWarm?: number;
  /** workerd's CPU time during the load over the load's wall time (1 = one core busy). */
  cpuCores?: number;
  /** The Worker isolate's JavaScript heap after a full GC, before the load and after the drain. */
  heapBeforeMiB?: number;
  heapAfterMiB?: number;
}

export interface RelayVerdict {
  expectedEvents: number;
  delivered: number;
  missing: number;
  duplicated: number;
  unexpected: number;
  wrongUser: number;
  samples: { missing: string[]; duplicated: string[]; unexpected: string[]; wrongUser: string[] };
  brazeRequests: number;
  brazeStatuses: Record<string, number>;
  largestRequest: number;
  drainSeconds: number;
  drained: boolean;
  deadLetters: number;
  deadLettersExplained: number;
  noUserSent: number;
  noUserKept: number;
  unexplainedDeadLetters: { eventId: string; reason: string }[];
}

export interface LoadRunReport {
  startedAt: string;
  settings: { seconds: number; rps: number; drainSeconds: number; seed: number; passkitTimeoutMs: number; maxInFlight: number };
  machine: { cores: number; node: string; loadAverage: number[] };
  mix: MixResult;
  relay: RelayVerdict;
  memory: MemoryVerdict;
  memorySeries: MemorySample[];
  /** The Worker's warnings and errors, counted by their `event` field. */
  workerLog: Record<string, number>;
  workerLogSamples: string[];
  checks: Check[];
  passed: boolean;
  totalSeconds: number;
}

const SEEDED_HEALTHY = 1_000;
const SEEDED_PER_FAULT = 40;
const MAX_IN_FLIGHT = 512;
const CLIENT_TIMEOUT_MS = 10_000;
/** After Braze has everything: this long without a new Braze request before counting copies
 * (more than the queue's 5 s batch window, so a late duplicate would show). */
export const QUIET_SECONDS = 7;
/**
 * Bounds of check 4. workerd's RSS holds, besides the Worker, one Durable Object per identifier
 * the run touches (each pass's coordinator; under Miniflare each is a SQLite database in this one
 * process, about 0.2 MiB): new identifiers keep appearing all run (random lookups over 1,400
 * seeded users, new passes), so RSS grows with them. Measured on 2 cores: +42% in the second half
 * of a 12 s run, 1.84× warm-up at the end. The bounds leave that room; the Worker's own memory is
 * the isolate heap, bounded tightly below.
 */
const MAX_SECOND_HALF_GROWTH = 0.6;
const MAX_END_OVER_WARM = 2.5;
/** What the isolate may keep after the load: its bounded caches (5,000 lookups, 5,000 keys) are
 * a few MiB; a leak of 1 KiB a request shows above this in a 60 s run. */
const MAX_HEAP_GROWTH_MIB = 16;

export async function runLoadFaults(options: LoadRunOptions): Promise<LoadRunReport> {
  const cleanups = options.cleanups ?? new Cleanups();
  try {
    return await run(options, cleanups);
  } finally {
    await cleanups.run();
  }
}

async function run(options: LoadRunOptions, cleanups: Cleanups): Promise<LoadRunReport> {
  // wrangler and Miniflare in this process stay offline too (no telemetry, no Request.cf download).
  for (const [name, value] of Object.entries(OFFLINE_ENV)) process.env[name] ??= value;
  const seed = options.seed ?? 20261126;
  const started = performance.now();
  const log = (line: string) => options.log?.(`[load ${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}`);
  const startedAt = new Date().toISOString();
  const machine = { cores: availableParallelism(), node: process.version, loadAverage: loadavg().map((n) => round(n, 2)) };

  const fakes = await startHarnessFakes({ random: seededRandom(seed) });
  cleanups.add("the fakes", () => fakes.close());
  const buildDir = throwawayDir("load-build-");
  cleanups.add("the build folder", buildDir.remove);

  log("building the proxy (wrangler deploy --dry-run) and seeding the PassKit fake");
  const seeded: Record<string, number> = {};
  const stopBuild = new AbortController();
  const building = buildWorker(fileURLToPath(new URL("../../wrangler.toml", import.meta.url)), buildDir.path, stopBuild.signal);
  // Stopped mid-build: wrangler must be gone before its folder is removed, or it writes it again.
  cleanups.add("wrangler's build", () => {
    stopBuild.abort();
    return building.catch(() => undefined);
  });
  const [built] = await Promise.all([building, seedPasses(fakes, seeded)]);

  const workerLog: Record<string, number> = {};
  const workerLogSamples: string[] = [];
  const proxy = await startProxy(
    built,
    fakes,
    { PASSKIT_TIMEOUT_MS: String(PASSKIT_TIMEOUT_MS) },
    {
      inspector: true,
      onLog: (level, message) => {
        const event = logEvent(level, message);
        workerLog[event] = (workerLog[event] ?? 0) + 1;
        if (workerLog[event] === 1) workerLogSamples.push(`[${level}] ${message.slice(0, 400)}`);
      },
    },
  );
  cleanups.add("workerd", () => proxy.dispose());
  log(`proxy on ${proxy.url} (workerd pid ${proxy.pid ?? "unknown"}); ${Object.values(seeded).reduce((a, b) => a + b, 0)} passes seeded`);
  await seedStaleEntries(proxy, fakes, seeded);

  for (const fault of passKitFaults()) fakes.passkit.inject(fault);
  fakes.passkit.inject(PASSKIT_BACKGROUND_LATENCY);
  for (const fault of BRAZE_FAULTS) fakes.braze.inject(fault);

  const memory = sampleMemory(proxy.pid);
  cleanups.add("the memory sampler", () => memory.stop());
  // The isolate loads the Worker on its first request: a baseline taken before would miss that.
  for (const path of ["/health", `/v1/passes/${CAMPAIGN}/${seededUser(userClass("healthy"), 0)}`]) {
    await (await fetch(`${proxy.url}${path}`, { headers: { Authorization: HARNESS_AUTHORIZATION } })).arrayBuffer();
  }
  const heapBefore = await measureHeap(proxy, log);
  await sleep(1_500);
  const cpuBefore = proxy.pid === undefined ? undefined : cpuTimeMs(proxy.pid);
  memory.markLoadStart();

  log(
    `load: ${options.seconds} s at ${options.rps} requests/s after a ${rampSeconds(options.seconds)} s ramp (open loop, at most ${MAX_IN_FLIGHT} in flight)`,
  );
  const plan: MixPlan = {
    url: proxy.url,
    authorization: HARNESS_AUTHORIZATION,
    webhookAuthorization: HARNESS_WEBHOOK_AUTHORIZATION,
    seconds: options.seconds,
    rps: options.rps,
    rampSeconds: rampSeconds(options.seconds),
    seed,
    maxInFlight: MAX_IN_FLIGHT,
    seeded,
    clientTimeoutMs: CLIENT_TIMEOUT_MS,
  };
  const mix = await runMix(plan, cleanups, (message) => log(message));
  const cpuAfter = proxy.pid === undefined ? undefined : cpuTimeMs(proxy.pid);
  memory.markLoadEnd();
  log(`load done: ${mix.sent} requests, ${mix.mismatchCount} unexpected answers; waiting for the relay to drain`);

  const relay = await drain(fakes, proxy, mix, options.drainSeconds, log);
  // Before the heap snapshot, which itself takes memory.
  memory.stop();
  const heapAfter = await measureHeap(proxy, log);

  const memoryVerdict = memory.verdict(options.seconds);
  if (cpuBefore !== undefined && cpuAfter !== undefined) memoryVerdict.cpuCores = round((cpuAfter - cpuBefore) / 1000 / mix.seconds, 2);
  if (heapBefore !== undefined && heapAfter !== undefined)
    Object.assign(memoryVerdict, { heapBeforeMiB: heapBefore, heapAfterMiB: heapAfter });
  const checks = judge(mix, relay, memoryVerdict);
  const report: LoadRunReport = {
    startedAt,
    settings: {
      seconds: options.seconds,
      rps: options.rps,
      drainSeconds: options.drainSeconds,
      seed,
      passkitTimeoutMs: PASSKIT_TIMEOUT_MS,
      maxInFlight: MAX_IN_FLIGHT,
    },
    machine,
    mix,
    relay,
    memory: memoryVerdict,
    memorySeries: memory.samples,
    workerLog,
    workerLogSamples,
    checks,
    passed: checks.every((check) => check.passed),
    totalSeconds: round((performance.now() - started) / 1000, 1),
  };
  log(`checks: ${checks.map((c) => `${c.name.split(".")[0]} ${c.passed ? "pass" : "FAIL"}`).join(", ")}`);
  return report;
}

/** The ramp from a tenth of the rate to all of it: a sixth of the run, 1 to 8 s. */
function rampSeconds(seconds: number): number {
  return round(Math.min(8, Math.max(1, seconds / 6)), 1);
}

/** The Worker isolate's heap after a full GC, in MiB; undefined (and said) if it cannot be read. */
async function measureHeap(proxy: HarnessWorker, log: (line: string) => void): Promise<number | undefined> {
  if (!proxy.inspectorTarget) return undefined;
  try {
    const heap = await heapAfterGc(proxy.inspectorTarget);
    return round(heap.usedBytes / 1024 / 1024, 1);
  } catch (error) {
    log(`could not read the isolate's heap: ${String(error)}`);
    return undefined;
  }
}

/** Seeds each class's users straight into the fake (no HTTP), through its strict create path. */
async function seedPasses(fakes: LocalFakes, seeded: Record<string, number>): Promise<void> {
  const users = USER_CLASSES.filter((c) => c.seeded).flatMap((c) => {
    const count = c.name === "healthy" ? SEEDED_HEALTHY : SEEDED_PER_FAULT;
    seeded[c.name] = count;
    return Array.from({ length: count }, (_, n) => seededUser(c, n));
  });
  seeded.missing = SEEDED_PER_FAULT;
  for (const user of users) await fakes.seedPass({ templateName: TEMPLATE, campaignName: CAMPAIGN, userDefinedId: user });
  // The seeding calls are not the run's.
  fakes.passkit.calls.length = 0;
}

/**
 * The stale class: a cache entry two hours old (past PASS_CACHE_TTL_SECONDS, inside the day it
 * may still be served) for users whose PassKit calls hang. Key and value as docs/storage.md
 * documents them.
 */
async function seedStaleEntries(proxy: HarnessWorker, fakes: LocalFakes, seeded: Record<string, number>): Promise<void> {
  const stale = userClass("stale_hangs");
  // Miniflare types this with the Workers types, which the Node tsconfig (scripts/) does not load; only `put` is used.
  const kv = (await proxy.miniflare.getKVNamespace("PASS_CACHE", "worker")) as unknown as KvPut;
  const storedAt = Date.now() - 2 * 3_600_000;
  for (let n = 0; n < (seeded[stale.name] ?? 0); n++) {
    const user = seededUser(stale, n);
    const pass = fakes.passkit.findPass(CAMPAIGN, user);
    if (!pass) throw new Error(`seeded pass of ${user} not found`);
    const view = {
      id: pass.id,
      url: `https://q.passkit.net/~/#/p/${pass.id}`,
      campaignName: CAMPAIGN,
      userDefinedId: user,
      isVoided: false,
      isRedeemed: false,
      isInvalid: false,
      expiryDate: null,
    };
    const entry: CacheEntry = { kind: "record", view, storedAt };
    await kv.put(await cacheKey("pass", [CAMPAIGN, user]), JSON.stringify(entry), { expirationTtl: 86_400 });
  }
}

interface KvPut {
  put(key: string, value: string, options: { expirationTtl: number }): Promise<void>;
}

function runMix(plan: MixPlan, cleanups: Cleanups, log: (line: string) => void): Promise<MixResult> {
  const worker = new Worker(new URL("./mix-thread.ts", import.meta.url), { workerData: plan });
  cleanups.add("the load thread", () => worker.terminate());
  // The thread stops sending at `seconds` and every request has a client timeout.
  const limitMs = (plan.seconds + plan.clientTimeoutMs / 1000 + 20) * 1000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`the load thread did not finish within ${limitMs / 1000} s`));
    }, limitMs);
    worker.on("message", (message: MixMessage) => {
      if (message.type === "progress") {
        log(
          `  ${String(message.second).padStart(3)} s: ${message.sent} sent, ${message.done} answered, ${message.inFlight} in flight, ${message.mismatches} unexpected`,
        );
        return;
      }
      clearTimeout(timer);
      resolve(message.result);
      void worker.terminate();
    });
    worker.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    worker.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the load thread exited (${code}) before reporting`));
    });
  });
}

/** The Braze key of a delivered event, as the load thread keys what it expects. */
function eventKey(event: { name: string; time: string; properties: Record<string, unknown> }): string {
  const name = event.name.replace(/^passkit_pass_/, "");
  const passId = String(event.properties.pass_id);
  // Recurring events from PassKit are told apart by when they happened; the proxy's own updates
  // are counted per pass (their occurrence, the Idempotency-Key, does not reach Braze).
  return event.properties.source === "passkit_webhook" && name !== "created" ? `${name}|${passId}|${event.time}` : `${name}|${passId}`;
}

/** How many copies of an event Braze must have: an optional one may arrive once, or not at all. */
function required(event: ExpectedEvent): number {
  return event.optional ? 0 : event.count;
}

async function drain(
  fakes: LocalFakes,
  proxy: HarnessWorker,
  mix: MixResult,
  drainSeconds: number,
  log: (line: string) => void,
): Promise<RelayVerdict> {
  const expected = new Map(mix.expectedEvents.map((e) => [e.key, e]));
  const counts = () => {
    const found = new Map<string, { count: number; externalIds: Set<string> }>();
    for (const event of fakes.braze.events) {
      const key = eventKey(event);
      const entry = found.get(key) ?? { count: 0, externalIds: new Set<string>() };
      entry.count++;
      entry.externalIds.add(event.external_id);
      found.set(key, entry);
    }
    return found;
  };
  const complete = () => {
    const found = counts();
    return mix.expectedEvents.every((e) => (found.get(e.key)?.count ?? 0) >= required(e));
  };
  const drainStarted = performance.now();
  const deadline = drainStarted + drainSeconds * 1000;
  let nextLog = drainStarted + 5_000;
  let drained = complete();
  while (!drained && performance.now() < deadline) {
    await sleep(500);
    drained = complete();
    if (performance.now() >= nextLog) {
      log(`  relay: ${fakes.braze.events.length} of ${mix.expectedEvents.reduce((sum, e) => sum + required(e), 0)} events at Braze`);
      nextLog += 5_000;
    }
  }
  const drainSecondsTaken = round((performance.now() - drainStarted) / 1000, 1);
  // Then quiet: no Braze request for QUIET_SECONDS, so a late copy would be counted (bounded).
  const quietDeadline = performance.now() + (QUIET_SECONDS + 15) * 1000;
  let lastCount = fakes.braze.requests.length;
  let quietSince = performance.now();
  while (performance.now() - quietSince < QUIET_SECONDS * 1000 && performance.now() < quietDeadline) {
    await sleep(250);
    if (fakes.braze.requests.length !== lastCount) {
      lastCount = fakes.braze.requests.length;
      quietSince = performance.now();
    }
  }
  log(`relay ${drained ? "drained" : "NOT drained"} in ${drainSecondsTaken} s; quiet for ${QUIET_SECONDS} s`);

  const found = counts();
  const samples: RelayVerdict["samples"] = { missing: [], duplicated: [], unexpected: [], wrongUser: [] };
  let missing = 0;
  let duplicated = 0;
  let unexpected = 0;
  let wrongUser = 0;
  const note = (list: string[], line: string) => list.length < 10 && list.push(line);
  for (const e of mix.expectedEvents) {
    const got = found.get(e.key);
    const count = got?.count ?? 0;
    if (count < required(e)) {
      missing += required(e) - count;
      note(samples.missing, `${e.key} (${e.externalId}): ${count} of ${e.count}`);
    }
    if (count > e.count) {
      duplicated += count - e.count;
      note(samples.duplicated, `${e.key} (${e.externalId}): ${count}, expected ${e.count}`);
    }
    if (got && [...got.externalIds].some((id) => id !== e.externalId)) {
      wrongUser++;
      note(samples.wrongUser, `${e.key}: ${[...got.externalIds].join(", ")}, expected ${e.externalId}`);
    }
  }
  for (const [key, got] of found) {
    if (expected.has(key)) continue;
    unexpected += got.count;
    note(samples.unexpected, `${key} (${[...got.externalIds].join(", ")}) ×${got.count}`);
  }

  const brazeStatuses: Record<string, number> = {};
  for (const request of fakes.braze.requests) brazeStatuses[request.status] = (brazeStatuses[request.status] ?? 0) + 1;
  const letters = await deadLetters(proxy);
  const noUser = new Set(mix.noUserEventIds);
  const explained = letters.filter((l) => noUser.has(l.eventId) && l.reason.startsWith("no_user"));
  const kept = new Set(explained.map((l) => l.eventId));
  return {
    expectedEvents: mix.expectedEvents.reduce((sum, e) => sum + required(e), 0),
    delivered: fakes.braze.events.length,
    missing,
    duplicated,
    unexpected,
    wrongUser,
    samples,
    brazeRequests: fakes.braze.requests.length,
    brazeStatuses,
    largestRequest: Math.max(0, ...fakes.braze.requests.map((r) => r.objects)),
    drainSeconds: drainSecondsTaken,
    drained,
    deadLetters: letters.length,
    deadLettersExplained: explained.length,
    noUserSent: noUser.size,
    noUserKept: [...noUser].filter((id) => kept.has(id)).length,
    unexplainedDeadLetters: letters
      .filter((l) => !kept.has(l.eventId))
      .slice(0, 10)
      .map(({ eventId, reason }) => ({ eventId, reason })),
  };
}

/** Every dead letter, through the operators' route. */
async function deadLetters(proxy: HarnessWorker): Promise<{ eventId: string; reason: string }[]> {
  const all: { eventId: string; reason: string }[] = [];
  let cursor: string | null = "0";
  for (let page = 0; cursor !== null && page < 100; page++) {
    const response = await fetch(`${proxy.url}/v1/lifecycle/dead-letters?limit=100&cursor=${cursor}`, {
      headers: { Authorization: HARNESS_OPERATOR_AUTHORIZATION },
    });
    if (!response.ok) throw new Error(`listing dead letters: ${response.status} ${await response.text()}`);
    const body = (await response.json()) as { items: { eventId: string; reason: string }[]; nextCursor: string | null };
    all.push(...body.items.map(({ eventId, reason }) => ({ eventId, reason })));
    cursor = body.nextCursor;
  }
  return all;
}

/** workerd's resident memory every second (Linux /proc), with marks for the load's start and end. */
function sampleMemory(pid: number | undefined) {
  const samples: MemorySample[] = [];
  let loadStart: number | undefined;
  let loadEnd: number | undefined;
  const origin = performance.now();
  const read = () => {
    if (pid === undefined) return;
    const kib = rssKiB(pid);
    if (kib === undefined) return;
    const now = performance.now();
    samples.push({
      second: round((now - (loadStart ?? origin)) / 1000, 1),
      rssMiB: round(kib.rss / 1024, 1),
      anonMiB: round(kib.anon / 1024, 1),
    });
  };
  read();
  const timer = setInterval(read, 1_000);
  return {
    samples,
    markLoadStart() {
      read();
      loadStart = performance.now();
      // Seconds so far become relative to the load's start.
      const shift = (loadStart - origin) / 1000;
      for (const sample of samples) sample.second = round(sample.second - shift, 1);
    },
    markLoadEnd() {
      loadEnd = performance.now();
    },
    stop() {
      clearInterval(timer);
    },
    verdict(seconds: number): MemoryVerdict {
      if (pid === undefined || samples.length === 0) return { measured: false };
      const during = samples.filter((s) => s.second >= 0 && s.second <= seconds + 0.5);
      if (during.length < 5) return { measured: false };
      // Medians of three samples around each point, so one allocation burst does not decide.
      const around = (second: number) =>
        median(
          during
            .slice()
            .sort((a, b) => Math.abs(a.second - second) - Math.abs(b.second - second))
            .slice(0, 3)
            .map((s) => s.rssMiB),
        );
      // Warmed up a third of the way through: workerd's RSS climbs at first whatever the Worker
      // does (V8 and the allocator sizing themselves; a Worker that only fetches one URL climbs
      // the same way and levels off), and the ramp is over.
      const warm = around(seconds / 3);
      const mid = around(seconds / 2);
      const end = median(during.slice(-3).map((s) => s.rssMiB));
      const idle = samples.find((s) => s.second < 0)?.rssMiB;
      const afterLoad = loadEnd === undefined ? undefined : samples.at(-1)?.rssMiB;
      return {
        measured: true,
        ...(idle === undefined ? {} : { idleMiB: idle }),
        warmMiB: warm,
        midMiB: mid,
        endMiB: end,
        ...(afterLoad === undefined ? {} : { afterDrainMiB: afterLoad }),
        secondHalfGrowth: round(end / mid - 1, 3),
        endOverWarm: round(end / warm, 2),
      };
    },
  };
}

/** VmRSS and RssAnon of a process, in KiB (Linux). */
function rssKiB(pid: number): { rss: number; anon: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
    const rss = field("VmRSS");
    return Number.isNaN(rss) ? undefined : { rss, anon: field("RssAnon") };
  } catch {
    return undefined;
  }
}

function judge(mix: MixResult, relay: RelayVerdict, memory: MemoryVerdict): Check[] {
  const lookups = mix.latency.lookup;
  const answered = mix.rows.reduce((sum, row) => sum + row.requests, 0);
  const statusCheck: Check = {
    name: "1. every answer has the status CONTRACT §4 prescribes for its fault",
    passed: mix.mismatchCount === 0 && mix.networkErrors === 0 && answered > 0,
    detail: `${answered} answers, ${mix.mismatchCount} unexpected, ${mix.networkErrors} without an answer; ${mix.shed} of ${mix.due} due requests not sent (in-flight cap)`,
  };
  const latencyCheck: Check = {
    name: `2. no lookup took ${LOOKUP_LIMIT_MS / 1000} s or more`,
    passed: lookups.count > 0 && lookups.atOrOverLimit === 0,
    detail: `${lookups.count} lookups: max ${lookups.maxMs} ms, p99 ${lookups.p99Ms} ms, p50 ${lookups.p50Ms} ms; ${lookups.atOrOverLimit} at or over ${LOOKUP_LIMIT_MS} ms`,
  };
  const relayProblems = [
    relay.drained ? "" : `not drained within the bound (${relay.drainSeconds} s)`,
    relay.missing ? `${relay.missing} lost` : "",
    relay.duplicated ? `${relay.duplicated} duplicated` : "",
    relay.unexpected ? `${relay.unexpected} unexpected` : "",
    relay.wrongUser ? `${relay.wrongUser} with the wrong user` : "",
    relay.largestRequest > 75 ? `a Braze request of ${relay.largestRequest} objects` : "",
    relay.unexplainedDeadLetters.length ? `${relay.deadLetters - relay.deadLettersExplained} unexplained dead letters` : "",
    relay.noUserKept < relay.noUserSent ? `${relay.noUserSent - relay.noUserKept} user-less webhooks not kept as dead letters` : "",
  ].filter(Boolean);
  const relayCheck: Check = {
    name: "3. every lifecycle event reached Braze exactly once",
    passed: relayProblems.length === 0 && relay.expectedEvents > 0,
    detail:
      `${relay.expectedEvents} expected, ${relay.delivered} delivered in ${relay.drainSeconds} s after the load; ` +
      `${relay.brazeRequests} Braze requests (${Object.entries(relay.brazeStatuses)
        .map(([s, n]) => `${n}×${s}`)
        .join(", ")}), largest ${relay.largestRequest} objects; ` +
      `dead letters ${relay.deadLetters} (${relay.deadLettersExplained} user-less webhooks, on purpose)` +
      (relayProblems.length ? `; PROBLEMS: ${relayProblems.join("; ")}` : ""),
  };
  return [statusCheck, latencyCheck, relayCheck, memoryCheck(memory)];
}

function memoryCheck(memory: MemoryVerdict): Check {
  const name = "4. memory stayed bounded (workerd RSS; the isolate's heap after GC)";
  const heapMeasured = memory.heapBeforeMiB !== undefined && memory.heapAfterMiB !== undefined;
  const heapGrowth = heapMeasured ? round(memory.heapAfterMiB! - memory.heapBeforeMiB!, 1) : Number.NaN;
  const heapOk = heapMeasured && heapGrowth <= MAX_HEAP_GROWTH_MIB;
  const heapText = heapMeasured
    ? `isolate heap after GC ${memory.heapBeforeMiB} MiB before the load, ${memory.heapAfterMiB} after the drain (${heapGrowth >= 0 ? "+" : ""}${heapGrowth} MiB, bound +${MAX_HEAP_GROWTH_MIB})`
    : "isolate heap not measured (inspector unavailable)";
  if (!memory.measured) return { name, passed: false, detail: `RSS not measured (workerd's process not found in /proc); ${heapText}` };
  const rssOk = memory.secondHalfGrowth! <= MAX_SECOND_HALF_GROWTH && memory.endOverWarm! <= MAX_END_OVER_WARM;
  const rssText =
    `RSS ${memory.idleMiB ?? "?"} MiB idle, ${memory.warmMiB} after warm-up (a third in), ${memory.midMiB} at half-time, ${memory.endMiB} at the end: ` +
    `second half ${pct(memory.secondHalfGrowth!)} (bound +${MAX_SECOND_HALF_GROWTH * 100}%), end ${memory.endOverWarm}× warm-up (bound ${MAX_END_OVER_WARM}×)`;
  return { name, passed: heapOk && rssOk, detail: `${rssText}; ${heapText}` };
}

/** The `event` of a structured log line, else its first words. */
function logEvent(level: string, message: string): string {
  const start = message.indexOf("{");
  if (start >= 0) {
    try {
      const parsed = JSON.parse(message.slice(start)) as { event?: unknown };
      if (typeof parsed.event === "string") return `${level}: ${parsed.event}`;
    } catch {
      // not one JSON object
    }
  }
  return `${level}: ${message.slice(0, 60)}`;
}

function median(values: number[]): number {
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

export function pct(ratio: number): string {
  return `${ratio >= 0 ? "+" : ""}${(ratio * 100).toFixed(1)}%`;
}
