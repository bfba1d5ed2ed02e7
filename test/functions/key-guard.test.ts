import 'aws-sdk-client-mock-jest';
import { DescribeServicesCommand, DescribeTasksCommand, ECSClient, ListTasksCommand } from '@aws-sdk/client-ecs';
import { CreateAccessKeyCommand, DeleteAccessKeyCommand, IAMClient } from '@aws-sdk/client-iam';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { PromotionHistoryTag } from '../../lib/secret-tags';
import { checkConnection } from '../../functions/connection-check';
import { handler } from '../../functions/rotation-handler';
import { awsError, OLD_VERSION, SECRET_ARN, serviceArn, TOKEN } from './fixtures';
import { accessKeySignerConfig, handlerEnv, setEnv } from './fixtures-config';
import { activeService, boundServices, FakeEcs } from './fixtures-ecs';
import { FakeAccessKey, FakeIam, newFakeAccessKey } from './fixtures-iam';
import { FakeSecretsManager, promotedTag } from './fixtures-secrets-manager';
import { tokenParams, valueSignedWith } from './fixtures-tokens';

const smMock = mockClient(SecretsManagerClient);
const iamMock = mockClient(IAMClient);
const ecsMock = mockClient(ECSClient);
const ssmMock = mockClient(SSMClient);

// The current URL never authenticates here, so createSecret never defers (deferral.test.ts) and reaches the signer.
jest.mock('../../functions/connection-check');
const checkConnectionMock = jest.mocked(checkConnection);

const PREVIOUS_VERSION = '77777777-6666-4555-8444-333333333333';
const ALLOWANCE = 1800;
/** The rollout and heal window with the fixture's 5-minute watchdog: 2 x rolloutAllowance + watchdogInterval. */
const WINDOW = 2 * ALLOWANCE + 300;
const HOUR = 3600_000;
const API = serviceArn('main', 'api');
const WORKER = serviceArn('main', 'worker');
const createSecretEvent = { Step: 'createSecret', SecretId: SECRET_ARN, ClientRequestToken: TOKEN };

let restoreEnv: () => void;
let logSpy: jest.SpyInstance;
let k0: FakeAccessKey;
let k1: FakeAccessKey;
let iam: FakeIam;
let ecs: FakeEcs;
/** AWSCURRENT's promotion: past the rollout and heal window, so only the fleet can keep AWSPREVIOUS's key. */
let promotedAt: Date;
/** AWSPREVIOUS's promotion, a day before. */
let previousPromotedAt: Date;

beforeEach(() => {
  [smMock, iamMock, ecsMock, ssmMock].forEach((m) => m.reset());
  checkConnectionMock.mockReset();
  checkConnectionMock.mockRejectedValue(Object.assign(new Error('testSecret: DSQL refused the token'), { kind: 'auth' }));
  restoreEnv = setEnv(handlerEnv(accessKeySignerConfig(ALLOWANCE)));
  logSpy = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  k0 = newFakeAccessKey();
  k1 = newFakeAccessKey();
  iam = new FakeIam().add(k0, k1);
  iam.install(iamMock);
  ecs = new FakeEcs();
  ecs.install(ecsMock);
  promotedAt = new Date(Date.now() - 2 * WINDOW * 1000);
  previousPromotedAt = new Date(promotedAt.getTime() - 24 * HOUR);
});
afterEach(() => {
  for (const args of logSpy.mock.calls) {
    const line = args.map(String).join(' ');
    for (const k of [k0, k1, ...iam.created]) {
      expect(line).not.toContain(k.accessKeyId);
      expect(line).not.toContain(k.secretAccessKey);
    }
  }
  restoreEnv();
  jest.restoreAllMocks();
});
afterAll(() => [smMock, iamMock, ecsMock, ssmMock].forEach((m) => m.restore()));

/** AWSPREVIOUS signed by k0, AWSCURRENT by k1 and promoted at promotedAt; the history tag unless `history: false`. */
async function twoRotationsIn(options: { history?: boolean } = {}): Promise<FakeSecretsManager> {
  const sm = new FakeSecretsManager();
  sm.versions.clear();
  sm.setVersion(PREVIOUS_VERSION, ['AWSPREVIOUS'], await valueSignedWith(k0, previousPromotedAt));
  sm.setVersion(OLD_VERSION, ['AWSCURRENT'], await valueSignedWith(k1, promotedAt));
  sm.setVersion(TOKEN, ['AWSPENDING']);
  for (const [k, v] of Object.entries(promotedTag(OLD_VERSION, promotedAt))) sm.tags.set(k, v);
  if (options.history !== false) {
    const expires = (at: Date) => new Date(at.getTime() + 12 * HOUR);
    sm.tags.set(
      PromotionHistoryTag.key,
      PromotionHistoryTag.encode([
        { versionId: OLD_VERSION, promotedAt, expiresAt: expires(promotedAt) },
        { versionId: PREVIOUS_VERSION, promotedAt: previousPromotedAt, expiresAt: expires(previousPromotedAt) },
      ]),
    );
  }
  sm.keysValue = JSON.stringify({
    keys: [
      { ...k0, versionId: PREVIOUS_VERSION, createdAt: previousPromotedAt.toISOString() },
      { ...k1, versionId: OLD_VERSION, createdAt: promotedAt.toISOString() },
    ],
  });
  sm.install(smMock);
  return sm;
}

/** A bound service whose deployment started before the promotion, running tasks created at `createdAts`. */
function serviceWithTasks(arn: string, createdAts: Array<Date | undefined>): void {
  ecs.services.set(arn, activeService(arn, [new Date(previousPromotedAt.getTime() - HOUR)]));
  ecs.tasks.set(
    arn,
    createdAts.map((createdAt, i) => ({ taskArn: `${arn.replace(':service/', ':task/')}-${i}`, createdAt, lastStatus: 'RUNNING' })),
  );
}

const minutesAfter = (at: Date, minutes: number) => new Date(at.getTime() + minutes * 60_000);

async function failure(): Promise<Error> {
  return handler(createSecretEvent).then(
    () => {
      throw new Error('createSecret succeeded');
    },
    (err: Error) => err,
  );
}

function logRecords(): Array<Record<string, unknown>> {
  return logSpy.mock.calls.map((args) => JSON.parse(String(args[0])) as Record<string, unknown>);
}

/** The access key id the pending token was signed with. */
function pendingKeyId(sm: FakeSecretsManager): string | undefined {
  const value = sm.versions.get(TOKEN)?.value;
  if (value === undefined) return undefined;
  return tokenParams((JSON.parse(value) as { password: string }).password)
    .get('X-Amz-Credential')
    ?.split('/')[0];
}

function expectNoKeyChange(): void {
  expect(iamMock).not.toHaveReceivedCommand(DeleteAccessKeyCommand);
  expect(iamMock).not.toHaveReceivedCommand(CreateAccessKeyCommand);
  expect(iam.ids()).toEqual([k0.accessKeyId, k1.accessKeyId].sort());
}

/** Both keys kept, the pending token signed with AWSCURRENT's key (k1), and the warning that says so; returns its reason. */
function expectSignedWithCurrentKey(sm: FakeSecretsManager, counts?: { services: number; tasks: number }): string {
  expectNoKeyChange();
  expect(pendingKeyId(sm)).toBe(k1.accessKeyId);
  expect(sm.stagesOf(TOKEN)).toEqual(['AWSPENDING']);
  const warning = logRecords().find((r) => String(r.message).startsWith('createSecret: keeping every access key'));
  expect(warning).toMatchObject({ level: 'WARN', key: `…${k1.accessKeyId.slice(-4)}`, keyLifeExtended: true, ...counts });
  expect(String(warning?.message)).toContain("signing with AWSCURRENT's key: its life is extended");
  return String(warning?.reason);
}

function expectNothingTouched(sm: FakeSecretsManager): void {
  expectNoKeyChange();
  expect(sm.versions.get(TOKEN)?.value).toBeUndefined();
}

describe('access-key guard: the fleet keeps AWSPREVIOUS key', () => {
  test("tasks still on the previous token: nothing deleted or created, AWSCURRENT's key signs; the warning names services and counts", async () => {
    const sm = await twoRotationsIn();
    serviceWithTasks(API, [minutesAfter(previousPromotedAt, 5), minutesAfter(previousPromotedAt, 6), minutesAfter(promotedAt, 1)]);
    serviceWithTasks(WORKER, [minutesAfter(previousPromotedAt, 30)]);
    boundServices(ssmMock, [API, WORKER]);

    await handler(createSecretEvent);

    const reason = expectSignedWithCurrentKey(sm, { services: 2, tasks: 3 });
    expect(reason).toContain('main/api: 2 tasks on its token');
    expect(reason).toContain('main/worker: 1 task on its token');
  });

  test('a retry of the same createSecret decides the same: AWSCURRENT key again, still nothing deleted or created', async () => {
    const sm = await twoRotationsIn();
    serviceWithTasks(API, [minutesAfter(previousPromotedAt, 5)]);
    boundServices(ssmMock, [API]);
    // The first attempt signs, then cannot write the pending value.
    let failed = false;
    sm.failPut = (input) => {
      if (input.SecretId !== SECRET_ARN || failed) return undefined;
      failed = true;
      return awsError('InternalServiceError', 'try again');
    };

    await expect(handler(createSecretEvent)).rejects.toThrow('try again');
    expect(sm.versions.get(TOKEN)?.value).toBeUndefined();
    await handler(createSecretEvent);

    expectSignedWithCurrentKey(sm, { services: 1, tasks: 1 });
    const warnings = logRecords().filter((r) => String(r.message).startsWith('createSecret: keeping every access key'));
    expect(warnings).toHaveLength(2);
  });

  test('once the old tasks are gone, the next rotation deletes the kept key and creates a fresh one', async () => {
    const sm = await twoRotationsIn();
    serviceWithTasks(API, [minutesAfter(previousPromotedAt, 5)]);
    boundServices(ssmMock, [API]);
    await handler(createSecretEvent);
    expect(pendingKeyId(sm)).toBe(k1.accessKeyId);

    // The stuck service is fixed: its tasks now hold the current token.
    serviceWithTasks(API, [minutesAfter(promotedAt, 3)]);
    sm.versions.delete(TOKEN);
    sm.setVersion(TOKEN, ['AWSPENDING']);
    await handler(createSecretEvent);

    expect(iamMock).toHaveReceivedCommandWith(DeleteAccessKeyCommand, { AccessKeyId: k0.accessKeyId });
    expect(iam.created).toHaveLength(1);
    expect(pendingKeyId(sm)).toBe(iam.created[0].accessKeyId);
  });

  test('no task on the previous token: AWSPREVIOUS key is deleted and a new key created, as before', async () => {
    const sm = await twoRotationsIn();
    // One task on the current token, one far older than the previous promotion (its key went long ago).
    serviceWithTasks(API, [minutesAfter(promotedAt, 2), minutesAfter(previousPromotedAt, -600)]);
    boundServices(ssmMock, [API]);

    await handler(createSecretEvent);

    expect(iamMock).toHaveReceivedCommandWith(DeleteAccessKeyCommand, { AccessKeyId: k0.accessKeyId });
    expect(iam.created).toHaveLength(1);
    expect(iam.ids()).toEqual([k1.accessKeyId, iam.created[0].accessKeyId].sort());
    expect(sm.stagesOf(TOKEN)).toEqual(['AWSPENDING']);
    expect(ecsMock).toHaveReceivedCommandTimes(ListTasksCommand, 1);
    expect(ecsMock).toHaveReceivedCommandTimes(DescribeTasksCommand, 1);
  });

  test("a failed ECS call: AWSCURRENT's key signs, the warning saying the survey could not tell", async () => {
    const sm = await twoRotationsIn();
    serviceWithTasks(API, []);
    boundServices(ssmMock, [API]);
    ecsMock.on(DescribeServicesCommand).rejects(awsError('AccessDeniedException', 'not authorized to perform: ecs:DescribeServices'));

    await handler(createSecretEvent);

    expect(expectSignedWithCurrentKey(sm)).toContain(
      'main/api: could not tell (AccessDeniedException: not authorized to perform: ecs:DescribeServices)',
    );
  });

  test("the bound-services parameter cannot be read: AWSCURRENT's key signs", async () => {
    const sm = await twoRotationsIn();
    ssmMock.onAnyCommand().rejects(awsError('AccessDeniedException', 'not authorized to perform: ssm:GetParameter'));

    await handler(createSecretEvent);

    expect(expectSignedWithCurrentKey(sm, { services: 0, tasks: 0 })).toContain('the survey could not run (AccessDeniedException');
  });

  test("tasks on the previous token but AWSCURRENT's key is not in the keys secret: fails loudly, nothing deleted or created", async () => {
    const sm = await twoRotationsIn();
    sm.keysValue = JSON.stringify({ keys: [{ ...k0, versionId: PREVIOUS_VERSION, createdAt: previousPromotedAt.toISOString() }] });
    serviceWithTasks(API, [minutesAfter(previousPromotedAt, 5)]);
    boundServices(ssmMock, [API]);

    const err = await failure();

    expect(err.message).toContain('running tasks may still use a key it would delete: main/api: 1 task on its token');
    expect(err.message).toContain(`AWSCURRENT's access key …${k1.accessKeyId.slice(-4)} is missing from the signer keys secret`);
    expect(err.message).toContain('No access key was deleted or created.');
    expectNothingTouched(sm);
  });

  test("tasks on the previous token but IAM no longer has AWSCURRENT's key: fails loudly, nothing deleted or created", async () => {
    const sm = await twoRotationsIn();
    iam.keys.delete(k1.accessKeyId);
    serviceWithTasks(API, [minutesAfter(previousPromotedAt, 5)]);
    boundServices(ssmMock, [API]);

    const err = await failure();

    expect(err.message).toContain(`AWSCURRENT's access key …${k1.accessKeyId.slice(-4)} is missing from IAM`);
    expect(iamMock).not.toHaveReceivedCommand(DeleteAccessKeyCommand);
    expect(iamMock).not.toHaveReceivedCommand(CreateAccessKeyCommand);
    expect(sm.versions.get(TOKEN)?.value).toBeUndefined();
  });

  test('no bound services: no ECS call, and the key is deleted', async () => {
    await twoRotationsIn();
    boundServices(ssmMock, undefined);

    await handler(createSecretEvent);

    expect(ecsMock).not.toHaveReceivedAnyCommand();
    expect(iamMock).toHaveReceivedCommandWith(DeleteAccessKeyCommand, { AccessKeyId: k0.accessKeyId });
    expect(iam.created).toHaveLength(1);
  });

  test('a service whose every deployment started after the promotion: its tasks are not listed, the key is deleted', async () => {
    await twoRotationsIn();
    ecs.services.set(API, activeService(API, [minutesAfter(promotedAt, 1)]));
    boundServices(ssmMock, [API]);

    await handler(createSecretEvent);

    expect(ecsMock).toHaveReceivedCommandTimes(DescribeServicesCommand, 1);
    expect(ecsMock).not.toHaveReceivedCommand(ListTasksCommand);
    expect(iamMock).toHaveReceivedCommandWith(DeleteAccessKeyCommand, { AccessKeyId: k0.accessKeyId });
  });
});

describe('access-key guard: tasks of unknown token keep the key', () => {
  test("no promotion history yet: a task older than AWSCURRENT promotion may hold AWSPREVIOUS token, so AWSCURRENT's key signs", async () => {
    const sm = await twoRotationsIn({ history: false });
    // Far older than AWSPREVIOUS too, but without a history nothing says which token it read.
    serviceWithTasks(API, [minutesAfter(previousPromotedAt, -600), minutesAfter(promotedAt, 1)]);
    boundServices(ssmMock, [API]);

    await handler(createSecretEvent);

    expect(expectSignedWithCurrentKey(sm, { services: 1, tasks: 1 })).toContain('main/api: 1 task of unknown token');
  });

  test('no promotion history yet, every task newer than AWSCURRENT promotion: the key is deleted', async () => {
    await twoRotationsIn({ history: false });
    serviceWithTasks(API, [minutesAfter(promotedAt, 1), minutesAfter(promotedAt, 2)]);
    boundServices(ssmMock, [API]);

    await handler(createSecretEvent);

    expect(iamMock).toHaveReceivedCommandWith(DeleteAccessKeyCommand, { AccessKeyId: k0.accessKeyId });
  });

  test("a task ECS reports no createdAt for: AWSCURRENT's key signs", async () => {
    const sm = await twoRotationsIn();
    serviceWithTasks(API, [undefined]);
    boundServices(ssmMock, [API]);

    await handler(createSecretEvent);

    expect(expectSignedWithCurrentKey(sm)).toContain('main/api: 1 task of unknown token');
  });
});

describe('access-key guard: a key that signed several versions', () => {
  const V0 = '55555555-4444-4333-8222-111111111111';
  /** V0 (signed by k0, no label now), then AWSPREVIOUS and AWSCURRENT both signed by k1 (it was kept for V0's tasks). */
  async function keptOnce(): Promise<{ sm: FakeSecretsManager; v0PromotedAt: Date }> {
    const v0PromotedAt = new Date(previousPromotedAt.getTime() - 4 * HOUR);
    const sm = new FakeSecretsManager();
    sm.versions.clear();
    sm.setVersion(V0, [], await valueSignedWith(k0, v0PromotedAt));
    sm.setVersion(PREVIOUS_VERSION, ['AWSPREVIOUS'], await valueSignedWith(k1, previousPromotedAt));
    sm.setVersion(OLD_VERSION, ['AWSCURRENT'], await valueSignedWith(k1, promotedAt));
    sm.setVersion(TOKEN, ['AWSPENDING']);
    for (const [k, v] of Object.entries(promotedTag(OLD_VERSION, promotedAt))) sm.tags.set(k, v);
    const expires = (at: Date) => new Date(at.getTime() + 12 * HOUR);
    sm.tags.set(
      PromotionHistoryTag.key,
      PromotionHistoryTag.encode(
        [
          [OLD_VERSION, promotedAt],
          [PREVIOUS_VERSION, previousPromotedAt],
          [V0, v0PromotedAt],
        ].map(([versionId, at]) => ({ versionId: versionId as string, promotedAt: at as Date, expiresAt: expires(at as Date) })),
      ),
    );
    sm.keysValue = JSON.stringify({
      keys: [
        { ...k0, versionId: V0, createdAt: v0PromotedAt.toISOString() },
        { ...k1, versionId: PREVIOUS_VERSION, createdAt: previousPromotedAt.toISOString() },
      ],
    });
    sm.install(smMock);
    return { sm, v0PromotedAt };
  }

  test("a task on the oldest version, read to find its key (k0): kept, AWSCURRENT's key signs", async () => {
    const { sm, v0PromotedAt } = await keptOnce();
    serviceWithTasks(API, [minutesAfter(v0PromotedAt, 10), minutesAfter(promotedAt, 1)]);
    boundServices(ssmMock, [API]);

    await handler(createSecretEvent);

    expect(expectSignedWithCurrentKey(sm, { services: 1, tasks: 1 })).toContain('main/api: 1 task on its token');
  });

  test("tasks on AWSPREVIOUS only: its key is AWSCURRENT's, so k0 is free and goes", async () => {
    const { sm } = await keptOnce();
    serviceWithTasks(API, [minutesAfter(previousPromotedAt, 10), minutesAfter(promotedAt, 1)]);
    boundServices(ssmMock, [API]);

    await handler(createSecretEvent);

    expect(iamMock).toHaveReceivedCommandWith(DeleteAccessKeyCommand, { AccessKeyId: k0.accessKeyId });
    expect(iamMock).not.toHaveReceivedCommandWith(DeleteAccessKeyCommand, { AccessKeyId: k1.accessKeyId });
    expect(pendingKeyId(sm)).toBe(iam.created[0].accessKeyId);
  });

  test('a version that cannot be read counts as using the key', async () => {
    const { sm, v0PromotedAt } = await keptOnce();
    sm.versions.delete(V0);
    serviceWithTasks(API, [minutesAfter(v0PromotedAt, 10)]);
    boundServices(ssmMock, [API]);

    await handler(createSecretEvent);

    expect(expectSignedWithCurrentKey(sm, { services: 1, tasks: 1 })).toContain('main/api: 1 task of unknown token');
  });
});
