import { createServer, type IncomingMessage, type Server } from "node:http";
import type { Fault } from "../fakes/faults.ts";

/** A fake that can be served over HTTP: its API, plus a `/__fake/*` control surface. */
export interface ServableFake {
  handle(request: Request): Promise<Response>;
  inject(fault: Fault): void;
  reset(): void;
  /** What `GET /__fake/state` shows: calls received, what was stored. */
  state(): unknown;
  /** The fake's own `/__fake/*` routes beyond state, reset and faults (undefined: not one of them). */
  control?(request: Request, pathname: string): Promise<Response | undefined> | Response | undefined;
}

/** Serves a fake on a loopback port with Node's HTTP server. Resolves once listening. */
export function serveFake(fake: ServableFake, port: number, host = "127.0.0.1"): Promise<Server> {
  const server = createServer(async (incoming, outgoing) => {
    const abort = new AbortController();
    outgoing.on("close", () => abort.abort());
    try {
      const request = await toRequest(incoming, `http://${incoming.headers.host ?? `${host}:${port}`}`, abort.signal);
      const response = (await control(fake, request)) ?? (await fake.handle(request));
      outgoing.writeHead(response.status, Object.fromEntries(response.headers));
      outgoing.end(Buffer.from(await response.arrayBuffer()));
    } catch (error) {
      if (abort.signal.aborted) return;
      outgoing.writeHead(500, { "Content-Type": "text/plain" });
      outgoing.end(`fake failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  });
  server.keepAliveTimeout = 30_000;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}

async function control(fake: ServableFake, request: Request): Promise<Response | undefined> {
  const { pathname } = new URL(request.url);
  if (!pathname.startsWith("/__fake/")) return undefined;
  if (request.method === "GET" && pathname === "/__fake/state") return Response.json(fake.state());
  if (request.method === "POST" && pathname === "/__fake/reset") {
    fake.reset();
    return new Response(null, { status: 204 });
  }
  if (request.method === "POST" && pathname === "/__fake/faults") {
    fake.inject((await request.json()) as Fault);
    return new Response(null, { status: 204 });
  }
  const own = await fake.control?.(request, pathname);
  if (own) return own;
  return Response.json({ error: "unknown control route" }, { status: 404 });
}

async function toRequest(incoming: IncomingMessage, origin: string, signal: AbortSignal): Promise<Request> {
  const chunks: Buffer[] = [];
  for await (const chunk of incoming) chunks.push(chunk as Buffer);
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming.headers)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  const hasBody = incoming.method !== "GET" && incoming.method !== "HEAD";
  return new Request(new URL(incoming.url ?? "/", origin), {
    method: incoming.method,
    headers,
    body: hasBody ? Buffer.concat(chunks) : undefined,
    signal,
  });
}
