import { forEachLimited } from '../../functions/for-each-limited';

describe('forEachLimited', () => {
  async function run(itemCount: number, limit: number) {
    const items = Array.from({ length: itemCount }, (_, i) => i);
    const seen: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    await forEachLimited(items, limit, async (item) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      // Uneven durations so lanes interleave.
      await new Promise((resolve) => setTimeout(resolve, (item * 7) % 5));
      seen.push(item);
      inFlight--;
    });
    return { items, seen, maxInFlight };
  }

  test('never has more than `limit` items in flight, and uses all the lanes', async () => {
    const { maxInFlight } = await run(20, 3);
    expect(maxInFlight).toBe(3);
  });

  test('processes every item exactly once', async () => {
    const { items, seen } = await run(23, 4);
    expect([...seen].sort((a, b) => a - b)).toEqual(items);
  });

  test('works when the limit exceeds the number of items, and with no items', async () => {
    const { seen, maxInFlight } = await run(2, 10);
    expect(seen).toHaveLength(2);
    expect(maxInFlight).toBeLessThanOrEqual(2);
    await expect(run(0, 3)).resolves.toMatchObject({ seen: [] });
  });
});
