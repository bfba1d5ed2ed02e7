import { Duration, Token } from 'aws-cdk-lib/core';
import {
  minimumRotationIntervalSeconds,
  minimumTokenLifetimeSeconds,
  NATIVE_SCHEDULE_WINDOW_SECONDS,
  rotateBeforeExpirySeconds,
  SAFETY_MARGIN_SECONDS,
  STALE_PENDING_SECONDS,
  TimingBudget,
} from './timing';
import { rotatesByScheduler } from './rotation-schedule-kind';

export { validateClusterIdentifier } from './cluster-identifier';

/** DSQL tokens can be requested for at most one week. */
export const MAX_TOKEN_LIFETIME = Duration.days(7);
/** Secrets Manager's own schedules run at most every 4 hours; shorter intervals use EventBridge Scheduler. */
export const MIN_NATIVE_ROTATION_INTERVAL = Duration.hours(4);

// Postgres identifiers as DSQL accepts them unquoted.
const DATABASE_NAME = /^[a-z_][a-z0-9_$]{0,62}$/;
// Secrets Manager secret names.
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const SSL_MODES = ['require', 'verify-ca', 'verify-full'];

export interface TimingSettings {
  readonly rotationInterval: Duration;
  readonly tokenLifetime: Duration;
  readonly rolloutAllowance: Duration;
  readonly watchdogInterval: Duration;
}

/** The budget of lib/timing.ts for these props. */
export function timingBudget(t: TimingSettings): TimingBudget {
  return {
    rotationIntervalSeconds: t.rotationInterval.toSeconds(),
    rolloutAllowanceSeconds: t.rolloutAllowance.toSeconds(),
    watchdogIntervalSeconds: t.watchdogInterval.toSeconds(),
    scheduleWindowSeconds: needsScheduler(t.rotationInterval) ? 0 : NATIVE_SCHEDULE_WINDOW_SECONDS,
  };
}

const human = (seconds: number) => Duration.seconds(seconds).toHumanString();

/**
 * A task started just before a rotation keeps its token until the rollout
 * after the next rotation has replaced it, and the watchdog must be able to
 * step in before that token expires: see lib/timing.ts for the budget.
 */
export function validateTiming(t: TimingSettings): void {
  validateDurationUnits(t);
  const budget = timingBudget(t);
  const lifetime = t.tokenLifetime.toSeconds();
  if (lifetime > MAX_TOKEN_LIFETIME.toSeconds()) {
    throw new Error(`tokenLifetime must be at most 7 days (DSQL's limit), got ${t.tokenLifetime.toHumanString()}: lower tokenLifetime`);
  }
  if (budget.rolloutAllowanceSeconds <= 0) {
    throw new Error(
      `rolloutAllowance must be positive, got ${t.rolloutAllowance.toHumanString()}: set it to how long a redeploy of your services may take`,
    );
  }
  const minInterval = minimumRotationIntervalSeconds(budget);
  if (budget.rotationIntervalSeconds < minInterval) {
    throw new Error(
      `rotationInterval must be at least ${human(minInterval)} for rolloutAllowance ${t.rolloutAllowance.toHumanString()} and ` +
        `watchdogInterval ${t.watchdogInterval.toHumanString()} (2 x rolloutAllowance + watchdogInterval + ${human(SAFETY_MARGIN_SECONDS)}, ` +
        `and at least ${human(STALE_PENDING_SECONDS)} + watchdogInterval + ${human(SAFETY_MARGIN_SECONDS)}), got ` +
        `${t.rotationInterval.toHumanString()}: ` +
        `raise rotationInterval to at least ${human(minInterval)} or lower rolloutAllowance, so a rescue rotation's rollout, and the ` +
        `heal of a stuck one, finish before the next one starts`,
    );
  }
  const minLifetime = minimumTokenLifetimeSeconds(budget);
  if (lifetime < minLifetime) {
    const maxInterval = lifetime - budget.scheduleWindowSeconds - rotateBeforeExpirySeconds(budget);
    const lower = maxInterval >= minInterval ? ` or lower rotationInterval to at most ${human(maxInterval)}` : '';
    const window = budget.scheduleWindowSeconds > 0 ? ` + ${human(budget.scheduleWindowSeconds)} schedule window` : '';
    throw new Error(
      `tokenLifetime must be at least rotationInterval${window} + 2 x rolloutAllowance + 2 x watchdogInterval (a rescue noticed ` +
        `up to one interval late, its rollout, and the heal of a stuck one) + ${human(STALE_PENDING_SECONDS)} to clear a failed ` +
        `rotation + ${human(SAFETY_MARGIN_SECONDS)} margin = ${human(minLifetime)}, got ${t.tokenLifetime.toHumanString()}: raise ` +
        `tokenLifetime to at least ${human(minLifetime)}${lower}, so tasks are replaced before their token expires`,
    );
  }
}

/**
 * Each timing prop is used at a fixed resolution; a finer value (or a token)
 * would make aws-cdk-lib throw a conversion error that names no prop. The
 * watchdog's range is checked first: 30 seconds is out of range, not merely
 * not whole minutes.
 */
function validateDurationUnits(t: TimingSettings): void {
  requireLiteral('watchdogInterval', t.watchdogInterval);
  requireLiteral('rotationInterval', t.rotationInterval);
  requireLiteral('tokenLifetime', t.tokenLifetime);
  requireLiteral('rolloutAllowance', t.rolloutAllowance);
  const watchdogSeconds = t.watchdogInterval.toSeconds({ integral: false });
  if (watchdogSeconds < 60 || watchdogSeconds > 3600) {
    throw new Error(`watchdogInterval must be from 1 minute to 1 hour, got ${exactly(t.watchdogInterval)}`);
  }
  requireWhole(
    'watchdogInterval',
    t.watchdogInterval,
    'minutes',
    'EventBridge runs the watchdog at rate(N minutes) and its alarm counts minutes',
  );
  requireWhole(
    'rotationInterval',
    t.rotationInterval,
    'minutes',
    'its schedule is rate(N hours) or, through EventBridge Scheduler, rate(N minutes)',
  );
  requireWhole('tokenLifetime', t.tokenLifetime, 'seconds', "DSQL's token lifetime (expiresIn) is in seconds");
  requireWhole('rolloutAllowance', t.rolloutAllowance, 'seconds', 'the rotation function counts it in seconds');
}

/** redeployStagger is passed to the rotation function in milliseconds. */
export function validateRedeployStagger(stagger: Duration): void {
  requireLiteral('redeployStagger', stagger);
  requireWhole('redeployStagger', stagger, 'millis', 'the rotation function waits whole milliseconds');
}

function requireLiteral(prop: string, d: Duration): void {
  if (d.isUnresolved()) {
    throw new Error(
      `${prop} must be a literal Duration, got a token (${d.unitLabel()}): the timing props are checked against each other at synth, ` +
        `so pass a number, e.g. Duration.minutes(30)`,
    );
  }
}

const UNIT_FACTORY = { minutes: 'Duration.minutes', seconds: 'Duration.seconds', millis: 'Duration.millis' } as const;

function requireWhole(prop: string, d: Duration, unit: keyof typeof UNIT_FACTORY, why: string): void {
  // The same arithmetic aws-cdk-lib's integral conversions check.
  const amount =
    unit === 'minutes'
      ? d.toMinutes({ integral: false })
      : unit === 'seconds'
        ? d.toSeconds({ integral: false })
        : d.toMilliseconds({ integral: false });
  if (Number.isInteger(amount)) return;
  const nearest = Math.max(1, Math.round(amount));
  throw new Error(
    `${prop} must be a whole number of ${unit} (${why}), got ${exactly(d)}: use ${UNIT_FACTORY[unit]}(n), e.g. ${UNIT_FACTORY[unit]}(${nearest})`,
  );
}

/** A duration as given, down to the millisecond (toHumanString shows at most two units). */
function exactly(d: Duration): string {
  const ms = d.toMilliseconds({ integral: false });
  return Number.isInteger(ms / 1000) ? d.toHumanString() : `${ms} ms`;
}

/** Secrets Manager's own schedule takes whole hours from 4 hours up; anything else needs EventBridge Scheduler. */
export function needsScheduler(rotationInterval: Duration): boolean {
  // One rule for the construct and the CLI.
  return rotatesByScheduler(rotationInterval.toSeconds());
}

export function validateDatabaseName(name: string): void {
  if (!Token.isUnresolved(name) && !DATABASE_NAME.test(name)) {
    throw new Error(`database must be a lower-case PostgreSQL identifier (1-63 letters, digits, _ or $), got '${name}'`);
  }
}

export function validateSecretName(name: string | undefined): void {
  if (name === undefined || Token.isUnresolved(name)) return;
  if (!SECRET_NAME.test(name)) {
    throw new Error(`secretName must be 1-512 characters of letters, digits and /_+=.@-, got '${name}'`);
  }
}

export function validateUrlParameters(params: Record<string, string>): void {
  const mode = params.sslmode;
  if (mode === undefined || !SSL_MODES.includes(mode)) {
    throw new Error(
      `urlParameters.sslmode must be one of ${SSL_MODES.join(', ')} (DSQL rejects connections without TLS), got '${mode ?? '(missing)'}'`,
    );
  }
  for (const [key, value] of Object.entries(params)) {
    if (!/^[a-z_]+$/.test(key) || /[\s&#]/.test(value)) {
      throw new Error(
        `urlParameters: '${key}=${value}' is not a valid connection URL parameter (lower-case key, value without spaces, & or #)`,
      );
    }
  }
}

export function validateConcurrency(value: number): void {
  if (!Number.isInteger(value) || value < 1 || value > 50) {
    throw new Error(`redeployConcurrency must be a whole number from 1 to 50, got ${value}`);
  }
}

/** The props that are checked one by one, each against its own rule. */
export interface OtherSettings {
  readonly database: string;
  readonly secretName: string | undefined;
  readonly urlParameters: Record<string, string>;
  readonly redeployConcurrency: number;
  readonly redeployStagger: Duration;
}

export function validateSettings(s: OtherSettings): void {
  validateDatabaseName(s.database);
  validateSecretName(s.secretName);
  validateUrlParameters(s.urlParameters);
  validateConcurrency(s.redeployConcurrency);
  validateRedeployStagger(s.redeployStagger);
}
