/**
 * The time budget every part agrees on: the construct validates props with
 * it, the watchdog decides with it, and the simulation test checks it.
 * All values are seconds.
 */

/** Slack for the rotation itself (four steps, retries) and clock skew. */
export const SAFETY_MARGIN_SECONDS = 300;

export interface TimingBudget {
  readonly rotationIntervalSeconds: number;
  readonly rolloutAllowanceSeconds: number;
  readonly watchdogIntervalSeconds: number;
}

/**
 * The watchdog rotates when the current token has less than this left: it may
 * notice up to one watchdog interval late, the rotation takes up to the safety
 * margin, and the rollout up to rolloutAllowance.
 */
export function rotateBeforeExpirySeconds(t: TimingBudget): number {
  return t.rolloutAllowanceSeconds + t.watchdogIntervalSeconds + SAFETY_MARGIN_SECONDS;
}

/**
 * The shortest token lifetime that is safe: a token minted at one scheduled
 * rotation must still have more than rotateBeforeExpirySeconds left at the
 * next, so that the watchdog never fires on a healthy schedule and the tasks
 * started with it are replaced before it expires.
 */
export function minimumTokenLifetimeSeconds(t: TimingBudget): number {
  return t.rotationIntervalSeconds + rotateBeforeExpirySeconds(t);
}

/**
 * The shortest rotation interval that is safe: a rollout must finish before
 * the next rotation starts, or (with access keys) the next rotation would
 * delete the key of tasks not yet replaced.
 */
export function minimumRotationIntervalSeconds(t: Pick<TimingBudget, 'rolloutAllowanceSeconds'>): number {
  return t.rolloutAllowanceSeconds + SAFETY_MARGIN_SECONDS;
}
