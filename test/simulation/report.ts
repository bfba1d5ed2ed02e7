/**
 * Summaries and tables of simulation results, and the classification of
 * dead-token episodes the tests assert on.
 */
import { MINUTE } from './clock';
import { TimingConfig } from './config';
import { DeadEpisode, SimResult } from './records';

export interface ScenarioSummary {
  readonly scenario: string;
  readonly runs: number;
  readonly worstMarginMin: number;
  readonly deadTaskMin: number;
  readonly maxEpisodeMin: number;
  readonly scheduled: number;
  readonly watchdog: number;
  readonly failed: number;
  readonly skipped: number;
}

export function summarize(scenario: string, results: readonly SimResult[]): ScenarioSummary {
  const sum = (f: (r: SimResult) => number) => results.reduce((a, r) => a + f(r), 0);
  return {
    scenario,
    runs: results.length,
    worstMarginMin: Math.min(...results.map((r) => r.worstMarginSeconds)) / MINUTE,
    deadTaskMin: sum((r) => r.deadTaskSeconds) / MINUTE,
    maxEpisodeMin: Math.max(...results.map((r) => r.maxDeadEpisodeSeconds)) / MINUTE,
    scheduled: sum((r) => r.scheduled.started),
    watchdog: sum((r) => r.watchdog.rotations),
    failed: sum((r) => r.failed),
    skipped: sum((r) => r.scheduled.skippedInProgress + r.scheduled.skippedPending + r.scheduled.heldWithinRollout),
  };
}

/** A compact fixed-width table, one line per scenario. */
export function formatTable(title: string, rows: readonly ScenarioSummary[]): string {
  const header = [
    'scenario',
    'runs',
    'worst margin (min)',
    'dead task-min',
    'longest dead (min)',
    'rotations sched/wd/failed',
    'ticks skipped',
  ];
  const body = rows.map((r) => [
    r.scenario,
    String(r.runs),
    Number.isFinite(r.worstMarginMin) ? r.worstMarginMin.toFixed(1) : 'n/a',
    r.deadTaskMin.toFixed(1),
    r.maxEpisodeMin.toFixed(1),
    `${r.scheduled}/${r.watchdog}/${r.failed}`,
    String(r.skipped),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join(' | ');
  return [title, line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...body.map(line)].join('\n');
}

/**
 * Whether a dead-token episode comes from a rotation that started within
 * rolloutAllowance of the previous promotion: it deleted the access key that
 * rollout was still replacing, or its own rollout superseded that one.
 */
export function causedByFollowUp(e: DeadEpisode, c: TimingConfig): boolean {
  return e.causedBy.some((r) => r.sinceLastPromotion < c.rolloutAllowanceSeconds);
}
