/**
 * The time budget every part agrees on: the construct validates props with
 * it, the watchdog decides with it, and the simulation test checks it.
 * All values are seconds.
 */

/** Slack for the rotation itself (four steps, retries) and clock skew. */
export const SAFETY_MARGIN_SECONDS = 300;

/**
 * A pending version older than this is a failed rotation: the watchdog
 * clears it so that a new rotation can start (Secrets Manager refuses one
 * while it exists). A rotation normally takes seconds.
 */
export const STALE_PENDING_SECONDS = 15 * 60;

/**
 * Secrets Manager's own schedule rotates at any time within a window after
 * each tick; the construct sets that window to one hour. EventBridge
 * Scheduler fires on time (window 0).
 */
export const NATIVE_SCHEDULE_WINDOW_SECONDS = 3600;

export interface TimingBudget {
  readonly rotationIntervalSeconds: number;
  readonly rolloutAllowanceSeconds: number;
  readonly watchdogIntervalSeconds: number;
  /** How late a scheduled rotation may start: NATIVE_SCHEDULE_WINDOW_SECONDS or 0. */
  readonly scheduleWindowSeconds: number;
}

/**
 * The watchdog rotates when the current token has less than this left: it may
 * notice up to one watchdog interval late, a failed rotation blocks a new one
 * until its pending version is stale, the rotation takes up to the safety
 * margin, and the rollout up to rolloutAllowance.
 */
export function rotateBeforeExpirySeconds(t: Omit<TimingBudget, 'rotationIntervalSeconds' | 'scheduleWindowSeconds'>): number {
  return t.rolloutAllowanceSeconds + t.watchdogIntervalSeconds + STALE_PENDING_SECONDS + SAFETY_MARGIN_SECONDS;
}

/**
 * The shortest token lifetime that is safe: a token minted at one scheduled
 * rotation must still have more than rotateBeforeExpirySeconds left when the
 * next one starts (at the latest, at the end of its window), so the watchdog
 * never fires on a healthy schedule and can still rescue a failed one.
 */
export function minimumTokenLifetimeSeconds(t: TimingBudget): number {
  return t.rotationIntervalSeconds + t.scheduleWindowSeconds + rotateBeforeExpirySeconds(t);
}

/**
 * The shortest rotation interval that is safe: a rescue rotation by the
 * watchdog and its rollout must finish before the next scheduled rotation
 * starts another rollout (which would supersede it and keep old tasks
 * longer, or, with access keys, delete a key still in use), and a failed
 * rotation's pending version must go stale before the next tick.
 */
export function minimumRotationIntervalSeconds(t: Pick<TimingBudget, 'rolloutAllowanceSeconds' | 'watchdogIntervalSeconds'>): number {
  return Math.max(
    2 * t.rolloutAllowanceSeconds + t.watchdogIntervalSeconds + SAFETY_MARGIN_SECONDS,
    STALE_PENDING_SECONDS + t.watchdogIntervalSeconds + SAFETY_MARGIN_SECONDS,
  );
}

/**
 * The least validity AWSCURRENT's token has left at any moment, so the least
 * a task that reads it at start and is never redeployed (RunTask, a schedule,
 * Step Functions) gets. The watchdog rotates once AWSCURRENT has less than
 * rotateBeforeExpirySeconds left, notices up to one watchdog interval late, a
 * failed rotation blocks a new one for STALE_PENDING_SECONDS, and a rotation
 * takes up to SAFETY_MARGIN_SECONDS: the next token is promoted with the old
 * one still valid for rotateBeforeExpiry - watchdogInterval - STALE_PENDING -
 * SAFETY_MARGIN = rolloutAllowance. With the access-key signer, the key of
 * AWSPREVIOUS is kept for rolloutAllowance after a promotion as well. With the
 * role signer nothing is guaranteed: a token dies with the role's session.
 */
export function minimumTaskValiditySeconds(t: Omit<TimingBudget, 'rotationIntervalSeconds' | 'scheduleWindowSeconds'>): number {
  return rotateBeforeExpirySeconds(t) - t.watchdogIntervalSeconds - STALE_PENDING_SECONDS - SAFETY_MARGIN_SECONDS;
}
