/**
 * The bound functions: reading their parameters (functions/function-consumers.ts)
 * and finishSecret updating them beside the services' redeploys, through the
 * rotation handler, against fakes of Secrets Manager, ECS and Lambda.
 */
import 'aws-sdk-client-mock-jest';
import { LambdaClient, UpdateFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
import { UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { GetParametersCommand, GetParametersCommandInput, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { handler } from '../../functions/rotation-handler';
import { loadBoundFunctions, parseBoundFunctionEntries } from '../../functions/function-consumers';
import { BoundFunctionEntry, DsqlUrlSecretValue, MetricName } from '../../lib/contract';
import { DeferredTag } from '../../lib/secret-tags';
import { HOST, REGION, SECRET_ARN, serviceArn, TOKEN } from './fixtures';
import { BOUND_FUNCTIONS_PARAMETER, useMockedAws } from './fixtures-config';
import { boundServices, FakeEcs } from './fixtures-ecs';
import { FakeLambda, functionArn } from './fixtures-lambda';
import { FakeSecretsManager } from './fixtures-secrets-manager';

jest.mock('../../functions/connection-check');

const { smMock, ecsMock, ssmMock } = useMockedAws();
const lambdaMock = mockClient(LambdaClient);
afterAll(() => lambdaMock.restore());

const API = functionArn('api');
const WORKER = functionArn('worker');
const SERVICE = serviceArn('main', 'web');
const event = { Step: 'finishSecret', SecretId: SECRET_ARN, ClientRequestToken: TOKEN };
const NEW_URL = `postgres://admin:new-token@${HOST}:5432/postgres?sslmode=require`;

function entry(functionArn: string, overrides: Partial<BoundFunctionEntry> = {}): BoundFunctionEntry {
  return { functionArn, variable: 'DATABASE_URL', field: 'url', alias: null, ...overrides };
}

function pendingValue(): DsqlUrlSecretValue {
  const expiresAt = new Date(Date.now() + 8 * 3600_000).toISOString();
  return {
    url: NEW_URL,
    host: HOST,
    port: 5432,
    username: 'admin',
    password: 'new-token',
    dbname: 'postgres',
    sslmode: 'require',
    issuedAt: new Date().toISOString(),
    expiresAt,
  };
}

/** The bound-functions parameters hold these values, by name (others do not exist). */
function parameters(values: Record<string, unknown>): void {
  ssmMock.on(GetParametersCommand).callsFake((input: GetParametersCommandInput) => ({
    Parameters: input.Names!.filter((n) => n in values).map((Name) => ({ Name, Value: JSON.stringify(values[Name]) })),
    InvalidParameters: input.Names!.filter((n) => !(n in values)),
  }));
}

async function run(): Promise<{ error?: Error; records: Array<Record<string, unknown>> }> {
  const lines: string[] = [];
  jest.spyOn(console, 'log').mockImplementation((line: string) => {
    lines.push(line);
  });
  const error = await handler(event).then(
    () => undefined,
    (e: Error) => e,
  );
  return { error, records: lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const metricsOf = (records: Array<Record<string, unknown>>) => records.find((r) => r._aws !== undefined)!;
const summaryOf = (records: Array<Record<string, unknown>>) => records.find((r) => r.message === 'finishSecret: function update summary');

describe('parseBoundFunctionEntries', () => {
  test('entries as the construct writes them, with and without an alias', () => {
    const raw = JSON.stringify([entry(API), entry(WORKER, { variable: 'DB_HOST', field: 'host', alias: 'live' })]);
    expect(parseBoundFunctionEntries(raw, BOUND_FUNCTIONS_PARAMETER)).toEqual({
      functions: [entry(API), entry(WORKER, { variable: 'DB_HOST', field: 'host', alias: 'live' })],
      invalid: [],
    });
  });

  test.each([
    ['null', null],
    ['an ARN string', API],
    ['a qualified ARN', entry(`${API}:live`)],
    ['an ECS ARN', entry(SERVICE)],
    ['an unknown field', entry(API, { field: 'token' })],
    ['a variable Lambda refuses', entry(API, { variable: '1X' })],
    ['a version as the alias', entry(API, { alias: '3' })],
    ['no alias key', { functionArn: API, variable: 'DATABASE_URL', field: 'url' }],
  ])('%s is an invalid entry named by position; the others are kept', (_, bad) => {
    const parsed = parseBoundFunctionEntries(JSON.stringify([entry(API), bad, entry(WORKER)]), BOUND_FUNCTIONS_PARAMETER);
    expect(parsed.functions.map((f) => f.functionArn)).toEqual([API, WORKER]);
    expect(parsed.invalid).toEqual([expect.objectContaining({ parameter: BOUND_FUNCTIONS_PARAMETER, index: 1 })]);
  });

  test('a value that is not a JSON array is one invalid entry without an index', () => {
    expect(parseBoundFunctionEntries('{"oops"', BOUND_FUNCTIONS_PARAMETER).invalid).toEqual([
      { parameter: BOUND_FUNCTIONS_PARAMETER, entry: '{"oops"' },
    ]);
  });
});

describe('loadBoundFunctions', () => {
  test('reads every parameter in one GetParameters call, drops a function listed twice, stops at a missing one', async () => {
    parameters({
      [BOUND_FUNCTIONS_PARAMETER]: [entry(API)],
      [`${BOUND_FUNCTIONS_PARAMETER}-2`]: [entry(WORKER), entry(API, { variable: 'OTHER' })],
    });

    const loaded = await loadBoundFunctions(new SSMClient({ region: REGION }), BOUND_FUNCTIONS_PARAMETER, 3);

    expect(loaded).toEqual({ functions: [entry(API), entry(WORKER)], invalid: [] });
    expect(ssmMock).toHaveReceivedCommandTimes(GetParametersCommand, 1);
    expect(ssmMock).toHaveReceivedCommandWith(GetParametersCommand, {
      Names: [BOUND_FUNCTIONS_PARAMETER, `${BOUND_FUNCTIONS_PARAMETER}-2`, `${BOUND_FUNCTIONS_PARAMETER}-3`],
    });
  });

  test('no parameter yet (the first rotation of a new stack): no function', async () => {
    parameters({});
    await expect(loadBoundFunctions(new SSMClient({ region: REGION }), BOUND_FUNCTIONS_PARAMETER, 1)).resolves.toEqual({
      functions: [],
      invalid: [],
    });
  });
});

describe('finishSecret and the bound functions', () => {
  let lambda: FakeLambda;
  let ecs: FakeEcs;
  let sm: FakeSecretsManager;

  beforeEach(() => {
    lambdaMock.reset();
    lambda = new FakeLambda();
    lambda.readsPerUpdate = 0;
    lambda.install(lambdaMock);
    sm = new FakeSecretsManager();
    sm.setVersion(TOKEN, ['AWSPENDING'], pendingValue());
    sm.install(smMock);
    ecs = new FakeEcs().add(SERVICE);
    ecs.install(ecsMock);
    boundServices(ssmMock, [SERVICE]);
  });

  test('after the promotion every bound function holds the new value, beside the redeploys; a retry writes nothing', async () => {
    lambda.add(API, { DATABASE_URL: 'postgres://old', KEEP: 'me' }).add(WORKER, {});
    parameters({ [BOUND_FUNCTIONS_PARAMETER]: [entry(API), entry(WORKER, { variable: 'DB_HOST', field: 'host' })] });

    const first = await run();

    expect(first.error).toBeUndefined();
    expect(sm.stagesOf(TOKEN)).toContain('AWSCURRENT');
    expect(lambda.variablesOf(API)).toEqual({ DATABASE_URL: NEW_URL, KEEP: 'me' });
    expect(lambda.variablesOf(WORKER)).toEqual({ DB_HOST: HOST });
    expect(ecsMock).toHaveReceivedCommandTimes(UpdateServiceCommand, 1);
    expect(metricsOf(first.records)).toMatchObject({
      [MetricName.ROTATION_SUCCEEDED]: 1,
      [MetricName.FUNCTIONS_UPDATED]: 2,
      [MetricName.FUNCTION_UPDATE_FAILURES]: 0,
      [MetricName.SERVICES_REDEPLOYED]: 1,
    });
    expect(summaryOf(first.records)).toMatchObject({ functions: 2, updated: 2, alreadyCurrent: 0, failed: 0, invalidEntries: 0 });

    lambdaMock.resetHistory();
    const retry = await run();

    expect(retry.error).toBeUndefined();
    expect(lambdaMock).not.toHaveReceivedCommand(UpdateFunctionConfigurationCommand);
    expect(metricsOf(retry.records)).toMatchObject({ [MetricName.FUNCTIONS_UPDATED]: 0, [MetricName.FUNCTION_UPDATE_FAILURES]: 0 });
    expect(summaryOf(retry.records)).toMatchObject({ updated: 0, alreadyCurrent: 2 });
  });

  test('a function that cannot be updated and a bad entry fail the step once the others are done, named', async () => {
    const large = 'x'.repeat(4000);
    lambda.add(API, { DATABASE_URL: 'postgres://old', LARGE: large }).add(WORKER, {});
    parameters({ [BOUND_FUNCTIONS_PARAMETER]: [entry(API), null, entry(WORKER)] });

    const { error, records } = await run();

    expect(lambda.variablesOf(WORKER)).toEqual({ DATABASE_URL: NEW_URL });
    expect(ecsMock).toHaveReceivedCommandTimes(UpdateServiceCommand, 1);
    expect(error?.message).toMatch(
      new RegExp(
        `^finishSecret: the new URL is AWSCURRENT but 1 of 2 bound functions could not be updated: ${API} \\(the environment variables of api ` +
          `would take \\d+ bytes with the new value of DATABASE_URL \\(\\d+ bytes\\), over Lambda's limit of 4096 bytes`,
      ),
    );
    expect(error?.message).toContain(
      `Also 1 bound-functions entry is not a function binding: entry 1 of ${BOUND_FUNCTIONS_PARAMETER} (null)`,
    );
    expect(error?.message).not.toContain(NEW_URL);
    expect(metricsOf(records)).toMatchObject({
      [MetricName.ROTATION_SUCCEEDED]: 0,
      [MetricName.FUNCTIONS_UPDATED]: 1,
      [MetricName.FUNCTION_UPDATE_FAILURES]: 2,
      [MetricName.REDEPLOY_FAILURES]: 0,
    });
  });

  test('a deleted function is skipped and counted, not failed', async () => {
    lambda.add(API, {});
    parameters({ [BOUND_FUNCTIONS_PARAMETER]: [entry(API), entry(WORKER)] });

    const { error, records } = await run();

    expect(error).toBeUndefined();
    expect(summaryOf(records)).toMatchObject({ functions: 2, updated: 1, notFound: 1, failed: 0 });
  });

  test('a deferred rotation’s copy (same URL as before) updates no function', async () => {
    lambda.add(API, { DATABASE_URL: 'postgres://old' });
    parameters({ [BOUND_FUNCTIONS_PARAMETER]: [entry(API)] });
    sm.tags.set(DeferredTag.key, DeferredTag.encode({ versionId: TOKEN, at: new Date(Date.now() + 600_000) }));

    const { error, records } = await run();

    expect(error).toBeUndefined();
    expect(lambdaMock.calls()).toHaveLength(0);
    expect(metricsOf(records)).toMatchObject({ [MetricName.FUNCTIONS_UPDATED]: 0, [MetricName.FUNCTION_UPDATE_FAILURES]: 0 });
  });
});
