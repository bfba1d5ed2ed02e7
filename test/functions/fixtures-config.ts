/**
 * The functions' configurations as the construct writes them, and the
 * environment that carries them (FUNCTION_CONFIG_ENV plus fake credentials),
 * with a save/restore helper and a per-file AWS mock setup.
 */
import { ECSClient } from '@aws-sdk/client-ecs';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParametersCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import {
  FUNCTION_CONFIG_ENV,
  InitialRotationFunctionConfig,
  RotationFunctionConfig,
  SignerKind,
  WatchdogFunctionConfig,
} from '../../lib/contract';
import { BOUND_SERVICES_PARAMETER, CLUSTER_ID, FAKE_CREDENTIALS, HOST, KEYS_SECRET_ARN, REGION, SECRET_ARN, SIGNER_USER } from './fixtures';

/** The first bound-functions parameter, beside the bound-services one (as the construct names it). */
export const BOUND_FUNCTIONS_PARAMETER = BOUND_SERVICES_PARAMETER.replace(/bound-services$/, 'bound-functions');

/** The `Secret` dimension the construct gives the functions' metrics. */
export const METRIC_DIMENSION = 'app-db-url';
/** The rotation function's own log group, named by CloudFormation (`<stack>-<logical id>-<suffix>`). */
export const ROTATION_LOG_GROUP = 'app-DbUrlRotationFunctionLogs5A3C1F2E-Xy9AbCdEf012';

/** The rotation function's configuration as the construct writes it (role signer, never deferring). */
export function config(overrides: Partial<RotationFunctionConfig> = {}): RotationFunctionConfig {
  return {
    host: HOST,
    port: 5432,
    region: REGION,
    database: 'postgres',
    username: 'admin',
    tokenLifetimeSeconds: 43200,
    urlQuery: 'sslmode=require',
    boundServicesParameter: BOUND_SERVICES_PARAMETER,
    boundServicesParameterCount: 1,
    boundFunctionsParameter: BOUND_FUNCTIONS_PARAMETER,
    boundFunctionsParameterCount: 1,
    redeployConcurrency: 5,
    redeployStaggerMs: 0,
    metricDimension: METRIC_DIMENSION,
    connectTimeoutSeconds: 10,
    signer: { kind: SignerKind.ROLE },
    rolloutAllowanceSeconds: 0,
    watchdogIntervalSeconds: 300,
    ...overrides,
  };
}

/** The rotation function's configuration parts for the access-key signer. */
export function accessKeySignerConfig(rolloutAllowanceSeconds = 1800): Partial<RotationFunctionConfig> {
  return {
    signer: { kind: SignerKind.ACCESS_KEY, userName: SIGNER_USER, keysSecretArn: KEYS_SECRET_ARN },
    rolloutAllowanceSeconds,
  };
}

let deployments = 0;

/**
 * The watchdog function's configuration as the construct writes it. Each call is a deployment of its own (a new
 * boundServicesFingerprint), so that no test uses the bound services an earlier test's invocation kept.
 */
export function watchdogConfig(overrides: Partial<WatchdogFunctionConfig> = {}): WatchdogFunctionConfig {
  return {
    secretArn: SECRET_ARN,
    rotateBeforeExpirySeconds: 2580,
    stalePendingSeconds: 1200,
    metricDimension: METRIC_DIMENSION,
    connectTimeoutSeconds: 10,
    boundServicesParameter: BOUND_SERVICES_PARAMETER,
    boundServicesParameterCount: 1,
    boundServicesFingerprint: `fixture-deployment-${++deployments}`,
    boundFunctionsParameter: BOUND_FUNCTIONS_PARAMETER,
    boundFunctionsParameterCount: 1,
    rolloutAllowanceSeconds: 1800,
    redeployConcurrency: 5,
    ...overrides,
  };
}

/** The first-rotation function's configuration as the construct writes it (role signer: no user). */
export function initialRotationConfig(overrides: Partial<InitialRotationFunctionConfig> = {}): InitialRotationFunctionConfig {
  return {
    secretArn: SECRET_ARN,
    rotationLogGroupName: ROTATION_LOG_GROUP,
    timeoutSeconds: 600,
    signerUserName: null,
    clusterIdentifier: CLUSTER_ID,
    clusterRegion: REGION,
    redriveAfterSeconds: 180,
    maxRotationAttempts: 3,
    roleGrantCheck: null,
    ...overrides,
  };
}

/** The one variable that carries a function's configuration; a string is set as is (to test malformed JSON). */
export function configEnv(value: object | string): Record<string, string> {
  return { [FUNCTION_CONFIG_ENV]: typeof value === 'string' ? value : JSON.stringify(value) };
}

/**
 * The rotation function's environment as Lambda would set it: its configuration
 * (config(overrides)) plus fake credentials for the signer; `env` adds or, with
 * undefined, removes variables.
 */
export function handlerEnv(
  overrides: Partial<RotationFunctionConfig> = {},
  env: Record<string, string | undefined> = {},
): Record<string, string | undefined> {
  return {
    ...configEnv(config(overrides)),
    AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
    AWS_SESSION_TOKEN: FAKE_CREDENTIALS.sessionToken,
    AWS_CREDENTIAL_EXPIRATION: undefined,
    // With AWS_PROFILE set the SDK skips the environment credentials.
    AWS_PROFILE: undefined,
    AWS_REGION: REGION,
    ...env,
  };
}

/** Sets (or, for undefined, deletes) environment variables; returns a function that restores the old environment in place. */
export function setEnv(vars: Record<string, string | undefined>): () => void {
  const saved = { ...process.env };
  for (const [name, value] of Object.entries(vars)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  return () => {
    for (const name of Object.keys(process.env)) {
      if (!(name in saved)) delete process.env[name];
    }
    Object.assign(process.env, saved);
  };
}

/**
 * Mocks the Secrets Manager, ECS and SSM clients for one test file: reset and
 * the handler's environment set before each test, console.log silenced,
 * everything restored after. `beforeEachExtra` resets the file's own mocks.
 */
export function useMockedAws(beforeEachExtra: () => void = () => undefined) {
  const mocks = { smMock: mockClient(SecretsManagerClient), ecsMock: mockClient(ECSClient), ssmMock: mockClient(SSMClient) };
  let restoreEnv: () => void;
  beforeEach(() => {
    Object.values(mocks).forEach((m) => m.reset());
    // No function is bound unless a test binds one (the parameter exists only once one is).
    mocks.ssmMock.on(GetParametersCommand).resolves({ Parameters: [], InvalidParameters: [BOUND_FUNCTIONS_PARAMETER] });
    beforeEachExtra();
    restoreEnv = setEnv(handlerEnv());
    jest.spyOn(console, 'log').mockImplementation(() => undefined);
  });
  afterEach(() => {
    restoreEnv();
    jest.restoreAllMocks();
  });
  afterAll(() => Object.values(mocks).forEach((m) => m.restore()));
  return mocks;
}
