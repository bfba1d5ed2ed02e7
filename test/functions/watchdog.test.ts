import 'aws-sdk-client-mock-jest';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { GetParametersCommand, SSMClient } from '@aws-sdk/client-ssm';
import { ECSClient } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { DsqlUrlSecretValue, FUNCTION_CONFIG_ENV, METRICS_NAMESPACE, MetricName, WatchdogFunctionConfig } from '../../lib/contract';
import { DeferredTag } from '../../lib/secret-tags';
import { checkConnection } from '../../functions/connection-check';
import { handler as watchdogHandler } from '../../functions/entry/watchdog';
import { readWatchdogConfig, runWatchdog } from '../../functions/watchdog';
import { awsError, BOUND_SERVICES_PARAMETER, FAKE_CREDENTIALS, HOST, OLD_VERSION, SECRET_ARN, TOKEN } from './fixtures';
import { BOUND_FUNCTIONS_PARAMETER, configEnv, setEnv, watchdogConfig } from './fixtures-config';
import { newFakeAccessKey } from './fixtures-iam';
import { placeholderValue } from './fixtures-secrets-manager';
import { valueSignedWith } from './fixtures-tokens';

jest.mock('../../functions/connection-check');
const checkConnectionMock = jest.mocked(checkConnection);

const smMock = mockClient(SecretsManagerClient);
// The fleet check (test/functions/fleet-check.test.ts) finds no bound services here: a new stack.
const ssmMock = mockClient(SSMClient);
const ecsMock = mockClient(ECSClient);

const NOW = new Date('2030-06-01T12:00:00.000Z');
const ROTATE_BEFORE = 3600;
const STALE = 1800;
const DIMENSION = 'app-db-url';

function watchdogEnv(overrides: Partial<WatchdogFunctionConfig> = {}): Record<string, string> {
  return configEnv(
    watchdogConfig({
      secretArn: SECRET_ARN,
      rotateBeforeExpirySeconds: ROTATE_BEFORE,
      stalePendingSeconds: STALE,
      metricDimension: DIMENSION,
      connectTimeoutSeconds: 7,
      ...overrides,
    }),
  );
}

let restoreEnv: () => void;
let logSpy: jest.SpyInstance;
beforeEach(() => {
  smMock.reset();
  ecsMock.reset();
  ssmMock
    .reset()
    .on(GetParametersCommand)
    .resolves({ Parameters: [], InvalidParameters: [BOUND_SERVICES_PARAMETER] });
  checkConnectionMock.mockReset();
  restoreEnv = setEnv(watchdogEnv());
  logSpy = jest.spyOn(console, 'log').mockImplementation(() => undefined);
});
afterEach(() => {
  restoreEnv();
  jest.restoreAllMocks();
});
afterAll(() => [smMock, ssmMock, ecsMock].forEach((m) => m.restore()));

function lines(): string[] {
  return logSpy.mock.calls.map((args) => args.map(String).join(' '));
}

/** The EMF documents the run printed. */
function metricDocuments(): Array<Record<string, unknown>> {
  return lines()
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((d) => '_aws' in d);
}

/** The token check's metrics (the fleet check's come in a document of their own). */
function metricValues(): Record<string, number> {
  const docs = metricDocuments().filter((d) => MetricName.TOKEN_CHECK_FAILED in d);
  expect(docs).toHaveLength(1);
  const doc = docs[0];
  return Object.fromEntries(Object.values(MetricName).map((name) => [name, doc[name] as number]));
}

function decisionLine(): Record<string, unknown> {
  const found = lines()
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((d) => d.message === 'watchdog: decision');
  expect(found).toHaveLength(1);
  return found[0];
}

/** A current value that expires `secondsLeft` after NOW. */
function currentValue(secondsLeft: number, overrides: Partial<DsqlUrlSecretValue> = {}): DsqlUrlSecretValue {
  const token = `${HOST}/?Action=DbConnectAdmin&X-Amz-Credential=AKIAEXAMPLE%2F2030&X-Amz-Signature=abcdef0123456789`;
  return {
    url: `postgres://admin:${encodeURIComponent(token)}@${HOST}:5432/postgres?sslmode=require`,
    host: HOST,
    port: 5432,
    username: 'admin',
    password: token,
    dbname: 'postgres',
    sslmode: 'require',
    issuedAt: new Date(NOW.getTime() - 3600_000).toISOString(),
    expiresAt: new Date(NOW.getTime() + secondsLeft * 1000).toISOString(),
    ...overrides,
  };
}

interface SecretState {
  stages?: Record<string, string[]>;
  tags?: Record<string, string>;
  created?: Record<string, Date>;
  current: unknown;
}

function arrange(state: SecretState): void {
  const stages = state.stages ?? { [OLD_VERSION]: ['AWSCURRENT'] };
  smMock.on(DescribeSecretCommand).resolves({
    ARN: SECRET_ARN,
    Name: 'app/db-url',
    RotationEnabled: true,
    VersionIdsToStages: stages,
    Tags: Object.entries(state.tags ?? {}).map(([Key, Value]) => ({ Key, Value })),
  });
  smMock.on(GetSecretValueCommand, { SecretId: SECRET_ARN, VersionStage: 'AWSCURRENT' }).resolves({
    ARN: SECRET_ARN,
    VersionId: OLD_VERSION,
    SecretString: typeof state.current === 'string' ? state.current : JSON.stringify(state.current),
  });
  smMock.on(ListSecretVersionIdsCommand).resolves({
    Versions: Object.entries(state.created ?? {}).map(([VersionId, CreatedDate]) => ({
      VersionId,
      CreatedDate,
      VersionStages: stages[VersionId],
    })),
  });
  smMock.on(RotateSecretCommand).resolves({ ARN: SECRET_ARN, VersionId: 'new-version' });
  smMock.on(UpdateSecretVersionStageCommand).resolves({ ARN: SECRET_ARN });
}

const run = () => runWatchdog({ now: () => NOW });
const authFailure = () =>
  Object.assign(new Error("testSecret: DSQL rejected the new token at h:5432 as 'admin' (access denied)."), { kind: 'auth' });

describe('watchdog', () => {
  describe('a deferred rotation (DeferredTag.key)', () => {
    // AWSCURRENT (OLD_VERSION) is the deferred rotation's copy.
    const deferred = (offsetSeconds: number) => ({
      [DeferredTag.key]: `${OLD_VERSION} ${new Date(NOW.getTime() + offsetSeconds * 1000).toISOString()}`,
    });

    test('due: starts a rotation and says it was deferred', async () => {
      arrange({ current: currentValue(4 * ROTATE_BEFORE), tags: deferred(-1) });
      checkConnectionMock.mockResolvedValue(undefined);

      const result = await run();

      expect(result).toMatchObject({ action: 'rotate', rotationStarted: true, connected: true });
      expect(result.reason).toBe(`a scheduled rotation was deferred until ${new Date(NOW.getTime() - 1000).toISOString()}`);
      expect(smMock).toHaveReceivedCommandTimes(RotateSecretCommand, 1);
      expect(decisionLine()).toMatchObject({ action: 'rotate', deferredUntil: new Date(NOW.getTime() - 1000).toISOString() });
    });

    test('not yet due: does nothing', async () => {
      arrange({ current: currentValue(4 * ROTATE_BEFORE), tags: deferred(60) });
      checkConnectionMock.mockResolvedValue(undefined);

      const result = await run();

      expect(result).toMatchObject({ action: 'none', rotationStarted: false });
      expect(smMock).not.toHaveReceivedCommand(RotateSecretCommand);
    });

    test('due while a rotation is in progress: waits', async () => {
      arrange({
        current: currentValue(4 * ROTATE_BEFORE),
        tags: deferred(-600),
        stages: { [OLD_VERSION]: ['AWSCURRENT'], [TOKEN]: ['AWSPENDING'] },
        created: { [TOKEN]: new Date(NOW.getTime() - 60_000) },
      });
      checkConnectionMock.mockResolvedValue(undefined);

      const result = await run();

      expect(result).toMatchObject({ action: 'wait', rotationInProgress: true, rotationStarted: false });
      expect(smMock).not.toHaveReceivedCommand(RotateSecretCommand);
    });

    test('a malformed tag is ignored', async () => {
      arrange({ current: currentValue(4 * ROTATE_BEFORE), tags: { [DeferredTag.key]: 'soon' } });
      checkConnectionMock.mockResolvedValue(undefined);
      expect((await run()).action).toBe('none');
    });
  });

  test('healthy: connects, enough time left → no rotation; metrics 0 / seconds left / 0', async () => {
    const value = currentValue(4 * ROTATE_BEFORE);
    arrange({ current: value });
    checkConnectionMock.mockResolvedValue(undefined);

    const result = await run();

    expect(result).toMatchObject({ action: 'none', connected: true, rotationStarted: false, secondsLeft: 4 * ROTATE_BEFORE });
    expect(result.reason).toMatch(/^healthy/);
    expect(checkConnectionMock).toHaveBeenCalledWith(value, 7);
    expect(smMock).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: SECRET_ARN, VersionStage: 'AWSCURRENT' });
    expect(smMock).not.toHaveReceivedCommand(RotateSecretCommand);
    expect(smMock).not.toHaveReceivedCommand(ListSecretVersionIdsCommand);
    expect(metricValues()).toEqual({
      [MetricName.TOKEN_CHECK_FAILED]: 0,
      [MetricName.TOKEN_SECONDS_LEFT]: 4 * ROTATE_BEFORE,
      [MetricName.WATCHDOG_ROTATION_STARTED]: 0,
    });
    expect(decisionLine()).toMatchObject({ level: 'INFO', action: 'none', connected: true, secretArn: SECRET_ARN });
  });

  test('near expiry: rotates with RotateSecret({ SecretId }) only (the configured function and schedule)', async () => {
    arrange({ current: currentValue(ROTATE_BEFORE - 60) });
    checkConnectionMock.mockResolvedValue(undefined);

    const result = await run();

    expect(result).toMatchObject({ action: 'rotate', rotationStarted: true, connected: true });
    expect(result.reason).toContain(`expires in ${ROTATE_BEFORE - 60} s`);
    expect(smMock).toHaveReceivedCommandTimes(RotateSecretCommand, 1);
    expect(smMock.commandCalls(RotateSecretCommand)[0].args[0].input).toEqual({ SecretId: SECRET_ARN });
    expect(metricValues()[MetricName.WATCHDOG_ROTATION_STARTED]).toBe(1);
    expect(decisionLine()).toMatchObject({ level: 'WARN', action: 'rotate' });
  });

  test('authentication failure: rotates; TokenCheckFailed = 1; the log says why without the token', async () => {
    const value = currentValue(4 * ROTATE_BEFORE);
    arrange({ current: value });
    checkConnectionMock.mockRejectedValue(authFailure());

    const result = await run();

    expect(result).toMatchObject({ action: 'rotate', connected: false, rotationStarted: true });
    expect(result.reason).toBe('the current URL does not authenticate');
    expect(metricValues()).toMatchObject({ [MetricName.TOKEN_CHECK_FAILED]: 1, [MetricName.WATCHDOG_ROTATION_STARTED]: 1 });
    expect(decisionLine().checkFailure).toBe("DSQL rejected the new token at h:5432 as 'admin' (access denied).");
    for (const line of lines()) {
      expect(line).not.toContain(value.password);
      expect(line).not.toContain(encodeURIComponent(value.password));
      expect(line).not.toContain('abcdef0123456789');
    }
  });

  test('the placeholder (empty url) counts as not connected: no connection attempt, rotates (heals a failed first rotation)', async () => {
    arrange({ current: placeholderValue() });

    const result = await run();

    expect(checkConnectionMock).not.toHaveBeenCalled();
    expect(result).toMatchObject({ action: 'rotate', connected: false, secondsLeft: undefined, rotationStarted: true });
    expect(metricValues()).toEqual({
      [MetricName.TOKEN_CHECK_FAILED]: 1,
      [MetricName.TOKEN_SECONDS_LEFT]: 0,
      [MetricName.WATCHDOG_ROTATION_STARTED]: 1,
    });
    expect(decisionLine().checkFailure).toBe('AWSCURRENT is the placeholder: no token yet');
  });

  test('a current value that is not JSON counts as not connected and rotates', async () => {
    arrange({ current: 'garbage' });

    const result = await run();

    expect(result).toMatchObject({ action: 'rotate', connected: false });
    expect(checkConnectionMock).not.toHaveBeenCalled();
  });

  test('a rotation in progress (young pending version): waits, neither clears it nor rotates', async () => {
    arrange({
      current: currentValue(4 * ROTATE_BEFORE),
      stages: { [OLD_VERSION]: ['AWSCURRENT'], [TOKEN]: ['AWSPENDING'] },
      created: { [OLD_VERSION]: new Date(NOW.getTime() - 86400_000), [TOKEN]: new Date(NOW.getTime() - 60_000) },
    });
    checkConnectionMock.mockRejectedValue(authFailure());

    const result = await run();

    expect(result).toMatchObject({ action: 'wait', rotationInProgress: true, rotationStarted: false, clearedPendingVersions: [] });
    expect(result.reason).toContain('a rotation is already in progress');
    expect(smMock).toHaveReceivedCommandWith(ListSecretVersionIdsCommand, { SecretId: SECRET_ARN });
    expect(smMock).not.toHaveReceivedCommand(UpdateSecretVersionStageCommand);
    expect(smMock).not.toHaveReceivedCommand(RotateSecretCommand);
    expect(metricValues()[MetricName.WATCHDOG_ROTATION_STARTED]).toBe(0);
  });

  test('a stale pending version (failed rotation) loses AWSPENDING, then the rotation starts', async () => {
    arrange({
      current: currentValue(60),
      stages: { [OLD_VERSION]: ['AWSCURRENT'], [TOKEN]: ['AWSPENDING'] },
      created: { [OLD_VERSION]: new Date(NOW.getTime() - 86400_000), [TOKEN]: new Date(NOW.getTime() - (STALE + 1) * 1000) },
    });
    checkConnectionMock.mockResolvedValue(undefined);

    const result = await run();

    expect(result).toMatchObject({ action: 'rotate', rotationInProgress: false, rotationStarted: true, clearedPendingVersions: [TOKEN] });
    expect(smMock).toHaveReceivedCommandWith(UpdateSecretVersionStageCommand, {
      SecretId: SECRET_ARN,
      VersionStage: 'AWSPENDING',
      RemoveFromVersionId: TOKEN,
    });
    const clear = smMock.commandCalls(UpdateSecretVersionStageCommand)[0];
    const rotate = smMock.commandCalls(RotateSecretCommand)[0];
    expect(clear.calledBefore(rotate)).toBe(true);
    expect(lines().some((l) => l.includes('"level":"WARN"') && l.includes('removed AWSPENDING'))).toBe(true);
  });

  test('a stale pending version is cleared even when the token is healthy (it blocks the next scheduled rotation)', async () => {
    arrange({
      current: currentValue(4 * ROTATE_BEFORE),
      stages: { [OLD_VERSION]: ['AWSCURRENT'], [TOKEN]: ['AWSPENDING'] },
      created: { [TOKEN]: new Date(NOW.getTime() - 86400_000) },
    });
    checkConnectionMock.mockResolvedValue(undefined);

    const result = await run();

    expect(result).toMatchObject({ action: 'none', clearedPendingVersions: [TOKEN] });
    expect(smMock).toHaveReceivedCommandTimes(UpdateSecretVersionStageCommand, 1);
    expect(smMock).not.toHaveReceivedCommand(RotateSecretCommand);
  });

  test('AWSPENDING on the AWSCURRENT version is a finished rotation, not one in progress', async () => {
    arrange({ current: currentValue(60), stages: { [OLD_VERSION]: ['AWSCURRENT', 'AWSPENDING'] } });
    checkConnectionMock.mockResolvedValue(undefined);

    const result = await run();

    expect(result).toMatchObject({ action: 'rotate', rotationInProgress: false });
    expect(smMock).not.toHaveReceivedCommand(ListSecretVersionIdsCommand);
  });

  test('a pending version whose creation date is unknown is assumed in progress, never cleared', async () => {
    arrange({ current: currentValue(60), stages: { [OLD_VERSION]: ['AWSCURRENT'], [TOKEN]: ['AWSPENDING'] }, created: {} });
    checkConnectionMock.mockResolvedValue(undefined);

    const result = await run();

    expect(result).toMatchObject({ action: 'wait', rotationInProgress: true });
    expect(smMock).not.toHaveReceivedCommand(UpdateSecretVersionStageCommand);
  });

  test('ListSecretVersionIds is followed through its pages', async () => {
    arrange({ current: currentValue(60), stages: { [OLD_VERSION]: ['AWSCURRENT'], [TOKEN]: ['AWSPENDING'] } });
    smMock
      .on(ListSecretVersionIdsCommand)
      .resolvesOnce({ Versions: [{ VersionId: OLD_VERSION, CreatedDate: new Date(0) }], NextToken: 'page2' })
      .resolvesOnce({ Versions: [{ VersionId: TOKEN, CreatedDate: new Date(NOW.getTime() - 86400_000) }] });
    checkConnectionMock.mockResolvedValue(undefined);

    const result = await run();

    expect(smMock).toHaveReceivedCommandWith(ListSecretVersionIdsCommand, { NextToken: 'page2' });
    expect(result.clearedPendingVersions).toEqual([TOKEN]);
  });

  test.each([
    ["A previous rotation isn't complete. That rotation will be reattempted."],
    ['Previous rotation request is still in progress.'],
  ])('RotateSecret refused as "%s" → wait', async (message) => {
    arrange({ current: currentValue(60) });
    checkConnectionMock.mockResolvedValue(undefined);
    smMock.on(RotateSecretCommand).rejects(awsError('InvalidRequestException', message));

    const result = await run();

    expect(result).toMatchObject({ action: 'wait', rotationStarted: false });
    expect(result.reason).toContain('RotateSecret answered that a rotation is already in progress');
    expect(metricValues()[MetricName.WATCHDOG_ROTATION_STARTED]).toBe(0);
  });

  test('any other RotateSecret failure fails the invocation, after the metrics are out', async () => {
    arrange({ current: currentValue(60) });
    checkConnectionMock.mockResolvedValue(undefined);
    smMock.on(RotateSecretCommand).rejects(awsError('AccessDeniedException', 'not authorized to perform lambda:InvokeFunction'));

    await expect(run()).rejects.toThrow(
      `watchdog: RotateSecret on ${SECRET_ARN} failed (AccessDeniedException: not authorized to perform lambda:InvokeFunction)`,
    );
    expect(metricValues()).toMatchObject({ [MetricName.TOKEN_CHECK_FAILED]: 0, [MetricName.WATCHDOG_ROTATION_STARTED]: 0 });
  });

  test('metric lines are valid embedded metric format', async () => {
    arrange({ current: currentValue(4 * ROTATE_BEFORE) });
    checkConnectionMock.mockResolvedValue(undefined);

    await run();

    const [doc] = metricDocuments();
    const aws = doc._aws as {
      Timestamp: unknown;
      CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }>;
    };
    expect(aws.Timestamp).toBe(NOW.getTime());
    expect(aws.CloudWatchMetrics).toHaveLength(1);
    const directive = aws.CloudWatchMetrics[0];
    expect(directive.Namespace).toBe(METRICS_NAMESPACE);
    expect(directive.Dimensions).toEqual([['Secret']]);
    expect(doc.Secret).toBe(DIMENSION);
    expect(directive.Metrics.map((m) => m.Name).sort()).toEqual(
      [MetricName.TOKEN_CHECK_FAILED, MetricName.TOKEN_SECONDS_LEFT, MetricName.WATCHDOG_ROTATION_STARTED].sort(),
    );
    for (const m of directive.Metrics) {
      expect(['Count', 'Seconds']).toContain(m.Unit);
      expect(typeof doc[m.Name]).toBe('number');
    }
    // Every dimension named in the directive is a string member of the root.
    for (const name of directive.Dimensions.flat()) expect(typeof doc[name]).toBe('string');
  });

  test('the dimension is the configured one, not the secret name; a config without it fails before any call', async () => {
    restoreEnv();
    restoreEnv = setEnv(watchdogEnv({ metricDimension: 'other-dimension' }));
    arrange({ current: currentValue(4 * ROTATE_BEFORE) });
    checkConnectionMock.mockResolvedValue(undefined);

    await run();

    expect(metricDocuments()[0].Secret).toBe('other-dimension');
    expect(metricDocuments()[0].Secret).not.toBe('app/db-url');

    const { metricDimension: _omitted, ...rest } = watchdogConfig();
    restoreEnv();
    restoreEnv = setEnv(configEnv(rest));
    smMock.resetHistory();
    await expect(run()).rejects.toThrow(`${FUNCTION_CONFIG_ENV}.metricDimension is missing`);
    expect(smMock).not.toHaveReceivedAnyCommand();
  });

  test('a real token in the secret never reaches the logs', async () => {
    const value = await valueSignedWith(newFakeAccessKey());
    arrange({ current: { ...value, expiresAt: new Date(NOW.getTime() + 60_000).toISOString() } });
    checkConnectionMock.mockRejectedValue(authFailure());

    await run();

    const signature = new URL(`https://${value.password}`).searchParams.get('X-Amz-Signature')!;
    for (const line of lines()) {
      expect(line).not.toContain(signature);
      expect(line).not.toContain(value.url);
      expect(line).not.toContain(FAKE_CREDENTIALS.secretAccessKey);
    }
  });

  test('watchdogHandler is exported by the bundle entry and reads process.env', async () => {
    arrange({ current: currentValue(10 * 86400) });
    checkConnectionMock.mockResolvedValue(undefined);

    const result = await watchdogHandler({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} });

    expect(result.action).toBe('none');
  });
});

describe('readWatchdogConfig', () => {
  test('reads every setting, the connect timeout too (the construct writes 10 s; the function has no default)', () => {
    expect(readWatchdogConfig(watchdogEnv({ connectTimeoutSeconds: 10 }))).toEqual({
      secretArn: SECRET_ARN,
      rotateBeforeExpirySeconds: ROTATE_BEFORE,
      stalePendingSeconds: STALE,
      metricDimension: DIMENSION,
      connectTimeoutSeconds: 10,
      boundServicesParameter: BOUND_SERVICES_PARAMETER,
      boundServicesParameterCount: 1,
      boundServicesFingerprint: expect.stringMatching(/^fixture-deployment-\d+$/),
      boundFunctionsParameter: BOUND_FUNCTIONS_PARAMETER,
      boundFunctionsParameterCount: 1,
      rolloutAllowanceSeconds: 1800,
      redeployConcurrency: 5,
    });
  });

  test.each(['secretArn', 'rotateBeforeExpirySeconds', 'stalePendingSeconds', 'metricDimension', 'connectTimeoutSeconds'] as const)(
    'a missing %s is an error',
    (name) => {
      const cfg: Partial<WatchdogFunctionConfig> = watchdogConfig();
      delete cfg[name];
      expect(() => readWatchdogConfig(configEnv(cfg))).toThrow(`${FUNCTION_CONFIG_ENV}.${name} is missing`);
    },
  );
});
