/**
 * What a Worker's isolate really keeps: its JavaScript heap after a full garbage collection, read
 * through workerd's V8 inspector (loopback). workerd answers no `HeapProfiler.collectGarbage`,
 * but a heap snapshot collects garbage first, so one is taken (its chunks thrown away) and the
 * heap measured right after. The snapshot stops the isolate for a moment: take it when idle.
 */

export interface HeapAfterGc {
  /** Live JavaScript objects, in bytes. */
  usedBytes: number;
  /** The heap V8 has reserved for them. */
  totalBytes: number;
}

export async function heapAfterGc(target: string, timeoutMs = 30_000): Promise<HeapAfterGc> {
  const socket = new WebSocket(target);
  const deadline = setTimeout(() => socket.close(), timeoutMs);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener("open", () => resolve(), { once: true });
      socket.addEventListener("error", () => reject(new Error(`cannot reach the inspector at ${target}`)), { once: true });
    });
    const answers = new Map<number, (result: Record<string, unknown>) => void>();
    let lastId = 0;
    socket.addEventListener("message", (event) => {
      const text = String(event.data);
      // Snapshot chunks are large and of no interest: only answers (which start with their id).
      if (!text.startsWith('{"id":')) return;
      const message = JSON.parse(text) as { id: number; result?: Record<string, unknown>; error?: unknown };
      answers.get(message.id)?.(message.result ?? {});
    });
    const call = (method: string, params: object = {}) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const id = ++lastId;
        answers.set(id, resolve);
        socket.addEventListener("close", () => reject(new Error(`the inspector closed before answering ${method}`)), { once: true });
        socket.send(JSON.stringify({ id, method, params }));
      });
    await call("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
    const usage = await call("Runtime.getHeapUsage");
    return { usedBytes: Number(usage.usedSize), totalBytes: Number(usage.totalSize) };
  } finally {
    clearTimeout(deadline);
    socket.close();
  }
}
