import { DurableObject } from "cloudflare:workers";
import { configSchema } from "../config/config.ts";
import type { Env } from "../env.ts";
import { log } from "../log.ts";
import type { RelayStatus } from "./answers.ts";

/**
 * The delivery ledger (one Durable Object, SQLite-backed, strongly consistent). It answers the
 * one question KV cannot answer reliably: "has Braze already accepted this eventId?", and it
 * serialises consumers so two of them never send the same eventId at once. It also keeps the
 * dead letters, expires them after DEAD_LETTER_RETENTION_DAYS (counted, never silently), and
 * counts what the operators' status route shows. Tables and retention: docs/storage.md.
 */

/** How long a delivered eventId is remembered: longer than PassKit or Braze redeliver, and than
 * the queue keeps a message (at most 14 days on the paid plan). */
const DELIVERED_RETENTION_MS = 15 * 86_400_000;
/** A claim outlasts one /users/track call (10 s timeout) and is renewed before each one, so only a
 * crashed consumer's claim ever expires. */
export const CLAIM_LEASE_MS = 60_000;
const SWEEP_EVERY_MS = 3_600_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Names in the `counters` table. */
const EXPIRED_TOTAL = "dead_letters_expired";
const LAST_EXPIRED_AT = "dead_letters_last_expired_at";
/** The kind of a reason: the part before its first `:` (`retries_exhausted: braze_…` → `retries_exhausted`). */
const REASON_KIND = "CASE WHEN instr(reason, ':') > 0 THEN substr(reason, 1, instr(reason, ':') - 1) ELSE reason END";

interface ClaimResult {
  /** Braze already has these: ack without sending. */
  delivered: string[];
  /** Another consumer is sending these now: retry later. */
  busy: string[];
  /** Yours to send; `complete` or `release` them. */
  claimed: string[];
}

export interface DeadLetterInput {
  eventId: string;
  reason: string;
  attempts: number;
  /** The canonical message, or what was known of an event that could not become one. */
  event: unknown;
}

/** A stored dead letter; `event` comes back as JSON text (RPC results must be serialisable types). */
interface DeadLetter {
  id: number;
  eventId: string;
  reason: string;
  attempts: number;
  eventJson: string;
  firstFailedAt: string;
  lastFailedAt: string;
}

export class LifecycleLedger extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS delivered (event_id TEXT PRIMARY KEY, delivered_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS delivered_at ON delivered (delivered_at);
      CREATE TABLE IF NOT EXISTS leases (event_id TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL UNIQUE,
        reason TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        event TEXT NOT NULL,
        first_failed_at INTEGER NOT NULL,
        last_failed_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS dead_letters_last_failed ON dead_letters (last_failed_at);
      CREATE INDEX IF NOT EXISTS dead_letters_first_failed ON dead_letters (first_failed_at);
      CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    `);
  }

  /** Claims the eventIds for `owner` (one consumer run): the ones delivered or held by another
   * run's live lease are reported as such. */
  async claim(eventIds: string[], owner: string, now = Date.now()): Promise<ClaimResult> {
    const result: ClaimResult = { delivered: [], busy: [], claimed: [] };
    for (const eventId of new Set(eventIds)) {
      if (this.isDelivered(eventId)) {
        result.delivered.push(eventId);
        continue;
      }
      const lease = this.sql
        .exec<{ owner: string; expires_at: number }>("SELECT owner, expires_at FROM leases WHERE event_id = ?", eventId)
        .toArray()[0];
      if (lease && lease.owner !== owner && lease.expires_at > now) {
        result.busy.push(eventId);
        continue;
      }
      this.sql.exec("INSERT OR REPLACE INTO leases (event_id, owner, expires_at) VALUES (?, ?, ?)", eventId, owner, now + CLAIM_LEASE_MS);
      result.claimed.push(eventId);
    }
    await this.ensureSweep();
    return result;
  }

  /** Extends `owner`'s leases just before a send; returns the eventIds it still holds and that are
   * not delivered. An id not returned must not be sent. */
  renew(eventIds: string[], owner: string, now = Date.now()): string[] {
    return eventIds.filter((eventId) => {
      if (this.isDelivered(eventId)) return false;
      const held = this.sql.exec(
        "UPDATE leases SET expires_at = ? WHERE event_id = ? AND owner = ? RETURNING event_id",
        now + CLAIM_LEASE_MS,
        eventId,
        owner,
      );
      return held.toArray().length > 0;
    });
  }

  /** Braze accepted these: remember them, so no later copy is sent. */
  complete(eventIds: string[], owner: string, now = Date.now()): void {
    for (const eventId of eventIds) {
      this.sql.exec("INSERT OR IGNORE INTO delivered (event_id, delivered_at) VALUES (?, ?)", eventId, now);
      this.sql.exec("DELETE FROM leases WHERE event_id = ? AND owner = ?", eventId, owner);
    }
  }

  /** Not sent (or not accepted): frees `owner`'s leases for the next attempt, never another's. */
  release(eventIds: string[], owner: string): void {
    for (const eventId of eventIds) this.sql.exec("DELETE FROM leases WHERE event_id = ? AND owner = ?", eventId, owner);
  }

  isDelivered(eventId: string): boolean {
    return this.sql.exec("SELECT 1 FROM delivered WHERE event_id = ?", eventId).toArray().length > 0;
  }

  /** Keeps undeliverable events (ending `owner`'s lease on them). A second failure of the same
   * eventId updates its row (and so restarts its retention). */
  async addDeadLetters(letters: DeadLetterInput[], now = Date.now(), owner?: string): Promise<void> {
    for (const letter of letters) {
      this.sql.exec(
        `INSERT INTO dead_letters (event_id, reason, attempts, event, first_failed_at, last_failed_at)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (event_id) DO UPDATE SET reason = excluded.reason, attempts = excluded.attempts, last_failed_at = excluded.last_failed_at`,
        letter.eventId,
        letter.reason,
        letter.attempts,
        JSON.stringify(letter.event),
        now,
        now,
      );
      if (owner) this.sql.exec("DELETE FROM leases WHERE event_id = ? AND owner = ?", letter.eventId, owner);
    }
    // Letters can arrive without any consumer run (the intake's no-user letters): the sweep that
    // expires them must be scheduled all the same.
    await this.ensureSweep();
  }

  /** Dead letters in id order, `limit` at a time after `afterId`; `total` counts them all. */
  listDeadLetters(limit: number, afterId = 0, ids?: number[]): { items: DeadLetter[]; total: number } {
    const rows = ids
      ? ids.flatMap((id) => this.sql.exec<DeadLetterRow>("SELECT * FROM dead_letters WHERE id = ?", id).toArray())
      : this.sql.exec<DeadLetterRow>("SELECT * FROM dead_letters WHERE id > ? ORDER BY id LIMIT ?", afterId, limit).toArray();
    return { items: rows.map(toDeadLetter), total: this.countDeadLetters() };
  }

  countDeadLetters(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM dead_letters").one().n;
  }

  /**
   * Removes replayed dead letters, unless one failed again since it was read (its replay already
   * came back as a new failure): that newer failure stays.
   */
  removeDeadLetters(letters: Pick<DeadLetter, "id" | "lastFailedAt">[]): void {
    for (const { id, lastFailedAt } of letters) {
      this.sql.exec("DELETE FROM dead_letters WHERE id = ? AND last_failed_at = ?", id, Date.parse(lastFailedAt));
    }
  }

  /** The relay's state for `GET /v1/lifecycle/status` (all but `retentionDays`, which is config). */
  relayStatus(now = Date.now()): Omit<RelayStatus, "retentionDays"> {
    const since = (ms: number) =>
      this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM delivered WHERE delivered_at >= ?", now - ms).one().n;
    const byReason: Record<string, number> = {};
    for (const row of this.sql.exec<{ kind: string; n: number }>(
      `SELECT ${REASON_KIND} AS kind, COUNT(*) AS n FROM dead_letters GROUP BY kind ORDER BY kind`,
    )) {
      byReason[row.kind] = row.n;
    }
    const oldest = this.sql
      .exec<Pick<DeadLetterRow, "id" | "event_id" | "reason" | "first_failed_at">>(
        "SELECT id, event_id, reason, first_failed_at FROM dead_letters ORDER BY first_failed_at, id LIMIT 1",
      )
      .toArray()[0];
    const lastExpiredAt = this.counter(LAST_EXPIRED_AT);
    return {
      delivered: { lastHour: since(HOUR_MS), lastDay: since(DAY_MS) },
      deadLetters: {
        total: this.countDeadLetters(),
        byReason,
        oldest: oldest
          ? {
              id: oldest.id,
              eventId: oldest.event_id,
              reason: oldest.reason,
              firstFailedAt: new Date(oldest.first_failed_at).toISOString(),
            }
          : null,
      },
      expired: {
        total: this.counter(EXPIRED_TOTAL) ?? 0,
        lastExpiredAt: lastExpiredAt === undefined ? null : new Date(lastExpiredAt).toISOString(),
      },
    };
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    this.sweep(now);
    await this.ctx.storage.setAlarm(now + SWEEP_EVERY_MS);
  }

  /**
   * The hourly sweep: forgets deliveries past their retention and dead leases, and expires dead
   * letters whose last failure is older than DEAD_LETTER_RETENTION_DAYS. Every expired letter is
   * counted in `counters` (shown by the status route) and the sweep logs one line with the count
   * and the reasons; nothing else removes a letter except a replay.
   */
  sweep(now = Date.now()): { expired: number; byReason: Record<string, number> } {
    const retentionDays = deadLetterRetentionDays(this.env);
    return this.ctx.storage.transactionSync(() => {
      const forgotten = this.sql.exec("DELETE FROM delivered WHERE delivered_at < ?", now - DELIVERED_RETENTION_MS).rowsWritten;
      this.sql.exec("DELETE FROM leases WHERE expires_at < ?", now);
      const byReason: Record<string, number> = {};
      let expired = 0;
      if (retentionDays !== undefined) {
        const cutoff = now - retentionDays * DAY_MS;
        for (const row of this.sql.exec<{ kind: string; n: number }>(
          `SELECT ${REASON_KIND} AS kind, COUNT(*) AS n FROM dead_letters WHERE last_failed_at < ? GROUP BY kind ORDER BY kind`,
          cutoff,
        )) {
          byReason[row.kind] = row.n;
          expired += row.n;
        }
        if (expired > 0) {
          this.sql.exec("DELETE FROM dead_letters WHERE last_failed_at < ?", cutoff);
          this.sql.exec(
            `INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value`,
            EXPIRED_TOTAL,
            expired,
          );
          this.sql.exec("INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)", LAST_EXPIRED_AT, now);
        }
      }
      log(expired > 0 ? "warn" : "info", "ledger_sweep", {
        expired,
        reasons: byReason,
        retentionDays: retentionDays ?? null,
        expiredTotal: this.counter(EXPIRED_TOTAL) ?? 0,
        deadLetters: this.countDeadLetters(),
        deliveredForgotten: forgotten,
      });
      return { expired, byReason };
    });
  }

  private counter(name: string): number | undefined {
    return this.sql.exec<{ value: number }>("SELECT value FROM counters WHERE name = ?", name).toArray()[0]?.value;
  }

  private async ensureSweep(): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + SWEEP_EVERY_MS);
  }
}

type DeadLetterRow = {
  id: number;
  event_id: string;
  reason: string;
  attempts: number;
  event: string;
  first_failed_at: number;
  last_failed_at: number;
};

function toDeadLetter(row: DeadLetterRow): DeadLetter {
  return {
    id: row.id,
    eventId: row.event_id,
    reason: row.reason,
    attempts: row.attempts,
    eventJson: row.event,
    firstFailedAt: new Date(row.first_failed_at).toISOString(),
    lastFailedAt: new Date(row.last_failed_at).toISOString(),
  };
}

/**
 * DEAD_LETTER_RETENTION_DAYS, read on its own: an unrelated bad variable must not stop the sweep.
 * A bad value of its own expires nothing (letters are kept, and the error is logged).
 */
function deadLetterRetentionDays(env: Env): number | undefined {
  const raw = (env as unknown as Record<string, unknown>).DEAD_LETTER_RETENTION_DAYS;
  const parsed = configSchema.shape.DEAD_LETTER_RETENTION_DAYS.safeParse(raw === "" ? undefined : raw);
  if (parsed.success) return parsed.data;
  log("error", "config_error", {
    variable: "DEAD_LETTER_RETENTION_DAYS",
    reason: "not a whole number of days in 1..3650: no dead letter expires until it is fixed",
  });
  return undefined;
}

/** The one ledger instance. Every consumer and route goes through this. */
export function ledger(env: Env): DurableObjectStub<LifecycleLedger> {
  return env.LIFECYCLE_LEDGER.getByName("ledger");
}
