import { describe, expect, it } from "vitest";
import { ProblemError, type ProblemInit } from "../src/http/problem.ts";
import { readJsonBody } from "../src/http/read-body.ts";

const MAX = 65_536;
const encoder = new TextEncoder();

/** A Braze webhook request; a string body is sent as bytes, so no Content-Type is added for it. */
function webhook(body: string | Uint8Array | ReadableStream<Uint8Array> | null, headers: Record<string, string> = {}): Request {
  const payload = typeof body === "string" ? encoder.encode(body) : body;
  return new Request("https://proxy.example/v1/passes", { method: "POST", body: payload, headers });
}

/** The problem the promise was rejected with, or a failed expectation if it was not a ProblemError. */
async function problemOf(promise: Promise<unknown>): Promise<ProblemInit> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ProblemError) return error.problem;
    throw error;
  }
  return expect.fail("expected the body to be refused");
}

/** A body that arrives in the given chunks, with no Content-Length; records what was pulled. */
function chunkedStream(chunks: Uint8Array[]): { stream: ReadableStream<Uint8Array>; cancelled: () => boolean } {
  let cancelled = false;
  let index = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[index++];
      if (chunk) controller.enqueue(chunk);
      else controller.close();
    },
    cancel() {
      cancelled = true;
    },
  });
  return { stream, cancelled: () => cancelled };
}

describe("Content-Type", () => {
  it.each([
    "application/json",
    "application/json; charset=utf-8",
    "Application/JSON; Charset=UTF-8",
    ' application/json ; charset="utf-8"',
    "text/plain",
    "text/plain; charset=utf-8",
    "application/vnd.braze+json",
    "application/merge-patch+json; charset=utf-8",
  ])("reads a body sent as %s as JSON", async (contentType) => {
    const { value } = await readJsonBody(webhook('{"campaignName":"summer"}', { "Content-Type": contentType }), MAX);
    expect(value).toEqual({ campaignName: "summer" });
  });

  it("reads a body sent with no Content-Type at all as JSON", async () => {
    const request = webhook('{"campaignName":"summer"}');
    expect(request.headers.get("Content-Type")).toBeNull();
    expect((await readJsonBody(request, MAX)).value).toEqual({ campaignName: "summer" });
  });

  it("reads a body sent with an empty Content-Type as JSON", async () => {
    expect((await readJsonBody(webhook("[1]", { "Content-Type": "" }), MAX)).value).toEqual([1]);
  });

  it.each([
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-8",
    "multipart/form-data; boundary=----braze",
    "application/xml",
    "text/xml",
    "text/html",
    "application/octet-stream",
    "application/x-www-form-urlencoded; type=application/json",
    "application/jsonx",
    "application/vnd.braze+jsonx",
  ])("answers 415 to a body sent as %s, without reading it", async (contentType) => {
    const request = webhook('{"campaignName":"summer"}', { "Content-Type": contentType });
    const problem = await problemOf(readJsonBody(request, MAX));
    expect(problem).toMatchObject({ status: 415, code: "unsupported_media_type" });
    expect(problem.detail).toContain("application/json");
    expect(request.bodyUsed).toBe(false);
  });
});

describe("the size limit", () => {
  it("accepts a body of exactly the limit", async () => {
    const body = `{"a":"${"x".repeat(92)}"}`;
    expect(encoder.encode(body).byteLength).toBe(100);
    expect((await readJsonBody(webhook(body), 100)).value).toEqual({ a: "x".repeat(92) });
  });

  it("answers 413 to a body one byte over the limit, naming MAX_BODY_BYTES", async () => {
    const problem = await problemOf(readJsonBody(webhook(`{"a":"${"x".repeat(93)}"}`), 100));
    expect(problem).toMatchObject({ status: 413, code: "body_too_large" });
    expect(problem.detail).toContain("100 bytes");
    expect(problem.detail).toContain("MAX_BODY_BYTES");
  });

  it("counts bytes, not characters", async () => {
    const body = '"éé"'; // 4 characters, 6 bytes
    expect((await readJsonBody(webhook(body), 6)).value).toBe("éé");
    expect(await problemOf(readJsonBody(webhook(body), 5))).toMatchObject({ status: 413 });
  });

  it("answers 413 without reading the body when Content-Length already says it is too large", async () => {
    const request = webhook("{}", { "Content-Length": String(MAX + 1) });
    expect(await problemOf(readJsonBody(request, MAX))).toMatchObject({ status: 413, code: "body_too_large" });
    expect(request.bodyUsed).toBe(false);
  });

  it("answers 413 when Content-Length claims a small body but more bytes arrive", async () => {
    const request = webhook(`{"a":"${"x".repeat(200)}"}`, { "Content-Length": "2" });
    expect(request.headers.get("Content-Length")).toBe("2");
    expect(await problemOf(readJsonBody(request, 100))).toMatchObject({ status: 413 });
  });

  it("ignores a Content-Length that is not a number and still counts the bytes", async () => {
    const request = webhook(`{"a":"${"x".repeat(200)}"}`, { "Content-Length": "lots" });
    expect(await problemOf(readJsonBody(request, 100))).toMatchObject({ status: 413 });
    expect((await readJsonBody(webhook("{}", { "Content-Length": "lots" }), 100)).value).toEqual({});
  });

  it("answers 413 to a streamed body with no Content-Length once it passes the limit", async () => {
    const { stream, cancelled } = chunkedStream([encoder.encode('{"a":"'), encoder.encode("x".repeat(60)), encoder.encode("x".repeat(60))]);
    const request = webhook(stream);
    expect(request.headers.get("Content-Length")).toBeNull();
    expect(await problemOf(readJsonBody(request, 100))).toMatchObject({ status: 413 });
    expect(cancelled()).toBe(true);
  });

  it("stops reading an endless body soon after the limit instead of buffering it all", async () => {
    let pulled = 0;
    let cancelled = false;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1024;
        controller.enqueue(new Uint8Array(1024).fill(0x20));
      },
      cancel() {
        cancelled = true;
      },
    });
    expect(await problemOf(readJsonBody(webhook(endless), 10_000))).toMatchObject({ status: 413 });
    expect(cancelled).toBe(true);
    expect(pulled).toBeLessThan(10_000 + 8 * 1024);
  });

  it("reads a streamed body within the limit, even when a character is split across chunks", async () => {
    const bytes = encoder.encode('{"name":"Zoë 😀"}');
    const splitInsideEmoji = bytes.length - 4;
    const { stream } = chunkedStream([bytes.slice(0, 11), bytes.slice(11, splitInsideEmoji), bytes.slice(splitInsideEmoji)]);
    expect((await readJsonBody(webhook(stream), 100)).value).toEqual({ name: "Zoë 😀" });
  });
});

describe("encoding", () => {
  it.each([
    ["a byte that is never UTF-8", [0x7b, 0xff, 0x7d]],
    ["a Latin-1 é", [0x22, 0xe9, 0x22]],
    ["an overlong encoding of /", [0x22, 0xc0, 0xaf, 0x22]],
    ["an encoded lone surrogate", [0x22, 0xed, 0xa0, 0x80, 0x22]],
    ["a character cut off at the end", [0x22, 0x61, 0x22, 0xe2, 0x82]],
  ])("answers 400 to a body with %s", async (_, bytes) => {
    const problem = await problemOf(readJsonBody(webhook(new Uint8Array(bytes)), MAX));
    expect(problem).toMatchObject({ status: 400, code: "invalid_encoding" });
    expect(problem.detail).toContain("UTF-8");
  });

  it("ignores a UTF-8 byte-order mark", async () => {
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...encoder.encode('{"a":1}')]);
    expect((await readJsonBody(webhook(bytes), MAX)).value).toEqual({ a: 1 });
  });

  it("ignores only one byte-order mark: a second one is not whitespace", async () => {
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf, ...encoder.encode('{"a":1}')]);
    const problem = await problemOf(readJsonBody(webhook(bytes), MAX));
    expect(problem).toMatchObject({ status: 400, code: "invalid_json" });
    expect(problem.detail).toContain("line 1, column 1");
  });

  it("reads non-ASCII text", async () => {
    const body = '{"firstName":"Zoë","city":"Zürich",}';
    const result = await readJsonBody(webhook(body, { "Content-Type": "text/plain; charset=utf-8" }), MAX);
    expect(result.value).toEqual({ firstName: "Zoë", city: "Zürich" });
  });
});

describe("what the body says", () => {
  it("accepts the trailing comma Braze's PassKit template leaves", async () => {
    const body = '{\n  "campaignName": "summer",\n  "templateName": "gold",\n  "userDefinedId": "u-1",\n}';
    expect((await readJsonBody(webhook(body), MAX)).value).toEqual({ campaignName: "summer", templateName: "gold", userDefinedId: "u-1" });
  });

  it("answers 400 to a syntax error with a pointer and the line and column in the detail", async () => {
    const body = '{\n  "campaignName": "summer",\n  "passbook": {\n    "relevantDate": 2019-09-29T12:59:40Z\n  }\n}';
    const problem = await problemOf(readJsonBody(webhook(body), MAX));
    expect(problem).toMatchObject({ status: 400, code: "invalid_json", title: "Body is not valid JSON" });
    expect(problem.detail).toContain("line 4, column 25");
    expect(problem.errors).toEqual([{ pointer: "/passbook/relevantDate", detail: problem.detail }]);
  });

  it("answers 400 to an empty body, saying it is empty", async () => {
    for (const body of ["", null]) {
      const problem = await problemOf(readJsonBody(webhook(body), MAX));
      expect(problem).toMatchObject({ status: 400, code: "invalid_json" });
      expect(problem.detail).toContain("Body is empty");
    }
  });

  it("gives the Liquid hint for a body Braze did not render", async () => {
    const problem = await problemOf(readJsonBody(webhook('{"userDefinedId": {{${user_id}}}}'), MAX));
    expect(problem).toMatchObject({ status: 400, code: "invalid_json" });
    expect(problem.detail).toContain("Liquid");
  });

  it("does not echo the body back in a syntax error", async () => {
    const body = '{"note":"sk_live_do_not_echo_me","points": oops}';
    const problem = await problemOf(readJsonBody(webhook(body), MAX));
    expect(problem.status).toBe(400);
    expect(JSON.stringify(problem)).not.toContain("sk_live");
  });

  it("answers 422 to a duplicate key, with its pointer", async () => {
    const problem = await problemOf(readJsonBody(webhook('{"userDefinedId":"a","passbook":{"groupId":"x","groupId":"y"}}'), MAX));
    expect(problem).toMatchObject({ status: 422, code: "duplicate_key", title: "Duplicate key in body" });
    expect(problem.errors).toEqual([{ pointer: "/passbook/groupId", detail: expect.stringContaining('Duplicate key "groupId"') }]);
  });

  it("answers 400 too_deep to nesting deeper than 16", async () => {
    const problem = await problemOf(readJsonBody(webhook(`${"[".repeat(17)}${"]".repeat(17)}`), MAX));
    expect(problem).toMatchObject({ status: 400, code: "too_deep" });
    expect((await readJsonBody(webhook(`${"[".repeat(16)}${"]".repeat(16)}`), MAX)).value).toBeInstanceOf(Array);
  });
});
