/**
 * The metrics the functions emit (embedded metric format) and the construct's
 * alarms and dashboards watch: one list, so a name can never drift between them.
 * Re-exported by lib/contract.ts.
 */

/** CloudWatch namespace of the metrics the handlers emit (embedded metric format). */
export const METRICS_NAMESPACE = 'CdkDsqlUrlSecret';
export const MetricName = {
  /** 1 when the watchdog's connection with AWSCURRENT failed, else 0. */
  TOKEN_CHECK_FAILED: 'TokenCheckFailed',
  /** Seconds until AWSCURRENT's expiresAt, as seen by the watchdog. */
  TOKEN_SECONDS_LEFT: 'TokenSecondsLeft',
  /** 1 when the watchdog started a rotation. */
  WATCHDOG_ROTATION_STARTED: 'WatchdogRotationStarted',
  /** finishSecret: 1 when every bound service got its deployment, else 0. */
  ROTATION_SUCCEEDED: 'RotationSucceeded',
  /** finishSecret: seconds from minting the token (createSecret) to the end of the redeploys. */
  ROTATION_DURATION: 'RotationDuration',
  /** finishSecret: services that got a new deployment. */
  SERVICES_REDEPLOYED: 'ServicesRedeployed',
  /** finishSecret: bound services ECS does not know (deleted over an hour ago, or a wrong ARN): skipped, logged by name. */
  SERVICES_NOT_FOUND: 'ServicesNotFound',
  /** finishSecret: services whose redeploy failed (and bound-services entries that are not service ARNs). */
  REDEPLOY_FAILURES: 'RedeployFailures',
  /** finishSecret: ECS calls retried after throttling. */
  THROTTLE_RETRIES: 'ThrottleRetries',
  /** finishSecret: seconds of validity the new token had when it became AWSCURRENT. */
  TOKEN_SECONDS_LEFT_AT_PROMOTION: 'TokenSecondsLeftAtPromotion',
  /**
   * Watchdog fleet check: seconds until the earliest expiry of a token any
   * running task of a bound service holds (AWSCURRENT's included); negative
   * when a task holds an expired token, 0 when some task's token is unknown.
   * Emitted whenever the secret holds a token; the fleet-token alarm watches it.
   */
  FLEET_TOKEN_SECONDS_LEFT: 'FleetTokenSecondsLeft',
  /**
   * Watchdog fleet check: running tasks started before the current promotion;
   * per secret, and per service (`Service` dimension) for those that have any.
   */
  STALE_TASKS: 'StaleTasks',
  /** Watchdog fleet check: services that got a forced deployment because their old tasks outlived rolloutAllowance. */
  FLEET_HEALS_STARTED: 'FleetHealsStarted',
  /** finishSecret: bound Lambda functions whose variable got the new value. */
  FUNCTIONS_UPDATED: 'FunctionsUpdated',
  /** finishSecret: bound Lambda functions whose update failed. */
  FUNCTION_UPDATE_FAILURES: 'FunctionUpdateFailures',
  /** Watchdog: bound Lambda functions whose value still differs from AWSCURRENT after the re-apply attempt (0 when all are fresh). */
  STALE_FUNCTIONS: 'StaleFunctions',
} as const;
