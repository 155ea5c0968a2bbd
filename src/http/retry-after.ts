const DEFAULT_RETRY_AFTER_SECONDS = 30;

/** Retry-After in seconds (RFC 9110: delta-seconds or an HTTP date), clamped to 1..3600. */
export function retryAfterSeconds(value: string | null, now = Date.now()): number {
  if (!value) return DEFAULT_RETRY_AFTER_SECONDS;
  const trimmed = value.trim();
  const seconds = /^\d+$/.test(trimmed) ? Number(trimmed) : Math.ceil((Date.parse(trimmed) - now) / 1000);
  if (!Number.isFinite(seconds)) return DEFAULT_RETRY_AFTER_SECONDS;
  return Math.min(3600, Math.max(1, seconds));
}
