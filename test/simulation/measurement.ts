/**
 * Turns a finished run's history into its result: how long before its death
 * each token's last holder stopped, and every stretch of time a task held a
 * dead token (a dead-token episode) with the rotations around it.
 */
import { SimOptions } from './options';
import { deathOf, DeadEpisode, DeploymentRecord, RotationRecord, SimResult, TaskRecord, TokenRecord } from './records';

/** Everything a run recorded, in the order it happened. */
export interface RunHistory {
  readonly options: SimOptions;
  readonly tokens: readonly TokenRecord[];
  /** In start order. */
  readonly rotations: readonly RotationRecord[];
  readonly tasks: readonly TaskRecord[];
  readonly deployments: readonly DeploymentRecord[];
}

/** The counters a run kept as it went. */
export type RunCounters = Pick<SimResult, 'scheduled' | 'deferrals' | 'watchdog' | 'failed' | 'maxConsecutiveFailures'>;

/** The rotation that deleted the key of a task's dead token (if that killed it), and the one whose rollout stopped the task. */
function causesOf(h: RunHistory, t: TaskRecord): RotationRecord[] {
  const token = h.tokens[t.tokenId];
  const causes: RotationRecord[] = [];
  if (token.key?.deletedBy !== undefined && token.key.deletedAt === deathOf(token)) causes.push(h.rotations[token.key.deletedBy]);
  if (t.stoppedBy !== undefined && !causes.includes(h.rotations[t.stoppedBy])) causes.push(h.rotations[t.stoppedBy]);
  return causes;
}

export function measure(h: RunHistory, counters: RunCounters): SimResult {
  const end = h.options.durationSeconds;
  const lastStop = new Map<number, number>();
  for (const t of h.tasks) lastStop.set(t.tokenId, Math.max(lastStop.get(t.tokenId) ?? -Infinity, t.stoppedAt ?? Infinity));
  let worstMargin = Infinity;
  for (const [tokenId, stop] of lastStop) {
    const death = deathOf(h.tokens[tokenId]);
    if (stop !== Infinity) worstMargin = Math.min(worstMargin, death - stop);
    else if (death < end) worstMargin = Math.min(worstMargin, death - end);
  }

  const maxRotation = h.options.rotationSeconds.max;
  const episodes: DeadEpisode[] = [];
  // Rotations are recorded in start order: find the first one after a time by bisection.
  const firstStartedAfter = (time: number) => {
    let lo = 0;
    let hi = h.rotations.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (h.rotations[mid].startedAt > time) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
  for (const t of h.tasks) {
    const from = Math.max(t.startedAt, deathOf(h.tokens[t.tokenId]));
    const to = Math.min(t.stoppedAt ?? end, end);
    if (to <= from) continue;
    const during = h.rotations.slice(firstStartedAfter(from - maxRotation), firstStartedAfter(to));
    episodes.push({
      taskId: t.id,
      tokenId: t.tokenId,
      from,
      to,
      attempts: during.length,
      failedAttempts: during.filter((r) => r.outcome === 'failed').length,
      recoveriesThatDied: during.filter((r) => r.outcome === 'succeeded' && r.endedAt! > from && deathOf(h.tokens[r.tokenId!]) < to).length,
      openAtEnd: t.stoppedAt === undefined,
      causedBy: causesOf(h, t),
    });
  }
  const lengths = episodes.map((e) => e.to - e.from);
  return {
    options: h.options,
    tokens: h.tokens,
    rotations: h.rotations,
    tasks: h.tasks,
    episodes,
    worstMarginSeconds: worstMargin,
    deadTaskSeconds: lengths.reduce((a, b) => a + b, 0),
    maxDeadEpisodeSeconds: lengths.reduce((a, b) => Math.max(a, b), 0),
    scheduled: { ...counters.scheduled },
    deferrals: { ...counters.deferrals },
    watchdog: { ...counters.watchdog },
    failed: counters.failed,
    maxConsecutiveFailures: counters.maxConsecutiveFailures,
    deployments: h.deployments,
    rollouts: {
      promotion: h.deployments.filter((d) => d.kind === 'promotion').length,
      promotionStuck: h.deployments.filter((d) => d.kind === 'promotion' && d.stuck).length,
      heal: h.deployments.filter((d) => d.kind === 'heal').length,
      healStuck: h.deployments.filter((d) => d.kind === 'heal' && d.stuck).length,
    },
  };
}
