/**
 * The q-th percentile (0..100) of ascending-sorted values, nearest rank. NaN when there are no
 * values: no figure, rather than a 0 ms that reads as a fast answer (JSON writes it as null).
 */
export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((q / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
