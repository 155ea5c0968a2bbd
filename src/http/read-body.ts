import { ProblemError, type ProblemInit } from "./problem.ts";
import { readJson, type JsonSyntaxError, type JsonValue } from "./json-reader.ts";

/**
 * Reads a Braze webhook body as contract §3 says: JSON, `text/plain` (Braze's raw-text body) or no
 * Content-Type are read as JSON; anything else is a 415. The size limit is enforced on the bytes
 * actually read, whatever Content-Length claims.
 */
export async function readJsonBody(request: Request, maxBytes: number): Promise<{ value: JsonValue }> {
  assertJsonContentType(request);
  return { value: parseJsonBytes(await readBodyBytes(request, maxBytes)) };
}

export function assertJsonContentType(request: Request): void {
  if (isJsonLike(request.headers.get("Content-Type"))) return;
  throw new ProblemError({
    status: 415,
    code: "unsupported_media_type",
    title: "Unsupported Content-Type",
    detail: "Send the body as application/json or text/plain (Braze's raw text), not as a form.",
  });
}

/** The body's bytes, at most `maxBytes` of them (413 beyond). */
export async function readBodyBytes(request: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(request.headers.get("Content-Length") ?? "0");
  if (declared > maxBytes) throw tooLarge(maxBytes);
  return readLimited(request, maxBytes);
}

/** UTF-8 JSON through the forgiving reader, or the 400/422 that says where it is broken. */
export function parseJsonBytes(bytes: Uint8Array): JsonValue {
  let text: string;
  try {
    // Keep the BOM: readJson ignores exactly one, and stripping one here too let a second through.
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new ProblemError({
      status: 400,
      code: "invalid_encoding",
      title: "Body is not UTF-8",
      detail: "The body must be UTF-8 encoded JSON.",
    });
  }
  const result = readJson(text);
  if (!result.ok) {
    const { error } = result;
    const content = error.kind === "duplicate_key" || error.kind === "inexact_number";
    throw new ProblemError({
      status: content ? 422 : 400,
      code: error.kind === "syntax" ? "invalid_json" : error.kind,
      title: TITLES[error.kind],
      detail: error.message,
      errors: [{ pointer: error.pointer, detail: error.message }],
    });
  }
  return result.value;
}

const TITLES: Record<JsonSyntaxError["kind"], string> = {
  syntax: "Body is not valid JSON",
  too_deep: "Body is nested too deeply",
  duplicate_key: "Duplicate key in body",
  inexact_number: "Number cannot be forwarded exactly",
};

function isJsonLike(contentType: string | null): boolean {
  if (contentType === null || contentType.trim() === "") return true;
  const mediaType = contentType.split(";")[0]!.trim().toLowerCase();
  return mediaType === "application/json" || mediaType === "text/plain" || /^application\/[\w.+-]+\+json$/.test(mediaType);
}

/** The client went away while its body was being read (contract §9: not a server error). */
export class ClientGone extends Error {
  constructor(cause: unknown) {
    super("The client closed the request before its body arrived", { cause });
    this.name = "ClientGone";
  }
}

/** 499 (nginx's "client closed request"): nobody reads it, but the log and metrics do. */
export const CLIENT_GONE: ProblemInit = {
  status: 499,
  code: "client_closed_request",
  title: "Client closed the request",
  detail: "The request's body did not arrive whole.",
};

async function readLimited(request: Request, maxBytes: number): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    let read: ReadableStreamReadResult<Uint8Array>;
    try {
      read = await reader.read();
    } catch (error) {
      throw new ClientGone(error);
    }
    const { done, value } = read;
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

function tooLarge(maxBytes: number): ProblemError {
  return new ProblemError({
    status: 413,
    code: "body_too_large",
    title: "Body too large",
    detail: `The body is larger than ${maxBytes} bytes (MAX_BODY_BYTES).`,
  });
}
