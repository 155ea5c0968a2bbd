/**
 * The load run's traffic (test/load/run.ts), in a worker thread of its own so that the fakes'
 * event loop does not colour its latencies. Open loop: requests start at a fixed rate whatever the
 * answers do, as a campaign's sends would, up to a cap of requests in flight. Each request's user
 * says which fault it meets (test/load/faults.ts), so each answer is checked against the status
 * CONTRACT §4 prescribes for it, and each success adds the lifecycle event Braze must end up with.
 */
import { Agent, request as httpRequest } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { parentPort, workerData } from "node:worker_threads";
import { seededRandom } from "../../fakes/faults.ts";
import { passKitWebhook, type PassKitEvent } from "../../fakes/webhooks.ts";
import { assertLoopback } from "../../scripts/lib/net.ts";
import { percentile, round } from "../../scripts/lib/stats.ts";
import {
  CAMPAIGN,
  LOOKUP_LIMIT_MS,
  TEMPLATE,
  USER_CLASSES,
  WEBHOOK_CAMPAIGN,
  seededUser,
  userClass,
  type Expectation,
  type Route,
  type UserClass,
} from "./faults.ts";

export interface MixPlan {
  /** The proxy's origin (loopback). */
  url: string;
  /** Braze's Basic credential (passes); PassKit's webhooks have their own role. */
  authorization: string;
  webhookAuthorization: string;
  seconds: number;
  /** Requests started per second, all routes together, once the ramp is over. */
  rps: number;
  /** Seconds over which the rate climbs from a tenth of `rps` to `rps`. */
  rampSeconds: number;
  seed: number;
  /** Past this many requests in flight, a due request is not sent (and counted as shed). */
  maxInFlight: number;
  /** Seeded users per class (by class name). */
  seeded: Record<string, number>;
  clientTimeoutMs: number;
}

export interface MixRow {
  route: Route;
  /** The user class and case, e.g. `passkit_500` or `healthy (new pass)`. */
  label: string;
  expected: string;
  rule: string;
  requests: number;
  matched: number;
  statuses: Record<string, number>;
  /** X-Cache values (lookups). */
  cache: Record<string, number>;
  p50Ms: number;
  maxMs: number;
}

export interface Mismatch {
  route: Route;
  label: string;
  method: string;
  path: string;
  expected: string;
  status: number;
  headers: Record<string, string>;
  body: string;
  ms: number;
  atSecond: number;
}

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Answers that took LOOKUP_LIMIT_MS or more. */
  atOrOverLimit: number;
}

/** A Braze event the run must end with, and how many distinct occurrences of it. */
export interface ExpectedEvent {
  key: string;
  externalId: string;
  count: number;
  /** Allowed once but not required (a `created` re-sent for a pass that already existed). */
  optional?: boolean;
}

export interface MixResult {
  seconds: number;
  due: number;
  sent: number;
  shed: number;
  networkErrors: number;
  rows: MixRow[];
  mismatchCount: number;
  /** The first mismatches, in the order they happened. */
  mismatches: Mismatch[];
  latency: Record<Route, LatencySummary>;
  /** The slowest lookups, slowest first. */
  slowestLookups: { label: string; path: string; status: number; ms: number }[];
  expectedEvents: ExpectedEvent[];
  /** eventIds the proxy answered as dead-lettered (webhooks without a user). */
  noUserEventIds: string[];
}

export type MixMessage =
  | { type: "progress"; second: number; sent: number; done: number; inFlight: number; mismatches: number }
  | { type: "done"; result: MixResult };

/** Which route each request takes, and for each route which case, by weight. */
const ROUTE_WEIGHTS: [Route, number][] = [
  ["lookup", 84],
  ["create", 5],
  ["update", 4],
  ["delete", 2],
  ["webhook", 5],
];
const FAULT_WEIGHTS: Record<string, number> = {
  slow_800ms: 3,
  passkit_500: 3,
  passkit_503: 2,
  passkit_429: 3,
  passkit_hangs: 3,
  passkit_malformed: 3,
  passkit_auth: 2,
  passkit_rejects: 2,
  stale_hangs: 4,
  missing: 5,
};
const CASE_WEIGHTS: Record<Route, [string, number][]> = {
  lookup: [["healthy (seeded)", 55], ["healthy (created here)", 15], ...faultCases("lookup")],
  create: [
    ["healthy (new pass)", 55],
    ["healthy (exists: updated)", 10],
    ["healthy (Idempotency-Key replay)", 8],
    ["slow_800ms (new pass)", 5],
    ...faultCases("create").filter(([name]) => name !== "slow_800ms"),
  ],
  update: [["healthy (seeded)", 35], ["healthy (created here)", 25], ["healthy (same Idempotency-Key again)", 8], ...faultCases("update")],
  delete: [["healthy (seeded)", 30], ["healthy (created here)", 30], ...faultCases("delete")],
  webhook: [
    ["installed", 35],
    ["uninstalled", 15],
    ["record_updated", 15],
    ["redelivered", 15],
    ["record_created (a proxy-created pass)", 10],
    ["no user", 2],
  ],
};

function faultCases(route: Route): [string, number][] {
  return USER_CLASSES.filter((c) => c.name !== "healthy" && c.expect[route]).map((c) => [c.name, FAULT_WEIGHTS[c.name] ?? 2]);
}

const WEBHOOK_PASSES = 1_000;
const REDELIVERY_POOL = 2_000;
const WEBHOOK_EPOCH = Date.parse("2026-01-01T00:00:00Z");
const SLOWEST_KEPT = 10;
const MISMATCHES_KEPT = 40;

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
  ms: number;
}

interface Outgoing {
  method: "GET" | "POST" | "PUT" | "DELETE";
  path: string;
  body?: string;
  headers?: Record<string, string>;
}

interface Created {
  user: string;
  passId: string;
  status: number;
  idempotencyKey: string;
  body: string;
}

class Mix {
  private readonly plan: MixPlan;
  private readonly random: () => number;
  private readonly agent: Agent;
  private readonly origin: URL;
  private readonly rows = new Map<string, MixRow & { latencies: number[] }>();
  private readonly latencies: Record<Route, number[]> = { lookup: [], create: [], update: [], delete: [], webhook: [] };
  private readonly slowest: MixResult["slowestLookups"] = [];
  private readonly mismatches: Mismatch[] = [];
  private mismatchCount = 0;
  private networkErrors = 0;
  /** Healthy passes the proxy created (201): looked up, updated, deleted, replayed later. */
  private readonly created: Created[] = [];
  private readonly updates: { user: string; idempotencyKey: string; body: string }[] = [];
  private readonly webhooks: string[] = [];
  private readonly expected = new Map<string, { externalId: string; occurrences: Set<string>; optional?: boolean }>();
  private readonly noUser = new Set<string>();
  private sequence = 0;
  private started = 0;

  constructor(plan: MixPlan) {
    this.plan = plan;
    this.random = seededRandom(plan.seed);
    assertLoopback(plan.url, "the load run");
    this.origin = new URL(plan.url);
    this.agent = new Agent({ keepAlive: true, maxSockets: plan.maxInFlight });
  }

  async run(report: (message: MixMessage) => void): Promise<MixResult> {
    let due = 0;
    let sent = 0;
    let done = 0;
    let shed = 0;
    const inFlight = new Set<Promise<void>>();
    this.started = performance.now();
    const endAt = this.started + this.plan.seconds * 1000;
    let nextProgress = 5;
    while (performance.now() < endAt) {
      const elapsed = (performance.now() - this.started) / 1000;
      const target = Math.floor(this.dueBy(elapsed));
      for (; due < target; due++) {
        if (inFlight.size >= this.plan.maxInFlight) {
          shed++;
          continue;
        }
        sent++;
        const flight: Promise<void> = this.one().finally(() => {
          done++;
          inFlight.delete(flight);
        });
        inFlight.add(flight);
      }
      if (elapsed >= nextProgress) {
        report({ type: "progress", second: Math.round(elapsed), sent, done, inFlight: inFlight.size, mismatches: this.mismatchCount });
        nextProgress += 5;
      }
      await sleep(2);
    }
    // Every request has a client timeout, so this ends.
    await Promise.all(inFlight);
    this.agent.destroy();
    return this.result(due, sent, shed);
  }

  /**
   * Requests due after `elapsed` seconds: the rate climbs from a tenth of `rps` to all of it over
   * the ramp (as a campaign's send does), then holds.
   */
  private dueBy(elapsed: number): number {
    const ramp = this.plan.rampSeconds;
    const { rps } = this.plan;
    if (elapsed < ramp) return rps * (0.1 * elapsed + (0.45 * elapsed * elapsed) / ramp);
    return rps * (elapsed - 0.45 * ramp);
  }

  private async one(): Promise<void> {
    const route = pick(ROUTE_WEIGHTS, this.random);
    const label = pick(CASE_WEIGHTS[route], this.random);
    const n = this.sequence++;
    try {
      switch (route) {
        case "lookup":
          return await this.lookup(label);
        case "create":
          return await this.create(label, n);
        case "update":
          return await this.update(label, n);
        case "delete":
          return await this.delete(label);
        case "webhook":
          return await this.webhook(label, n);
      }
    } catch (error) {
      // A bug here must not pass for a healthy run.
      this.mismatchCount++;
      this.mismatches.push({
        route,
        label,
        method: "-",
        path: "-",
        expected: "-",
        status: -1,
        headers: {},
        body: `load thread error: ${String(error)}`,
        ms: 0,
        atSecond: this.second(),
      });
    }
  }

  private async lookup(label: string): Promise<void> {
    const { user, expectation, rule } = this.target("lookup", label);
    const out: Outgoing = { method: "GET", path: passPath(user) };
    const answer = await this.send(out);
    this.check("lookup", label, rule, expectation, out, answer);
    const ms = answer.ms;
    if (this.slowest.length < SLOWEST_KEPT || ms > this.slowest.at(-1)!.ms) {
      this.slowest.push({ label, path: out.path, status: answer.status, ms });
      this.slowest.sort((a, b) => b.ms - a.ms);
      this.slowest.length = Math.min(this.slowest.length, SLOWEST_KEPT);
    }
  }

  private async create(label: string, n: number): Promise<void> {
    if (label === "healthy (Idempotency-Key replay)" && this.created.length > 0) {
      const original = this.created[Math.floor(this.random() * this.created.length)]!;
      const out: Outgoing = {
        method: "POST",
        path: "/v1/passes",
        body: original.body,
        headers: { "Idempotency-Key": original.idempotencyKey },
      };
      const answer = await this.send(out);
      this.check(
        "create",
        label,
        "same key and body: the first answer, replayed",
        { status: original.status, header: ["idempotent-replayed", "true"] },
        out,
        answer,
      );
      return;
    }
    let user: string;
    let expectation: Expectation;
    let rule: string;
    if (label === "healthy (exists: updated)") {
      ({ user, expectation, rule } = this.target("create", "healthy (seeded)"));
    } else if (label.endsWith("(new pass)") || label === "healthy (Idempotency-Key replay)") {
      const c = userClass(label.startsWith("slow_800ms") ? "slow_800ms" : "healthy");
      user = `${c.prefix}c${String(n).padStart(7, "0")}`;
      expectation = { status: 201 };
      rule = "a new pass: 201";
      if (label === "healthy (Idempotency-Key replay)") label = "healthy (new pass)";
    } else {
      const c = userClass(label);
      user = `${c.prefix}c${String(n).padStart(7, "0")}`;
      expectation = c.expect.create!;
      rule = c.rule;
    }
    const idempotencyKey = `load-create-${n}`;
    const body = JSON.stringify({ campaignName: CAMPAIGN, templateName: TEMPLATE, userDefinedId: user, dynamicData: { points: n } });
    const out: Outgoing = { method: "POST", path: "/v1/passes", body, headers: { "Idempotency-Key": idempotencyKey } };
    const answer = await this.send(out);
    const ok = this.check("create", label, rule, expectation, out, answer);
    if (!ok || (answer.status !== 200 && answer.status !== 201)) return;
    const passId = idOf(answer.body);
    if (!passId) return this.mismatch("create", label, "a body with the pass id", out, answer);
    // Created once per pass, whichever create (or PassKit's RECORD_CREATED webhook) reported it. A
    // create answered 200 found the pass existing: it may re-send `created` (same eventId) when
    // PassKit refused it as a duplicate of a recent pass, or not at all when the proxy knew it.
    if (answer.status === 201) this.expect(`created|${passId}`, user, "once");
    else this.allow(`created|${passId}`, user);
    // A create of a pass that already existed updated it (its points differ): one `updated`.
    if (answer.status === 200) this.expect(`updated|${passId}`, user, idempotencyKey);
    if (label === "healthy (new pass)") this.created.push({ user, passId, status: answer.status, idempotencyKey, body });
  }

  private async update(label: string, n: number): Promise<void> {
    if (label === "healthy (same Idempotency-Key again)" && this.updates.length > 0) {
      const original = this.updates[Math.floor(this.random() * this.updates.length)]!;
      const out: Outgoing = {
        method: "PUT",
        path: passPath(original.user),
        body: original.body,
        headers: { "Idempotency-Key": original.idempotencyKey },
      };
      const answer = await this.send(out);
      const ok = this.check("update", label, "a Braze retry (same Idempotency-Key): one event", { status: 200 }, out, answer);
      const passId = ok ? idOf(answer.body) : undefined;
      if (passId) this.expect(`updated|${passId}`, original.user, original.idempotencyKey);
      return;
    }
    const { user, expectation, rule } = this.target(
      "update",
      label === "healthy (same Idempotency-Key again)" ? "healthy (seeded)" : label,
    );
    const idempotencyKey = `load-update-${n}`;
    const body = JSON.stringify({ dynamicData: { points: n }, isRedeemed: "false" });
    const out: Outgoing = { method: "PUT", path: passPath(user), body, headers: { "Idempotency-Key": idempotencyKey } };
    const answer = await this.send(out);
    if (!this.check("update", label, rule, expectation, out, answer) || answer.status !== 200) return;
    const passId = idOf(answer.body);
    if (!passId) return this.mismatch("update", label, "a body with the pass id", out, answer);
    // Updates recur: one event per distinct Idempotency-Key.
    this.expect(`updated|${passId}`, user, idempotencyKey);
    this.updates.push({ user, idempotencyKey, body });
  }

  private async delete(label: string): Promise<void> {
    const { user, expectation, rule } = this.target("delete", label);
    const out: Outgoing = { method: "DELETE", path: passPath(user) };
    const answer = await this.send(out);
    if (!this.check("delete", label, rule, expectation, out, answer) || answer.status !== 200) return;
    const passId = idOf(answer.body);
    if (!passId) return this.mismatch("delete", label, "a body with the pass id", out, answer);
    this.expect(`invalidated|${passId}`, user, "once");
  }

  private async webhook(label: string, n: number): Promise<void> {
    const time = new Date(WEBHOOK_EPOCH + n * 1000).toISOString();
    const k = Math.floor(this.random() * WEBHOOK_PASSES);
    const passId = `whpass${String(k).padStart(6, "0")}`;
    const user = `wh-user-${k}`;
    let body: string;
    let expectedKey: [key: string, externalId: string] | undefined;
    let redelivery = false;
    if (label === "redelivered" && this.webhooks.length > 0) {
      body = this.webhooks[Math.floor(this.random() * this.webhooks.length)]!;
      redelivery = true;
    } else if (label === "record_created (a proxy-created pass)" && this.created.length > 0) {
      const pass = this.created[Math.floor(this.random() * this.created.length)]!;
      body = JSON.stringify(
        passKitWebhook("RECORD_CREATED", { id: pass.passId, campaignName: CAMPAIGN, userDefinedId: pass.user }, { at: time }),
      );
      expectedKey = [`created|${pass.passId}`, pass.user];
    } else if (label === "no user") {
      body = JSON.stringify(
        passKitWebhook("INSTALLED", { id: `nouser${String(n).padStart(8, "0")}`, classId: WEBHOOK_CAMPAIGN }, { at: time }),
      );
    } else {
      const kind = label === "uninstalled" ? "uninstalled" : label === "record_updated" ? "record_updated" : "installed";
      if (kind !== label) label = "installed";
      const [event, name]: [PassKitEvent, string] =
        kind === "installed"
          ? ["INSTALLED", "installed"]
          : kind === "uninstalled"
            ? ["UNINSTALLED", "deleted"]
            : ["RECORD_UPDATED", "updated"];
      const platform = kind === "installed" ? { platform: k % 2 ? "apple" : "google" } : {};
      body = JSON.stringify(
        passKitWebhook(
          event,
          { id: passId, classId: WEBHOOK_CAMPAIGN, externalId: user, protocol: "MEMBERSHIP" },
          { at: time, ...platform },
        ),
      );
      expectedKey = [`${name}|${passId}|${time}`, user];
    }
    const out: Outgoing = {
      method: this.random() < 0.5 ? "PUT" : "POST",
      path: "/v1/lifecycle/passkit",
      body,
      headers: { Authorization: this.plan.webhookAuthorization },
    };
    const answer = await this.send(out);
    const rule = label === "no user" ? "no Braze user: 202, kept as a dead letter" : "validated and queued: 202";
    if (!this.check("webhook", label, rule, { status: 202 }, out, answer)) return;
    if (label === "no user") {
      const parsed = parseJson(answer.body) as { eventId?: unknown; deadLettered?: unknown } | undefined;
      if (typeof parsed?.eventId === "string" && parsed.deadLettered === "no_user") this.noUser.add(parsed.eventId);
      else this.mismatch("webhook", label, "202 naming the dead-lettered eventId", out, answer);
      return;
    }
    if (expectedKey) this.expect(expectedKey[0], expectedKey[1], "once");
    if (!redelivery && label !== "record_created (a proxy-created pass)") {
      if (this.webhooks.length < REDELIVERY_POOL) this.webhooks.push(body);
      else this.webhooks[Math.floor(this.random() * REDELIVERY_POOL)] = body;
    }
  }

  /** A user for this route and case, with the answer it must get. */
  private target(route: Route, label: string): { user: string; expectation: Expectation; rule: string } {
    if (label === "healthy (created here)" && this.created.length > 0) {
      const pass = this.created[Math.floor(this.random() * this.created.length)]!;
      return { user: pass.user, expectation: { status: 200 }, rule: "a pass this run created" };
    }
    const name = label.startsWith("healthy") ? "healthy" : label;
    const c: UserClass = userClass(name);
    const count = this.plan.seeded[c.name] ?? 0;
    const n = Math.floor(this.random() * Math.max(1, count));
    return { user: seededUser(c, n), expectation: c.expect[route]!, rule: c.rule };
  }

  private expect(key: string, externalId: string, occurrence: string): void {
    const entry = this.expected.get(key);
    if (entry) {
      entry.occurrences.add(occurrence);
      entry.optional = false;
    } else this.expected.set(key, { externalId, occurrences: new Set([occurrence]) });
  }

  /** An event Braze may get once, but need not. */
  private allow(key: string, externalId: string): void {
    if (!this.expected.has(key)) this.expected.set(key, { externalId, occurrences: new Set(["once"]), optional: true });
  }

  /** Counts the answer in its row; true when it is what §4 prescribes. */
  private check(route: Route, label: string, rule: string, expectation: Expectation, out: Outgoing, answer: Answer): boolean {
    const expected = describe(expectation);
    const row = this.row(route, label, expected, rule);
    row.requests++;
    row.statuses[answer.status] = (row.statuses[answer.status] ?? 0) + 1;
    const cache = answer.headers["x-cache"];
    if (route === "lookup") row.cache[cache ?? "(none)"] = (row.cache[cache ?? "(none)"] ?? 0) + 1;
    row.latencies.push(answer.ms);
    this.latencies[route].push(answer.ms);
    const matched =
      answer.status === expectation.status && (!expectation.header || answer.headers[expectation.header[0]] === expectation.header[1]);
    if (matched) row.matched++;
    else this.mismatch(route, label, expected, out, answer);
    return matched;
  }

  private mismatch(route: Route, label: string, expected: string, out: Outgoing, answer: Answer): void {
    this.mismatchCount++;
    if (this.mismatches.length >= MISMATCHES_KEPT) return;
    const headers = Object.fromEntries(
      Object.entries(answer.headers).filter(([name]) => ["x-cache", "retry-after", "content-type", "idempotent-replayed"].includes(name)),
    );
    this.mismatches.push({
      route,
      label,
      method: out.method,
      path: out.path,
      expected,
      status: answer.status,
      headers,
      body: answer.body.slice(0, 300),
      ms: round(answer.ms, 1),
      atSecond: this.second(),
    });
  }

  private row(route: Route, label: string, expected: string, rule: string): MixRow & { latencies: number[] } {
    const key = `${route}|${label}|${expected}`;
    let row = this.rows.get(key);
    if (!row) {
      row = { route, label, expected, rule, requests: 0, matched: 0, statuses: {}, cache: {}, p50Ms: 0, maxMs: 0, latencies: [] };
      this.rows.set(key, row);
    }
    return row;
  }

  private send(out: Outgoing): Promise<Answer> {
    const started = performance.now();
    const headers: Record<string, string> = { Authorization: this.plan.authorization, ...out.headers };
    if (out.body !== undefined) headers["Content-Type"] = "application/json";
    return new Promise((resolve) => {
      const failed = (reason: string) => {
        this.networkErrors++;
        resolve({ status: 0, headers: {}, body: reason, ms: performance.now() - started });
      };
      const req = httpRequest(
        {
          host: this.origin.hostname,
          port: this.origin.port,
          method: out.method,
          path: out.path,
          headers,
          agent: this.agent,
          timeout: this.plan.clientTimeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("error", (error) => failed(`response error: ${error.message}`));
          res.on("end", () => {
            const answerHeaders: Record<string, string> = {};
            for (const [name, value] of Object.entries(res.headers))
              if (value !== undefined) answerHeaders[name] = Array.isArray(value) ? value.join(", ") : value;
            resolve({
              status: res.statusCode ?? 0,
              headers: answerHeaders,
              body: Buffer.concat(chunks).toString("utf8"),
              ms: performance.now() - started,
            });
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer within ${this.plan.clientTimeoutMs} ms`)));
      req.on("error", (error) => failed(`request error: ${error.message}`));
      req.end(out.body);
    });
  }

  private second(): number {
    return round((performance.now() - this.started) / 1000, 1);
  }

  private result(due: number, sent: number, shed: number): MixResult {
    const rows = [...this.rows.values()].map(({ latencies, ...row }) => {
      const sorted = Float64Array.from(latencies).sort();
      return { ...row, p50Ms: round(percentile(sorted, 50), 1), maxMs: round(sorted.at(-1) ?? 0, 1) };
    });
    const latency = Object.fromEntries(
      Object.entries(this.latencies).map(([route, values]) => {
        const sorted = Float64Array.from(values).sort();
        return [
          route,
          {
            count: sorted.length,
            p50Ms: round(percentile(sorted, 50), 1),
            p99Ms: round(percentile(sorted, 99), 1),
            maxMs: round(sorted.at(-1) ?? 0, 1),
            atOrOverLimit: values.filter((ms) => ms >= LOOKUP_LIMIT_MS).length,
          },
        ];
      }),
    ) as Record<Route, LatencySummary>;
    return {
      seconds: (performance.now() - this.started) / 1000,
      due,
      sent,
      shed,
      networkErrors: this.networkErrors,
      rows,
      mismatchCount: this.mismatchCount,
      mismatches: this.mismatches,
      latency,
      slowestLookups: this.slowest.map((s) => ({ ...s, ms: round(s.ms, 1) })),
      expectedEvents: [...this.expected].map(([key, { externalId, occurrences, optional }]) => ({
        key,
        externalId,
        count: occurrences.size,
        ...(optional ? { optional } : {}),
      })),
      noUserEventIds: [...this.noUser],
    };
  }
}

function passPath(user: string): string {
  return `/v1/passes/${encodeURIComponent(CAMPAIGN)}/${encodeURIComponent(user)}`;
}

function describe(expectation: Expectation): string {
  return expectation.header ? `${expectation.status} + ${expectation.header[0]}: ${expectation.header[1]}` : String(expectation.status);
}

function idOf(body: string): string | undefined {
  const parsed = parseJson(body) as { id?: unknown } | undefined;
  return typeof parsed?.id === "string" ? parsed.id : undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function pick<T>(weights: readonly [T, number][], random: () => number): T {
  const total = weights.reduce((sum, [, weight]) => sum + weight, 0);
  let roll = random() * total;
  for (const [value, weight] of weights) {
    roll -= weight;
    if (roll < 0) return value;
  }
  return weights.at(-1)![0];
}

if (parentPort) {
  const port = parentPort;
  const result = await new Mix(workerData as MixPlan).run((message) => port.postMessage(message));
  port.postMessage({ type: "done", result } satisfies MixMessage);
}
