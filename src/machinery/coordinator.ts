import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.ts";
import type { CacheEntry } from "./cache-key.ts";

/**
 * One Durable Object per identifier (a pass, a member, a coupon): strongly consistent and
 * single-threaded, which is what KV cannot be. It holds
 * - the claims of Idempotency-Keys on that identifier and their final answers (24 h), so
 *   concurrent repeats make one upstream write and replay its answer (contract §8.2);
 * - a lease that every write and every cache refresh of the identifier takes in turn, so PassKit
 *   sees one call sequence at a time and the KV cache is written in the order PassKit applied the
 *   writes: a lookup never goes back in time (§8.3), and a member's read-merge-write of
 *   `metaData` cannot lose a concurrent key (§7);
 * - the entry the last lease holder stored, so lookups that waited behind it reuse it instead of
 *   asking PassKit again.
 * Layout and lifetimes: docs/storage.md.
 */

/** A final answer kept for an Idempotency-Key: a 2xx body or a problem Braze does not retry. */
export interface StoredAnswer {
  status: number;
  /** The answer's JSON: a 2xx body, or the problem (without its request id). */
  json: string;
}

export interface Claim {
  /** Hash of the caller, product, identifiers and the header's value. */
  key: string;
  /** Canonical form of the request (operation and validated body). */
  fingerprint: string;
}

interface BeginRequest {
  kind: "write" | "read";
  claim?: Claim;
  /** How long to wait for the lease before answering `busy`. */
  waitMs: number;
  /** How long the lease lasts if its holder never comes back. */
  leaseMs: number;
}

export type BeginResult =
  /** The lease is yours: call `finish` with its token. `known` is the last stored entry. */
  | { kind: "granted"; token: string; known?: CacheEntry }
  /** (Reads) an entry stored while you waited: use it, PassKit need not be asked again. */
  | { kind: "known"; entry: CacheEntry }
  | { kind: "replay"; answer: StoredAnswer }
  /** The key was used with another request. */
  | { kind: "reused" }
  | { kind: "busy"; retryAfterSeconds: number };

interface Finish {
  /** The entry now in the cache; `null` when it was evicted. */
  entry?: CacheEntry | null;
  /** The final answer for the claim the lease was granted with. */
  answer?: StoredAnswer;
}

interface Lease {
  token: string;
  expiresAt: number;
  claim?: Claim;
}

interface LastEntry {
  entry: CacheEntry;
  at: number;
}

interface KeptAnswer {
  fingerprint: string;
  answer: StoredAnswer;
  expiresAt: number;
}

/** Braze retries a webhook for 30 minutes, longer when the proxy is unreachable: a day covers it. */
const ANSWER_TTL_MS = 86_400_000;

export class IdentifierCoordinator extends DurableObject<Env> {
  /** SQLite-backed storage read synchronously: no other call can run between a check and its write. */
  private readonly kv: SyncKvStorage;
  private waiters: (() => void)[] = [];

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.kv = ctx.storage.kv;
  }

  async begin(request: BeginRequest): Promise<BeginResult> {
    const arrivedAt = Date.now();
    const deadline = arrivedAt + request.waitMs;
    for (;;) {
      const now = Date.now();
      if (request.claim) {
        const kept = this.kv.get<KeptAnswer>(answerKey(request.claim.key));
        if (kept && kept.expiresAt > now)
          return kept.fingerprint === request.claim.fingerprint ? { kind: "replay", answer: kept.answer } : { kind: "reused" };
      }
      const last = this.kv.get<LastEntry>("last");
      if (request.kind === "read" && last && last.at >= arrivedAt) return { kind: "known", entry: last.entry };
      const lease = this.kv.get<Lease>("lease");
      if (!lease || lease.expiresAt <= now) {
        const granted: Lease = {
          token: crypto.randomUUID(),
          expiresAt: now + request.leaseMs,
          ...(request.claim ? { claim: request.claim } : {}),
        };
        this.kv.put("lease", granted);
        return { kind: "granted", token: granted.token, ...(last ? { known: last.entry } : {}) };
      }
      if (deadline <= now) return { kind: "busy", retryAfterSeconds: Math.max(1, Math.ceil((lease.expiresAt - now) / 1000)) };
      await this.released(Math.min(deadline, lease.expiresAt) - now);
    }
  }

  /** Ends a lease: records the entry stored and the final answer, then lets the next one in. A
   * lease that expired meanwhile (its holder was too slow) still records its answer. */
  async finish(token: string, outcome: Finish = {}): Promise<void> {
    const lease = this.kv.get<Lease>("lease");
    const held = lease?.token === token ? lease : undefined;
    if (outcome.answer && held?.claim) {
      const kept: KeptAnswer = { fingerprint: held.claim.fingerprint, answer: outcome.answer, expiresAt: Date.now() + ANSWER_TTL_MS };
      this.kv.put(answerKey(held.claim.key), kept);
      if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(kept.expiresAt);
    }
    if (!held) return;
    if (outcome.entry === null) this.kv.delete("last");
    else if (outcome.entry !== undefined) this.kv.put("last", { entry: outcome.entry, at: Date.now() } satisfies LastEntry);
    this.kv.delete("lease");
    const waiting = this.waiters;
    this.waiters = [];
    for (const wake of waiting) wake();
  }

  /** Forgets expired answers, so an identifier's storage empties again a day after its last write. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [key, kept] of this.kv.list<KeptAnswer>({ prefix: "answer:" })) {
      if (kept.expiresAt <= now) this.kv.delete(key);
      else next = Math.min(next, kept.expiresAt);
    }
    if (Number.isFinite(next)) await this.ctx.storage.setAlarm(next);
  }

  private released(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, timeoutMs));
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

function answerKey(claimKey: string): string {
  return `answer:${claimKey}`;
}

export function coordinatorFor(env: Env, key: string): DurableObjectStub<IdentifierCoordinator> {
  return env.COORDINATOR.getByName(key);
}
