import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { FakeBraze } from "../fakes/braze.ts";
import { relayStatusSchema, type RelayStatus } from "../src/lifecycle/answers.ts";
import { ledger, type DeadLetterInput } from "../src/lifecycle/ledger.ts";
import { BASIC, call, consume, installFakes, lifecycleMessage, OPERATOR_BASIC, resetAll, WEBHOOK_BASIC } from "./helpers.ts";

/**
 * Dead-letter retention (DEAD_LETTER_RETENTION_DAYS, contract §9) and GET /v1/lifecycle/status
 * (contract §2): what expires is counted and logged, and operators see the relay's state.
 */

const STATUS = "/v1/lifecycle/status";
const DAY = 86_400_000;
const HOUR = 3_600_000;

let braze: FakeBraze;
let logs: MockInstance[];
beforeEach(() => {
  braze = installFakes().braze;
  logs = (["log", "warn", "error"] as const).map((method) => vi.spyOn(console, method).mockImplementation(() => undefined));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await resetAll();
});

async function status(): Promise<RelayStatus> {
  const response = await call("GET", STATUS, { auth: OPERATOR_BASIC });
  expect(response.status).toBe(200);
  // The answer is exactly what the schema (and so the OpenAPI document) says.
  return relayStatusSchema.parse(await response.json());
}

async function letter(n: number, reason = "retries_exhausted: braze_unavailable: Braze answered 503"): Promise<DeadLetterInput> {
  const message = await lifecycleMessage(n);
  return { eventId: message.eventId, reason, attempts: 10, event: message };
}

/** The ledger's hourly alarm, run now. */
async function sweep(): Promise<void> {
  expect(await runDurableObjectAlarm(ledger(env))).toBe(true);
}

/** The sweep's log lines, in the order written (across console.log, warn and error). */
const sweepLines = () =>
  logs
    .flatMap((spy) =>
      spy.mock.calls.map(([line], i) => ({ line: line as Record<string, unknown>, order: spy.mock.invocationCallOrder[i]! })),
    )
    .sort((a, b) => a.order - b.order)
    .map(({ line }) => line)
    .filter((line) => line.event === "ledger_sweep");

describe("dead-letter retention", () => {
  it("expires a letter whose last failure is older than the retention at the sweep, counts it, logs it, and keeps a younger one", async () => {
    const now = Date.now();
    const old = await letter(1);
    const oldNoUser = await letter(2, "no_user: the pass has no userDefinedId or externalId");
    const young = await letter(3);
    await ledger(env).addDeadLetters([old, oldNoUser], now - 31 * DAY);
    await ledger(env).addDeadLetters([young], now - 29 * DAY);

    await sweep();

    expect((await ledger(env).listDeadLetters(10)).items.map((item) => item.eventId)).toEqual([young.eventId]);
    const state = await status();
    expect(state.expired.total).toBe(2);
    expect(Date.parse(state.expired.lastExpiredAt!)).toBeGreaterThanOrEqual(now);
    expect(state.deadLetters).toMatchObject({ total: 1, byReason: { retries_exhausted: 1 } });
    expect(state.retentionDays).toBe(30);
    // One line for the sweep, with the count and the reasons.
    expect(sweepLines()).toEqual([
      expect.objectContaining({
        level: "warn",
        expired: 2,
        reasons: { no_user: 1, retries_exhausted: 1 },
        retentionDays: 30,
        expiredTotal: 2,
        deadLetters: 1,
      }),
    ]);
  });

  it("counts expiries across sweeps and keeps the time of the last one that expired anything", async () => {
    const now = Date.now();
    await ledger(env).addDeadLetters([await letter(1)], now - 40 * DAY);
    await sweep();
    const first = (await status()).expired;
    expect(first.total).toBe(1);

    await ledger(env).addDeadLetters([await letter(2), await letter(3)], now - 35 * DAY);
    await sweep();
    const second = (await status()).expired;
    expect(second.total).toBe(3);
    expect(Date.parse(second.lastExpiredAt!)).toBeGreaterThanOrEqual(Date.parse(first.lastExpiredAt!));

    // A sweep that expires nothing leaves the count and its time alone, and says so at info level.
    await sweep();
    expect((await status()).expired).toEqual(second);
    expect(sweepLines().map((line) => [line.level, line.expired, line.expiredTotal])).toEqual([
      ["warn", 1, 1],
      ["warn", 2, 3],
      ["info", 0, 3],
    ]);
  });

  it("counts the retention from the last failure: a letter that failed again recently stays", async () => {
    const now = Date.now();
    const again = await letter(1);
    await ledger(env).addDeadLetters([again], now - 60 * DAY);
    await ledger(env).addDeadLetters([{ ...again, reason: "braze_bad_request: Invalid 'external_id'" }], now - 2 * DAY);
    await sweep();
    const { items } = await ledger(env).listDeadLetters(10);
    expect(items.map((item) => [item.eventId, item.reason])).toEqual([[again.eventId, "braze_bad_request: Invalid 'external_id'"]]);
    expect((await status()).expired.total).toBe(0);
  });

  it("schedules the sweep when a letter is kept, even if no consumer has run", async () => {
    await ledger(env).addDeadLetters([await letter(1)], Date.now() - 31 * DAY);
    // runDurableObjectAlarm answers false when no alarm was scheduled.
    await sweep();
    expect((await ledger(env).listDeadLetters(10)).total).toBe(0);
  });
});

describe("GET /v1/lifecycle/status", () => {
  it("counts real deliveries in the last hour and day, dead letters by reason, and the oldest letter", async () => {
    const delivered = await Promise.all([1, 2, 3].map((n) => lifecycleMessage(n)));
    const poison = await lifecycleMessage(9);
    // Braze refuses any request holding the poison event: it is bisected out and dead-lettered.
    braze.inject({ status: 400, rate: 1, bodyIncludes: '"user-9"', body: JSON.stringify({ message: "Invalid 'external_id'" }) });
    await consume([...delivered, poison]);
    expect(braze.events).toHaveLength(3);
    // A delivery of two hours ago counts for the day, not the hour; one of two days ago for neither.
    await ledger(env).complete([(await lifecycleMessage(20)).eventId], "earlier-run", Date.now() - 2 * HOUR);
    await ledger(env).complete([(await lifecycleMessage(21)).eventId], "earlier-run", Date.now() - 2 * DAY);
    // The oldest letter: a webhook without a user, five days ago.
    const noUser = await letter(30, "no_user: the pass has no userDefinedId or externalId");
    await ledger(env).addDeadLetters([noUser], Date.now() - 5 * DAY);
    const { items } = await ledger(env).listDeadLetters(10);
    const stored = items.find((item) => item.eventId === noUser.eventId)!;

    expect(await status()).toEqual({
      delivered: { lastHour: 3, lastDay: 4 },
      deadLetters: {
        total: 2,
        byReason: { braze_bad_request: 1, no_user: 1 },
        oldest: { id: stored.id, eventId: noUser.eventId, reason: noUser.reason, firstFailedAt: stored.firstFailedAt },
      },
      expired: { total: 0, lastExpiredAt: null },
      retentionDays: 30,
    });
  });

  it("answers zeros and no oldest letter for a fresh ledger", async () => {
    expect(await status()).toEqual({
      delivered: { lastHour: 0, lastDay: 0 },
      deadLetters: { total: 0, byReason: {}, oldest: null },
      expired: { total: 0, lastExpiredAt: null },
      retentionDays: 30,
    });
  });

  it("takes only the operator role's credentials", async () => {
    for (const auth of [null, BASIC, WEBHOOK_BASIC]) {
      const response = await call("GET", STATUS, { auth });
      expect(response.status).toBe(401);
      expect(await response.text()).not.toContain("delivered");
    }
  });
});
