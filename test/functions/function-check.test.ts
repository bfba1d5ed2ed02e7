/**
 * The watchdog's check of the bound functions (functions/function-check.ts)
 * against fakes of Lambda and SSM: fresh, stale and healed, stale and not
 * healable, an alias's version, no token yet, parameters unreadable.
 */
import 'aws-sdk-client-mock-jest';
import { LambdaClient, PublishVersionCommand, UpdateFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParametersCommand, GetParametersCommandInput, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { checkFunctions, FunctionCheckInput } from '../../functions/function-check';
import { fingerprint } from '../../functions/function-env-update';
import { BoundFunctionEntry, MetricName } from '../../lib/contract';
import { awsError, HOST, REGION, SECRET_ARN } from './fixtures';
import { BOUND_FUNCTIONS_PARAMETER, watchdogConfig } from './fixtures-config';
import { FakeLambda, functionArn } from './fixtures-lambda';

const lambdaMock = mockClient(LambdaClient);
const ssmMock = mockClient(SSMClient);
const smMock = mockClient(SecretsManagerClient);
afterAll(() => [lambdaMock, ssmMock, smMock].forEach((m) => m.restore()));

const API = functionArn('api');
const WORKER = functionArn('worker');
const NOW = new Date('2030-01-01T00:00:00Z');
const url = (token: string) => `postgres://admin:${token}@${HOST}:5432/postgres?sslmode=require`;
const CURRENT = { url: url('current-token'), host: HOST, port: 5432 };

let fake: FakeLambda;
let lines: string[];

function entry(functionArn: string, overrides: Partial<BoundFunctionEntry> = {}): BoundFunctionEntry {
  return { functionArn, variable: 'DATABASE_URL', field: 'url', alias: null, ...overrides };
}

function bind(entries: unknown[]): void {
  ssmMock.on(GetParametersCommand).callsFake((input: GetParametersCommandInput) => ({
    Parameters: [{ Name: BOUND_FUNCTIONS_PARAMETER, Value: JSON.stringify(entries) }],
    InvalidParameters: input.Names!.filter((n) => n !== BOUND_FUNCTIONS_PARAMETER),
  }));
}

function check(overrides: Partial<FunctionCheckInput> = {}) {
  return checkFunctions({
    lambda: new LambdaClient({ region: REGION }),
    ssm: new SSMClient({ region: REGION }),
    sm: new SecretsManagerClient({ region: REGION }),
    config: watchdogConfig(),
    secretArn: SECRET_ARN,
    value: CURRENT,
    now: NOW,
    sleep: async () => undefined,
    ...overrides,
  });
}

/** The StaleFunctions values emitted. */
const staleMetric = () =>
  lines
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((d) => d._aws !== undefined)
    .map((d) => d[MetricName.STALE_FUNCTIONS]);

beforeEach(() => {
  [lambdaMock, ssmMock, smMock].forEach((m) => m.reset());
  fake = new FakeLambda();
  fake.readsPerUpdate = 1;
  fake.install(lambdaMock);
  smMock.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(CURRENT) });
  lines = [];
  jest.spyOn(console, 'log').mockImplementation((line: string) => {
    lines.push(line);
  });
});
afterEach(() => jest.restoreAllMocks());

describe('checkFunctions', () => {
  test('every function holds AWSCURRENT: nothing written, StaleFunctions 0', async () => {
    fake.add(API, { DATABASE_URL: CURRENT.url }).add(WORKER, { PORT: '5432' });
    bind([entry(API), entry(WORKER, { variable: 'PORT', field: 'port' })]);

    const summary = await check();

    expect(summary).toMatchObject({ functions: 2, reapplied: [], stale: [], notFound: [] });
    expect(lambdaMock).not.toHaveReceivedCommand(UpdateFunctionConfigurationCommand);
    expect(smMock).not.toHaveReceivedCommand(GetSecretValueCommand);
    expect(staleMetric()).toEqual([0]);
  });

  test('a stale function is written again with AWSCURRENT (its other variables kept); StaleFunctions counts it no more', async () => {
    fake.add(API, { DATABASE_URL: url('old-token'), KEEP: '1' }).add(WORKER, { DATABASE_URL: CURRENT.url });
    bind([entry(API), entry(WORKER)]);

    const summary = await check();

    expect(summary).toMatchObject({ functions: 2, reapplied: [API], stale: [] });
    expect(fake.variablesOf(API)).toEqual({ DATABASE_URL: CURRENT.url, KEEP: '1' });
    expect(staleMetric()).toEqual([0]);
    const text = lines.join('\n');
    expect(text).toContain(fingerprint(url('old-token')));
    expect(text).toContain(fingerprint(CURRENT.url));
    for (const secret of ['old-token', 'current-token']) expect(text).not.toContain(secret);
  });

  test('a rotation promoted since the token check: the re-apply writes the value AWSCURRENT holds now', async () => {
    const newer = { ...CURRENT, url: url('newer-token') };
    smMock.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(newer) });
    fake.add(API, { DATABASE_URL: url('old-token') });
    bind([entry(API)]);

    await check();

    expect(fake.variablesOf(API).DATABASE_URL).toBe(newer.url);
  });

  test('the version an alias points to is checked too: a stale one gets a version published and the alias moved', async () => {
    fake.add(API, { DATABASE_URL: url('old-token') });
    const v1 = fake.publish(API);
    fake.changeOutOfBand(API, { DATABASE_URL: CURRENT.url });
    fake.functions.get(API)!.aliases.set('live', { version: v1, revision: 'r' });
    bind([entry(API, { alias: 'live' })]);

    const summary = await check();

    expect(summary.reapplied).toEqual([API]);
    expect(lambdaMock).not.toHaveReceivedCommand(UpdateFunctionConfigurationCommand);
    expect(lambdaMock).toHaveReceivedCommandTimes(PublishVersionCommand, 1);
    expect(fake.variablesOf(API, fake.aliasVersion(API, 'live')).DATABASE_URL).toBe(CURRENT.url);
    expect(staleMetric()).toEqual([0]);
  });

  test('a stale function that cannot be written (4 KB) stays stale: StaleFunctions 1, named in the summary line', async () => {
    fake.add(API, { DATABASE_URL: url('old-token'), LARGE: 'x'.repeat(4000) }).add(WORKER, { DATABASE_URL: url('old-token') });
    bind([entry(API), entry(WORKER)]);

    const summary = await check();

    expect(summary).toMatchObject({ reapplied: [WORKER], stale: [API] });
    expect(staleMetric()).toEqual([1]);
    const line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r.message === 'function check: summary');
    expect(line).toMatchObject({ level: 'ERROR', stale: 'api', reapplied: 'worker' });
  });

  test('a deleted function is not stale; a bad entry counts as stale (it cannot be checked)', async () => {
    bind([entry(API), { functionArn: 'nope' }]);

    const summary = await check();

    expect(summary).toMatchObject({ notFound: [API], stale: [], invalidEntries: 1 });
    expect(staleMetric()).toEqual([1]);
  });

  test('no function bound: StaleFunctions 0 for the alarm, no Lambda call and no summary line', async () => {
    bind([]);

    const summary = await check();

    expect(summary).toMatchObject({ functions: 0, stale: [], invalidEntries: 0 });
    expect(lambdaMock.calls()).toHaveLength(0);
    expect(staleMetric()).toEqual([0]);
    expect(lines.some((l) => l.includes('function check: summary'))).toBe(false);
  });

  test('AWSCURRENT holds no token yet: skipped, no call, no metric', async () => {
    const summary = await check({ value: { url: '' } });

    expect(summary.skipped).toBe('AWSCURRENT holds no token yet');
    expect(ssmMock.calls()).toHaveLength(0);
    expect(staleMetric()).toEqual([]);
  });

  test('the parameters cannot be read: an error for the watchdog to fail on, no metric', async () => {
    ssmMock.on(GetParametersCommand).rejects(awsError('AccessDeniedException', 'not authorized to perform: ssm:GetParameters'));

    const summary = await check();

    expect(summary.error).toBe(
      'reading the bound functions parameters failed (AccessDeniedException: not authorized to perform: ssm:GetParameters)',
    );
    expect(staleMetric()).toEqual([]);
  });
});
