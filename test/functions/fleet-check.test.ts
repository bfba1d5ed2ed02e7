/**
 * The watchdog's fleet check, through runWatchdog with mocked AWS clients: the
 * calls it costs, the heal of a stuck service (once per promotion), the
 * metrics the fleet-token alarm watches, and a failing fleet check that
 * leaves the token check whole.
 */
import 'aws-sdk-client-mock-jest';
import {
  DescribeServicesCommand,
  DescribeServicesCommandInput,
  DescribeTasksCommand,
  DescribeTasksCommandInput,
  ECSClient,
  ListTasksCommand,
  ListTasksCommandInput,
  UpdateServiceCommand,
  UpdateServiceCommandInput,
} from '@aws-sdk/client-ecs';
import { DescribeSecretCommand, GetSecretValueCommand, RotateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParametersCommand, GetParametersCommandInput, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { boundServicesParameterName, DsqlUrlSecretValue, MetricName, WatchdogFunctionConfig } from '../../lib/contract';
import { PromotedTag, PromotionHistoryTag } from '../../lib/secret-tags';
import { checkConnection } from '../../functions/connection-check';
import { runWatchdog, WatchdogResult } from '../../functions/watchdog';
import { awsError, BOUND_SERVICES_PARAMETER, HOST, OLD_VERSION, SECRET_ARN, serviceArn, TOKEN } from './fixtures';
import { configEnv, METRIC_DIMENSION, setEnv, watchdogConfig } from './fixtures-config';

jest.mock('../../functions/connection-check');
const checkConnectionMock = jest.mocked(checkConnection);
const smMock = mockClient(SecretsManagerClient);
const ssmMock = mockClient(SSMClient);
const ecsMock = mockClient(ECSClient);

const HOUR = 3600_000;
const NOW = new Date('2030-06-01T12:00:00.000Z');
/** AWSCURRENT (TOKEN) was promoted 2 h ago; rolloutAllowance (30 min) has long passed. */
const PROMOTED = new Date(NOW.getTime() - 2 * HOUR);
const CURRENT_EXPIRES = new Date(PROMOTED.getTime() + 8 * HOUR);
const PREVIOUS_PROMOTED = new Date(PROMOTED.getTime() - 4 * HOUR);
const PREVIOUS_EXPIRES = new Date(PREVIOUS_PROMOTED.getTime() + 8 * HOUR);
const ALLOWANCE_SECONDS = 1800;
const PASSWORD = `${HOST}/?Action=DbConnectAdmin&X-Amz-Credential=AKIAEXAMPLE%2F2030&X-Amz-Signature=feedfacecafe0123`;

let clock = NOW;
let restoreEnv: () => void;
let logSpy: jest.SpyInstance;

function env(overrides: Partial<WatchdogFunctionConfig> = {}): Record<string, string> {
  return configEnv(watchdogConfig({ rolloutAllowanceSeconds: ALLOWANCE_SECONDS, ...overrides }));
}

beforeEach(() => {
  [smMock, ssmMock, ecsMock].forEach((m) => m.reset());
  checkConnectionMock.mockReset().mockResolvedValue(undefined);
  clock = NOW;
  restoreEnv = setEnv(env());
  logSpy = jest.spyOn(console, 'log').mockImplementation(() => undefined);
});
afterEach(() => {
  restoreEnv();
  jest.restoreAllMocks();
});
afterAll(() => [smMock, ssmMock, ecsMock].forEach((m) => m.restore()));

/** AWSCURRENT is TOKEN (expires CURRENT_EXPIRES), promoted at PROMOTED; the history holds it and OLD_VERSION. */
function arrangeSecret(currentExpires = CURRENT_EXPIRES): void {
  const value: DsqlUrlSecretValue = {
    url: `postgres://admin:${encodeURIComponent(PASSWORD)}@${HOST}:5432/postgres?sslmode=require`,
    host: HOST,
    port: 5432,
    username: 'admin',
    password: PASSWORD,
    dbname: 'postgres',
    sslmode: 'require',
    issuedAt: new Date(PROMOTED.getTime() - 60_000).toISOString(),
    expiresAt: currentExpires.toISOString(),
  };
  const history = PromotionHistoryTag.encode([
    { versionId: TOKEN, promotedAt: PROMOTED, expiresAt: currentExpires },
    { versionId: OLD_VERSION, promotedAt: PREVIOUS_PROMOTED, expiresAt: PREVIOUS_EXPIRES },
  ]);
  smMock.on(DescribeSecretCommand).resolves({
    ARN: SECRET_ARN,
    RotationEnabled: true,
    VersionIdsToStages: { [TOKEN]: ['AWSCURRENT'], [OLD_VERSION]: ['AWSPREVIOUS'] },
    Tags: [
      { Key: PromotedTag.key, Value: PromotedTag.encode({ versionId: TOKEN, at: PROMOTED }) },
      { Key: PromotionHistoryTag.key, Value: history },
    ],
  });
  smMock.on(GetSecretValueCommand).resolves({ ARN: SECRET_ARN, VersionId: TOKEN, SecretString: JSON.stringify(value) });
  smMock.on(RotateSecretCommand).resolves({ ARN: SECRET_ARN });
}

/** The bound-services parameters: `arns` split 7 to a parameter, as the construct sizes them for generated names. */
function arrangeParameters(arns: readonly string[]): number {
  const values = new Map<string, string>();
  const count = Math.max(1, Math.ceil(arns.length / 7));
  for (let i = 0; i < count; i++)
    values.set(boundServicesParameterName(BOUND_SERVICES_PARAMETER, i), JSON.stringify(arns.slice(i * 7, i * 7 + 7)));
  ssmMock.on(GetParametersCommand).callsFake((input: GetParametersCommandInput) => ({
    Parameters: (input.Names ?? []).filter((n) => values.has(n)).map((Name) => ({ Name, Type: 'String', Value: values.get(Name) })),
    InvalidParameters: (input.Names ?? []).filter((n) => !values.has(n)),
  }));
  return count;
}

interface FakeService {
  deployments: Date[];
  /** Each running task's createdAt. */
  tasks: Date[];
}

/** ECS with services (deployment and task creation times); UpdateService adds a deployment created at `clock` and starts no task. */
class FakeFleet {
  readonly services = new Map<string, FakeService>();

  add(arn: string, service: Partial<FakeService> = {}): this {
    this.services.set(arn, { deployments: service.deployments ?? [new Date(PROMOTED.getTime() + 60_000)], tasks: service.tasks ?? [] });
    return this;
  }

  install(): void {
    const taskArn = (arn: string, i: number) => `${arn.replace(':service/', ':task/')}-${i}`;
    ecsMock.on(DescribeServicesCommand).callsFake((input: DescribeServicesCommandInput) => ({
      services: (input.services ?? [])
        .filter((arn) => this.services.has(arn))
        .map((arn) => {
          const s = this.services.get(arn)!;
          return {
            serviceArn: arn,
            serviceName: arn.split('/').pop(),
            status: 'ACTIVE',
            runningCount: s.tasks.length,
            deployments: s.deployments.map((createdAt, i) => ({ id: `ecs-svc/${i}`, createdAt })),
          };
        }),
      failures: (input.services ?? []).filter((arn) => !this.services.has(arn)).map((arn) => ({ arn, reason: 'MISSING' })),
    }));
    ecsMock.on(ListTasksCommand).callsFake((input: ListTasksCommandInput) => {
      const arn = [...this.services.keys()].find((a) => a.endsWith(`:service/${input.cluster}/${input.serviceName}`))!;
      return { taskArns: this.services.get(arn)!.tasks.map((_, i) => taskArn(arn, i)) };
    });
    ecsMock.on(DescribeTasksCommand).callsFake((input: DescribeTasksCommandInput) => ({
      tasks: (input.tasks ?? []).map((t) => {
        const [arn, i] = [...this.services.entries()]
          .flatMap(([a, s]) => s.tasks.map((_, n) => [a, n] as const))
          .find(([a, n]) => taskArn(a, n) === t)!;
        return { taskArn: t, lastStatus: 'RUNNING', createdAt: this.services.get(arn)!.tasks[i] };
      }),
    }));
    ecsMock.on(UpdateServiceCommand).callsFake((input: UpdateServiceCommandInput) => {
      this.services.get(input.service!)!.deployments.push(clock);
      return { service: { serviceArn: input.service } };
    });
  }
}

function records(): Array<Record<string, unknown>> {
  return logSpy.mock.calls.map((args) => JSON.parse(args.map(String).join(' ')) as Record<string, unknown>);
}

/** The fleet check's EMF documents: the secret's (no Service) and each service's. */
function fleetMetrics(): { secret: Record<string, unknown>; services: Array<Record<string, unknown>> } {
  const docs = records().filter((r) => r._aws !== undefined && MetricName.STALE_TASKS in r);
  const secret = docs.filter((d) => d.Service === undefined);
  expect(secret).toHaveLength(1);
  return { secret: secret[0], services: docs.filter((d) => d.Service !== undefined) };
}

const run = () => runWatchdog({ now: () => clock });
const A = serviceArn('main', 'a');
const B = serviceArn('main', 'b');
const before = (ms: number) => new Date(PROMOTED.getTime() - ms);

/** The GetParameters calls of the bound-services parameters (the function check reads the bound-functions ones beside them). */
const servicesReads = () =>
  ssmMock.commandCalls(GetParametersCommand).filter((c) => c.args[0].input.Names![0].startsWith(BOUND_SERVICES_PARAMETER));

describe('the fleet check', () => {
  test('steady state, 25 services in 4 parameters: one GetParameters call and 3 DescribeServices calls, nothing listed', async () => {
    // GIVEN every service's deployments started after the promotion
    arrangeSecret();
    const arns = Array.from({ length: 25 }, (_, i) => serviceArn('main', `svc-${i}`));
    const count = arrangeParameters(arns);
    restoreEnv();
    restoreEnv = setEnv(env({ boundServicesParameterCount: count }));
    const fleet = new FakeFleet();
    for (const arn of arns) fleet.add(arn, { tasks: [new Date(PROMOTED.getTime() + 120_000)] });
    fleet.install();

    // WHEN
    const result = await run();

    // THEN the parameters are read in one call, the services in batches of 10
    expect(count).toBe(4);
    expect(servicesReads()).toHaveLength(1);
    expect(servicesReads()[0].args[0].input.Names).toHaveLength(4);
    expect(ecsMock).toHaveReceivedCommandTimes(DescribeServicesCommand, 3);
    expect(ecsMock).not.toHaveReceivedCommand(ListTasksCommand);
    expect(ecsMock).not.toHaveReceivedCommand(DescribeTasksCommand);
    expect(ecsMock).not.toHaveReceivedCommand(UpdateServiceCommand);
    expect(result.fleet).toMatchObject({ services: 25, drilledDown: 0, staleTasks: 0, ssmCalls: 1, ecsCalls: 3, healed: [], failed: [] });
    // AND the fleet's oldest token is AWSCURRENT's
    const { secret, services } = fleetMetrics();
    expect(secret).toMatchObject({
      Secret: METRIC_DIMENSION,
      [MetricName.FLEET_TOKEN_SECONDS_LEFT]: (CURRENT_EXPIRES.getTime() - NOW.getTime()) / 1000,
      [MetricName.STALE_TASKS]: 0,
      [MetricName.FLEET_HEALS_STARTED]: 0,
    });
    expect(services).toEqual([]);
    expect(records()).toContainEqual(expect.objectContaining({ level: 'INFO', message: 'fleet check: summary', services: 25 }));
  });

  test('12 parameters take 2 GetParameters calls (10 names each at most)', async () => {
    arrangeSecret();
    const arns = Array.from({ length: 80 }, (_, i) => serviceArn(`c${i % 9}`, `svc-${i}`));
    const count = arrangeParameters(arns);
    restoreEnv();
    restoreEnv = setEnv(env({ boundServicesParameterCount: count }));
    const fleet = new FakeFleet();
    for (const arn of arns) fleet.add(arn);
    fleet.install();

    const result = await run();

    expect(count).toBe(12);
    expect(servicesReads().map((c) => c.args[0].input.Names!.length)).toEqual([10, 2]);
    expect(result.fleet.services).toBe(80);
  });

  test('a stuck service is healed once: a second run finds the heal and logs "still stale" instead of redeploying', async () => {
    // GIVEN B's old deployment still runs 2 tasks started before the promotion, 2 h ago (rolloutAllowance is 30 min)
    arrangeSecret();
    arrangeParameters([A, B]);
    const fleet = new FakeFleet()
      .add(A, { tasks: [new Date(PROMOTED.getTime() + 60_000)] })
      .add(B, { deployments: [before(HOUR)], tasks: [before(HOUR), before(HOUR)] });
    fleet.install();

    // WHEN the watchdog runs
    const first = await run();

    // THEN B alone gets a forced deployment, and the log says why
    expect(ecsMock).toHaveReceivedCommandTimes(UpdateServiceCommand, 1);
    expect(ecsMock).toHaveReceivedCommandWith(UpdateServiceCommand, { cluster: 'main', service: B, forceNewDeployment: true });
    expect(first.fleet).toMatchObject({ staleTasks: 2, staleServices: 1, healed: [B], stillStale: [], failed: [] });
    expect(records()).toContainEqual(
      expect.objectContaining({
        level: 'WARN',
        message: expect.stringMatching(/^fleet check: healed a service/),
        service: 'main/b',
        previousTasks: 2,
        promotedVersionId: TOKEN,
        promotedAt: PROMOTED.toISOString(),
        secondsSincePromotion: 2 * 3600,
      }),
    );
    expect(fleetMetrics().secret[MetricName.FLEET_HEALS_STARTED]).toBe(1);

    // WHEN it runs again an interval later, the old tasks still running
    clock = new Date(NOW.getTime() + 300_000);
    ecsMock.resetHistory();
    logSpy.mockClear();
    const second = await run();

    // THEN no second deployment: an error line and the metrics say it is still stale
    expect(ecsMock).not.toHaveReceivedCommand(UpdateServiceCommand);
    expect(second.fleet).toMatchObject({ healed: [], stillStale: [B] });
    expect(records()).toContainEqual(
      expect.objectContaining({ level: 'ERROR', message: expect.stringContaining('still stale after its heal'), service: 'main/b' }),
    );
    const { secret, services } = fleetMetrics();
    expect(secret).toMatchObject({ [MetricName.STALE_TASKS]: 2, [MetricName.FLEET_HEALS_STARTED]: 0 });
    expect(services).toEqual([expect.objectContaining({ Secret: METRIC_DIMENSION, Service: 'main/b', [MetricName.STALE_TASKS]: 2 })]);
    expect((services[0]._aws as { CloudWatchMetrics: Array<{ Dimensions: string[][] }> }).CloudWatchMetrics[0].Dimensions).toEqual([
      ['Secret', 'Service'],
    ]);
  });

  test('no heal before rolloutAllowance has passed since the promotion: the rollout may still be replacing the tasks', async () => {
    arrangeSecret();
    arrangeParameters([B]);
    new FakeFleet().add(B, { deployments: [before(HOUR)], tasks: [before(HOUR)] }).install();
    clock = new Date(PROMOTED.getTime() + (ALLOWANCE_SECONDS - 60) * 1000);

    const result = await run();

    expect(ecsMock).not.toHaveReceivedCommand(UpdateServiceCommand);
    expect(result.fleet).toMatchObject({ staleTasks: 1, healed: [] });
    expect(records()).toContainEqual(expect.objectContaining({ level: 'WARN', service: 'main/b', previousTasks: 1, staleTasks: 1 }));
  });

  test('FleetTokenSecondsLeft is negative when a task holds an expired token', async () => {
    // GIVEN the previous token expired 10 min ago and B still runs a task that started with it
    const previousExpired = new Date(NOW.getTime() - 600_000);
    arrangeSecret();
    smMock.on(DescribeSecretCommand).resolves({
      ARN: SECRET_ARN,
      VersionIdsToStages: { [TOKEN]: ['AWSCURRENT'], [OLD_VERSION]: ['AWSPREVIOUS'] },
      Tags: [
        {
          Key: PromotionHistoryTag.key,
          Value: PromotionHistoryTag.encode([
            { versionId: TOKEN, promotedAt: PROMOTED, expiresAt: CURRENT_EXPIRES },
            { versionId: OLD_VERSION, promotedAt: PREVIOUS_PROMOTED, expiresAt: previousExpired },
          ]),
        },
      ],
    });
    arrangeParameters([A, B]);
    new FakeFleet()
      .add(A, { tasks: [new Date(PROMOTED.getTime() + 1000)] })
      .add(B, { deployments: [before(HOUR)], tasks: [before(HOUR)] })
      .install();

    const result = await run();

    expect(fleetMetrics().secret[MetricName.FLEET_TOKEN_SECONDS_LEFT]).toBe(-600);
    expect(result.fleet).toMatchObject({ secondsLeft: -600, oldestExpiresAt: previousExpired.toISOString() });
  });

  test('a task older than every recorded promotion holds an unknown token: FleetTokenSecondsLeft is 0', async () => {
    arrangeSecret();
    arrangeParameters([B]);
    new FakeFleet().add(B, { deployments: [before(24 * HOUR)], tasks: [before(24 * HOUR)] }).install();

    const result = await run();

    expect(fleetMetrics().secret[MetricName.FLEET_TOKEN_SECONDS_LEFT]).toBe(0);
    expect(result.fleet.oldestExpiresAt).toBeNull();
    expect(records()).toContainEqual(expect.objectContaining({ service: 'main/b', olderTasks: 1, oldestExpiresAt: 'unknown' }));
  });

  test('ECS unreachable: the token check, the rotation and their metrics still happen; then the invocation fails saying why', async () => {
    // GIVEN AWSCURRENT is close to expiry, and every ECS call fails
    arrangeSecret(new Date(NOW.getTime() + 60_000));
    arrangeParameters([A, B]);
    ecsMock.onAnyCommand().rejects(awsError('EndpointUnreachableError', 'could not reach ecs.us-east-1.amazonaws.com within 3 s'));

    // WHEN
    const error = await run().then(
      () => undefined,
      (e: Error & { result?: WatchdogResult }) => e,
    );

    // THEN the rotation was started and the token metrics are out
    expect(smMock).toHaveReceivedCommandTimes(RotateSecretCommand, 1);
    const token = records().filter((r) => r._aws !== undefined && MetricName.TOKEN_CHECK_FAILED in r);
    expect(token).toEqual([expect.objectContaining({ [MetricName.TOKEN_CHECK_FAILED]: 0, [MetricName.WATCHDOG_ROTATION_STARTED]: 1 })]);
    expect(records()).toContainEqual(expect.objectContaining({ message: 'watchdog: decision', action: 'rotate' }));
    // AND the invocation fails naming the fleet check, its result attached
    expect(error?.message).toMatch(
      /^watchdog: the token check of .* ran, but the fleet check did not: 2 bound services could not be checked/,
    );
    expect(error?.message).toContain(A);
    expect(error?.result).toMatchObject({ action: 'rotate', rotationStarted: true, fleet: { failed: [A, B] } });
    expect(ecsMock).not.toHaveReceivedCommand(UpdateServiceCommand);
  });

  test('SSM refusing GetParameters: no fleet metrics, the token check whole, the invocation fails naming the parameters', async () => {
    arrangeSecret();
    ssmMock.on(GetParametersCommand).rejects(awsError('AccessDeniedException', 'not authorized to perform: ssm:GetParameters'));

    const error = await run().then(
      () => undefined,
      (e: Error & { result?: WatchdogResult }) => e,
    );

    expect(error?.message).toContain('reading the bound services parameters failed (AccessDeniedException');
    expect(error?.result).toMatchObject({ action: 'none', connected: true });
    expect(records().filter((r) => r._aws !== undefined && MetricName.TOKEN_CHECK_FAILED in r)).toHaveLength(1);
    expect(records().filter((r) => r._aws !== undefined && MetricName.STALE_TASKS in r)).toEqual([]);
    expect(ecsMock).not.toHaveReceivedAnyCommand();
  });

  test('no parameter yet (a new stack): no ECS call, AWSCURRENT alone sets FleetTokenSecondsLeft', async () => {
    arrangeSecret();
    ssmMock.on(GetParametersCommand).resolves({ Parameters: [], InvalidParameters: [BOUND_SERVICES_PARAMETER] });

    const result = await run();

    expect(ecsMock).not.toHaveReceivedAnyCommand();
    expect(result.fleet).toMatchObject({ services: 0, failed: [] });
    expect(fleetMetrics().secret[MetricName.FLEET_TOKEN_SECONDS_LEFT]).toBe((CURRENT_EXPIRES.getTime() - NOW.getTime()) / 1000);
  });

  test('no token anywhere in the logs, the heal and stale lines included', async () => {
    arrangeSecret();
    arrangeParameters([B]);
    new FakeFleet().add(B, { deployments: [before(HOUR)], tasks: [before(HOUR)] }).install();

    await run();

    const text = logSpy.mock.calls.map((args) => args.map(String).join(' ')).join('\n');
    expect(text).toContain('fleet check: healed a service');
    expect(text).not.toContain('feedfacecafe0123');
    expect(text).not.toContain(encodeURIComponent(PASSWORD));
    expect(text).not.toContain('X-Amz-Credential');
  });
});
