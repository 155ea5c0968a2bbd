/**
 * Fault injection shared by the fakes: each fault applies to the next `times` matching requests
 * (or, with `rate`, to that fraction of them, forever), in the order they were added.
 */
export interface Fault {
  /** Answer this status instead (with `body`, or a JSON error). */
  status?: number;
  body?: string;
  headers?: Record<string, string>;
  /** Wait this long first (honouring the caller's abort). */
  latencyMs?: number;
  /** Answer 200 with a body that is not the documented shape. */
  malformed?: boolean;
  /**
   * Apply the fault only after the request was fully processed (Braze fake): what real services
   * do when the answer, not the work, is lost to a gateway error or a timeout.
   */
  afterProcessing?: boolean;
  /** Only requests with this method / whose path contains this. */
  method?: string;
  pathIncludes?: string;
  /** Only requests whose body contains this. */
  bodyIncludes?: string;
  /** How many requests it applies to (default 1); ignored with `rate`. */
  times?: number;
  /** Probability in [0, 1] that a matching request gets this fault; stays active. */
  rate?: number;
}

export class FaultPlan {
  private faults: Fault[] = [];
  private readonly random: () => number;

  constructor(random: () => number = Math.random) {
    this.random = random;
  }

  add(fault: Fault): void {
    this.faults.push({ ...fault, times: fault.times ?? 1 });
  }

  clear(): void {
    this.faults = [];
  }

  /** The fault for this request, if any, consuming one of its `times`. */
  take(method: string, path: string, body = ""): Fault | undefined {
    for (const [index, fault] of this.faults.entries()) {
      if (fault.method && fault.method !== method) continue;
      if (fault.pathIncludes && !path.includes(fault.pathIncludes)) continue;
      if (fault.bodyIncludes && !body.includes(fault.bodyIncludes)) continue;
      if (fault.rate !== undefined) {
        if (this.random() < fault.rate) return fault;
        continue;
      }
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) this.faults.splice(index, 1);
      return fault;
    }
    return undefined;
  }
}

/** A small seeded PRNG (mulberry32), so a fault pattern can be replayed exactly. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });
}

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}
