import 'aws-sdk-client-mock-jest';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { MetricName } from '../../lib/contract';
import { checkConnection } from '../../functions/connection-check';
import { runWatchdog } from '../../functions/watchdog';
import { OLD_VERSION, SECRET_ARN, TOKEN } from './fixtures';
import { configEnv, setEnv, watchdogConfig } from './fixtures-config';

jest.mock('../../functions/connection-check');
const checkConnectionMock = jest.mocked(checkConnection);
const smMock = mockClient(SecretsManagerClient);

const NOW = new Date('2030-06-01T12:00:00.000Z');
const DELETED = new Date('2030-06-01T11:00:00.000Z');
const DIMENSION = 'app-db-url';

let restoreEnv: () => void;
let logSpy: jest.SpyInstance;
beforeEach(() => {
  smMock.reset();
  checkConnectionMock.mockReset();
  restoreEnv = setEnv(configEnv(watchdogConfig({ secretArn: SECRET_ARN, metricDimension: DIMENSION, stalePendingSeconds: 900 })));
  logSpy = jest.spyOn(console, 'log').mockImplementation(() => undefined);
});
afterEach(() => {
  restoreEnv();
  jest.restoreAllMocks();
});
afterAll(() => smMock.restore());

function printed(): Array<Record<string, unknown>> {
  return logSpy.mock.calls.map((args) => JSON.parse(args.map(String).join(' ')) as Record<string, unknown>);
}

/** A secret scheduled for deletion with a failed rotation's pending version, old enough to be cleared otherwise. */
function arrangeDeletedSecret(): void {
  smMock.on(DescribeSecretCommand).resolves({
    ARN: SECRET_ARN,
    Name: 'app/db-url',
    RotationEnabled: true,
    DeletedDate: DELETED,
    VersionIdsToStages: { [OLD_VERSION]: ['AWSCURRENT'], [TOKEN]: ['AWSPENDING'] },
  });
  smMock.on(ListSecretVersionIdsCommand).resolves({
    Versions: [{ VersionId: TOKEN, CreatedDate: new Date(NOW.getTime() - 3600_000), VersionStages: ['AWSPENDING'] }],
  });
  smMock.on(GetSecretValueCommand).rejects(Object.assign(new Error('marked for deletion'), { name: 'InvalidRequestException' }));
  smMock.on(RotateSecretCommand).resolves({});
  smMock.on(UpdateSecretVersionStageCommand).resolves({});
}

describe('watchdog on a secret scheduled for deletion', () => {
  test('fails naming the secret, the date and restore-secret; neither rotates, clears a stage nor connects', async () => {
    arrangeDeletedSecret();

    await expect(runWatchdog({ now: () => NOW })).rejects.toThrow(
      `watchdog: secret ${SECRET_ARN} is scheduled for deletion (since ${DELETED.toISOString()}): ` +
        'no rotation was started and no stage was changed. ' +
        `Restore it with 'aws secretsmanager restore-secret --secret-id ${SECRET_ARN}'`,
    );

    expect(smMock).toHaveReceivedCommandTimes(DescribeSecretCommand, 1);
    expect(smMock).not.toHaveReceivedCommand(RotateSecretCommand);
    expect(smMock).not.toHaveReceivedCommand(UpdateSecretVersionStageCommand);
    expect(smMock).not.toHaveReceivedCommand(ListSecretVersionIdsCommand);
    expect(smMock).not.toHaveReceivedCommand(GetSecretValueCommand);
    expect(checkConnectionMock).not.toHaveBeenCalled();
  });

  test('does not look healthy: TokenCheckFailed = 1 and no rotation started, and an ERROR line with the date', async () => {
    arrangeDeletedSecret();

    await expect(runWatchdog({ now: () => NOW })).rejects.toThrow('scheduled for deletion');

    const lines = printed();
    const metrics = lines.filter((l) => '_aws' in l);
    expect(metrics).toHaveLength(1);
    expect(metrics[0]).toMatchObject({
      Secret: DIMENSION,
      [MetricName.TOKEN_CHECK_FAILED]: 1,
      [MetricName.WATCHDOG_ROTATION_STARTED]: 0,
    });
    // No time left is unknown, not zero: a TokenSecondsLeft of 0 would read as an expired token.
    expect(metrics[0]).not.toHaveProperty(MetricName.TOKEN_SECONDS_LEFT);
    expect(lines.find((l) => l.message === 'watchdog: the secret is scheduled for deletion')).toMatchObject({
      level: 'ERROR',
      secretArn: SECRET_ARN,
      deletedDate: DELETED.toISOString(),
    });
    expect(lines.some((l) => l.message === 'watchdog: decision')).toBe(false);
  });
});
