import 'aws-sdk-client-mock-jest';
import { DescribeServicesCommand, DescribeServicesCommandInput, ECSClient, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
  TagResourceCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { IAMClient } from '@aws-sdk/client-iam';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DsqlUrlSecretValue, FunctionBundle } from '../../lib/contract';
import { PromotedTag } from '../../lib/secret-tags';
import { readFunctionConfig } from '../../functions/config';
import { checkConnection } from '../../functions/connection-check';
import { handler } from '../../functions/rotation-handler';
import { RetryPolicy } from '../../functions/retry';
import { finishSecret } from '../../functions/finish-secret';
import { StepContext } from '../../functions/step-context';
import { createSecret, NEW_KEY_RETRY_DELAYS_MS, setSecret, testSecret } from '../../functions/steps';
import {
  awsError,
  FAKE_CREDENTIALS,
  HOST,
  OLD_VERSION,
  recordingRetry,
  REGION,
  SECRET_ARN,
  serviceArn,
  throttling,
  TOKEN,
} from './fixtures';
import { accessKeySignerConfig, handlerEnv, setEnv, useMockedAws } from './fixtures-config';
import { boundServices, FakeEcs } from './fixtures-ecs';
import { describeSecretOutput, FakeSecretsManager, placeholderValue, promotedTag } from './fixtures-secrets-manager';
import { presignedTokenIsValid, tokenParams } from './fixtures-tokens';

jest.mock('../../functions/connection-check');
const checkConnectionMock = jest.mocked(checkConnection);

const { smMock, ecsMock, ssmMock } = useMockedAws(() => checkConnectionMock.mockReset());

function context(overrides: Partial<StepContext> = {}): StepContext {
  return {
    sm: new SecretsManagerClient({ region: REGION }),
    ecs: new ECSClient({ region: REGION }),
    ssm: new SSMClient({ region: REGION }),
    iam: new IAMClient({ region: REGION }),
    lambda: new LambdaClient({ region: REGION }),
    config: readFunctionConfig(FunctionBundle.ROTATION),
    secretArn: SECRET_ARN,
    versionId: TOKEN,
    metadata: describeSecretOutput(),
    ...overrides,
  };
}

const notFound = () => new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret value", $metadata: {} });

function pendingValue(overrides: Partial<DsqlUrlSecretValue> = {}): DsqlUrlSecretValue {
  return {
    url: `postgres://admin:tok@${HOST}:5432/postgres?sslmode=require`,
    host: HOST,
    port: 5432,
    username: 'admin',
    password: 'tok',
    dbname: 'postgres',
    sslmode: 'require',
    issuedAt: new Date().toISOString(),
    expiresAt: new Date(Date.now() + 3600_000).toISOString(),
    ...overrides,
  };
}

function storedValue(): DsqlUrlSecretValue {
  const put = smMock.commandCalls(PutSecretValueCommand);
  expect(put).toHaveLength(1);
  return JSON.parse(put[0].args[0].input.SecretString!) as DsqlUrlSecretValue;
}

const updatedServices = () => ecsMock.commandCalls(UpdateServiceCommand).map((c) => c.args[0].input.service!);

describe('createSecret', () => {
  test('mints a token and stores the full value as AWSPENDING under the ClientRequestToken', async () => {
    // GIVEN no value for the token yet
    setEnv(handlerEnv({ tokenLifetimeSeconds: 7200, urlQuery: 'sslmode=verify-full' }));
    smMock.on(GetSecretValueCommand).rejects(notFound());
    smMock.on(PutSecretValueCommand).resolves({});

    // WHEN
    await createSecret(context());

    // THEN it looked for the pending value of this token, then wrote one
    expect(smMock).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: SECRET_ARN, VersionId: TOKEN, VersionStage: 'AWSPENDING' });
    expect(smMock).toHaveReceivedCommandWith(PutSecretValueCommand, {
      SecretId: SECRET_ARN,
      ClientRequestToken: TOKEN,
      VersionStages: ['AWSPENDING'],
    });
    const value = storedValue();
    expect(Object.keys(value).sort()).toEqual([
      'dbname',
      'expiresAt',
      'host',
      'issuedAt',
      'password',
      'port',
      'sslmode',
      'url',
      'username',
    ]);
    expect(value).toMatchObject({ host: HOST, port: 5432, username: 'admin', dbname: 'postgres', sslmode: 'verify-full' });
    expect(value.url).toBe(`postgres://admin:${encodeURIComponent(value.password)}@${HOST}:5432/postgres?sslmode=verify-full`);
    expect(value.url).not.toContain(value.password); // only the encoded form is in the URL
    const q = tokenParams(value.password);
    expect(q.get('Action')).toBe('DbConnectAdmin');
    expect(q.get('X-Amz-Expires')).toBe('7200');
    expect(presignedTokenIsValid(value.password, FAKE_CREDENTIALS, REGION)).toBe(true);
    expect(Date.parse(value.expiresAt) - Date.parse(value.issuedAt)).toBe(7200 * 1000);
    expect(Math.abs(Date.parse(value.issuedAt) - Date.now())).toBeLessThan(10_000);
  });

  test('a custom database role gets a DbConnect token', async () => {
    setEnv(handlerEnv({ username: 'app_user' }));
    smMock.on(GetSecretValueCommand).rejects(notFound());

    await createSecret(context());

    const value = storedValue();
    expect(value.username).toBe('app_user');
    expect(tokenParams(value.password).get('Action')).toBe('DbConnect');
    expect(value.url.startsWith('postgres://app_user:')).toBe(true);
  });

  test('a staged version without a value (moto answers with no SecretString) is written', async () => {
    smMock.on(GetSecretValueCommand).resolves({ ARN: SECRET_ARN, VersionId: TOKEN, VersionStages: ['AWSPENDING'] });

    await createSecret(context());

    expect(smMock).toHaveReceivedCommandTimes(PutSecretValueCommand, 1);
  });

  test('idempotent: when the pending value exists nothing is written', async () => {
    smMock.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(pendingValue()) });

    await createSecret(context());

    expect(smMock).toHaveReceivedCommandTimes(GetSecretValueCommand, 1);
    expect(smMock).not.toHaveReceivedCommand(PutSecretValueCommand);
  });

  test('any other GetSecretValue error fails the step before writing', async () => {
    smMock.on(GetSecretValueCommand).rejects(awsError('AccessDeniedException', 'not authorized to perform secretsmanager:GetSecretValue'));

    await expect(createSecret(context())).rejects.toThrow('secretsmanager:GetSecretValue');
    expect(smMock).not.toHaveReceivedCommand(PutSecretValueCommand);
  });
});

describe('setSecret', () => {
  test('sends nothing anywhere', async () => {
    await setSecret(context());

    expect(smMock).not.toHaveReceivedAnyCommand();
    expect(ecsMock).not.toHaveReceivedAnyCommand();
    expect(ssmMock).not.toHaveReceivedAnyCommand();
  });
});

describe('testSecret', () => {
  test('connects with the pending value and the configured timeout', async () => {
    setEnv(handlerEnv({ connectTimeoutSeconds: 4 }));
    const value = pendingValue();
    smMock
      .on(GetSecretValueCommand, { SecretId: SECRET_ARN, VersionId: TOKEN, VersionStage: 'AWSPENDING' })
      .resolves({ SecretString: JSON.stringify(value) });

    await testSecret(context());

    expect(checkConnectionMock).toHaveBeenCalledTimes(1);
    expect(checkConnectionMock).toHaveBeenCalledWith(value, 4);
    expect(smMock).not.toHaveReceivedCommand(PutSecretValueCommand);
  });

  test("a failed connection fails the step with the check's message", async () => {
    smMock.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(pendingValue()) });
    checkConnectionMock.mockRejectedValue(new Error('testSecret: DSQL rejected the new token'));

    await expect(testSecret(context())).rejects.toThrow('DSQL rejected the new token');
  });

  test.each([
    ['ResourceNotFoundException', () => smMock.on(GetSecretValueCommand).rejects(notFound())],
    ['a stub without SecretString', () => smMock.on(GetSecretValueCommand).resolves({ VersionId: TOKEN })],
  ])('no pending value (%s) is an error', async (_case, arrange) => {
    arrange();

    await expect(testSecret(context())).rejects.toThrow(`version ${TOKEN} of ${SECRET_ARN} has no AWSPENDING value`);
    expect(checkConnectionMock).not.toHaveBeenCalled();
  });

  test('the placeholder as pending value (RotateImmediately=false copies AWSCURRENT) has no token to test: success without connecting', async () => {
    smMock.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(placeholderValue()) });

    await expect(testSecret(context())).resolves.toBeUndefined();

    expect(checkConnectionMock).not.toHaveBeenCalled();
    const lines = (console.log as jest.Mock).mock.calls.map((args) => String(args[0]));
    expect(lines.some((l) => l.includes('the pending value is the placeholder (no token yet), nothing to test'))).toBe(true);
  });

  describe('a new access key that IAM has not propagated yet', () => {
    const authFailure = () => Object.assign(new Error('testSecret: DSQL rejected the new token at host (access denied)'), { kind: 'auth' });
    const networkFailure = () => Object.assign(new Error('testSecret: could not reach host (ECONNREFUSED)'), { kind: 'network' });

    function accessKeyContext(sleeps: number[]): StepContext {
      setEnv(handlerEnv(accessKeySignerConfig()));
      smMock.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(pendingValue()) });
      return context({
        newKeyRetryDelaysMs: [10, 20, 40],
        sleep: async (ms) => {
          sleeps.push(ms);
        },
      });
    }

    test('access-key signer: authentication failures are retried with backoff until DSQL accepts the key', async () => {
      const sleeps: number[] = [];
      const ctx = accessKeyContext(sleeps);
      checkConnectionMock.mockRejectedValueOnce(authFailure()).mockRejectedValueOnce(authFailure()).mockResolvedValueOnce(undefined);

      await testSecret(ctx);

      expect(checkConnectionMock).toHaveBeenCalledTimes(3);
      expect(sleeps).toEqual([10, 20]);
    });

    test('access-key signer: retries are bounded; the last error says how long it waited', async () => {
      const sleeps: number[] = [];
      const ctx = accessKeyContext(sleeps);
      checkConnectionMock.mockRejectedValue(authFailure());

      const error: Error = await testSecret(ctx).then(
        () => {
          throw new Error('expected a failure');
        },
        (e: Error) => e,
      );

      expect(checkConnectionMock).toHaveBeenCalledTimes(4);
      expect(sleeps).toEqual([10, 20, 40]);
      expect(error.message).toContain('DSQL rejected the new token');
      expect(error.message).toContain('still refused after 4 attempts over 0.07 s');
    });

    test('access-key signer: a network failure after a refusal ends the retries with the network message alone', async () => {
      const sleeps: number[] = [];
      const ctx = accessKeyContext(sleeps);
      checkConnectionMock.mockRejectedValueOnce(authFailure()).mockRejectedValueOnce(networkFailure());

      await expect(testSecret(ctx)).rejects.toThrow(/^testSecret: could not reach host \(ECONNREFUSED\)$/);
      expect(checkConnectionMock).toHaveBeenCalledTimes(2);
      expect(sleeps).toEqual([10]);
    });

    test('access-key signer: a network failure is not retried', async () => {
      const sleeps: number[] = [];
      const ctx = accessKeyContext(sleeps);
      checkConnectionMock.mockRejectedValue(networkFailure());

      await expect(testSecret(ctx)).rejects.toThrow('could not reach host');
      expect(checkConnectionMock).toHaveBeenCalledTimes(1);
      expect(sleeps).toEqual([]);
    });

    test('role signer: an authentication failure fails at once (its credentials are not new)', async () => {
      const sleeps: number[] = [];
      smMock.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(pendingValue()) });
      checkConnectionMock.mockRejectedValue(authFailure());

      await expect(
        testSecret(
          context({
            newKeyRetryDelaysMs: [10, 20],
            sleep: async (ms) => {
              sleeps.push(ms);
            },
          }),
        ),
      ).rejects.toThrow(/^testSecret: DSQL rejected the new token at host \(access denied\)$/);
      expect(checkConnectionMock).toHaveBeenCalledTimes(1);
      expect(sleeps).toEqual([]);
    });

    test('the default backoff waits about 30 s in all', () => {
      const total = NEW_KEY_RETRY_DELAYS_MS.reduce((a, b) => a + b, 0);
      expect(total).toBeGreaterThanOrEqual(20_000);
      expect(total).toBeLessThanOrEqual(35_000);
    });
  });

  test('an expired pending token is an error, without trying to connect', async () => {
    const expiresAt = new Date(Date.now() - 1000).toISOString();
    smMock.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(pendingValue({ expiresAt })) });

    await expect(testSecret(context())).rejects.toThrow(`the pending token expired at ${expiresAt}`);
    expect(checkConnectionMock).not.toHaveBeenCalled();
  });
});

describe('finishSecret', () => {
  const A = serviceArn('main', 'a');
  const B = serviceArn('main', 'b');
  const C = serviceArn('other', 'c');

  test('promotes the token, records the promotion time in a tag, then redeploys every bound service', async () => {
    // GIVEN
    const sm = new FakeSecretsManager();
    sm.install(smMock);
    new FakeEcs().add(A, B, C).install(ecsMock);
    boundServices(ssmMock, [A, B, C]);
    const before = Date.now();

    // WHEN
    await finishSecret(context());

    // THEN AWSCURRENT moved from the old version to the token
    expect(smMock).toHaveReceivedCommandWith(UpdateSecretVersionStageCommand, {
      SecretId: SECRET_ARN,
      VersionStage: 'AWSCURRENT',
      MoveToVersionId: TOKEN,
      RemoveFromVersionId: OLD_VERSION,
    });
    expect(sm.stagesOf(TOKEN)).toContain('AWSCURRENT');
    expect(sm.stagesOf(OLD_VERSION)).toEqual(['AWSPREVIOUS']);
    // AND the tag holds "<token> <iso time>" of the promotion
    const tag = sm.tags.get(PromotedTag.key)!;
    const [taggedVersion, iso] = tag.split(' ');
    expect(taggedVersion).toBe(TOKEN);
    expect(new Date(iso).toISOString()).toBe(iso);
    expect(Date.parse(iso)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(iso)).toBeLessThanOrEqual(Date.now());
    // AND every service got a forced deployment in its own cluster
    expect(updatedServices().sort()).toEqual([A, B, C].sort());
    expect(ecsMock).toHaveReceivedCommandWith(UpdateServiceCommand, { cluster: 'main', service: A, forceNewDeployment: true });
    expect(ecsMock).toHaveReceivedCommandWith(UpdateServiceCommand, { cluster: 'other', service: C, forceNewDeployment: true });
    // AND in that order: promote, tag, redeploy
    const promote = smMock.commandCalls(UpdateSecretVersionStageCommand)[0];
    const tagCall = smMock.commandCalls(TagResourceCommand)[0];
    expect(promote.calledBefore(tagCall)).toBe(true);
    for (const update of ecsMock.commandCalls(UpdateServiceCommand)) expect(tagCall.calledBefore(update)).toBe(true);
  });

  test("emits one EMF line with the rotation's outcome, duration and the new token's validity at promotion", async () => {
    const issuedAt = new Date(Date.now() - 90_000);
    const expiresAt = new Date(issuedAt.getTime() + 8 * 3600_000);
    const sm = new FakeSecretsManager();
    sm.setVersion(TOKEN, ['AWSPENDING'], pendingValue({ issuedAt: issuedAt.toISOString(), expiresAt: expiresAt.toISOString() }));
    sm.install(smMock);
    new FakeEcs().add(A, B, C).install(ecsMock);
    boundServices(ssmMock, [A, B, C]);
    const lines: string[] = [];
    const spy = jest.spyOn(console, 'log').mockImplementation((line: string) => {
      lines.push(line);
    });
    try {
      await finishSecret(context());
    } finally {
      spy.mockRestore();
    }
    const emf = lines.map((l) => JSON.parse(l)).filter((d) => d._aws !== undefined);
    expect(emf).toHaveLength(1);
    const doc = emf[0];
    expect(doc._aws.CloudWatchMetrics[0].Namespace).toBe('CdkDsqlUrlSecret');
    expect(doc).toMatchObject({ RotationSucceeded: 1, ServicesRedeployed: 3, RedeployFailures: 0, ThrottleRetries: 0 });
    expect(doc.RotationDuration).toBeGreaterThanOrEqual(90);
    expect(doc.RotationDuration).toBeLessThan(120);
    expect(doc.TokenSecondsLeftAtPromotion).toBeGreaterThan(8 * 3600 - 120);
    expect(doc.TokenSecondsLeftAtPromotion).toBeLessThanOrEqual(8 * 3600 - 90);
  });

  test('a failed redeploy is reported as RotationSucceeded 0 before the step fails', async () => {
    new FakeSecretsManager().install(smMock);
    new FakeEcs().add(A, B).install(ecsMock);
    ecsMock.on(UpdateServiceCommand, { service: B }).rejects(awsError('AccessDeniedException', 'denied'));
    boundServices(ssmMock, [A, B]);
    const lines: string[] = [];
    const spy = jest.spyOn(console, 'log').mockImplementation((line: string) => {
      lines.push(line);
    });
    try {
      await expect(finishSecret(context())).rejects.toThrow(/1 of 2 services could not be redeployed/);
    } finally {
      spy.mockRestore();
    }
    const doc = lines.map((l) => JSON.parse(l)).find((d) => d._aws !== undefined);
    expect(doc).toMatchObject({ RotationSucceeded: 0, ServicesRedeployed: 1, RedeployFailures: 1 });
  });

  test('DescribeServices is batched by 10 per cluster: 23 services over 2 clusters → 2 + 2 calls', async () => {
    const arns = [
      ...Array.from({ length: 12 }, (_, i) => serviceArn('c1', `s${i}`)),
      ...Array.from({ length: 11 }, (_, i) => serviceArn('c2', `s${i}`)),
    ];
    new FakeSecretsManager().install(smMock);
    new FakeEcs().add(...arns).install(ecsMock);
    boundServices(ssmMock, arns);

    await finishSecret(context());

    const batches = ecsMock.commandCalls(DescribeServicesCommand).map((c) => c.args[0].input as DescribeServicesCommandInput);
    expect(batches.map((b) => `${b.cluster}:${b.services!.length}`)).toEqual(['c1:10', 'c1:2', 'c2:10', 'c2:1']);
    expect(ecsMock).toHaveReceivedCommandTimes(UpdateServiceCommand, 23);
  });

  test('with no bound-services parameter yet, promotion alone completes the step', async () => {
    const sm = new FakeSecretsManager();
    sm.install(smMock);
    boundServices(ssmMock, undefined);

    await finishSecret(context());

    expect(sm.stagesOf(TOKEN)).toContain('AWSCURRENT');
    expect(ecsMock).not.toHaveReceivedAnyCommand();
  });

  test('missing services are skipped, not failed', async () => {
    new FakeSecretsManager().install(smMock);
    const ecs = new FakeEcs().add(A);
    ecs.services.set(C, { serviceArn: C, status: 'INACTIVE', deployments: [] });
    ecs.install(ecsMock);
    boundServices(ssmMock, [A, B, C]); // B does not exist at all

    await expect(finishSecret(context())).resolves.toBeUndefined();
    expect(updatedServices()).toEqual([A]);
  });

  test('one service failing does not stop the others; the step throws after all, listing the failed ARNs', async () => {
    // GIVEN B's UpdateService is denied
    const sm = new FakeSecretsManager();
    sm.install(smMock);
    const ecs = new FakeEcs().add(A, B, C);
    ecs.failUpdate = (arn) =>
      arn === B ? awsError('AccessDeniedException', 'User is not authorized to perform: ecs:UpdateService') : undefined;
    ecs.install(ecsMock);
    boundServices(ssmMock, [B, A, C]);

    // WHEN / THEN
    const error: Error = await finishSecret(context()).then(
      () => {
        throw new Error('expected a failure');
      },
      (e: Error) => e,
    );
    expect(error.message).toContain('the new URL is AWSCURRENT but 1 of 3 services could not be redeployed');
    expect(error.message).toContain(`${B} (AccessDeniedException: User is not authorized to perform: ecs:UpdateService)`);
    expect(error.message).not.toContain(A);
    expect(error.message).not.toContain(C);
    expect(updatedServices().sort()).toEqual([A, B, C].sort());
    expect(sm.stagesOf(TOKEN)).toContain('AWSCURRENT');
  });

  test('throttled UpdateService calls are retried with backoff and the step succeeds', async () => {
    new FakeSecretsManager().install(smMock);
    const ecs = new FakeEcs().add(A, B);
    let throttles = 0;
    ecs.failUpdate = (arn) => (arn === A && throttles++ < 3 ? throttling() : undefined);
    ecs.install(ecsMock);
    boundServices(ssmMock, [A, B]);
    const retry = recordingRetry({ maxAttempts: 5, baseDelayMs: 100, random: () => 0.5 });

    await finishSecret(context({ retry }));

    expect(updatedServices().filter((s) => s === A)).toHaveLength(4);
    expect(updatedServices().filter((s) => s === B)).toHaveLength(1);
    // Each throttle doubles the shared pacer's gap (50, 100, 200 ms) and the retry waits it out.
    expect(retry.sleeps.length).toBeGreaterThanOrEqual(3);
    expect(retry.sleeps.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(300);
  });

  test('throttling that never ends fails that service after maxAttempts and the step', async () => {
    new FakeSecretsManager().install(smMock);
    const ecs = new FakeEcs().add(A, B);
    ecs.failUpdate = (arn) => (arn === A ? throttling() : undefined);
    ecs.install(ecsMock);
    boundServices(ssmMock, [A, B]);
    const retry: RetryPolicy = recordingRetry({ maxAttempts: 3 });

    await expect(finishSecret(context({ retry }))).rejects.toThrow(`${A} (ThrottlingException: Rate exceeded)`);
    expect(updatedServices().filter((s) => s === A)).toHaveLength(3);
    expect(updatedServices().filter((s) => s === B)).toHaveLength(1);
  });

  describe('when the token is already AWSCURRENT (a retried finishSecret)', () => {
    const current = { [TOKEN]: ['AWSCURRENT', 'AWSPENDING'], [OLD_VERSION]: ['AWSPREVIOUS'] };

    test('promotion is not repeated and the recorded promotion time is used', async () => {
      // GIVEN promoted an hour ago; A redeployed after that, B not
      const promotedAt = new Date(Date.now() - 3600_000);
      ecsMock.on(DescribeServicesCommand).resolves({
        services: [
          { serviceArn: A, status: 'ACTIVE', deployments: [{ createdAt: new Date(promotedAt.getTime() + 1000) }] },
          { serviceArn: B, status: 'ACTIVE', deployments: [{ createdAt: new Date(promotedAt.getTime() - 1000) }] },
        ],
      });
      ecsMock.on(UpdateServiceCommand).resolves({});
      boundServices(ssmMock, [A, B]);

      // WHEN
      await finishSecret(context({ metadata: describeSecretOutput({ stages: current, tags: promotedTag(TOKEN, promotedAt) }) }));

      // THEN
      expect(smMock).not.toHaveReceivedCommand(UpdateSecretVersionStageCommand);
      expect(smMock).not.toHaveReceivedCommand(TagResourceCommand);
      expect(updatedServices()).toEqual([B]);
    });

    test('a tag left by an earlier version is ignored: the promotion time is recorded anew', async () => {
      // GIVEN the tag names the previous version; A's deployment is after that old time
      const oldPromotion = new Date(Date.now() - 86_400_000);
      ecsMock.on(DescribeServicesCommand).resolves({
        services: [{ serviceArn: A, status: 'ACTIVE', deployments: [{ createdAt: new Date(oldPromotion.getTime() + 1000) }] }],
      });
      ecsMock.on(UpdateServiceCommand).resolves({});
      boundServices(ssmMock, [A]);

      await finishSecret(context({ metadata: describeSecretOutput({ stages: current, tags: promotedTag(OLD_VERSION, oldPromotion) }) }));

      expect(smMock).not.toHaveReceivedCommand(UpdateSecretVersionStageCommand);
      expect(smMock).toHaveReceivedCommandWith(TagResourceCommand, {
        SecretId: SECRET_ARN,
        Tags: [{ Key: PromotedTag.key, Value: expect.stringMatching(new RegExp(`^${TOKEN} \\d{4}-\\d{2}-\\d{2}T`)) }],
      });
      expect(updatedServices()).toEqual([A]);
    });
  });

  test('retry after a partial redeploy: the second run redeploys only the service that failed', async () => {
    // GIVEN the rotation is at finishSecret; B's first UpdateService is denied
    const sm = new FakeSecretsManager();
    sm.install(smMock);
    const ecs = new FakeEcs().add(A, B);
    let bDenied = true;
    ecs.failUpdate = (arn) => (arn === B && bDenied ? awsError('AccessDeniedException', 'denied') : undefined);
    ecs.install(ecsMock);
    boundServices(ssmMock, [A, B]);
    const event = { Step: 'finishSecret', SecretId: SECRET_ARN, ClientRequestToken: TOKEN };

    // WHEN the first run fails on B
    await expect(handler(event)).rejects.toThrow(`1 of 2 services could not be redeployed: ${B}`);
    expect(sm.stagesOf(TOKEN)).toContain('AWSCURRENT');
    const tagAfterFirstRun = sm.tags.get(PromotedTag.key);
    expect(tagAfterFirstRun).toMatch(new RegExp(`^${TOKEN} `));
    expect(updatedServices().sort()).toEqual([A, B].sort());

    // AND Secrets Manager retries after the permission is fixed
    bDenied = false;
    ecsMock.resetHistory();
    smMock.resetHistory();
    await handler(event);

    // THEN only B is redeployed; promotion and tag are not repeated
    expect(updatedServices()).toEqual([B]);
    expect(smMock).not.toHaveReceivedCommand(UpdateSecretVersionStageCommand);
    expect(smMock).not.toHaveReceivedCommand(TagResourceCommand);
    expect(sm.tags.get(PromotedTag.key)).toBe(tagAfterFirstRun);
  });
});
