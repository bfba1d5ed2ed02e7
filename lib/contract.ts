/**
 * The contract between the construct and the rotation handler: environment
 * variable names and the secret's JSON shape. Both sides import this file (the
 * handler with esbuild), so a name can never drift between them.
 *
 * Not exported from the package entry point: it is an internal detail.
 */

/**
 * The three Lambda functions. Each is bundled on its own from
 * `functions/entry/<name>.ts` into `assets/functions/<name>/index.js`, with
 * only the clients it calls.
 */
export const FunctionBundle = {
  ROTATION: 'rotation',
  WATCHDOG: 'watchdog',
  INITIAL_ROTATION: 'initial-rotation',
} as const;
export type FunctionBundleName = typeof FunctionBundle[keyof typeof FunctionBundle];

/** The export every bundle's entry provides: each function's handler setting is `index.handler`. */
export const HANDLER_EXPORT = 'handler';

/** Environment variables the construct sets on the rotation function. */
export const HandlerEnv = {
  /** Host name the token is signed for and clients connect to. */
  HOST: 'DSQL_HOST',
  /** TCP port of the endpoint (5432 for DSQL). */
  PORT: 'DSQL_PORT',
  /** Region the token is signed for. */
  REGION: 'DSQL_REGION',
  /** Database name put in the URL. */
  DATABASE: 'DSQL_DATABASE',
  /** Database role; `admin` signs with DbConnectAdmin, anything else with DbConnect. */
  USERNAME: 'DSQL_USERNAME',
  /** Requested token validity in seconds (`expiresIn` of the signer). */
  TOKEN_LIFETIME_SECONDS: 'TOKEN_LIFETIME_SECONDS',
  /** URL query string without the leading `?`, e.g. `sslmode=require`. */
  URL_QUERY: 'URL_QUERY',
  /**
   * Name of the SSM parameter holding the JSON array of ECS service ARNs to
   * redeploy. A parameter, not an environment variable, because bound services
   * are created after the first rotation: the function must not depend on them.
   */
  BOUND_SERVICES_PARAMETER: 'BOUND_SERVICES_PARAMETER',
  /** How many bound-services parameters there are: `<name>`, `<name>-2`, ... (default 1). */
  BOUND_SERVICES_PARAMETER_COUNT: 'BOUND_SERVICES_PARAMETER_COUNT',
  /** How many UpdateService calls may run at once. */
  REDEPLOY_CONCURRENCY: 'REDEPLOY_CONCURRENCY',
  /** Milliseconds between the starts of two services' redeployments (0: no spacing). */
  REDEPLOY_STAGGER_MS: 'REDEPLOY_STAGGER_MS',
  /** Seconds testSecret waits for the connection and `SELECT 1`. */
  CONNECT_TIMEOUT_SECONDS: 'CONNECT_TIMEOUT_SECONDS',
} as const;

/**
 * The name of bound-services parameter `index` (0-based): `<base>`, `<base>-2`,
 * `<base>-3`, ... Written by the construct, read by the rotation function and the CLI.
 */
export function boundServicesParameterName(baseName: string, index: number): string {
  return index === 0 ? baseName : `${baseName}-${index + 1}`;
}

/** The database role name that maps to DSQL's admin role (DbConnectAdmin). */
export const ADMIN_ROLE_NAME = 'admin';

/** The JSON stored in every version of the secret. */
export interface DsqlUrlSecretValue {
  /** Full connection URL; the token in it is percent-encoded. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly username: string;
  /** The raw (not encoded) token. */
  readonly password: string;
  readonly dbname: string;
  readonly sslmode: string;
  /** When the token was signed (ISO-8601). */
  readonly issuedAt: string;
  /** Latest moment the token is valid (ISO-8601). */
  readonly expiresAt: string;
}

/** Environment variables added for the signer, the watchdog and the first rotation. */
export const SignerEnv = {
  /** `role` or `access-key` (see SignerKind). */
  SIGNER: 'SIGNER',
  /** IAM user whose access keys sign tokens (access-key signer only). */
  SIGNER_USER_NAME: 'SIGNER_USER_NAME',
  /** Secret holding that user's access keys (access-key signer only). */
  SIGNER_KEYS_SECRET_ARN: 'SIGNER_KEYS_SECRET_ARN',
  /**
   * rolloutAllowance in seconds (every signer): a rotation within it of the
   * last promotion is deferred, and a key still in use by tasks is never
   * deleted before it passes. 0 (or unset, role signer): never defer.
   */
  ROLLOUT_ALLOWANCE_SECONDS: 'ROLLOUT_ALLOWANCE_SECONDS',
} as const;

export const WatchdogEnv = {
  /** The URL secret the watchdog checks and rotates. */
  SECRET_ARN: 'SECRET_ARN',
  /** Seconds before `expiresAt` at which the watchdog starts a rotation (see lib/timing.ts). */
  ROTATE_BEFORE_EXPIRY_SECONDS: 'ROTATE_BEFORE_EXPIRY_SECONDS',
  /** A pending version older than this (a failed rotation) is cleared so a new rotation can start. */
  STALE_PENDING_SECONDS: 'STALE_PENDING_SECONDS',
  /** Value of the `Secret` dimension of the watchdog's metrics. */
  METRIC_SECRET_DIMENSION: 'METRIC_SECRET_DIMENSION',
} as const;

/** Who signs the tokens. */
export const SignerKind = {
  /** The rotation function's execution role: tokens die with its session credentials. */
  ROLE: 'role',
  /** A dedicated IAM user's access key, replaced at each rotation: tokens live their full lifetime. */
  ACCESS_KEY: 'access-key',
} as const;

/** The JSON in the signer-keys secret: at most two keys, as IAM allows. */
export interface SignerKeysValue {
  readonly keys: ReadonlyArray<{
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    /** The URL secret version whose token this key signed. */
    readonly versionId: string;
    readonly createdAt: string;
  }>;
}

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
  /** finishSecret: services whose redeploy failed. */
  REDEPLOY_FAILURES: 'RedeployFailures',
  /** finishSecret: ECS calls retried after throttling. */
  THROTTLE_RETRIES: 'ThrottleRetries',
  /** finishSecret: seconds of validity the new token had when it became AWSCURRENT. */
  TOKEN_SECONDS_LEFT_AT_PROMOTION: 'TokenSecondsLeftAtPromotion',
} as const;

export const InitialRotationEnv = {
  /** How long the first-rotation custom resource waits for the rotation to complete. */
  TIMEOUT_SECONDS: 'INITIAL_ROTATION_TIMEOUT_SECONDS',
} as const;
