import { HandlerEnv } from '../lib/contract';

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
  readonly redeployConcurrency: number;
  readonly connectTimeoutSeconds: number;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new Error(`Environment variable ${name} is not set: the rotation function must be deployed by the DsqlUrlSecret construct`);
  }
  return value;
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback?: number): number {
  const raw = env[name];
  if ((raw === undefined || raw === '') && fallback !== undefined) return fallback;
  const value = Number(required(env, name));
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`Environment variable ${name} must be a positive integer, got '${raw}'`);
  }
  return value;
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
    redeployConcurrency: positiveInt(env, HandlerEnv.REDEPLOY_CONCURRENCY, 5),
    connectTimeoutSeconds: positiveInt(env, HandlerEnv.CONNECT_TIMEOUT_SECONDS, 10),
  };
}
