import 'aws-sdk-client-mock-jest';
import { DescribeServicesCommand, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { checkConnection } from '../../functions/connection-check';
import { handler, RotationEvent } from '../../functions/rotation-handler';
import { OLD_VERSION, SECRET_ARN, serviceArn, TOKEN } from './fixtures';
import { useMockedAws } from './fixtures-config';
import { activeService, boundServices } from './fixtures-ecs';
import { describeSecretOutput, promotedTag } from './fixtures-secrets-manager';

jest.mock('../../functions/connection-check');
const checkConnectionMock = jest.mocked(checkConnection);

const { smMock, ecsMock, ssmMock } = useMockedAws(() => checkConnectionMock.mockReset());

const STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;
const DELETED = new Date('2030-06-01T10:00:00.000Z');

function event(Step: unknown): RotationEvent {
  return { Step: Step as string, SecretId: SECRET_ARN, ClientRequestToken: TOKEN };
}

function expectNothingChanged(): void {
  expect(smMock).not.toHaveReceivedCommand(GetSecretValueCommand);
  expect(smMock).not.toHaveReceivedCommand(PutSecretValueCommand);
  expect(smMock).not.toHaveReceivedCommand(UpdateSecretVersionStageCommand);
  expect(smMock).not.toHaveReceivedCommand(TagResourceCommand);
  expect(smMock).not.toHaveReceivedCommand(UntagResourceCommand);
  expect(ecsMock).not.toHaveReceivedAnyCommand();
  expect(ssmMock).not.toHaveReceivedAnyCommand();
  expect(checkConnectionMock).not.toHaveBeenCalled();
}

describe('Step must be one of the four strings', () => {
  // Lambda events are JSON: a key lookup converts ['createSecret'] to 'createSecret', so each of these once ran a step.
  test.each([
    ['an array with a step name', ['createSecret'], `["createSecret"] (an array, not a string)`],
    ['an array of two', ['finishSecret', 'createSecret'], `["finishSecret","createSecret"] (an array, not a string)`],
    ['a number', 1, '1 (a number, not a string)'],
    ['an object with toString', { toString: 'createSecret' }, '{"toString":"createSecret"} (an object, not a string)'],
    ['null', null, 'null (null, not a string)'],
    ['a boolean', true, 'true (a boolean, not a string)'],
    ['missing', undefined, '(missing)'],
  ])('%s is refused before any AWS call, named in the error', async (_name, step, shown) => {
    await expect(handler(event(step))).rejects.toThrow(
      `Unknown rotation step ${shown}: expected createSecret, setSecret, testSecret, finishSecret`,
    );
    expect(smMock).not.toHaveReceivedAnyCommand();
  });

  test('an object whose toString returns a step name is refused and its toString is never called', async () => {
    const toString = jest.fn(() => 'finishSecret');
    await expect(handler(event({ toString }))).rejects.toThrow(/^Unknown rotation step \{\} \(an object, not a string\)/);
    expect(toString).not.toHaveBeenCalled();
    expect(smMock).not.toHaveReceivedAnyCommand();
  });

  test.each(['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf', ' createSecret', 'CreateSecret'])(
    "the inherited or near name '%s' is refused",
    async (step) => {
      await expect(handler(event(step))).rejects.toThrow(`Unknown rotation step '${step}'`);
      expect(smMock).not.toHaveReceivedAnyCommand();
    },
  );

  test.each([
    ['SecretId as an array', { SecretId: [SECRET_ARN] }],
    ['ClientRequestToken as a number', { ClientRequestToken: 42 }],
  ])('%s is refused before any AWS call', async (_name, overrides) => {
    const bad = { ...event('createSecret'), ...overrides } as unknown as RotationEvent;
    await expect(handler(bad)).rejects.toThrow('The rotation event must carry SecretId and ClientRequestToken as non-empty strings');
    expect(smMock).not.toHaveReceivedAnyCommand();
  });
});

describe('a secret scheduled for deletion', () => {
  const A = serviceArn('main', 'a');
  const deleted = (stages: Record<string, string[]>, tags: Record<string, string> = {}) => ({
    ...describeSecretOutput({ stages, tags }),
    DeletedDate: DELETED,
  });

  test.each(STEPS)('%s of a pending version stops with the secret, the date and restore-secret; changes nothing', async (step) => {
    smMock.on(DescribeSecretCommand).resolves(deleted({ [OLD_VERSION]: ['AWSCURRENT'], [TOKEN]: ['AWSPENDING'] }));
    boundServices(ssmMock, [A]);

    const failure = handler(event(step));

    await expect(failure).rejects.toThrow(
      `Rotation step ${step}: secret ${SECRET_ARN} is scheduled for deletion (since 2030-06-01T10:00:00.000Z): ` +
        'nothing was written, promoted or redeployed. ' +
        `Restore it with 'aws secretsmanager restore-secret --secret-id ${SECRET_ARN}'`,
    );
    expect(smMock).toHaveReceivedCommandTimes(DescribeSecretCommand, 1);
    expectNothingChanged();
  });

  test('finishSecret of a version already AWSCURRENT (a retry after promotion) redeploys nothing', async () => {
    // Without the guard this path reads only the metadata and the bound services, so AWS would not refuse it.
    const promotedAt = new Date(Date.now() - 600_000);
    smMock
      .on(DescribeSecretCommand)
      .resolves(deleted({ [TOKEN]: ['AWSCURRENT', 'AWSPENDING'], [OLD_VERSION]: ['AWSPREVIOUS'] }, promotedTag(TOKEN, promotedAt)));
    boundServices(ssmMock, [A]);
    ecsMock.on(DescribeServicesCommand).resolves({ services: [activeService(A, [new Date(promotedAt.getTime() - 5000)])] });
    ecsMock.on(UpdateServiceCommand).resolves({});

    await expect(handler(event('finishSecret'))).rejects.toThrow('is scheduled for deletion');
    expectNothingChanged();
  });

  test('the log line names the secret and the date, as an error', async () => {
    smMock.on(DescribeSecretCommand).resolves(deleted({ [OLD_VERSION]: ['AWSCURRENT'], [TOKEN]: ['AWSPENDING'] }));
    const logSpy = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    const errorSpy = jest.spyOn(console, 'error').mockImplementation(() => undefined);

    await expect(handler(event('createSecret'))).rejects.toThrow('scheduled for deletion');

    const lines = [...logSpy.mock.calls, ...errorSpy.mock.calls].map((args) => args.map(String).join(' '));
    const line = lines.find((l) => l.includes('the secret is scheduled for deletion'));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({
      level: 'ERROR',
      secretArn: SECRET_ARN,
      step: 'createSecret',
      deletedDate: DELETED.toISOString(),
    });
  });

  test('a secret not scheduled for deletion (DeletedDate absent or null) rotates as usual', async () => {
    smMock.on(DescribeSecretCommand).resolves({ ...describeSecretOutput(), DeletedDate: null as unknown as undefined });

    await handler(event('setSecret'));

    expect(smMock).toHaveReceivedCommandTimes(DescribeSecretCommand, 1);
  });
});
