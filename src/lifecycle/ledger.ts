import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.ts";

/**
 * The delivery ledger (one Durable Object, SQLite-backed, strongly consistent). It answers the
 * one question KV cannot answer reliably: "has Braze already accepted this eventId?", and it
 * serialises consumers so two of them never send the same eventId at once. It also keeps the
 * dead letters. Tables and retention: docs/storage.md.
 */

/** How long a delivered eventId is remembered: longer than PassKit or Braze redeliver, and than
 * the queue keeps a message (at most 14 days on the paid plan). */
export const DELIVERED_RETENTION_MS = 15 * 86_400_000;
/** A claim outlasts one /users/track call (10 s timeout) and is renewed before each one, so only a
 * crashed consumer's claim ever expires. */
export const CLAIM_LEASE_MS = 60_000;
const SWEEP_EVERY_MS = 3_600_000;

export interface ClaimResult {
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
export interface DeadLetter {
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
      const lease = this.sql.exec<{ owner: string; expires_at: number }>("SELECT owner, expires_at FROM leases WHERE event_id = ?", eventId).toArray()[0];
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
      const held = this.sql.exec("UPDATE leases SET expires_at = ? WHERE event_id = ? AND owner = ? RETURNING event_id", now + CLAIM_LEASE_MS, eventId, owner);
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
   * eventId updates its row. */
  addDeadLetters(letters: DeadLetterInput[], now = Date.now(), owner?: string): void {
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

  override async alarm(): Promise<void> {
    const now = Date.now();
    this.sql.exec("DELETE FROM delivered WHERE delivered_at < ?", now - DELIVERED_RETENTION_MS);
    this.sql.exec("DELETE FROM leases WHERE expires_at < ?", now);
    await this.ctx.storage.setAlarm(now + SWEEP_EVERY_MS);
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

/** The one ledger instance. Every consumer and route goes through this. */
export function ledger(env: Env): DurableObjectStub<LifecycleLedger> {
  return env.LIFECYCLE_LEDGER.getByName("ledger");
}
