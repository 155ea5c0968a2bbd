import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * Listens on `port` on loopback and lets go at once: resolves with the port when it can be had
 * (0 picks any free one), rejects with the listen error (EADDRINUSE, EACCES) when it cannot.
 */
export function freePort(port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      const { port: bound } = server.address() as { port: number };
      server.close(() => resolve(bound));
    });
  });
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** Load is only ever sent to this machine. */
export function assertLoopback(url: string, who: string): void {
  if (!LOOPBACK.has(new URL(url).hostname)) throw new Error(`${who} refuses ${url}: loopback only`);
}

/**
 * Polls `check` every `intervalMs` until it is true (then true) or `timeoutMs` has passed (false).
 * A check that throws counts as not yet (a server that is not listening yet).
 */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 100): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return true;
    } catch {
      // not yet
    }
    if (performance.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}
