/**
 * Summaries and tables of simulation results, and the classification of
 * dead-token episodes the tests assert on.
 */
import { MINUTE, WEEK } from './clock';
import { TimingConfig } from './config';
import { DeadEpisode, RolloutCounters, SimResult, TaskRecord } from './records';

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
  return fixedWidth(title, header, body);
}

function fixedWidth(title: string, header: readonly string[], body: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join(' | ');
  return [title, line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...body.map(line)].join('\n');
}

/** Dead task-minutes per simulated week, for the signer comparison. */
export interface DeadMinutesSummary {
  readonly scenario: string;
  readonly runs: number;
  /** Service and standalone tasks together. */
  readonly perWeek: number;
  readonly servicePerWeek: number;
  readonly standalonePerWeek: number;
  /** The standard error of perWeek: the standard deviation of the runs' own figures over √runs. */
  readonly standardError: number;
  readonly maxEpisodeMin: number;
  readonly rollouts: RolloutCounters;
}

export function summarizeDeadMinutes(scenario: string, results: readonly SimResult[]): DeadMinutesSummary {
  const weeks = (r: SimResult) => r.options.durationSeconds / WEEK;
  const deadMin = (r: SimResult, kind?: TaskRecord['kind']) =>
    r.episodes.filter((e) => kind === undefined || r.tasks[e.taskId].kind === kind).reduce((n, e) => n + e.to - e.from, 0) / MINUTE;
  const totalWeeks = results.reduce((n, r) => n + weeks(r), 0);
  const perRun = results.map((r) => deadMin(r) / weeks(r));
  const mean = perRun.reduce((a, b) => a + b, 0) / perRun.length;
  const variance = perRun.reduce((a, x) => a + (x - mean) ** 2, 0) / Math.max(1, perRun.length - 1);
  const sumOf = (k: keyof RolloutCounters) => results.reduce((n, r) => n + r.rollouts[k], 0);
  return {
    scenario,
    runs: results.length,
    perWeek: results.reduce((n, r) => n + deadMin(r), 0) / totalWeeks,
    servicePerWeek: results.reduce((n, r) => n + deadMin(r, 'service'), 0) / totalWeeks,
    standalonePerWeek: results.reduce((n, r) => n + deadMin(r, 'standalone'), 0) / totalWeeks,
    standardError: Math.sqrt(variance / perRun.length),
    maxEpisodeMin: Math.max(0, ...results.map((r) => r.maxDeadEpisodeSeconds)) / MINUTE,
    rollouts: {
      promotion: sumOf('promotion'),
      promotionStuck: sumOf('promotionStuck'),
      heal: sumOf('heal'),
      healStuck: sumOf('healStuck'),
    },
  };
}

export function formatDeadMinutesTable(title: string, rows: readonly DeadMinutesSummary[]): string {
  const header = [
    'scenario',
    'runs',
    'dead task-min/week',
    '± s.e.',
    'service',
    'standalone',
    'longest dead (min)',
    'rollouts (stuck)',
    'heals (stuck)',
  ];
  const body = rows.map((r) => [
    r.scenario,
    String(r.runs),
    r.perWeek.toFixed(1),
    r.standardError.toFixed(1),
    r.servicePerWeek.toFixed(1),
    r.standalonePerWeek.toFixed(1),
    r.maxEpisodeMin.toFixed(1),
    `${r.rollouts.promotion} (${r.rollouts.promotionStuck})`,
    `${r.rollouts.heal} (${r.rollouts.healStuck})`,
  ]);
  return fixedWidth(title, header, body);
}

/**
 * Whether a dead-token episode comes from a rotation that started within
 * rolloutAllowance of the previous promotion: it deleted the access key that
 * rollout was still replacing, or its own rollout superseded that one.
 */
export function causedByFollowUp(e: DeadEpisode, c: TimingConfig): boolean {
  return e.causedBy.some((r) => r.sinceLastPromotion < c.rolloutAllowanceSeconds);
}
