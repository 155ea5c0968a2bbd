/**
 * One structured log line per thing an operator may act on. Objects, not strings: Workers Logs
 * indexes their fields, so `event`, `requestId`, `product`, `status` and `reason` can be queried.
 */
export type LogLevel = "info" | "warn" | "error";

export function log(level: LogLevel, event: string, fields: Record<string, unknown> = {}): void {
  const line = { level, event, ...fields };
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}
