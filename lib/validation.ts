import { Duration, Token } from 'aws-cdk-lib';

/** DSQL tokens can be requested for at most one week. */
export const MAX_TOKEN_LIFETIME = Duration.days(7);
/** Secrets Manager's own schedules run at most every 4 hours. */
export const MIN_ROTATION_INTERVAL = Duration.hours(4);

// Postgres identifiers as DSQL accepts them unquoted.
const DATABASE_NAME = /^[a-z_][a-z0-9_$]{0,62}$/;
// Secrets Manager secret names.
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const SSL_MODES = ['require', 'verify-ca', 'verify-full'];

export interface TimingSettings {
  readonly rotationInterval: Duration;
  readonly tokenLifetime: Duration;
  readonly rolloutAllowance: Duration;
}

/**
 * A task started just before a rotation keeps its token until the rollout
 * after the next rotation has replaced it: the token must outlive
 * rotationInterval + rolloutAllowance.
 */
export function validateTiming(t: TimingSettings): void {
  const interval = t.rotationInterval.toSeconds();
  const lifetime = t.tokenLifetime.toSeconds();
  const allowance = t.rolloutAllowance.toSeconds();
  if (lifetime > MAX_TOKEN_LIFETIME.toSeconds()) {
    throw new Error(`tokenLifetime must be at most 7 days (DSQL's limit), got ${t.tokenLifetime.toHumanString()}: lower tokenLifetime`);
  }
  if (interval < MIN_ROTATION_INTERVAL.toSeconds()) {
    throw new Error(`rotationInterval must be at least 4 hours (Secrets Manager's shortest schedule), got ${t.rotationInterval.toHumanString()}: raise rotationInterval`);
  }
  if (allowance <= 0) {
    throw new Error(`rolloutAllowance must be positive, got ${t.rolloutAllowance.toHumanString()}: set it to how long a redeploy of your services may take`);
  }
  if (interval + allowance >= lifetime) {
    const needed = Duration.seconds(interval + allowance);
    throw new Error(`tokenLifetime must be longer than rotationInterval + rolloutAllowance (${t.rotationInterval.toHumanString()} + `
      + `${t.rolloutAllowance.toHumanString()} = ${needed.toHumanString()}), got ${t.tokenLifetime.toHumanString()}: `
      + 'raise tokenLifetime above that or lower rotationInterval, so tasks are replaced before their token expires');
  }
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
    throw new Error(`urlParameters.sslmode must be one of ${SSL_MODES.join(', ')} (DSQL rejects connections without TLS), got '${mode ?? '(missing)'}'`);
  }
  for (const [key, value] of Object.entries(params)) {
    if (!/^[a-z_]+$/.test(key) || /[\s&#]/.test(value)) {
      throw new Error(`urlParameters: '${key}=${value}' is not a valid connection URL parameter (lower-case key, value without spaces, & or #)`);
    }
  }
}

export function validateConcurrency(value: number): void {
  if (!Number.isInteger(value) || value < 1 || value > 50) {
    throw new Error(`redeployConcurrency must be a whole number from 1 to 50, got ${value}`);
  }
}
