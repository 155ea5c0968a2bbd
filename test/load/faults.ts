/**
 * The load run's faults, each tied to the user it hits: a user id starts with its class's prefix
 * (`f500-…`, `fslow-…`), and the PassKit fake answers every call about that user with that
 * fault. So every response's cause is known, and with it the status CONTRACT §4 prescribes.
 * Shared by the runner (which injects the faults) and the load thread (which expects them).
 */
import type { Fault } from "../../fakes/faults.ts";

export type Route = "lookup" | "create" | "update" | "delete" | "webhook";
export const ROUTES: readonly Route[] = ["lookup", "create", "update", "delete", "webhook"];

/** The proxy's PassKit timeout under the load run (a var), far below the 10 s default. */
export const PASSKIT_TIMEOUT_MS = 2_000;
/** Past PASSKIT_TIMEOUT_MS and the lookups' 1.5 s deadline: PassKit "hangs". */
const HANG_MS = 5_000;
/** Slow, but inside every deadline: the answer must still be a success. */
const SLOW_MS = 800;
export const RETRY_AFTER = "7";
/** Braze gives up on Connected Content after 2 s. */
export const LOOKUP_LIMIT_MS = 2_000;

export interface Expectation {
  status: number;
  /** A header the response must carry with exactly this value. */
  header?: [name: string, value: string];
}

export interface UserClass {
  /** How the class is named in the report, e.g. `passkit_500`. */
  name: string;
  /** Every user id of the class starts with this. */
  prefix: string;
  /** What the PassKit fake does to every call about such a user; none for healthy users. */
  fault?: Omit<Fault, "method" | "pathIncludes" | "bodyIncludes" | "times" | "rate">;
  /** Seeded in the PassKit fake before the run (else the user has no pass). */
  seeded: boolean;
  /** The answer per route; a route missing here is never sent for this class. */
  expect: Partial<Record<Route, Expectation>>;
  /** Why §4 prescribes it, for the report. */
  rule: string;
}

const bad = (status: number, rule: string): Pick<UserClass, "expect" | "rule"> => ({
  expect: { lookup: { status }, create: { status }, update: { status }, delete: { status } },
  rule,
});

export const USER_CLASSES: readonly UserClass[] = [
  {
    name: "healthy",
    prefix: "ok-",
    seeded: true,
    expect: { lookup: { status: 200 }, create: { status: 200 }, update: { status: 200 }, delete: { status: 200 } },
    rule: "PassKit answers normally",
  },
  {
    name: "missing",
    prefix: "none-",
    seeded: false,
    expect: { lookup: { status: 404 }, update: { status: 404 }, delete: { status: 404 } },
    rule: "PassKit has no such pass",
  },
  {
    name: "slow_800ms",
    prefix: "flate-",
    seeded: true,
    fault: { latencyMs: SLOW_MS },
    expect: { lookup: { status: 200 }, create: { status: 200 }, update: { status: 200 }, delete: { status: 200 } },
    rule: "PassKit slow (800 ms), inside every deadline",
  },
  { name: "passkit_500", prefix: "f500-", seeded: true, fault: { status: 500 }, ...bad(502, "PassKit 500") },
  { name: "passkit_503", prefix: "f503-", seeded: true, fault: { status: 503 }, ...bad(502, "PassKit 503") },
  {
    name: "passkit_429",
    prefix: "f429-",
    seeded: true,
    fault: { status: 429, headers: { "Retry-After": RETRY_AFTER } },
    expect: Object.fromEntries(
      (["lookup", "create", "update", "delete"] as const).map((route) => [route, { status: 429, header: ["retry-after", RETRY_AFTER] }]),
    ),
    rule: "PassKit 429 with Retry-After: passed on",
  },
  {
    name: "passkit_hangs",
    prefix: "fslow-",
    seeded: true,
    fault: { latencyMs: HANG_MS },
    ...bad(504, "PassKit hangs (5 s): 504 at PASSKIT_TIMEOUT_MS, lookups at their 1.5 s deadline"),
  },
  { name: "passkit_malformed", prefix: "fbad-", seeded: true, fault: { malformed: true }, ...bad(502, "PassKit answers 200 with HTML") },
  {
    name: "passkit_auth",
    prefix: "fauth-",
    seeded: true,
    fault: { status: 403 },
    ...bad(502, "PassKit refuses the key (403): upstream_auth"),
  },
  {
    name: "passkit_rejects",
    prefix: "frej-",
    seeded: true,
    fault: { status: 422, body: JSON.stringify({ error: "dynamicData.points is not a template field" }) },
    expect: { create: { status: 422 }, update: { status: 422 } },
    rule: "PassKit rejects the content (422)",
  },
  {
    name: "stale_hangs",
    prefix: "fstale-",
    seeded: true,
    fault: { latencyMs: HANG_MS },
    expect: { lookup: { status: 200, header: ["x-cache", "STALE"] } },
    rule: "cached 2 h ago (past the TTL) and PassKit hangs: served stale",
  },
];

export function userClass(name: string): UserClass {
  const found = USER_CLASSES.find((c) => c.name === name);
  if (!found) throw new Error(`no user class ${name}`);
  return found;
}

/** The fakes' faults for every class: one for calls naming the user in the query, one for creates. */
export function passKitFaults(): Fault[] {
  return USER_CLASSES.flatMap((c) =>
    c.fault
      ? [
          { ...c.fault, pathIncludes: `userDefinedId=${c.prefix}`, rate: 1 },
          { ...c.fault, method: "POST", bodyIncludes: `"userDefinedId":"${c.prefix}`, rate: 1 },
        ]
      : [],
  );
}

/** Latency on a share of the healthy calls, added after the per-user faults (which match first). */
export const PASSKIT_BACKGROUND_LATENCY: Fault = { rate: 0.05, latencyMs: 150 };

/**
 * Braze faults: they reach the relay only, never an HTTP answer. The first three requests meet
 * one of each for certain (a short run sends few), then each at a set rate.
 */
export const BRAZE_FAULTS: Fault[] = [
  // The fake adds X-RateLimit-Reset to a 429; the relay must wait for it.
  { status: 429, times: 1 },
  { status: 503, times: 1 },
  { latencyMs: 400, times: 1 },
  { rate: 0.06, status: 429 },
  { rate: 0.06, status: 503 },
  { rate: 0.1, latencyMs: 400 },
];

export const CAMPAIGN = "load-campaign";
export const WEBHOOK_CAMPAIGN = "load-webhooks";
export const TEMPLATE = "load-template";

/** The id of the n-th seeded user of a class. */
export function seededUser(c: UserClass, n: number): string {
  return `${c.prefix}${String(n).padStart(5, "0")}`;
}
