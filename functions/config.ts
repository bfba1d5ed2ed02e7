import { HandlerEnv, SignerEnv, SignerKind, WatchdogEnv } from '../lib/contract';

/** Who signs the tokens, as the construct configured it. */
export type SignerConfig =
  | { readonly kind: typeof SignerKind.ROLE }
  | {
    readonly kind: typeof SignerKind.ACCESS_KEY;
    /** The dedicated IAM user whose access keys sign tokens. */
    readonly userName: string;
    /** The secret that stores that user's access keys (JSON SignerKeysValue). */
    readonly keysSecretArn: string;
    /** AWSPREVIOUS's key is never deleted sooner than this after the last promotion. */
    readonly rolloutAllowanceSeconds: number;
  };

/** What the construct configured, read once per invocation from the environment. */
export interface HandlerConfig {
  readonly host: string;
  readonly port: number;
  readonly region: string;
  readonly database: string;
  readonly username: string;
  readonly tokenLifetimeSeconds: number;
  readonly urlQuery: string;
  readonly boundServicesParameter: string;
  readonly boundServicesParameterCount: number;
  readonly redeployConcurrency: number;
  readonly redeployStaggerMs: number;
  /** The `Secret` dimension of the metrics; undefined: the secret's name. */
  readonly metricDimension?: string;
  readonly connectTimeoutSeconds: number;
  readonly signer: SignerConfig;
  /**
   * ROLLOUT_ALLOWANCE_SECONDS, for every signer: a rotation that starts less
   * than this after the last promotion is deferred (see steps.ts). 0: never.
   */
  readonly rolloutAllowanceSeconds: number;
}

export function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new Error(`Environment variable ${name} is not set: the function must be deployed by the DsqlUrlSecret construct`);
  }
  return value;
}

export function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback?: number): number {
  const raw = env[name];
  if ((raw === undefined || raw === '') && fallback !== undefined) return fallback;
  const value = Number(required(env, name));
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`Environment variable ${name} must be a positive integer, got '${raw}'`);
  }
  return value;
}

export function nonNegativeInt(env: NodeJS.ProcessEnv, name: string): number {
  const raw = required(env, name);
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`Environment variable ${name} must be a non-negative integer, got '${raw}'`);
  }
  return value;
}

/** `SIGNER` unset means `role`: what every function deployed before signers existed does. */
export function readSignerConfig(env: NodeJS.ProcessEnv = process.env): SignerConfig {
  const kind = env[SignerEnv.SIGNER];
  if (kind === undefined || kind === '' || kind === SignerKind.ROLE) return { kind: SignerKind.ROLE };
  if (kind !== SignerKind.ACCESS_KEY) {
    throw new Error(`Environment variable ${SignerEnv.SIGNER} must be '${SignerKind.ROLE}' or '${SignerKind.ACCESS_KEY}', got '${kind}'`);
  }
  return {
    kind,
    userName: required(env, SignerEnv.SIGNER_USER_NAME),
    keysSecretArn: required(env, SignerEnv.SIGNER_KEYS_SECRET_ARN),
    rolloutAllowanceSeconds: nonNegativeInt(env, SignerEnv.ROLLOUT_ALLOWANCE_SECONDS),
  };
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): HandlerConfig {
  return {
    host: required(env, HandlerEnv.HOST),
    port: positiveInt(env, HandlerEnv.PORT, 5432),
    region: required(env, HandlerEnv.REGION),
    database: required(env, HandlerEnv.DATABASE),
    username: required(env, HandlerEnv.USERNAME),
    tokenLifetimeSeconds: positiveInt(env, HandlerEnv.TOKEN_LIFETIME_SECONDS),
    urlQuery: env[HandlerEnv.URL_QUERY] ?? 'sslmode=require',
    boundServicesParameter: required(env, HandlerEnv.BOUND_SERVICES_PARAMETER),
    boundServicesParameterCount: positiveInt(env, HandlerEnv.BOUND_SERVICES_PARAMETER_COUNT, 1),
    redeployConcurrency: positiveInt(env, HandlerEnv.REDEPLOY_CONCURRENCY, 5),
    redeployStaggerMs: env[HandlerEnv.REDEPLOY_STAGGER_MS] ? nonNegativeInt(env, HandlerEnv.REDEPLOY_STAGGER_MS) : 0,
    metricDimension: env[WatchdogEnv.METRIC_SECRET_DIMENSION] || undefined,
    connectTimeoutSeconds: positiveInt(env, HandlerEnv.CONNECT_TIMEOUT_SECONDS, 10),
    signer: readSignerConfig(env),
    // Unset (role signer of a function deployed before deferral existed): never defer.
    rolloutAllowanceSeconds: env[SignerEnv.ROLLOUT_ALLOWANCE_SECONDS] ? nonNegativeInt(env, SignerEnv.ROLLOUT_ALLOWANCE_SECONDS) : 0,
  };
}
