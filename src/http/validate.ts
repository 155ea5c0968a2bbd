import type { z } from "zod";
import { ProblemError, type FieldError } from "./problem.ts";
import { toPointer } from "./pointer.ts";

/**
 * Parses `value` with `schema`, or throws a 422 whose `errors` point at every offending field.
 * `knownFieldsAt` gives, for an unknown key, the names it may have been meant as.
 */
export function validateBody<S extends z.ZodType>(
  schema: S,
  value: unknown,
  knownFieldsAt: (path: readonly PropertyKey[]) => readonly string[],
): z.output<S> {
  refuseUnsafeKeys(value, []);
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  // Bounded, so a body with thousands of bad fields cannot make a huge answer.
  const errors = result.error.issues.flatMap((issue) => describeIssue(issue, knownFieldsAt)).slice(0, MAX_ERRORS);
  throw new ProblemError({
    status: 422,
    code: "validation_failed",
    title: "Body failed validation",
    detail: errors.map((e) => `${e.pointer || "/"}: ${e.detail}`).join("; "),
    errors,
  });
}

const MAX_ERRORS = 20;

/**
 * `__proto__` stays data in the parsed body, but object-building code (zod's records among it)
 * would drop it or turn it into a prototype: refused with a pointer instead of silently lost
 * (contract §8.6). `constructor` and other keys are ordinary data and forwarded as sent.
 */
function refuseUnsafeKeys(value: unknown, path: PropertyKey[]): void {
  if (!value || typeof value !== "object") return;
  for (const [key, child] of Object.entries(value)) {
    if (key === "__proto__") {
      const pointer = toPointer([...path, key]);
      throw new ProblemError({
        status: 422,
        code: "validation_failed",
        title: "Body failed validation",
        detail: `${pointer}: the key __proto__ cannot be forwarded safely; rename it`,
        errors: [{ pointer, detail: "the key __proto__ cannot be forwarded safely; rename it" }],
      });
    }
    refuseUnsafeKeys(child, [...path, key]);
  }
}

function describeIssue(issue: z.core.$ZodIssue, knownFieldsAt: (path: readonly PropertyKey[]) => readonly string[]): FieldError[] {
  if (issue.code === "unrecognized_keys") {
    const known = knownFieldsAt(issue.path);
    return issue.keys.map((key) => {
      const suggestion = closest(key, known);
      const hint = suggestion ? ` (did you mean ${suggestion}?)` : "";
      return { pointer: toPointer([...issue.path, key]), detail: `unknown field${hint}` };
    });
  }
  if (issue.code === "invalid_type" && issue.input === undefined) {
    return [{ pointer: toPointer(issue.path), detail: "is required" }];
  }
  if (issue.code === "invalid_type" && issue.expected === "object") {
    return [{ pointer: toPointer(issue.path), detail: "must be a JSON object" }];
  }
  return [{ pointer: toPointer(issue.path), detail: issue.message }];
}

/** The known name closest to `key`: same letters in another case, or at most 2 edits away. */
export function closest(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    if (candidate.toLowerCase() === lower) return candidate;
    const distance = editDistance(lower, candidate.toLowerCase(), bestDistance);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance, giving up (returning `limit`) once it cannot be below `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const value = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      current.push(value);
      rowMin = Math.min(rowMin, value);
    }
    if (rowMin >= limit) return limit;
    previous = current;
  }
  return Math.min(previous[b.length]!, limit);
}
