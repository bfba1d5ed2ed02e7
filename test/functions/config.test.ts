import { FUNCTION_CONFIG_ENV, FunctionBundle } from '../../lib/contract';
import { readFunctionConfig } from '../../functions/config';
import { BOUND_SERVICES_PARAMETER, CLUSTER_ID, HOST, KEYS_SECRET_ARN, REGION, SECRET_ARN, SIGNER_USER } from './fixtures';
import {
  accessKeySignerConfig,
  BOUND_FUNCTIONS_PARAMETER,
  config,
  configEnv,
  handlerEnv,
  initialRotationConfig,
  METRIC_DIMENSION,
  watchdogConfig,
  ROTATION_LOG_GROUP,
} from './fixtures-config';

const V = FUNCTION_CONFIG_ENV;
const DEPLOYED_BY = 'the function must be deployed by the DsqlUrlSecret construct';
const rotation = (value: object | string) => readFunctionConfig(FunctionBundle.ROTATION, configEnv(value));
/** A config with `field` removed. */
function without<T extends object>(cfg: T, field: keyof T): object {
  const copy: Record<string, unknown> = { ...(cfg as Record<string, unknown>) };
  delete copy[field as string];
  return copy;
}

describe('readFunctionConfig: the rotation function', () => {
  test('reads every setting the construct passes', () => {
    const cfg = readFunctionConfig(
      FunctionBundle.ROTATION,
      handlerEnv({
        port: 6543,
        username: 'app_user',
        tokenLifetimeSeconds: 3600,
        urlQuery: 'sslmode=verify-full&uselibpqcompat=true',
        boundServicesParameter: '/my/bound-services',
        boundServicesParameterCount: 2,
        redeployConcurrency: 3,
        redeployStaggerMs: 250,
        connectTimeoutSeconds: 7,
        rolloutAllowanceSeconds: 1800,
      }),
    );

    expect(cfg).toEqual({
      host: HOST,
      port: 6543,
      region: REGION,
      database: 'postgres',
      username: 'app_user',
      tokenLifetimeSeconds: 3600,
      urlQuery: 'sslmode=verify-full&uselibpqcompat=true',
      boundServicesParameter: '/my/bound-services',
      boundServicesParameterCount: 2,
      boundFunctionsParameter: BOUND_FUNCTIONS_PARAMETER,
      boundFunctionsParameterCount: 1,
      redeployConcurrency: 3,
      redeployStaggerMs: 250,
      metricDimension: METRIC_DIMENSION,
      connectTimeoutSeconds: 7,
      signer: { kind: 'role' },
      rolloutAllowanceSeconds: 1800,
      watchdogIntervalSeconds: 300,
    });
  });

  test('reads the access-key signer: its user and keys secret; rolloutAllowance is one setting for every signer', () => {
    const cfg = rotation(config(accessKeySignerConfig(900)));
    expect(cfg.signer).toEqual({ kind: 'access-key', userName: SIGNER_USER, keysSecretArn: KEYS_SECRET_ARN });
    expect(cfg.rolloutAllowanceSeconds).toBe(900);
  });

  test('an empty urlQuery is a URL without query parameters; 0 stagger and 0 rolloutAllowance are allowed', () => {
    const cfg = rotation(config({ urlQuery: '', redeployStaggerMs: 0, rolloutAllowanceSeconds: 0 }));
    expect(cfg).toMatchObject({ urlQuery: '', redeployStaggerMs: 0, rolloutAllowanceSeconds: 0 });
  });

  // No setting has a default on the function's side: the construct writes every one (port, concurrency, timeouts, signer...).
  test.each(Object.keys(config()) as Array<keyof ReturnType<typeof config>>)('a missing %s is an error that names it', (field) => {
    expect(() => rotation(without(config(), field))).toThrow(`${V}.${field} is missing: ${DEPLOYED_BY}`);
  });

  test('a signer without a kind is an error (no signer is assumed)', () => {
    expect(() => rotation(config({ signer: {} as never }))).toThrow(`${V}.signer.kind is missing: ${DEPLOYED_BY}`);
  });

  test.each(['userName', 'keysSecretArn'])('the access-key signer without %s is an error that names it', (field) => {
    const signer = without(accessKeySignerConfig().signer!, field as never);
    expect(() => rotation(config({ signer: signer as never }))).toThrow(`${V}.signer.${field} is missing: ${DEPLOYED_BY}`);
  });

  test.each([
    ['tokenLifetimeSeconds', 'abc', 'a string'],
    ['tokenLifetimeSeconds', 0, 'zero'],
    ['tokenLifetimeSeconds', -60, 'a negative number'],
    ['tokenLifetimeSeconds', 1.5, 'a non-integer number'],
    ['port', '5432', 'a string'],
    ['boundServicesParameterCount', 0, 'zero'],
    ['redeployConcurrency', 0, 'zero'],
    ['connectTimeoutSeconds', 'ten', 'a string'],
    ['connectTimeoutSeconds', null, 'null'],
  ])('%s=%p is rejected as not a positive integer', (field, value, got) => {
    expect(() => rotation({ ...config(), [field]: value })).toThrow(`${V}.${field} must be a positive integer, got ${got}`);
  });

  test.each([
    ['rolloutAllowanceSeconds', -1, 'a negative number'],
    ['rolloutAllowanceSeconds', 1.5, 'a non-integer number'],
    ['rolloutAllowanceSeconds', 'soon', 'a string'],
    ['redeployStaggerMs', -250, 'a negative number'],
  ])('%s=%p is rejected as not a non-negative integer', (field, value, got) => {
    expect(() => rotation({ ...config(), [field]: value })).toThrow(`${V}.${field} must be a non-negative integer, got ${got}`);
  });

  test.each([
    ['host', '', 'an empty string'],
    ['region', 42, 'a number'],
    ['database', ['postgres'], 'an array'],
    ['username', { name: 'admin' }, 'an object'],
    ['boundServicesParameter', true, 'a boolean'],
    ['metricDimension', '', 'an empty string'],
  ])('%s=%p is rejected as not a non-empty string', (field, value, got) => {
    expect(() => rotation({ ...config(), [field]: value })).toThrow(`${V}.${field} must be a non-empty string, got ${got}`);
  });

  test('urlQuery must be a string', () => {
    expect(() => rotation({ ...config(), urlQuery: 1 })).toThrow(`${V}.urlQuery must be a string, got a number`);
  });

  test('an unknown signer is rejected with the allowed kinds', () => {
    expect(() => rotation(config({ signer: { kind: 'user' } as never }))).toThrow(
      `${V}.signer.kind must be one of 'role', 'access-key', got a string`,
    );
    expect(() => rotation({ ...config(), signer: 'role' })).toThrow(`${V}.signer must be an object, got a string`);
  });

  test('a field no function reads is rejected: a config written for another function', () => {
    expect(() => rotation({ ...config(), secretArn: SECRET_ARN })).toThrow(`${V}.secretArn is not a known field: ${DEPLOYED_BY}`);
    expect(() => rotation(config({ signer: { kind: 'role', userName: SIGNER_USER } as never }))).toThrow(
      `${V}.signer.userName is not a known field`,
    );
  });

  test('reads process.env by default', () => {
    const saved = process.env[V];
    delete process.env[V];
    try {
      expect(() => readFunctionConfig(FunctionBundle.ROTATION)).toThrow(`Environment variable ${V} is not set: ${DEPLOYED_BY}`);
      process.env[V] = JSON.stringify(config());
      expect(readFunctionConfig(FunctionBundle.ROTATION).host).toBe(HOST);
    } finally {
      if (saved === undefined) delete process.env[V];
      else process.env[V] = saved;
    }
  });
});

describe('readFunctionConfig: the variable itself', () => {
  test.each([{}, { [V]: '' }])('unset or empty is an error that names the variable', (env) => {
    expect(() => readFunctionConfig(FunctionBundle.WATCHDOG, env)).toThrow(`Environment variable ${V} is not set: ${DEPLOYED_BY}`);
  });

  test('not JSON: an error that does not quote the text', () => {
    const error = (() => {
      try {
        rotation('{"host": "do-not-echo-me');
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(error?.message).toBe(`Environment variable ${V} is not valid JSON: ${DEPLOYED_BY}`);
  });

  test.each([
    ['[]', 'an array'],
    ['"config"', 'a string'],
    ['null', 'null'],
    ['7', 'a number'],
  ])('%s is not an object', (raw, got) => {
    expect(() => rotation(raw)).toThrow(`Environment variable ${V} must be a JSON object, got ${got}`);
  });

  test('messages name fields and types, never the values found', () => {
    const values = ['do-not-echo-1', 'do-not-echo-2', 987654321.5];
    const attempts = [
      () => rotation({ ...config(), port: values[0] }),
      () => rotation(config({ signer: { kind: values[1] } as never })),
      () => rotation({ ...config(), redeployConcurrency: values[2] }),
    ];
    for (const attempt of attempts) {
      expect(attempt).toThrow(V);
      try {
        attempt();
      } catch (e) {
        for (const v of values) expect((e as Error).message).not.toContain(String(v));
      }
    }
  });
});

describe('readFunctionConfig: the watchdog function', () => {
  test('reads every setting the construct passes', () => {
    expect(readFunctionConfig(FunctionBundle.WATCHDOG, configEnv(watchdogConfig({ connectTimeoutSeconds: 7 })))).toEqual({
      secretArn: SECRET_ARN,
      rotateBeforeExpirySeconds: 2580,
      stalePendingSeconds: 1200,
      metricDimension: METRIC_DIMENSION,
      connectTimeoutSeconds: 7,
      boundServicesParameter: BOUND_SERVICES_PARAMETER,
      boundServicesParameterCount: 1,
      boundServicesFingerprint: expect.stringMatching(/^fixture-deployment-\d+$/),
      rolloutAllowanceSeconds: 1800,
      redeployConcurrency: 5,
      boundFunctionsParameter: BOUND_FUNCTIONS_PARAMETER,
      boundFunctionsParameterCount: 1,
    });
  });

  test.each(Object.keys(watchdogConfig()) as Array<keyof ReturnType<typeof watchdogConfig>>)(
    'a missing %s is an error that names it',
    (field) => {
      expect(() => readFunctionConfig(FunctionBundle.WATCHDOG, configEnv(without(watchdogConfig(), field)))).toThrow(
        `${V}.${field} is missing: ${DEPLOYED_BY}`,
      );
    },
  );

  test.each([
    'rotateBeforeExpirySeconds',
    'stalePendingSeconds',
    'connectTimeoutSeconds',
    'boundServicesParameterCount',
    'redeployConcurrency',
  ])('%s must be a positive integer', (field) => {
    expect(() => readFunctionConfig(FunctionBundle.WATCHDOG, configEnv({ ...watchdogConfig(), [field]: 0 }))).toThrow(
      `${V}.${field} must be a positive integer, got zero`,
    );
  });

  test('rolloutAllowanceSeconds may be 0 (never defer) but not negative; boundServicesParameter must be a non-empty string', () => {
    const read = (over: object) => () => readFunctionConfig(FunctionBundle.WATCHDOG, configEnv({ ...watchdogConfig(), ...over }));
    expect(read({ rolloutAllowanceSeconds: 0 })()).toMatchObject({ rolloutAllowanceSeconds: 0 });
    expect(read({ rolloutAllowanceSeconds: -1 })).toThrow(
      `${V}.rolloutAllowanceSeconds must be a non-negative integer, got a negative number`,
    );
    expect(read({ boundServicesParameter: '' })).toThrow(`${V}.boundServicesParameter must be a non-empty string, got an empty string`);
  });

  test("the rotation function's config is not the watchdog's", () => {
    expect(() => readFunctionConfig(FunctionBundle.WATCHDOG, configEnv(config()))).toThrow(`${V}.secretArn is missing`);
  });
});

describe('readFunctionConfig: the first-rotation function', () => {
  test('reads the secret, the timeout, the signer user (null with the role signer), the cluster and the re-drive limits', () => {
    const read = (over = {}) => readFunctionConfig(FunctionBundle.INITIAL_ROTATION, configEnv(initialRotationConfig(over)));
    expect(read()).toEqual({
      secretArn: SECRET_ARN,
      rotationLogGroupName: ROTATION_LOG_GROUP,
      timeoutSeconds: 600,
      signerUserName: null,
      clusterIdentifier: CLUSTER_ID,
      clusterRegion: REGION,
      redriveAfterSeconds: 180,
      maxRotationAttempts: 3,
      roleGrantCheck: null,
    });
    expect(read({ signerUserName: SIGNER_USER }).signerUserName).toBe(SIGNER_USER);
  });

  test.each(Object.keys(initialRotationConfig()) as Array<keyof ReturnType<typeof initialRotationConfig>>)(
    'a missing %s is an error that names it (null, not absence, says there is no user)',
    (field) => {
      expect(() => readFunctionConfig(FunctionBundle.INITIAL_ROTATION, configEnv(without(initialRotationConfig(), field)))).toThrow(
        `${V}.${field} is missing: ${DEPLOYED_BY}`,
      );
    },
  );

  test.each([
    ['signerUserName', '', 'must be a non-empty string or null, got an empty string'],
    ['signerUserName', 5, 'must be a non-empty string or null, got a number'],
    ['timeoutSeconds', -600, 'must be a positive integer, got a negative number'],
    ['secretArn', null, 'must be a non-empty string, got null'],
    ['rotationLogGroupName', '', 'must be a non-empty string, got an empty string'],
    ['clusterIdentifier', '', 'must be a non-empty string, got an empty string'],
    ['clusterRegion', 3, 'must be a non-empty string, got a number'],
    ['redriveAfterSeconds', 0, 'must be a positive integer, got zero'],
    ['maxRotationAttempts', 1.5, 'must be a positive integer, got a non-integer number'],
  ])('%s=%p is rejected', (field, value, expected) => {
    expect(() => readFunctionConfig(FunctionBundle.INITIAL_ROTATION, configEnv({ ...initialRotationConfig(), [field]: value }))).toThrow(
      `${V}.${field} ${expected}`,
    );
  });
});
