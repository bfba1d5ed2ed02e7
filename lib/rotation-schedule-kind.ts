/**
 * Which schedule rotates the secret, a rule the construct and the CLI share
 * (pure: no CDK import, so the CLI can load it).
 *
 * Secrets Manager's own schedule rotates at most every 4 hours and in whole
 * hours; other intervals are EventBridge Scheduler's (lib/rotation-trigger.ts).
 * While the scheduler rotates, the native schedule keeps an explicit rule that
 * never comes due instead of none: CloudFormation leaves the previous rules in
 * place when RotationRules is removed (aws-cdk#27460), so a stack moved under
 * the 4-hour line would otherwise rotate on both schedules.
 */

/** The shortest interval Secrets Manager's own schedule accepts. */
export const MIN_NATIVE_ROTATION_INTERVAL_SECONDS = 4 * 3600;

/**
 * The native rule while EventBridge Scheduler rotates: AutomaticallyAfterDays
 * at its maximum. Secrets Manager counts the next date from the previous
 * rotation, and every scheduled rotation is one, so it never comes due.
 * @see https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotationRulesType.html
 */
export const PARKED_AUTOMATICALLY_AFTER_DAYS = 1000;

/** Whether EventBridge Scheduler rotates at this interval (the native schedule cannot express it). */
export function rotatesByScheduler(intervalSeconds: number): boolean {
  return intervalSeconds < MIN_NATIVE_ROTATION_INTERVAL_SECONDS || intervalSeconds % 3600 !== 0;
}
