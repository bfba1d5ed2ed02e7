/**
 * The first-rotation custom resource on a stack update: a change of what
 * shapes the URL (its UrlSettings property) or of the signer rotates with the
 * new settings and waits for an AWSCURRENT that carries them; any other
 * update, a rollback included, rotates nothing.
 */
import 'aws-sdk-client-mock-jest';
import { createServer, Server } from 'http';
import { AddressInfo } from 'net';
import { DSQLClient, GetClusterCommand } from '@aws-sdk/client-dsql';
import { DescribeSecretCommand, GetSecretValueCommand, RotateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { connectionUrl, UrlSettings } from '../../core/url-settings';
import { UrlSettingsProperties } from '../../lib/configuration-change';
import { DsqlUrlSecretValue } from '../../lib/contract';
import { CustomResourceEvent, CustomResourceResponse } from '../../functions/cfn-response';
import { InitialRotationOptions, runInitialRotation } from '../../functions/initial-rotation';
import { awsError, OLD_VERSION, SECRET_ARN, TOKEN } from './fixtures';
import { config, configEnv, initialRotationConfig, setEnv } from './fixtures-config';
import { customResourceProperties, SIGNER_ARN } from './fixtures-custom-resource';
import { placeholderValue } from './fixtures-secrets-manager';
import { valueSignedWith } from './fixtures-tokens';
import { newFakeAccessKey } from './fixtures-iam';

const smMock = mockClient(SecretsManagerClient);
const dsqlMock = mockClient(DSQLClient);
const WATCHDOG_VERSION = '33333333-4444-4555-8666-777777777777';

let server: Server;
let received: CustomResourceResponse[];
let baseUrl: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      received.push(JSON.parse(data) as CustomResourceResponse);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  smMock.restore();
  dsqlMock.restore();
});

let restoreEnv: () => void;
let logSpy: jest.SpyInstance;
beforeEach(() => {
  smMock.reset();
  dsqlMock.reset();
  dsqlMock.on(GetClusterCommand).resolves({ status: 'ACTIVE' });
  received = [];
  restoreEnv = setEnv(configEnv(initialRotationConfig({ timeoutSeconds: 60 })));
  logSpy = jest.spyOn(console, 'log').mockImplementation(() => undefined);
});
afterEach(() => {
  restoreEnv();
  jest.restoreAllMocks();
});

type Props = Parameters<typeof customResourceProperties>[0];

function update(newProps: Props, oldProps: Props | Record<string, unknown>): CustomResourceEvent {
  const old = 'SecretArn' in (oldProps ?? {}) ? (oldProps as Record<string, unknown>) : customResourceProperties(oldProps as Props);
  return {
    RequestType: 'Update',
    ResponseURL: `${baseUrl}/cfn-response`,
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/app/1a2b3c4d',
    RequestId: 'req-1',
    LogicalResourceId: 'DbInitialRotation',
    PhysicalResourceId: SECRET_ARN,
    ResourceProperties: customResourceProperties(newProps),
    OldResourceProperties: old,
  };
}

function options(): InitialRotationOptions {
  let t = Date.parse('2030-01-01T00:00:00Z');
  return {
    sm: new SecretsManagerClient({ region: 'us-east-1' }),
    dsql: new DSQLClient({ region: 'us-east-1' }),
    now: () => t,
    sleep: async (ms) => {
      t += ms;
    },
    pollIntervalMs: 5_000,
    responseRetryDelaysMs: [1],
  };
}

function settingsOf(p: Partial<UrlSettingsProperties> = {}): UrlSettings {
  const c = { ...config(), ...(p.Database ? { database: p.Database } : {}), ...(p.Username ? { username: p.Username } : {}) };
  return { ...c, ...(p.UrlQuery !== undefined ? { urlQuery: p.UrlQuery } : {}), ...(p.Port ? { port: Number(p.Port) } : {}) };
}

/** A value signed like the rotation function does, made under `settings`. */
async function valueUnder(settings: UrlSettings): Promise<DsqlUrlSecretValue> {
  const base = await valueSignedWith(newFakeAccessKey());
  return {
    ...base,
    url: connectionUrl(settings, base.password),
    host: settings.host,
    port: settings.port,
    username: settings.username,
    dbname: settings.database,
  };
}

/**
 * OLD_VERSION is AWSCURRENT with `current`. RotateSecret stages TOKEN, which
 * becomes AWSCURRENT two polls later holding a value minted under
 * `rotatesWith` (the rotation function's configuration). With `watchdogFirst`,
 * a rotation under `watchdogFirst` settings is in progress when the update
 * starts (WATCHDOG_VERSION) and completes at the first poll.
 */
function arrange(
  current: DsqlUrlSecretValue | Record<string, string>,
  rotatesWith: DsqlUrlSecretValue,
  watchdogFirst?: DsqlUrlSecretValue,
) {
  const values = new Map<string, unknown>([[OLD_VERSION, current]]);
  let stages: Record<string, string[]> = { [OLD_VERSION]: ['AWSCURRENT'] };
  let currentId = OLD_VERSION;
  let polls = 0;
  let completeAt: number | undefined;
  let pendingId: string | undefined;
  if (watchdogFirst) {
    values.set(WATCHDOG_VERSION, watchdogFirst);
    pendingId = WATCHDOG_VERSION;
    completeAt = 1;
  }
  const restage = () => {
    stages = { [currentId]: ['AWSCURRENT'], ...(pendingId ? { [pendingId]: ['AWSPENDING'] } : {}) };
  };
  restage();
  smMock.on(GetSecretValueCommand, { SecretId: SECRET_ARN, VersionStage: 'AWSCURRENT' }).callsFake(() => ({
    SecretString: JSON.stringify(values.get(currentId)),
  }));
  smMock.on(DescribeSecretCommand).callsFake(() => {
    polls++;
    if (pendingId !== undefined && completeAt !== undefined && polls > completeAt) {
      currentId = pendingId;
      pendingId = undefined;
      restage();
    }
    return { ARN: SECRET_ARN, RotationEnabled: true, VersionIdsToStages: stages };
  });
  smMock.on(RotateSecretCommand).callsFake(() => {
    if (pendingId !== undefined) throw awsError('InvalidRequestException', "A previous rotation isn't complete.");
    values.set(TOKEN, rotatesWith);
    pendingId = TOKEN;
    completeAt = polls + 2;
    restage();
    return { ARN: SECRET_ARN, VersionId: TOKEN };
  });
  return { current: () => ({ versionId: currentId, value: values.get(currentId) as DsqlUrlSecretValue }) };
}

function theResponse(): CustomResourceResponse {
  expect(received).toHaveLength(1);
  return received[0];
}

describe('Update of the first-rotation custom resource', () => {
  test.each<[string, Partial<UrlSettingsProperties>]>([
    ['database', { Database: 'orders' }],
    ['databaseRole', { Username: 'app_rw' }],
    ['urlParameters', { UrlQuery: 'sslmode=verify-full&uselibpqcompat=true' }],
    ['no urlParameters', { UrlQuery: '' }],
    ['port', { Port: '5433' }],
  ])('a change of %s rotates and waits for an AWSCURRENT with the new settings', async (_what, change) => {
    const s = arrange(await valueUnder(settingsOf()), await valueUnder(settingsOf(change)));

    const out = await runInitialRotation(update({ UrlSettings: change }, {}), undefined, options());

    expect(out.Status).toBe('SUCCESS');
    expect(smMock).toHaveReceivedCommandTimes(RotateSecretCommand, 1);
    expect(s.current().versionId).toBe(TOKEN);
    expect(s.current().value.url).toBe(connectionUrl(settingsOf(change), s.current().value.password));
    expect(theResponse()).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: SECRET_ARN });
    const changed = logSpy.mock.calls.map((a) => JSON.parse(String(a[0]))).find((r) => String(r.message).includes('configuration changed'));
    expect(changed).toBeDefined();
  });

  test('settings AWSCURRENT already carries (another property changed, or a rollback): nothing rotated', async () => {
    arrange(await valueUnder(settingsOf()), await valueUnder(settingsOf()));
    // A rollback: back from 'orders' to what AWSCURRENT still carries because the forward rotation failed.
    const out = await runInitialRotation(update({}, { UrlSettings: { Database: 'orders' } }), undefined, options());
    expect(out).toMatchObject({ Status: 'SUCCESS', Reason: `The secret ${SECRET_ARN} already holds a URL; nothing to do` });
    expect(smMock).not.toHaveReceivedCommand(RotateSecretCommand);
  });

  test('a change of signer rotates although the URL settings are the same', async () => {
    const s = arrange(await valueUnder(settingsOf()), await valueUnder(settingsOf()));
    const signerUser = 'arn:aws:iam::123456789012:user/app-DbSignerUser-XyZ';
    const out = await runInitialRotation(update({ SignerArn: signerUser }, { SignerArn: SIGNER_ARN }), undefined, options());
    expect(out.Status).toBe('SUCCESS');
    expect(smMock).toHaveReceivedCommandTimes(RotateSecretCommand, 1);
    expect(s.current().versionId).toBe(TOKEN);
  });

  test('a rotation that started before the change (the watchdog) completes with the old settings: rotated again', async () => {
    const s = arrange(await valueUnder(settingsOf()), await valueUnder(settingsOf({ Database: 'orders' })), await valueUnder(settingsOf()));

    const out = await runInitialRotation(update({ UrlSettings: { Database: 'orders' } }, {}), undefined, options());

    expect(out.Status).toBe('SUCCESS');
    expect(out.Reason).toContain(`version ${TOKEN} is AWSCURRENT`);
    expect(smMock).toHaveReceivedCommandTimes(RotateSecretCommand, 1);
    expect(s.current().value.dbname).toBe('orders');
    const warned = logSpy.mock.calls.map((a) => JSON.parse(String(a[0]))).find((r) => String(r.message).includes('without the configured'));
    expect(warned).toMatchObject({ level: 'WARN', versionId: WATCHDOG_VERSION, differs: 'dbname (database)' });
  });

  test('the upgrade from a template before UrlSettings: the placeholder CloudFormation just wrote is rotated away', async () => {
    const s = arrange(placeholderValue(), await valueUnder(settingsOf()));
    const out = await runInitialRotation(update({}, { SecretArn: SECRET_ARN }), undefined, options());
    expect(out.Status).toBe('SUCCESS');
    expect(s.current().versionId).toBe(TOKEN);
  });

  test('the upgrade when the value still carries the settings: nothing rotated (no SignerArn before is no signer change)', async () => {
    arrange(await valueUnder(settingsOf()), await valueUnder(settingsOf()));
    const out = await runInitialRotation(update({}, { SecretArn: SECRET_ARN }), undefined, options());
    expect(out.Status).toBe('SUCCESS');
    expect(smMock).not.toHaveReceivedCommand(RotateSecretCommand);
  });

  test('a rotation function that keeps minting the old settings: FAILED at the deadline, never SUCCESS', async () => {
    arrange(await valueUnder(settingsOf()), await valueUnder(settingsOf()));
    const out = await runInitialRotation(update({ UrlSettings: { Database: 'orders' } }, {}), undefined, options());
    expect(out.Status).toBe('FAILED');
    expect(out.Reason).toContain('did not complete within 60 s');
  });

  test.each<[string, Record<string, unknown>, RegExp]>([
    ['no UrlSettings', { SecretArn: SECRET_ARN, SignerArn: SIGNER_ARN }, /Property UrlSettings is missing/],
    ['no SignerArn', { ...customResourceProperties(), SignerArn: undefined }, /Property SignerArn is missing/],
    ['a bad port', customResourceProperties({ UrlSettings: { Port: 'x' } }), /Property UrlSettings.Port must be a port number/],
    ['an empty host', customResourceProperties({ UrlSettings: { Host: '' } }), /Property UrlSettings.Host must be a non-empty string/],
  ])('properties with %s: FAILED, naming the property, nothing rotated', async (_what, props, message) => {
    arrange(placeholderValue(), await valueUnder(settingsOf()));
    const out = await runInitialRotation({ ...update({}, {}), ResourceProperties: props }, undefined, options());
    expect(out.Status).toBe('FAILED');
    expect(out.Reason).toMatch(message);
    expect(smMock).not.toHaveReceivedCommand(RotateSecretCommand);
  });
});
