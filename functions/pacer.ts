/**
 * One send rate shared by every lane of a fan-out, so that lanes do not
 * compete for ECS's throttle: a throttled call widens the gap between sends,
 * a successful one narrows it again, never below the configured stagger.
 * Without it, freshly throttled calls retry sooner than calls deep in their
 * backoff, keep winning the throttle's tokens, and starve those calls until
 * their attempts run out (measured by `npm run bench`).
 */
export class Pacer {
  static readonly MIN_THROTTLED_GAP_MS = 50;
  static readonly MAX_GAP_MS = 5_000;
  private next: number;
  private gap: number;
  /** Bumped at each widening: throttles of sends reserved before it were already answered. */
  private epoch = 0;

  constructor(
    private readonly floorMs: number,
    private readonly sleep: (ms: number) => Promise<void>,
    private readonly now: () => number = Date.now,
  ) {
    this.gap = floorMs;
    this.next = now();
  }

  /** Waits for this caller's send slot; slots are reserved in call order. Returns the ticket for throttled(). */
  async acquire(): Promise<number> {
    const ticket = this.epoch;
    const slot = Math.max(this.now(), this.next);
    this.next = slot + this.gap;
    const wait = slot - this.now();
    if (wait > 0) await this.sleep(wait);
    return ticket;
  }

  /**
   * Widens the gap and pushes the next free slot out by it, so the throttled
   * caller's retry waits too. Sends already in flight when the gap widened
   * (an older ticket) were sent at the old rate: their throttles change nothing.
   */
  throttled(ticket: number): void {
    if (ticket !== this.epoch) return;
    this.epoch++;
    this.gap = Math.min(Pacer.MAX_GAP_MS, Math.max(this.gap * 2, Pacer.MIN_THROTTLED_GAP_MS));
    this.next = Math.max(this.next, this.now() + this.gap);
  }

  succeeded(): void {
    this.gap = Math.max(this.floorMs, this.gap * 0.9);
    if (this.gap < 1) this.gap = this.floorMs;
  }

  /** The current gap between sends, in ms. */
  get gapMs(): number {
    return this.gap;
  }
}
