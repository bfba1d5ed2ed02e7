/**
 * The simulation's fake clock: time is a number of simulated seconds since
 * SIM_EPOCH_MS, advanced by an event queue, so nothing sleeps and no timer runs.
 */

export const MINUTE = 60;
export const HOUR = 3600;
export const DAY = 86400;
export const WEEK = 7 * DAY;
/** Simulated time 0: Monday 2025-01-06 00:00 UTC (Secrets Manager's rotation windows start at UTC midnight). */
export const SIM_EPOCH_MS = Date.UTC(2025, 0, 6);

interface QueuedEvent {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void;
}

/** A binary min-heap of events keyed by (time, insertion order). */
export class EventQueue {
  private readonly heap: QueuedEvent[] = [];
  private seq = 0;
  public now = 0;

  public schedule(at: number, run: () => void): void {
    if (at < this.now) throw new Error(`cannot schedule an event in the past (${at} < ${this.now})`);
    this.heap.push({ at, seq: this.seq++, run });
    let i = this.heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(this.heap[i], this.heap[parent])) break;
      [this.heap[i], this.heap[parent]] = [this.heap[parent], this.heap[i]];
      i = parent;
    }
  }

  /** Runs events in time order until the queue is empty or the next event is after `until`. */
  public runUntil(until: number): void {
    while (this.heap.length > 0 && this.heap[0].at <= until) {
      const next = this.pop();
      this.now = next.at;
      next.run();
    }
    this.now = until;
  }

  private pop(): QueuedEvent {
    const top = this.heap[0];
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.heap.length && this.less(this.heap[l], this.heap[m])) m = l;
        if (r < this.heap.length && this.less(this.heap[r], this.heap[m])) m = r;
        if (m === i) break;
        [this.heap[i], this.heap[m]] = [this.heap[m], this.heap[i]];
        i = m;
      }
    }
    return top;
  }

  private less(a: QueuedEvent, b: QueuedEvent): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }
}
