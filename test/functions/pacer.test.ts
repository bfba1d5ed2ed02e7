import { Pacer } from '../../functions/pacer';

/** A pacer on a fake clock that advances only when the pacer sleeps. */
function fakePacer(floorMs: number) {
  let clock = 0;
  const sleeps: number[] = [];
  const pacer = new Pacer(
    floorMs,
    async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
    () => clock,
  );
  return { pacer, sleeps, now: () => clock };
}

describe('Pacer', () => {
  test('with no floor and no throttling it never waits', async () => {
    const { pacer, sleeps } = fakePacer(0);
    for (let i = 0; i < 5; i++) {
      await pacer.acquire();
      pacer.succeeded();
    }
    expect(sleeps).toEqual([]);
  });

  test('the floor spaces sends, also for callers that reserve at the same moment', async () => {
    const { pacer, sleeps, now } = fakePacer(200);
    await Promise.all([0, 1, 2].map(() => pacer.acquire()));
    // Slots 0, 200 and 400: the second caller waits 200 ms, the third the remaining 200 ms.
    expect(sleeps).toEqual([200, 200]);
    expect(now()).toBe(400);
  });

  test('throttling doubles the gap up to the cap; successes narrow it back to the floor, not below', () => {
    const { pacer } = fakePacer(100);
    pacer.throttled(0);
    expect(pacer.gapMs).toBe(200);
    for (let i = 1; i <= 10; i++) pacer.throttled(i);
    expect(pacer.gapMs).toBe(Pacer.MAX_GAP_MS);
    for (let i = 0; i < 200; i++) pacer.succeeded();
    expect(pacer.gapMs).toBe(100);
  });

  test("a throttled caller's retry waits the widened gap", async () => {
    const { pacer, sleeps } = fakePacer(0);
    pacer.throttled(await pacer.acquire());
    pacer.throttled(await pacer.acquire());
    await pacer.acquire();
    expect(sleeps).toEqual([Pacer.MIN_THROTTLED_GAP_MS, 2 * Pacer.MIN_THROTTLED_GAP_MS]);
  });

  test('throttles of sends that were in flight together widen the gap once', async () => {
    const { pacer } = fakePacer(0);
    const tickets = await Promise.all([pacer.acquire(), pacer.acquire(), pacer.acquire()]);
    for (const t of tickets) pacer.throttled(t);
    expect(pacer.gapMs).toBe(Pacer.MIN_THROTTLED_GAP_MS);
    pacer.throttled(await pacer.acquire());
    expect(pacer.gapMs).toBe(2 * Pacer.MIN_THROTTLED_GAP_MS);
  });

  test('a throttle with no floor starts spacing at the minimum gap', () => {
    const { pacer } = fakePacer(0);
    pacer.throttled(0);
    expect(pacer.gapMs).toBe(Pacer.MIN_THROTTLED_GAP_MS);
    for (let i = 0; i < 100; i++) pacer.succeeded();
    expect(pacer.gapMs).toBe(0);
  });
});
