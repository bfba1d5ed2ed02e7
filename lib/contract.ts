/**
 * The contract between the construct and the functions: each function's
 * configuration and the secret's JSON shape. Both sides import this file (the
 * handler with esbuild), so a name can never drift between them.
 *
 * Not exported from the package entry point: it is an internal detail.
 */

/**
 * The four Lambda functions. Each is bundled on its own from
 * `functions/entry/<name>.ts` into `assets/functions/<name>/index.js`, with
 * only the clients it calls.
 */
export const FunctionBundle = {
  ROTATION: 'rotation',
  WATCHDOG: 'watchdog',
  INITIAL_ROTATION: 'initial-rotation',
  ROLE_BOOTSTRAP: 'role-bootstrap',
} as const;
export type FunctionBundleName = (typeof FunctionBundle)[keyof typeof FunctionBundle];

/** The export every bundle's entry provides: each function's handler setting is `index.handler`. */
export const HANDLER_EXPORT = 'handler';

/**
 * The one environment variable that carries a function's configuration: the
 * JSON of its RotationFunctionConfig, WatchdogFunctionConfig,
 * InitialRotationFunctionConfig or RoleBootstrapFunctionConfig, written by the construct and read by
 * functions/config.ts. Every field is always written: a function restates no
 * default.
 */
export const FUNCTION_CONFIG_ENV = 'DSQL_URL_SECRET_CONFIG';

/** Who signs the tokens, as the rotation function needs to know it (built by lib/token-signer.ts). */
export type SignerConfig =
  | {
      /** The rotation function's execution role signs: tokens die with its session credentials. */
      readonly kind: typeof SignerKind.ROLE;
    }
  | {
      /** A dedicated IAM user's access key signs, replaced at each rotation. */
      readonly kind: typeof SignerKind.ACCESS_KEY;
      /** The IAM user whose access keys sign tokens. */
      readonly userName: string;
      /** The secret that stores that user's access keys (JSON SignerKeysValue), readable by the rotation function only. */
      readonly keysSecretArn: string;
    };

/** The rotation function's configuration (lib/dsql-url-secret.ts writes it, functions/rotation-handler.ts reads it). */
export interface RotationFunctionConfig {
  /** Host name the token is signed for and clients connect to. */
  readonly host: string;
  /** TCP port of the endpoint (5432 for DSQL). */
  readonly port: number;
  /** Region the token is signed for. */
  readonly region: string;
  /** Database name put in the URL. */
  readonly database: string;
  /** Database role; `admin` signs with DbConnectAdmin, anything else with DbConnect. */
  readonly username: string;
  /** Requested token validity in seconds (`expiresIn` of the signer). */
  readonly tokenLifetimeSeconds: number;
  /** URL query string without the leading `?`, e.g. `sslmode=require`. */
  readonly urlQuery: string;
  /**
   * Name of the first SSM parameter holding the JSON array of ECS service ARNs
   * to redeploy. A parameter, not configuration, because bound services are
   * created after the first rotation: the function must not depend on them.
   */
  readonly boundServicesParameter: string;
  /** How many bound-services parameters there are: `<name>`, `<name>-2`, ... (see boundServicesParameterName). */
  readonly boundServicesParameterCount: number;
  /** The first bound-functions parameter (JSON array of BoundFunctionEntry), named like the bound-services ones. */
  readonly boundFunctionsParameter: string;
  /** How many bound-functions parameters there are: `<name>`, `<name>-2`, ... (see boundServicesParameterName). */
  readonly boundFunctionsParameterCount: number;
  /** How many UpdateService calls may run at once. */
  readonly redeployConcurrency: number;
  /** Milliseconds between the starts of two services' redeployments (0: no spacing). */
  readonly redeployStaggerMs: number;
  /** Value of the `Secret` dimension of the function's metrics (the alarms watch it). */
  readonly metricDimension: string;
  /** Seconds testSecret (and the deferral check) wait for the connection and `SELECT 1`. */
  readonly connectTimeoutSeconds: number;
  /** Who signs the tokens. */
  readonly signer: SignerConfig;
  /**
   * rolloutAllowance in seconds: a rotation that starts less than 2 x this +
   * watchdogIntervalSeconds after the last promotion (lib/timing.ts
   * previousTokenInUseSeconds: the rollout and the heal of a stuck one) is
   * deferred, and the access-key signer does not delete AWSPREVIOUS's key before
   * then. 0: never defer.
   */
  readonly rolloutAllowanceSeconds: number;
  /** watchdogInterval in seconds: how late the watchdog may heal a stuck rollout or run a deferred rotation. */
  readonly watchdogIntervalSeconds: number;
}

/** The watchdog function's configuration (lib/watchdog.ts writes it, functions/watchdog.ts reads it). */
export interface WatchdogFunctionConfig {
  /** The URL secret the watchdog checks and rotates. */
  readonly secretArn: string;
  /** Seconds before `expiresAt` at which the watchdog starts a rotation (see lib/timing.ts). */
  readonly rotateBeforeExpirySeconds: number;
  /** A pending version older than this (a failed rotation) is cleared so a new rotation can start. */
  readonly stalePendingSeconds: number;
  /** Value of the `Secret` dimension of the watchdog's metrics (the token-check alarm watches it). */
  readonly metricDimension: string;
  /** Seconds the connection check waits for the connection and `SELECT 1`. */
  readonly connectTimeoutSeconds: number;
  /** The first bound-services parameter, as the rotation function gets it: the fleet check reads the services from it. */
  readonly boundServicesParameter: string;
  /** How many bound-services parameters there are (see boundServicesParameterName). */
  readonly boundServicesParameterCount: number;
  /**
   * A hash of the bound-services parameters' entries as the template holds them (lib/bound-services.ts): it changes
   * whenever a service is bound or unbound, so the fleet check knows when its kept list of services may be out of date.
   */
  readonly boundServicesFingerprint: string;
  /** The first bound-functions parameter, as the rotation function gets it: the watchdog checks each bound function's value. */
  readonly boundFunctionsParameter: string;
  /** How many bound-functions parameters there are (see boundServicesParameterName). */
  readonly boundFunctionsParameterCount: number;
  /** rolloutAllowance in seconds: a service still running tasks this long after a promotion gets one more deployment. */
  readonly rolloutAllowanceSeconds: number;
  /** How many UpdateService calls a heal may run at once. */
  readonly redeployConcurrency: number;
}

/** The first-rotation function's configuration (lib/initial-rotation.ts writes it, functions/initial-rotation.ts reads it). */
export interface InitialRotationFunctionConfig {
  /** The URL secret whose first rotation the custom resource runs. */
  readonly secretArn: string;
  /** The rotation function's own log group (CloudFormation names it): a failed wait says to look there. */
  readonly rotationLogGroupName: string;
  /** How long Create and Update wait for the first rotation to complete. */
  readonly timeoutSeconds: number;
  /**
   * The access-key signer's IAM user, whose Lambda-created access keys Delete
   * removes so that CloudFormation can delete the user; null when the
   * rotation function's role signs (there is no user).
   */
  readonly signerUserName: string | null;
  /** The cluster's identifier: Create and Update read its status (dsql:GetCluster) before rotating. */
  readonly clusterIdentifier: string;
  /** The cluster's region (its control-plane endpoint). */
  readonly clusterRegion: string;
  /**
   * A rotation this function started whose version is still AWSPENDING this
   * long after it started has failed (Secrets Manager leaves the label on
   * whether it is still retrying or has given up): its pending version is
   * cleared and the rotation started again.
   */
  readonly redriveAfterSeconds: number;
  /** At most this many rotations are started (the first one and its re-drives). */
  readonly maxRotationAttempts: number;
  /**
   * A custom role the team creates and grants itself (bootstrap off): the
   * wait connects with the pending token and fails fast, naming the grant to
   * run, when DSQL keeps refusing it. null: the admin role, or the role
   * bootstrap grants the role.
   */
  readonly roleGrantCheck: RoleGrantCheckConfig | null;
}

/** InitialRotationFunctionConfig.roleGrantCheck (functions/role-grant-check.ts). */
export interface RoleGrantCheckConfig {
  /** The custom database role the URL logs in as. */
  readonly roleName: string;
  /** The identity that signs the tokens, to which the role must be granted. */
  readonly signerArn: string;
  /** How long a refusal must last before the deployment fails (a new access key is refused for a few seconds). */
  readonly graceSeconds: number;
  /** Seconds the connection may take. */
  readonly connectTimeoutSeconds: number;
}

/**
 * The role-bootstrap function's configuration (lib/role-bootstrap.ts writes
 * it, functions/role-bootstrap.ts reads it). It connects as admin to create
 * the custom role and grant it to the signer before the first rotation.
 */
export interface RoleBootstrapFunctionConfig {
  /** Host name the admin token is signed for and the function connects to. */
  readonly host: string;
  readonly port: number;
  readonly region: string;
  /** The database the URL names: SQL grants apply there. */
  readonly database: string;
  /** The custom database role to create if missing (never `admin`). */
  readonly roleName: string;
  /** The IAM identity that signs the URL's tokens: `AWS IAM GRANT <roleName> TO '<signerArn>'`. */
  readonly signerArn: string;
  /** SQL grants for the role, each `<privileges> ON <object>` as lib/role-grants.ts accepts it. */
  readonly grants: string[];
  /** Seconds the connection and each statement may take. */
  readonly connectTimeoutSeconds: number;
}

/**
 * The name of bound-services parameter `index` (0-based): `<base>`, `<base>-2`,
 * `<base>-3`, ... Written by the construct, read by the rotation function and the CLI.
 */
export function boundServicesParameterName(baseName: string, index: number): string {
  return index === 0 ? baseName : `${baseName}-${index + 1}`;
}

/**
 * The CodeDeploy deployment group of a bound service with the CODE_DEPLOY
 * deployment controller: a bound-services entry is then
 * `{"service": "<arn>", "codeDeploy": {"application": "...", "deploymentGroup": "..."}}`
 * instead of the ARN alone (lib/bound-services.ts writes it, core/bound-services.ts reads it).
 */
export interface CodeDeployTarget {
  /** The CodeDeploy application's name. */
  readonly application: string;
  /** The deployment group's name. */
  readonly deploymentGroup: string;
}

/**
 * A Lambda function bound with DsqlUrlSecret.updateFunctionOnRotation: one entry of the bound-functions parameters'
 * JSON arrays (lib/function-consumers.ts writes them; the rotation function and the watchdog read them).
 */
export interface BoundFunctionEntry {
  /** The unqualified function ARN. */
  readonly functionArn: string;
  /** The environment variable that holds the value. */
  readonly variable: string;
  /** The field of the secret's JSON written into it (one of SECRET_FIELDS). */
  readonly field: string;
  /** An alias to point at a version published after each update; null: $LATEST only. */
  readonly alias: string | null;
}

/** The fields of the secret's JSON value (DsqlUrlSecretValue), as ecsSecret and updateFunctionOnRotation accept them. */
export const SECRET_FIELDS: readonly string[] = [
  'url',
  'host',
  'port',
  'username',
  'password',
  'dbname',
  'sslmode',
  'issuedAt',
  'expiresAt',
];

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

// The metric names are part of the contract too; they have a file of their own.
export { METRICS_NAMESPACE, MetricName } from './metric-names';
