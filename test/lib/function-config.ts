import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import {
  FUNCTION_CONFIG_ENV,
  InitialRotationFunctionConfig,
  RoleBootstrapFunctionConfig,
  RotationFunctionConfig,
  WatchdogFunctionConfig,
} from '../../lib/contract';

// Each interface's fields, checked by tsc both ways: a field added to or removed from the interface breaks these.
const ROTATION_FIELDS: Record<keyof RotationFunctionConfig, true> = {
  host: true,
  port: true,
  region: true,
  database: true,
  username: true,
  tokenLifetimeSeconds: true,
  urlQuery: true,
  boundServicesParameter: true,
  boundServicesParameterCount: true,
  boundFunctionsParameter: true,
  boundFunctionsParameterCount: true,
  redeployConcurrency: true,
  redeployStaggerMs: true,
  metricDimension: true,
  connectTimeoutSeconds: true,
  signer: true,
  rolloutAllowanceSeconds: true,
  watchdogIntervalSeconds: true,
};
const WATCHDOG_FIELDS: Record<keyof WatchdogFunctionConfig, true> = {
  secretArn: true,
  rotateBeforeExpirySeconds: true,
  stalePendingSeconds: true,
  metricDimension: true,
  connectTimeoutSeconds: true,
  boundServicesParameter: true,
  boundServicesParameterCount: true,
  boundServicesFingerprint: true,
  boundFunctionsParameter: true,
  boundFunctionsParameterCount: true,
  rolloutAllowanceSeconds: true,
  redeployConcurrency: true,
};
const INITIAL_ROTATION_FIELDS: Record<keyof InitialRotationFunctionConfig, true> = {
  secretArn: true,
  rotationLogGroupName: true,
  timeoutSeconds: true,
  signerUserName: true,
  clusterIdentifier: true,
  clusterRegion: true,
  redriveAfterSeconds: true,
  maxRotationAttempts: true,
  roleGrantCheck: true,
};
const ROLE_BOOTSTRAP_FIELDS: Record<keyof RoleBootstrapFunctionConfig, true> = {
  host: true,
  port: true,
  region: true,
  database: true,
  roleName: true,
  signerArn: true,
  grants: true,
  connectTimeoutSeconds: true,
};

/** The field names of each function's configuration interface, sorted. */
export const CONFIG_FIELDS = {
  rotation: Object.keys(ROTATION_FIELDS).sort(),
  watchdog: Object.keys(WATCHDOG_FIELDS).sort(),
  initialRotation: Object.keys(INITIAL_ROTATION_FIELDS).sort(),
  roleBootstrap: Object.keys(ROLE_BOOTSTRAP_FIELDS).sort(),
};

const marker = (i: number) => `@@TOKEN${i}@@`;

/**
 * The configuration the construct wrote into FUNCTION_CONFIG_ENV of the
 * function whose logical id starts with `idPrefix`, parsed. Stack.toJsonString
 * renders it as an Fn::Join when it holds tokens; each token is put back where
 * it was: a string that is only a token becomes that token (`{ Ref }`,
 * `{ Fn::GetAtt }`), one that mixes text and tokens `{ Fn::Join: ['', parts] }`.
 */
export function functionConfig(stack: Stack, idPrefix: string): Record<string, unknown> {
  const functions = Object.entries(Template.fromStack(stack).findResources('AWS::Lambda::Function')).filter(([id]) =>
    id.startsWith(idPrefix),
  );
  if (functions.length !== 1) throw new Error(`expected one function whose id starts with ${idPrefix}, found ${functions.length}`);
  const value: unknown = functions[0][1].Properties.Environment?.Variables?.[FUNCTION_CONFIG_ENV];
  if (typeof value === 'string') return JSON.parse(value);
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })?.['Fn::Join'];
  if (join === undefined || join[0] !== '')
    throw new Error(`${FUNCTION_CONFIG_ENV} of ${idPrefix} is neither JSON nor an Fn::Join: ${JSON.stringify(value)}`);
  const tokens: unknown[] = [];
  const text = join[1].map((part) => (typeof part === 'string' ? part : marker(tokens.push(part) - 1))).join('');
  return restore(JSON.parse(text), tokens) as Record<string, unknown>;
}

function restore(value: unknown, tokens: unknown[]): unknown {
  if (typeof value === 'string') {
    const parts = value
      .split(/@@TOKEN(\d+)@@/)
      .map((p, i) => (i % 2 === 1 ? tokens[Number(p)] : p))
      .filter((p) => p !== '');
    if (parts.length === 1 && typeof parts[0] !== 'string') return parts[0];
    return parts.every((p) => typeof p === 'string') ? value : { 'Fn::Join': ['', parts] };
  }
  if (Array.isArray(value)) return value.map((v) => restore(v, tokens));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, restore(v, tokens)]));
  }
  return value;
}
