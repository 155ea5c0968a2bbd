import { FaultPlan, json, sleep, type Fault } from "./faults.ts";

/**
 * A strict fake of Braze's POST /users/track (docs/upstreams.md): Bearer key, at most `maxObjects`
 * objects across attributes, events and purchases ("Max Input Length Exceeded"), required event
 * fields and ISO 8601 times, property strings up to 255 characters; a 201 with `errors` when only
 * some events are bad; X-RateLimit-* headers on every answer; injectable 429/5xx/latency. Its
 * ledger keeps every accepted event, which is what the relay is judged by. Web APIs only: it runs
 * in the Workers tests, under `npm start` and in the benchmark alike.
 */

export interface FakeBrazeOptions {
  apiKey: string;
  maxObjects?: number;
  /** Requests allowed per rate-limit window (Braze: 3,000 per 3 s per workspace). */
  rateLimit?: number;
  rateWindowSeconds?: number;
  random?: () => number;
}

export interface AcceptedEvent {
  external_id: string;
  name: string;
  time: string;
  properties: Record<string, unknown>;
}

export interface BrazeRequestRecord {
  status: number;
  objects: number;
  accepted: number;
  authorized: boolean;
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

export class FakeBraze {
  readonly faults: FaultPlan;
  readonly requests: BrazeRequestRecord[] = [];
  readonly events: AcceptedEvent[] = [];
  private readonly options: Required<Omit<FakeBrazeOptions, "random">>;
  private windowStart = 0;
  private windowCount = 0;

  constructor(options: FakeBrazeOptions) {
    this.options = { maxObjects: 75, rateLimit: 3_000, rateWindowSeconds: 3, ...options };
    this.faults = new FaultPlan(options.random ?? Math.random);
  }

  inject(fault: Fault): void {
    this.faults.add(fault);
  }

  reset(): void {
    this.requests.length = 0;
    this.events.length = 0;
    this.faults.clear();
  }

  /** Requests Braze answered 2xx (what counts against the campaign's budget of useful calls). */
  acceptedRequests(): BrazeRequestRecord[] {
    return this.requests.filter((r) => r.status === 201);
  }

  async handle(request: Request): Promise<Response> {
    const record: BrazeRequestRecord = { status: 0, objects: 0, accepted: 0, authorized: false };
    this.requests.push(record);
    const response = await this.answer(request, record);
    record.status = response.status;
    return response;
  }

  private async answer(request: Request, record: BrazeRequestRecord): Promise<Response> {
    const url = new URL(request.url);
    if (request.method !== "POST" || url.pathname !== "/users/track") return json({ message: "Not Found" }, 404);
    if (request.headers.get("Authorization") !== `Bearer ${this.options.apiKey}`) {
      return json({ message: "Invalid API key" }, 401, this.rateHeaders());
    }
    record.authorized = true;
    const text = await request.text();
    const fault = this.faults.take(request.method, url.pathname, text);
    if (fault?.afterProcessing) {
      const processed = this.process(text, record);
      // The events are in the ledger now, whatever the caller hears (or misses) next.
      if (fault.latencyMs) await sleep(fault.latencyMs, request.signal);
      return fault.status ? this.faultAnswer(fault) : processed;
    }
    if (fault?.latencyMs) await sleep(fault.latencyMs, request.signal);
    if (fault?.status) return this.faultAnswer(fault);
    if (!this.takeRateSlot()) return json({ message: "API rate limit exceeded" }, 429, this.rateHeaders(true));
    return this.process(text, record);
  }

  private faultAnswer(fault: Fault): Response {
    const headers = { ...this.rateHeaders(fault.status === 429), ...fault.headers };
    return new Response(fault.body ?? JSON.stringify({ message: `injected ${fault.status}` }), {
      status: fault.status,
      headers: { "Content-Type": "application/json", ...headers },
    });
  }

  /** What Braze does with a /users/track body: validates, keeps the acceptable events, answers. */
  private process(text: string, record: BrazeRequestRecord): Response {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text);
    } catch {
      return json({ message: "Invalid JSON" }, 400, this.rateHeaders());
    }
    const arrays = ["attributes", "events", "purchases"].map((key) => body[key]);
    if (arrays.some((value) => value !== undefined && !Array.isArray(value)))
      return json({ message: "attributes, events and purchases must be arrays" }, 400, this.rateHeaders());
    const objects = arrays.reduce<number>((sum, value) => sum + ((value as unknown[] | undefined)?.length ?? 0), 0);
    record.objects = objects;
    if (objects === 0) return json({ message: "No attributes, events or purchases" }, 400, this.rateHeaders());
    if (objects > this.options.maxObjects) return json({ message: "Max Input Length Exceeded" }, 400, this.rateHeaders());

    const events = (body.events as unknown[] | undefined) ?? [];
    const errors: { type: string; input_array: string; index: number }[] = [];
    const accepted: AcceptedEvent[] = [];
    events.forEach((event, index) => {
      const problem = eventProblem(event);
      if (problem) errors.push({ type: problem, input_array: "events", index });
      else accepted.push(event as AcceptedEvent);
    });
    if (accepted.length === 0 && errors.length > 0) return json({ message: "All events were invalid", errors }, 400, this.rateHeaders());
    this.events.push(...accepted);
    record.accepted = accepted.length;
    return json({ message: "success", events_processed: accepted.length, ...(errors.length ? { errors } : {}) }, 201, this.rateHeaders());
  }

  private takeRateSlot(): boolean {
    const now = Date.now();
    if (now - this.windowStart >= this.options.rateWindowSeconds * 1000) {
      this.windowStart = now;
      this.windowCount = 0;
    }
    this.windowCount++;
    return this.windowCount <= this.options.rateLimit;
  }

  private rateHeaders(exhausted = false): Record<string, string> {
    const reset = Math.ceil((this.windowStart + this.options.rateWindowSeconds * 1000) / 1000);
    return {
      "X-RateLimit-Limit": String(this.options.rateLimit),
      "X-RateLimit-Remaining": String(exhausted ? 0 : Math.max(0, this.options.rateLimit - this.windowCount)),
      "X-RateLimit-Reset": String(Math.max(reset, Math.ceil(Date.now() / 1000) + (exhausted ? 1 : 0))),
    };
  }
}

/** Why Braze would refuse this event object, or undefined when it is acceptable. */
function eventProblem(event: unknown): string | undefined {
  if (!event || typeof event !== "object" || Array.isArray(event)) return "event must be an object";
  const e = event as Record<string, unknown>;
  if (typeof e.external_id !== "string" || !e.external_id) return "event requires external_id";
  if (typeof e.name !== "string" || !e.name) return "event requires name";
  if (typeof e.time !== "string" || !ISO_8601.test(e.time) || Number.isNaN(Date.parse(e.time))) return "event time must be ISO 8601";
  if (e.properties !== undefined) {
    if (!e.properties || typeof e.properties !== "object" || Array.isArray(e.properties)) return "properties must be an object";
    for (const value of Object.values(e.properties)) {
      if (typeof value === "string" && value.length > 255) return "property values must be at most 255 characters";
    }
  }
  return undefined;
}
