/** Runs `each` over `items` with at most `concurrency` at a time, in order of start. */
export async function inPool<T>(items: readonly T[], concurrency: number, each: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await each(items[next++]!);
    }),
  );
}
