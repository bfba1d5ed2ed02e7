// Bounded concurrency for fan-outs (the redeploys): a few lines, so no dependency for it.
/** Runs `worker` over `items` with at most `limit` in flight; never rejects. */
export async function forEachLimited<T>(items: readonly T[], limit: number, worker: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++];
      await worker(item);
    }
  });
  await Promise.all(lanes);
}
