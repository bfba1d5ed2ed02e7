import 'aws-sdk-client-mock-jest';
import { DescribeServicesCommand, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  TagResourceCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { PromotedTag } from '../../lib/secret-tags';
import { checkConnection } from '../../functions/connection-check';
import { handler, RotationEvent } from '../../functions/rotation-handler';
import { HOST, OLD_VERSION, SECRET_ARN, serviceArn, throttling, TOKEN } from './fixtures';
import { handlerEnv, setEnv, useMockedAws } from './fixtures-config';
import { activeService, boundServices, FakeEcs } from './fixtures-ecs';
import { describeSecretOutput, FakeSecretsManager, promotedTag } from './fixtures-secrets-manager';

jest.mock('../../functions/connection-check');
const checkConnectionMock = jest.mocked(checkConnection);

const { smMock, ecsMock, ssmMock } = useMockedAws(() => checkConnectionMock.mockReset());

const STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;
const event = (Step: string, overrides: Partial<RotationEvent> = {}): RotationEvent => ({
  Step,
  SecretId: SECRET_ARN,
  ClientRequestToken: TOKEN,
  ...overrides,
});

/** Every Secrets Manager write the handler can make. */
function expectNoSecretWrites(): void {
  expect(smMock).not.toHaveReceivedCommand(PutSecretValueCommand);
  expect(smMock).not.toHaveReceivedCommand(UpdateSecretVersionStageCommand);
  expect(smMock).not.toHaveReceivedCommand(TagResourceCommand);
}

describe('guards', () => {
  test.each(['', 'createsecret', 'rotateSecret', 'toString', 'constructor', '__proto__', 'hasOwnProperty'])(
    "unknown step '%s' is rejected before any AWS call",
    async (step) => {
      await expect(handler(event(step))).rejects.toThrow(`Unknown rotation step '${step}'`);
      expect(smMock).not.toHaveReceivedAnyCommand();
    },
  );

  test.each([
    ['SecretId', { SecretId: '' }],
    ['ClientRequestToken', { ClientRequestToken: undefined as unknown as string }],
  ])('a missing %s is rejected before any AWS call', async (_name, overrides) => {
    await expect(handler(event('createSecret', overrides))).rejects.toThrow(
      'The rotation event must carry SecretId and ClientRequestToken',
    );
    expect(smMock).not.toHaveReceivedAnyCommand();
  });

  test('the secret is described by the SecretId of the event', async () => {
    smMock.on(DescribeSecretCommand).resolves(describeSecretOutput({ stages: { [TOKEN]: ['AWSCURRENT'] } }));

    await handler(event('setSecret', { SecretId: 'app/db-url' }));

    expect(smMock).toHaveReceivedCommandWith(DescribeSecretCommand, { SecretId: 'app/db-url' });
  });

  test.each(STEPS)('%s: rotation not enabled fails and writes nothing', async (step) => {
    smMock.on(DescribeSecretCommand).resolves(describeSecretOutput({ rotationEnabled: false }));

    await expect(handler(event(step))).rejects.toThrow(`Secret ${SECRET_ARN} does not have rotation enabled`);
    expectNoSecretWrites();
    expect(ecsMock).not.toHaveReceivedAnyCommand();
  });

  test.each(STEPS)('%s: a token that is not a version of the secret fails', async (step) => {
    smMock.on(DescribeSecretCommand).resolves(describeSecretOutput({ stages: { [OLD_VERSION]: ['AWSCURRENT'] } }));

    await expect(handler(event(step))).rejects.toThrow(`Secret version ${TOKEN} has no stage for rotation of secret ${SECRET_ARN}`);
    expectNoSecretWrites();
    expect(ecsMock).not.toHaveReceivedAnyCommand();
  });

  test.each(STEPS)('%s: a token that is neither AWSCURRENT nor AWSPENDING fails', async (step) => {
    smMock
      .on(DescribeSecretCommand)
      .resolves(describeSecretOutput({ stages: { [OLD_VERSION]: ['AWSCURRENT'], [TOKEN]: ['AWSPREVIOUS'] } }));

    await expect(handler(event(step))).rejects.toThrow(
      `Secret version ${TOKEN} is not set as AWSPENDING for rotation of secret ${SECRET_ARN}`,
    );
    expectNoSecretWrites();
    expect(ecsMock).not.toHaveReceivedAnyCommand();
    expect(checkConnectionMock).not.toHaveBeenCalled();
  });

  describe('token already AWSCURRENT', () => {
    const A = serviceArn('main', 'a');
    const B = serviceArn('main', 'b');
    const stages = { [TOKEN]: ['AWSCURRENT', 'AWSPENDING'], [OLD_VERSION]: ['AWSPREVIOUS'] };

    test.each(['createSecret', 'setSecret', 'testSecret'])('%s does nothing', async (step) => {
      smMock.on(DescribeSecretCommand).resolves(describeSecretOutput({ stages }));
      boundServices(ssmMock, [A]);

      await handler(event(step));

      expect(smMock).toHaveReceivedCommandTimes(DescribeSecretCommand, 1);
      expect(smMock).not.toHaveReceivedCommand(GetSecretValueCommand);
      expectNoSecretWrites();
      expect(ecsMock).not.toHaveReceivedAnyCommand();
      expect(checkConnectionMock).not.toHaveBeenCalled();
    });

    test('finishSecret does not promote again but completes the redeploys', async () => {
      // GIVEN promoted 10 minutes ago; A was redeployed after that, B was not
      const promotedAt = new Date(Date.now() - 600_000);
      smMock.on(DescribeSecretCommand).resolves(describeSecretOutput({ stages, tags: promotedTag(TOKEN, promotedAt) }));
      boundServices(ssmMock, [A, B]);
      ecsMock.on(DescribeServicesCommand).resolves({
        services: [activeService(A, [new Date(promotedAt.getTime() + 5000)]), activeService(B, [new Date(promotedAt.getTime() - 5000)])],
      });
      ecsMock.on(UpdateServiceCommand).resolves({});

      await handler(event('finishSecret'));

      expectNoSecretWrites();
      expect(ecsMock).toHaveReceivedCommandTimes(UpdateServiceCommand, 1);
      expect(ecsMock).toHaveReceivedCommandWith(UpdateServiceCommand, { cluster: 'main', service: B, forceNewDeployment: true });
    });
  });
});

describe('step dispatch for an AWSPENDING token', () => {
  let sm: FakeSecretsManager;
  beforeEach(() => {
    sm = new FakeSecretsManager();
    sm.install(smMock);
  });

  test('createSecret writes the pending value, only once across retries', async () => {
    await handler(event('createSecret'));
    await handler(event('createSecret'));

    expect(smMock).toHaveReceivedCommandTimes(PutSecretValueCommand, 1);
    expect(smMock).toHaveReceivedCommandWith(PutSecretValueCommand, { ClientRequestToken: TOKEN, VersionStages: ['AWSPENDING'] });
    const value = JSON.parse(sm.versions.get(TOKEN)!.value!);
    expect(value.host).toBe(HOST);
    expect(sm.stagesOf(OLD_VERSION)).toEqual(['AWSCURRENT']);
  });

  test('setSecret sends nothing beyond the guard', async () => {
    await handler(event('setSecret'));

    expect(smMock).toHaveReceivedCommandTimes(DescribeSecretCommand, 1);
    expect(smMock.calls()).toHaveLength(1);
    expect(ssmMock).not.toHaveReceivedAnyCommand();
    expect(ecsMock).not.toHaveReceivedAnyCommand();
  });

  test('testSecret checks the pending value written by createSecret with the configured timeout', async () => {
    // useMockedAws restores the whole environment after the test.
    setEnv(handlerEnv({ connectTimeoutSeconds: 3 }));
    await handler(event('createSecret'));

    await handler(event('testSecret'));

    expect(checkConnectionMock).toHaveBeenCalledTimes(1);
    expect(checkConnectionMock).toHaveBeenCalledWith(JSON.parse(sm.versions.get(TOKEN)!.value!), 3);
  });

  test('finishSecret promotes and redeploys; a throttle is retried with the default policy', async () => {
    const A = serviceArn('main', 'a');
    const ecs = new FakeEcs().add(A);
    let throttled = false;
    ecs.failUpdate = () => (throttled ? undefined : ((throttled = true), throttling()));
    ecs.install(ecsMock);
    boundServices(ssmMock, [A]);

    await handler(event('finishSecret'));

    expect(smMock).toHaveReceivedCommandWith(UpdateSecretVersionStageCommand, {
      VersionStage: 'AWSCURRENT',
      MoveToVersionId: TOKEN,
      RemoveFromVersionId: OLD_VERSION,
    });
    expect(sm.tags.get(PromotedTag.key)).toMatch(new RegExp(`^${TOKEN} `));
    expect(ecsMock).toHaveReceivedCommandTimes(UpdateServiceCommand, 2);
  });

  test('a failing step fails the invocation (so Secrets Manager retries and the failure is loud)', async () => {
    // testSecret before createSecret: no pending value
    await expect(handler(event('testSecret'))).rejects.toThrow('has no AWSPENDING value');
  });
});
