/**
 * What the proxy assumes about Braze's /users/track answers without the vendor saying so exactly
 * (docs/upstreams.md). One small function, so a correction lands in one place.
 */

export interface RejectedObject {
  /** Position in the request's `events` array. */
  index: number;
  reason: string;
}

/**
 * [doc, shape inferred] A 201 with partial success lists the objects Braze refused as
 * `errors: [{ type, input_array, index }]`; only `events` entries concern the proxy.
 */
export function rejectedEvents(body: unknown): RejectedObject[] {
  if (!body || typeof body !== "object") return [];
  const errors = (body as { errors?: unknown }).errors;
  if (!Array.isArray(errors)) return [];
  return errors.flatMap((error: unknown) => {
    if (!error || typeof error !== "object") return [];
    const { type, input_array: inputArray, index } = error as Record<string, unknown>;
    if (inputArray !== undefined && inputArray !== "events") return [];
    if (typeof index !== "number" || !Number.isInteger(index)) return [];
    return [{ index, reason: typeof type === "string" ? type.slice(0, 300) : "rejected by Braze" }];
  });
}
