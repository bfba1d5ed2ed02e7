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
 * How long after a promotion old tasks may still run, holding the token before
 * it: their rollout takes up to rolloutAllowance; a service whose rollout is
 * stuck is healed (core/fleet.ts healDue) at the watchdog's first check after
 * that, up to one watchdog interval later, and the heal's own rollout takes up
 * to rolloutAllowance again. Until then a token must stay valid (expiry, and
 * its access key kept), and no new rotation should start (functions/deferral.ts).
 */
export function previousTokenInUseSeconds(t: Pick<TimingBudget, 'rolloutAllowanceSeconds' | 'watchdogIntervalSeconds'>): number {
  return t.rolloutAllowanceSeconds + healWindowSeconds(t);
}

/**
 * The heal's share of previousTokenInUseSeconds: it starts up to one watchdog
 * interval after the rollout's allowance, then takes its own rollout.
 */
export function healWindowSeconds(t: Pick<TimingBudget, 'rolloutAllowanceSeconds' | 'watchdogIntervalSeconds'>): number {
  return t.watchdogIntervalSeconds + t.rolloutAllowanceSeconds;
}

/**
 * The watchdog rotates when the current token has less than this left: it may
 * notice up to one watchdog interval late, a failed rotation blocks a new one
 * until its pending version is stale, the rotation takes up to the safety
 * margin, and the token must then outlive its successor's promotion by
 * previousTokenInUseSeconds (the rollout, and the heal of a stuck one).
 */
export function rotateBeforeExpirySeconds(t: Omit<TimingBudget, 'rotationIntervalSeconds' | 'scheduleWindowSeconds'>): number {
  return t.watchdogIntervalSeconds + STALE_PENDING_SECONDS + SAFETY_MARGIN_SECONDS + previousTokenInUseSeconds(t);
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
 * watchdog (up to the safety margin) and its rollout and heal
 * (previousTokenInUseSeconds) must finish before the next scheduled rotation
 * starts another rollout (which would supersede them and keep old tasks
 * longer; such a rotation is deferred, see functions/deferral.ts, but then
 * runs off the schedule), and a failed rotation's pending version must go
 * stale before the next tick.
 */
export function minimumRotationIntervalSeconds(t: Pick<TimingBudget, 'rolloutAllowanceSeconds' | 'watchdogIntervalSeconds'>): number {
  return Math.max(
    previousTokenInUseSeconds(t) + SAFETY_MARGIN_SECONDS,
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
 * SAFETY_MARGIN = previousTokenInUseSeconds (2 x rolloutAllowance +
 * watchdogInterval). With the access-key signer, the key of AWSPREVIOUS is
 * kept that long after a promotion as well. With the role signer nothing is
 * guaranteed: a token dies with the role's session.
 */
export function minimumTaskValiditySeconds(t: Omit<TimingBudget, 'rotationIntervalSeconds' | 'scheduleWindowSeconds'>): number {
  return rotateBeforeExpirySeconds(t) - t.watchdogIntervalSeconds - STALE_PENDING_SECONDS - SAFETY_MARGIN_SECONDS;
}
