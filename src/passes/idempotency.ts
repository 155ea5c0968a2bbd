import * as z from "zod";
import { ProblemError } from "../http/problem.ts";
import { sha256Hex } from "../passkit/token.ts";

/**
 * `Idempotency-Key` on create: the first successful answer is kept for a day (Braze retries a
 * webhook for up to 30 minutes, longer when the proxy is unreachable) and replayed without a
 * PassKit call. Keys are scoped to the Basic user, so two Braze workspaces cannot collide.
 */

export const IDEMPOTENCY_TTL_SECONDS = 86_400;

const storedAnswer = z.object({ status: z.number(), body: z.unknown(), fingerprint: z.string() });
export type StoredAnswer = z.output<typeof storedAnswer>;

const VALID_KEY = /^[\x21-\x7e]{1,255}$/;

export class IdempotencyStore {
  private readonly kv: KVNamespace;

  constructor(kv: KVNamespace) {
    this.kv = kv;
  }

  /** The storage key for this caller's `Idempotency-Key`, or a 400 when the header is malformed. */
  async keyFor(username: string, header: string): Promise<string> {
    if (!VALID_KEY.test(header)) {
      throw new ProblemError({
        status: 400,
        code: "invalid_idempotency_key",
        title: "Invalid Idempotency-Key",
        detail: "Idempotency-Key must be 1 to 255 visible ASCII characters.",
      });
    }
    return `idem:${await sha256Hex(JSON.stringify([username, header]))}`;
  }

  /** The answer stored for this key, or a 422 when the key was used for a different body. */
  async replay(key: string, fingerprint: string): Promise<StoredAnswer | undefined> {
    const parsed = storedAnswer.safeParse(await this.kv.get(key, "json"));
    if (!parsed.success) return undefined;
    if (parsed.data.fingerprint !== fingerprint) {
      throw new ProblemError({
        status: 422,
        code: "idempotency_key_reused",
        title: "Idempotency-Key reused",
        detail: "This Idempotency-Key was already used with a different body.",
      });
    }
    return parsed.data;
  }

  async remember(key: string, answer: StoredAnswer): Promise<void> {
    try {
      await this.kv.put(key, JSON.stringify(answer), { expirationTtl: IDEMPOTENCY_TTL_SECONDS });
    } catch (error) {
      // The create itself succeeded; without the record a retry is still safe (create is
      // idempotent by campaign and user), it just costs PassKit calls.
      console.error(JSON.stringify({ level: "error", event: "idempotency_write_failed", message: String(error) }));
    }
  }
}
