import { PromotedTag, PromotionHistoryTag, SecretTag } from '../../lib/secret-tags';
import { CliError } from '../../cli/errors';
import { collectStatus, formatStatus, StatusReport } from '../../cli/status';
import {
  awsError,
  deployment,
  FakeAws,
  LOG_GROUP,
  NEW_VERSION,
  OLD_VERSION,
  PARAMETER,
  SECRET_ARN,
  secretValue,
  serviceArn,
  T0,
  testClients,
  TOKEN,
} from './fixtures';

const aws = new FakeAws();
afterAll(() => aws.restore());
beforeEach(() => aws.reset());

const WEB = serviceArn('main', 'web');
const WORKER = serviceArn('main', 'worker');
const HOUR = 3600_000;
/** The version before OLD_VERSION (AWSCURRENT). */
const EARLIER_VERSION = '00000000-cccc-4ccc-8ccc-000000000003';

/** The promotions tag finishSecret writes: OLD_VERSION at T0-1h (expires T0+7h), EARLIER_VERSION at T0-5h (expires `earlierExpires`). */
function recordHistory(earlierExpires = T0 + 3 * HOUR): void {
  aws.state.tags[PromotionHistoryTag.key] = PromotionHistoryTag.encode([
    { versionId: OLD_VERSION, promotedAt: new Date(T0 - HOUR), expiresAt: new Date(T0 + 7 * HOUR) },
    { versionId: EARLIER_VERSION, promotedAt: new Date(T0 - 5 * HOUR), expiresAt: new Date(earlierExpires) },
  ]);
}

async function status(): Promise<{ report: StatusReport; text: string }> {
  const report = await collectStatus(testClients(), SECRET_ARN, () => T0);
  const text = formatStatus(report).join('\n');
  for (const out of [text, JSON.stringify(report)]) {
    expect(out).not.toContain(TOKEN);
    expect(out).not.toContain(encodeURIComponent(TOKEN));
    expect(out).not.toContain('postgres://');
  }
  return { report, text };
}

async function statusError(): Promise<string> {
  try {
    await collectStatus(testClients(), SECRET_ARN, () => T0);
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    return (err as Error).message;
  }
  throw new Error('expected an error');
}

test('the full picture, as text', async () => {
  aws.state.services.get(WORKER)!.deployments = [deployment('ecs-svc/1102845487063586807', T0 - 4 * 3600_000)];
  recordHistory();
  // The worker's deployment predates the promotion: one task still holds the earlier token, one started since.
  aws.state.tasks.set(WORKER, [new Date(T0 - 4 * HOUR), new Date(T0 - 30 * 60_000)]);
  const { text } = await status();
  expect(text).toBe(
    [
      'Secret:           app/database-url',
      `ARN:              ${SECRET_ARN}`,
      'Managed by:       AppStack/DatabaseUrl',
      'Current version:  11111111',
      'Rotated:          2030-06-01T11:00:00Z (1h ago)',
      'Token expires:    2030-06-01T19:00:00Z (7h left)',
      'Endpoint:         abc.dsql.eu-west-1.on.aws as admin',
      'Next rotation:    every 4h via EventBridge Scheduler (no Secrets Manager schedule)',
      'Rotation:         enabled, function AppStack-RotationFunction',
      'In progress:      no',
      `Bound services:   2 (from ${PARAMETER})`,
      '',
      '  SERVICE      DEPLOYMENT            ROLLOUT    TASKS  STARTED  AFTER ROTATION',
      '  main/web     ecs-svc/old-0         COMPLETED  2/2    1h ago   yes',
      '  main/worker  ecs-svc/11028454870…  COMPLETED  2/2    4h ago   no',
      '',
      'Tokens held by running tasks (oldest: 2030-06-01T15:00:00Z (in 3h)):',
      '  SERVICE      CURRENT  PREVIOUS  OLDER  OLDEST EXPIRY',
      '  main/web     2        0         0      2030-06-01T19:00:00Z (in 7h)',
      '  main/worker  1        1         0      2030-06-01T15:00:00Z (in 3h)',
      '  Tasks not on the current token are replaced by their rollout; the watchdog redeploys services where they outlive it.',
    ].join('\n'),
  );
});

test('--json: the same facts, machine-readable, with no secret field', async () => {
  aws.state.nextRotationDate = new Date(T0 + 3 * 3600_000);
  const { report } = await status();
  expect(report).toEqual({
    checkedAt: '2030-06-01T12:00:00.000Z',
    secret: { name: 'app/database-url', arn: SECRET_ARN, managedBy: 'AppStack/DatabaseUrl' },
    currentVersion: { id: OLD_VERSION, shortId: '11111111' },
    rotatedAt: '2030-06-01T11:00:00.000Z',
    rotatedAtSource: 'promoted-tag',
    token: {
      state: 'valid',
      issuedAt: '2030-06-01T11:00:00.000Z',
      expiresAt: '2030-06-01T19:00:00.000Z',
      secondsLeft: 25200,
      host: 'abc.dsql.eu-west-1.on.aws',
      username: 'admin',
      problem: null,
    },
    rotation: {
      enabled: true,
      functionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:AppStack-RotationFunction',
      nextRotation: { source: 'secrets-manager', at: '2030-06-01T15:00:00.000Z' },
      inProgress: false,
      pendingVersion: null,
      deferredUntil: null,
      logGroup: null,
    },
    boundServices: {
      parameter: PARAMETER,
      parameterExists: true,
      services: [0, 1].map((i) => ({
        arn: [WEB, WORKER][i],
        cluster: 'main',
        name: ['web', 'worker'][i],
        state: 'found',
        deployments: 1,
        deployment: {
          id: `ecs-svc/old-${i}`,
          rolloutState: 'COMPLETED',
          rolloutStateSource: 'ecs',
          runningCount: 2,
          desiredCount: 2,
          createdAt: '2030-06-01T11:00:00.000Z',
          startedAfterRotation: true,
        },
        // Deployed after the promotion: its 2 running tasks hold the current token, without listing them.
        fleet: {
          state: 'current',
          tasks: { current: 2, previous: 0, older: 0 },
          oldestExpiresAt: '2030-06-01T19:00:00.000Z',
          oldestState: 'valid',
          error: null,
        },
      })),
    },
    fleet: { oldestExpiresAt: '2030-06-01T19:00:00.000Z', oldestState: 'valid', calls: 1 },
  });
});

test('a rotation in progress, the placeholder, a deleted service, a derived rollout state', async () => {
  aws.state.stages = { [OLD_VERSION]: ['AWSCURRENT'], [NEW_VERSION]: ['AWSPENDING'] };
  aws.state.values[OLD_VERSION] = JSON.stringify({
    url: '',
    host: 'abc.dsql.eu-west-1.on.aws',
    port: '5432',
    username: 'admin',
    password: '',
    expiresAt: '',
    issuedAt: '',
  });
  aws.state.tags = { [SecretTag.MANAGED_BY]: 'AppStack/DatabaseUrl', [SecretTag.BOUND_SERVICES_PARAMETER]: PARAMETER };
  aws.state.rotationEnabled = false;
  aws.state.services.set(WORKER, { status: 'INACTIVE', deployments: [] });
  aws.state.services.get(WEB)!.deployments = [
    deployment('ecs-svc/a', T0 - 60_000, { rolloutState: undefined, runningCount: 1 }),
    deployment('ecs-svc/b', T0 - 99_000, { status: 'ACTIVE' }),
  ];
  const { text, report } = await status();
  expect(text).toContain('Rotated:          unknown');
  expect(text).toContain('Token expires:    no token yet: AWSCURRENT is the placeholder (the first rotation has not completed)');
  expect(text).toContain('Next rotation:    none scheduled');
  expect(text).toContain('Rotation:         DISABLED, function AppStack-RotationFunction');
  expect(text).toContain(
    'In progress:      yes: version 22222222 is AWSPENDING (started 10m ago); if it stays so, the rotation function is failing: ' +
      `see ${LOG_GROUP}`,
  );
  expect(text).toContain('  main/web     ecs-svc/a   IN_PROGRESS* (+1 draining)  1/2    1m ago   ?');
  expect(text).toContain('  main/worker  -           gone: service is INACTIVE   -      -        -');
  expect(text).toContain('* ECS reported no rolloutState: derived from the task counts');
  expect(report.rotation.pendingVersion).toEqual({ id: NEW_VERSION, shortId: '22222222', createdAt: '2030-06-01T11:50:00.000Z' });
  expect(report.rotation.logGroup).toBe(LOG_GROUP);
  expect(report.token.state).toBe('placeholder');
});

test('an expired token, and LastRotatedDate when the promoted tag names another version', async () => {
  aws.state.values[OLD_VERSION] = secretValue(new Date(T0 - 2 * 3600_000).toISOString());
  aws.state.tags[PromotedTag.key] = `${NEW_VERSION} 2030-05-01T00:00:00.000Z`;
  aws.state.lastRotatedDate = new Date(T0 - 10 * 3600_000);
  const { text, report } = await status();
  expect(text).toContain('Token expires:    EXPIRED at 2030-06-01T10:00:00Z (2h ago): rotate now (rotate --wait)');
  expect(text).toContain('Rotated:          2030-06-01T02:00:00Z (10h ago) (LastRotatedDate)');
  expect(report.token).toMatchObject({ state: 'expired', secondsLeft: -7200 });
  expect(report.rotatedAtSource).toBe('LastRotatedDate');
});

test('no bound services: the parameter does not exist yet, or the tag is missing', async () => {
  aws.state.parameter = undefined;
  expect((await status()).text).toContain(`Bound services:   no bound services (parameter ${PARAMETER} does not exist yet)`);
  delete aws.state.tags[SecretTag.BOUND_SERVICES_PARAMETER];
  expect((await status()).text).toContain('Bound services:   no bound services (the secret has no bound-services parameter tag)');
});

test("AWSCURRENT that is not this construct's JSON", async () => {
  aws.state.values[OLD_VERSION] = 'not json';
  const { text, report } = await status();
  expect(text).toContain('Token expires:    unknown: AWSCURRENT does not hold JSON: it was not written by the rotation function');
  expect(report.token.state).toBe('unknown');
});

describe('errors', () => {
  test('secret not found', async () => {
    aws.state.errors.DescribeSecret = awsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    expect(await statusError()).toBe(
      `Secret '${SECRET_ARN}' not found in eu-west-1. Check the name or ARN and the region (--region, AWS_REGION, ` +
        "or pass the full ARN); the construct's secret is `dbUrl.secret.secretArn` in your CDK app.",
    );
  });

  test('secret not managed by the construct', async () => {
    aws.state.tags = { team: 'payments' };
    expect(await statusError()).toBe(
      `Secret app/database-url is not managed by cdk-dsql-url-secret: it has no tag '${SecretTag.MANAGED_BY}'. ` +
        'Pass the secret the DsqlUrlSecret construct created (dbUrl.secret.secretArn); if it was deployed by an older version of the construct, ' +
        'deploy the stack again with this version to add the tags.',
    );
  });

  test.each([
    ['DescribeSecret', 'secretsmanager:DescribeSecret'],
    ['GetSecretValue', 'secretsmanager:GetSecretValue'],
    ['GetParameter', 'ssm:GetParameter'],
    ['DescribeServices', 'ecs:DescribeServices'],
  ] as const)('access denied on %s names %s', async (op, action) => {
    aws.state.errors[op] = awsError('AccessDeniedException', `not authorized to perform: ${action}`, 403);
    const message = await statusError();
    expect(message).toMatch(new RegExp(`^Permission denied: ${op} was refused \\(AccessDeniedException: .*\\)\\. Allow ${action} on `));
  });

  test('a bound-services parameter that is not a JSON array of ARNs', async () => {
    aws.state.parameter = '{"not":"an array"}';
    expect(await statusError()).toContain(`SSM parameter ${PARAMETER} must hold a JSON array of ECS service ARNs`);
  });

  test('a cluster that no longer exists marks its services gone', async () => {
    aws.state.errors.DescribeServices = awsError('ClusterNotFoundException', 'Cluster not found.');
    const { report } = await status();
    expect(report.boundServices.services.map((s) => [s.state, s.reason])).toEqual([
      ['gone', 'cluster main not found'],
      ['gone', 'cluster main not found'],
    ]);
  });
});

test("the rotation function's log group is read from its configuration only while a rotation is in progress", async () => {
  await status();
  expect(aws.state.calls).not.toContain('GetFunctionConfiguration');

  aws.state.stages[NEW_VERSION] = ['AWSPENDING'];
  aws.state.errors.GetFunctionConfiguration = awsError('AccessDeniedException', 'not authorized', 403);
  const { text, report } = await status();
  expect(aws.state.calls.filter((c) => c === 'GetFunctionConfiguration')).toHaveLength(1);
  // Without lambda:GetFunctionConfiguration status still answers, and says where the name is.
  expect(text).toContain(
    'the rotation function is failing: see the log group in the logging configuration of function AppStack-RotationFunction',
  );
  expect(report.rotation.logGroup).toBe('the log group in the logging configuration of function AppStack-RotationFunction');
});

test("under EventBridge Scheduler, the parked native rule's date (1,000 days out) is not shown as the next rotation", async () => {
  aws.state.tags = { ...aws.state.tags, [SecretTag.ROTATION_INTERVAL_SECONDS]: String(3600) };
  aws.state.nextRotationDate = new Date(T0 + 1000 * 86400_000);
  const { report, text } = await status();
  expect(report.rotation.nextRotation).toEqual({ source: 'eventbridge-scheduler', everySeconds: 3600, every: '1h' });
  expect(text).toContain('Next rotation:    every 1h via EventBridge Scheduler');

  // At 6 hours Secrets Manager's own schedule rotates, and its date is the next rotation.
  aws.state.tags = { ...aws.state.tags, [SecretTag.ROTATION_INTERVAL_SECONDS]: String(6 * 3600) };
  aws.state.nextRotationDate = new Date(T0 + 3 * 3600_000);
  expect((await status()).report.rotation.nextRotation).toEqual({ source: 'secrets-manager', at: '2030-06-01T15:00:00.000Z' });
});

describe('the fleet: which token the running tasks hold', () => {
  test('stale tasks on an expired token show EXPIRED; tasks older than the history show unknown (counted as expired)', async () => {
    recordHistory(T0 - 10 * 60_000);
    aws.state.services.get(WEB)!.deployments = [deployment('ecs-svc/web', T0 - 6 * HOUR)];
    aws.state.services.get(WORKER)!.deployments = [deployment('ecs-svc/worker', T0 - 9 * HOUR)];
    aws.state.tasks.set(WEB, [new Date(T0 - 4 * HOUR), new Date(T0 - 3 * HOUR), new Date(T0 - 10 * 60_000)]);
    // One task started before every recorded promotion, one with no createdAt from ECS.
    aws.state.tasks.set(WORKER, [new Date(T0 - 8 * HOUR), undefined]);

    const { text, report } = await status();

    expect(text).toContain('Tokens held by running tasks (oldest: unknown (counted as expired)):');
    expect(text).toContain('  main/web     1        2         0      EXPIRED 10m ago');
    expect(text).toContain('  main/worker  0        0         2      unknown (counted as expired)');
    expect(report.boundServices.services.map((s) => s.fleet)).toEqual([
      {
        state: 'surveyed',
        tasks: { current: 1, previous: 2, older: 0 },
        oldestExpiresAt: '2030-06-01T11:50:00.000Z',
        oldestState: 'expired',
        error: null,
      },
      { state: 'surveyed', tasks: { current: 0, previous: 0, older: 2 }, oldestExpiresAt: null, oldestState: 'unknown', error: null },
    ]);
    // One DescribeServices and one DescribeTasks for the cluster, a ListTasks per service.
    expect(report.fleet).toEqual({ oldestExpiresAt: null, oldestState: 'unknown', calls: 4 });
  });

  test('no promotion history yet: tasks older than the current promotion are of unknown token', async () => {
    aws.state.services.get(WEB)!.deployments = [deployment('ecs-svc/web', T0 - 6 * HOUR)];
    aws.state.tasks.set(WEB, [new Date(T0 - 2 * HOUR), new Date(T0 - 30 * 60_000)]);

    const web = (await status()).report.boundServices.services[0].fleet;

    expect(web).toMatchObject({ tasks: { current: 1, previous: 0, older: 1 }, oldestState: 'unknown' });
  });

  test('ListTasks refused: that service says it could not tell, and status still shows the rest', async () => {
    aws.state.services.get(WORKER)!.deployments = [deployment('ecs-svc/worker', T0 - 6 * HOUR)];
    aws.state.errors.ListTasks = awsError('AccessDeniedException', 'not authorized to perform: ecs:ListTasks', 403);

    const { text, report } = await status();

    expect(text).toContain('  main/web     2        0         0      2030-06-01T19:00:00Z (in 7h)');
    expect(text).toContain(
      '  main/worker  ?        ?         ?      could not tell: AccessDeniedException: not authorized to perform: ecs:ListTasks',
    );
    expect(report.boundServices.services[1].fleet).toMatchObject({ state: 'failed', oldestState: null });
  });

  test('a gone service holds no token', async () => {
    aws.state.services.set(WORKER, { status: 'INACTIVE', deployments: [] });
    const { text, report } = await status();
    expect(text).toContain('  main/worker  -        -         -      gone');
    expect(report.boundServices.services[1].fleet).toMatchObject({ state: 'gone', tasks: { current: 0, previous: 0, older: 0 } });
  });
});
