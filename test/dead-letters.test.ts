import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { env } from "cloudflare:workers";
import { ledger, type DeadLetterInput } from "../src/lifecycle/ledger.ts";
import { call as callWorker, lifecycleMessage, resetAll, OPERATOR_BASIC } from "./helpers.ts";

/** Operator routes take the operator role's credentials (contract §9). */
const call: typeof callWorker = (method, path, options = {}) => callWorker(method, path, { auth: OPERATOR_BASIC, ...options });

const LIST = "/v1/lifecycle/dead-letters";
const REPLAY = "/v1/lifecycle/dead-letters/replay";

type Listed = {
  id: number;
  eventId: string;
  reason: string;
  attempts: number;
  event: unknown;
  firstFailedAt: string;
  lastFailedAt: string;
};
type Page = { items: Listed[]; total: number; nextCursor: string | null };
type Replayed = { replayed: number; skipped: { id: number; reason: string }[]; notFound?: number[]; remaining: number };

let sendBatch: MockInstance<Queue["sendBatch"]>;
beforeEach(() => {
  sendBatch = vi
    .spyOn(env.LIFECYCLE_EVENTS, "sendBatch")
    .mockResolvedValue({ metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } });
});
afterEach(async () => {
  vi.restoreAllMocks();
  await resetAll();
});

/** A letter that can go through the queue again: it failed at Braze, its message is whole. */
async function deliverable(n: number): Promise<DeadLetterInput> {
  const message = await lifecycleMessage(n);
  return { eventId: message.eventId, reason: "retries_exhausted: braze_unavailable: Braze answered 503", attempts: 10, event: message };
}

/** A letter that cannot: PassKit's webhook named no Braze user. */
async function withoutUser(n: number): Promise<DeadLetterInput> {
  const { externalId: _, ...known } = await lifecycleMessage(n);
  return { eventId: known.eventId, reason: "no_user: the pass has no userDefinedId or externalId", attempts: 0, event: known };
}

/** Stores the letters in order and returns them with the ids the ledger gave them. */
async function seed(letters: DeadLetterInput[]): Promise<(DeadLetterInput & { id: number })[]> {
  await ledger(env).addDeadLetters(letters);
  const { items } = await ledger(env).listDeadLetters(1000);
  return letters.map((letter) => ({ ...letter, id: items.find((item) => item.eventId === letter.eventId)!.id }));
}

async function stored(): Promise<string[]> {
  return (await ledger(env).listDeadLetters(1000)).items.map((item) => item.eventId);
}

/** The messages handed to the queue, in order, over every sendBatch call. */
function requeued(): unknown[] {
  return sendBatch.mock.calls.flatMap(([messages]) =>
    [...messages].map((request) => {
      expect(request.contentType).toBe("json");
      return request.body;
    }),
  );
}

async function replay(body: unknown, auth?: string | null): Promise<Response> {
  return call("POST", REPLAY, { body, ...(auth === undefined ? {} : { auth }) });
}

describe("GET /v1/lifecycle/dead-letters", () => {
  it("lists each undeliverable event with its reason, attempts and the event itself", async () => {
    const [braze, noUser] = await seed([await deliverable(1), await withoutUser(2)]);
    const response = await call("GET", LIST);
    expect(response.status).toBe(200);
    const page = await response.json<Page>();
    expect(page.total).toBe(2);
    expect(page.nextCursor).toBeNull();
    expect(page.items).toEqual([
      expect.objectContaining({ id: braze!.id, eventId: braze!.eventId, reason: braze!.reason, attempts: 10, event: braze!.event }),
      expect.objectContaining({ id: noUser!.id, eventId: noUser!.eventId, reason: noUser!.reason, attempts: 0, event: noUser!.event }),
    ]);
    for (const item of page.items) expect(Number.isNaN(Date.parse(item.firstFailedAt))).toBe(false);
  });

  it("refuses a caller without Basic credentials with 401 and shows nothing", async () => {
    await seed([await deliverable(1)]);
    const response = await call("GET", LIST, { auth: null });
    expect(response.status).toBe(401);
    expect(response.headers.get("WWW-Authenticate")).toMatch(/^Basic /);
    expect(await response.text()).not.toContain("pass-1");
  });

  it("walks every dead letter exactly once, page by page, with the total on every page", async () => {
    const letters = await seed(await Promise.all(Array.from({ length: 7 }, (_, i) => (i % 3 === 0 ? withoutUser(i) : deliverable(i)))));
    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | null = "";
    for (let pages = 0; cursor !== null; pages++) {
      expect(pages).toBeLessThan(10);
      const page: Page = await (await call("GET", `${LIST}?limit=3${cursor ? `&cursor=${cursor}` : ""}`)).json<Page>();
      expect(page.total).toBe(7);
      seen.push(...page.items.map((item) => item.eventId));
      sizes.push(page.items.length);
      cursor = page.nextCursor;
    }
    expect(sizes).toEqual([3, 3, 1]);
    expect(seen).toEqual(letters.map((letter) => letter.eventId));
  });

  it("ends the walk with an empty page when the last page was exactly full", async () => {
    const letters = await seed(await Promise.all(Array.from({ length: 4 }, (_, i) => deliverable(i))));
    const first = await (await call("GET", `${LIST}?limit=2`)).json<Page>();
    const second = await (await call("GET", `${LIST}?limit=2&cursor=${first.nextCursor}`)).json<Page>();
    const third = await (await call("GET", `${LIST}?limit=2&cursor=${second.nextCursor}`)).json<Page>();
    expect([...first.items, ...second.items].map((item) => item.eventId)).toEqual(letters.map((letter) => letter.eventId));
    expect(third).toEqual({ items: [], total: 4, nextCursor: null });
  });

  it("shows 50 at a time unless asked otherwise", async () => {
    await seed(await Promise.all(Array.from({ length: 51 }, (_, i) => deliverable(i))));
    const page = await (await call("GET", LIST)).json<Page>();
    expect(page.items).toHaveLength(50);
    expect(page.total).toBe(51);
    expect(page.nextCursor).toBe(String(page.items.at(-1)!.id));
  });

  it.each(["limit=0", "limit=101", "limit=ten", "limit=2.5", "cursor=-1", "cursor=abc"])(
    "refuses the query %s with a 400 problem",
    async (query) => {
      const response = await call("GET", `${LIST}?${query}`);
      expect(response.status).toBe(400);
      expect(response.headers.get("Content-Type")).toBe("application/problem+json");
      expect((await response.json<{ code: string }>()).code).toBe("invalid_query");
    },
  );
});

describe("POST /v1/lifecycle/dead-letters/replay", () => {
  it("re-queues the chosen letters that are whole messages, removes them, and reports the rest", async () => {
    const [a, b, noUser, c] = await seed([await deliverable(1), await deliverable(2), await withoutUser(3), await deliverable(4)]);
    const response = await replay({ ids: [a!.id, noUser!.id, c!.id, 9999] });
    expect(response.status).toBe(200);
    const result = await response.json<Replayed>();
    expect(result.replayed).toBe(2);
    expect(result.skipped).toEqual([{ id: noUser!.id, reason: expect.stringMatching(/^not replayable: no_user/) }]);
    expect(result.notFound).toEqual([9999]);
    expect(result.remaining).toBe(2);
    expect(sendBatch).toHaveBeenCalledTimes(1);
    expect(requeued()).toEqual([a!.event, c!.event]);
    expect(await stored()).toEqual([b!.eventId, noUser!.eventId]);
  });

  it("re-queues every replayable letter with {all: true} and keeps the ones without a user", async () => {
    const [a, noUser, b] = await seed([await deliverable(1), await withoutUser(2), await deliverable(3)]);
    const result = await (await replay({ all: true })).json<Replayed>();
    expect(result).toEqual({
      replayed: 2,
      skipped: [{ id: noUser!.id, reason: expect.stringMatching(/^not replayable: no_user/) }],
      remaining: 1,
    });
    expect(requeued()).toEqual([a!.event, b!.event]);
    expect(await stored()).toEqual([noUser!.eventId]);
  });

  it("replays more letters than one queue batch holds, at most 100 messages a batch", async () => {
    const letters = await seed([await withoutUser(0), ...(await Promise.all(Array.from({ length: 150 }, (_, i) => deliverable(i + 1))))]);
    const result = await (await replay({ all: true })).json<Replayed>();
    expect(result.replayed).toBe(150);
    expect(result.remaining).toBe(1);
    const sizes = sendBatch.mock.calls.map(([messages]) => [...messages].length);
    expect(sizes.length).toBeGreaterThan(1);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(100);
    expect(requeued()).toEqual(letters.slice(1).map((letter) => letter.event));
    expect(await stored()).toEqual([letters[0]!.eventId]);
  });

  it("keeps a letter whose replay failed again before the replay finished removing it", async () => {
    const letter = await deliverable(1);
    await ledger(env).addDeadLetters([letter], 1_000);
    const [read] = (await ledger(env).listDeadLetters(10)).items;
    // Meanwhile the replayed message fails at Braze again and is dead-lettered anew.
    await ledger(env).addDeadLetters([{ ...letter, reason: "braze_bad_request: Invalid 'external_id'" }], 2_000);
    await ledger(env).removeDeadLetters([{ id: read!.id, lastFailedAt: read!.lastFailedAt }]);
    const { items } = await ledger(env).listDeadLetters(10);
    expect(items.map((i) => i.reason)).toEqual(["braze_bad_request: Invalid 'external_id'"]);
  });

  it("sends a letter once when its id is named twice", async () => {
    const [a, b] = await seed([await deliverable(1), await deliverable(2)]);
    const result = await (await replay({ ids: [a!.id, a!.id] })).json<Replayed>();
    expect(result).toEqual({ replayed: 1, skipped: [], notFound: [], remaining: 1 });
    expect(requeued()).toEqual([a!.event]);
    expect(await stored()).toEqual([b!.eventId]);
  });

  it("sends nothing and says so when none of the ids exist", async () => {
    await seed([await deliverable(1)]);
    const result = await (await replay({ ids: [4242] })).json<Replayed>();
    expect(result).toEqual({ replayed: 0, skipped: [], notFound: [4242], remaining: 1 });
    expect(sendBatch).not.toHaveBeenCalled();
  });

  it("keeps the letters when the queue refuses the batch", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    sendBatch.mockRejectedValue(new Error("Queue sendBatch failed: overloaded"));
    const letters = await seed([await deliverable(1), await deliverable(2)]);
    const response = await replay({ all: true });
    expect(response.status).toBeGreaterThanOrEqual(500);
    expect(await stored()).toEqual(letters.map((letter) => letter.eventId));
  });

  it("refuses a caller without Basic credentials with 401 and replays nothing", async () => {
    const letters = await seed([await deliverable(1)]);
    const response = await replay({ all: true }, null);
    expect(response.status).toBe(401);
    expect(sendBatch).not.toHaveBeenCalled();
    expect(await stored()).toEqual(letters.map((letter) => letter.eventId));
  });

  it.each([
    ["an empty object", {}],
    ["an empty id list", { ids: [] }],
    ["all: false", { all: false }],
    ["ids and all together", { ids: [1], all: true }],
    ["ids that are not positive integers", { ids: ["1"] }],
  ])("refuses %s with a 422 and replays nothing", async (_, body) => {
    await seed([await deliverable(1)]);
    const response = await replay(body);
    expect(response.status).toBe(422);
    expect(sendBatch).not.toHaveBeenCalled();
    expect(await stored()).toHaveLength(1);
  });
});
