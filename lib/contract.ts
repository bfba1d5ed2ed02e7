/**
 * The contract between the construct and the rotation handler: environment
 * variable names and the secret's JSON shape. Both sides import this file (the
 * handler with esbuild), so a name can never drift between them.
 *
 * Not exported from the package entry point: it is an internal detail.
 */

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
  /** How many UpdateService calls may run at once. */
  REDEPLOY_CONCURRENCY: 'REDEPLOY_CONCURRENCY',
  /** Seconds testSecret waits for the connection and `SELECT 1`. */
  CONNECT_TIMEOUT_SECONDS: 'CONNECT_TIMEOUT_SECONDS',
} as const;

/** The database role name that maps to DSQL's admin role (DbConnectAdmin). */
export const ADMIN_ROLE_NAME = 'admin';

/**
 * Tag written on the secret right after a version is promoted:
 * `<versionId> <ISO-8601 time>`. A retried finishSecret uses it to skip
 * services whose newest deployment started after promotion (they already read
 * the new value).
 */
export const PROMOTED_TAG_KEY = 'cdk-dsql-url-secret:promoted';

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
