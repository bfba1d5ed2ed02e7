import 'aws-sdk-client-mock-jest';
import { ECSClient, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { IAMClient } from '@aws-sdk/client-iam';
import { SSMClient, GetParametersCommand } from '@aws-sdk/client-ssm';
import { DsqlSigner } from '@aws-sdk/dsql-signer';
import { mockClient } from 'aws-sdk-client-mock';
import { DsqlUrlSecretValue } from '../../lib/contract';
import * as connectionCheck from '../../functions/connection-check';
import { handler } from '../../functions/rotation-handler';
import { redact } from '../../core/redact';
import { log } from '../../functions/log';
import { buildSecretValue } from '../../functions/token';
import { awsError, FAKE_CREDENTIALS, HOST, REGION, SECRET_ARN, serviceArn, TOKEN } from './fixtures';
import { accessKeySignerConfig, config, handlerEnv, setEnv } from './fixtures-config';
import { boundServices, FakeEcs } from './fixtures-ecs';
import { FakeIam } from './fixtures-iam';
import { FakeSecretsManager, placeholderValue } from './fixtures-secrets-manager';

async function realToken(username = 'admin'): Promise<string> {
  const signer = new DsqlSigner({ hostname: HOST, region: REGION, expiresIn: 3600, credentials: FAKE_CREDENTIALS });
  return username === 'admin' ? signer.getDbConnectAdminAuthToken() : signer.getDbConnectAuthToken();
}

function capturedLines(spy: jest.SpyInstance): string[] {
  return spy.mock.calls.map((args) => args.map(String).join(' '));
}

/** The secrets that must never appear in a log line. */
function secretsOf(value: DsqlUrlSecretValue): string[] {
  return [
    value.password,
    encodeURIComponent(value.password),
    value.url,
    FAKE_CREDENTIALS.secretAccessKey,
    FAKE_CREDENTIALS.sessionToken,
    encodeURIComponent(FAKE_CREDENTIALS.sessionToken),
    new URL(`https://${value.password}`).searchParams.get('X-Amz-Signature')!,
  ];
}

describe('redact', () => {
  test('removes a real DsqlSigner token, raw or percent-encoded, from free text', async () => {
    const token = await realToken();
    const signature = new URL(`https://${token}`).searchParams.get('X-Amz-Signature')!;

    for (const form of [token, encodeURIComponent(token)]) {
      const out = redact(`connect failed for token ${form} at ${HOST}`);
      expect(out).toBe(`connect failed for token *** at ${HOST}`);
      expect(out).not.toContain(signature);
    }
  });

  test('removes the password of a postgres URL and keeps the rest of it', async () => {
    const { url } = buildSecretValue(config(), await realToken(), new Date(), new Date());

    const out = redact(`could not use ${url}`);

    expect(out).toBe(`could not use postgres://admin:***@${HOST}:5432/postgres?sslmode=require`);
  });

  test.each(['postgres', 'postgresql'])('removes a plain password in a %s:// URL', (scheme) => {
    expect(redact(`${scheme}://app_user:s3cr3t!@db.example.com:5432/app`)).toBe(`${scheme}://app_user:***@db.example.com:5432/app`);
  });

  test('a token inside a JSON string is removed without breaking the JSON', async () => {
    const token = await realToken('app_user');

    const out = redact(JSON.stringify({ password: token, host: HOST }));

    expect(JSON.parse(out)).toEqual({ password: '***', host: HOST });
  });

  test.each(['AKIAIOSFODNN7EXAMPLE', 'ASIAXYZXYZXYZXYZ1234'])('keeps only the last 4 characters of an access key id (%s)', (id) => {
    const out = redact(`The Access Key with id ${id} cannot be found.`);

    expect(out).toBe(`The Access Key with id …${id.slice(-4)} cannot be found.`);
  });

  test('leaves text without secrets unchanged', () => {
    const text = `promoted ${TOKEN} of ${SECRET_ARN}; service ${serviceArn('main', 'web')}`;
    expect(redact(text)).toBe(text);
  });
});

describe('log', () => {
  let spy: jest.SpyInstance;
  beforeEach(() => {
    spy = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  });
  afterEach(() => spy.mockRestore());

  test('writes one JSON line per call with level, message, fields and time', () => {
    log.warn('service no longer exists, skipped', { service: 'arn:x', count: 2 });

    expect(spy).toHaveBeenCalledTimes(1);
    const line = JSON.parse(spy.mock.calls[0][0] as string);
    expect(line).toMatchObject({ level: 'WARN', message: 'service no longer exists, skipped', service: 'arn:x', count: 2 });
    expect(new Date(line.time).toISOString()).toBe(line.time);
  });

  test('redacts tokens that reach a field (e.g. a library error message)', async () => {
    const token = await realToken();

    log.error('could not force a new deployment', { detail: `Rejected: ${token}` });

    const [line] = capturedLines(spy);
    expect(line).not.toContain(token);
    expect(JSON.parse(line).detail).toBe('Rejected: ***');
  });

  test('every level goes to console.log as one line; keys Powertools reserves (service) and empty values are kept', () => {
    log.info('forced a new deployment', { service: 'arn:a', note: '' });
    log.error('could not force a new deployment', { service: 'arn:b' });

    const lines = capturedLines(spy);
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).not.toContain('\n');
    expect(JSON.parse(lines[0])).toEqual({
      level: 'INFO',
      message: 'forced a new deployment',
      service: 'arn:a',
      note: '',
      time: expect.any(String),
    });
    expect(JSON.parse(lines[1])).toMatchObject({ level: 'ERROR', message: 'could not force a new deployment', service: 'arn:b' });
  });

  test('redacts the message too', async () => {
    const token = await realToken();

    log.warn(`Rejected: ${token}`);

    expect(JSON.parse(capturedLines(spy)[0]).message).toBe('Rejected: ***');
  });
});

describe('log with a Lambda context and persistent keys (fresh module: both stay for the process)', () => {
  let spy: jest.SpyInstance;
  let restoreEnv: () => void = () => undefined;
  beforeEach(() => {
    spy = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  });
  afterEach(() => {
    spy.mockRestore();
    restoreEnv();
  });

  function freshLog(): typeof log {
    let fresh: typeof log | undefined;
    jest.isolateModules(() => {
      fresh = (jest.requireActual('../../functions/log') as typeof import('../../functions/log')).log;
    });
    return fresh!;
  }

  test("adds requestId and the persistent keys to every later line, redacted; the caller's fields win", async () => {
    const token = await realToken();
    const fresh = freshLog();
    fresh.addContext({
      awsRequestId: 'req-1',
      functionName: 'f',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:x',
      memoryLimitInMB: '128',
    } as never);
    fresh.appendPersistentKeys({ secretArn: SECRET_ARN, hint: `token ${token}`, versionId: 'persistent' });

    fresh.info('step started', { versionId: TOKEN });
    fresh.warn('step finished');

    const [first, second] = capturedLines(spy).map((l) => JSON.parse(l));
    expect(first).toEqual({
      level: 'INFO',
      message: 'step started',
      requestId: 'req-1',
      secretArn: SECRET_ARN,
      hint: 'token ***',
      versionId: TOKEN,
      time: expect.any(String),
    });
    expect(second).toMatchObject({ level: 'WARN', requestId: 'req-1', secretArn: SECRET_ARN, versionId: 'persistent' });
  });

  test('POWERTOOLS_DEV does not turn lines into pretty-printed JSON on another stream', () => {
    restoreEnv = setEnv({ POWERTOOLS_DEV: 'true' });
    const fresh = freshLog();

    fresh.error('could not force a new deployment', { service: 'arn:x' });

    expect(spy).toHaveBeenCalledTimes(1);
    expect(String(spy.mock.calls[0][0])).toMatch(
      /^\{"level":"ERROR","message":"could not force a new deployment","service":"arn:x","time":"[^"]+"\}$/,
    );
  });
});

describe('no secret reaches the logs during a full rotation', () => {
  const smMock = mockClient(SecretsManagerClient);
  const ecsMock = mockClient(ECSClient);
  const ssmMock = mockClient(SSMClient);
  const iamMock = mockClient(IAMClient);
  let restoreEnv: () => void;
  let spy: jest.SpyInstance;
  let checkConnectionSpy: jest.SpyInstance;

  beforeEach(() => {
    smMock.reset();
    ecsMock.reset();
    ssmMock.reset();
    iamMock.reset();
    // No Lambda function is bound: the bound-functions parameter does not exist.
    ssmMock.on(GetParametersCommand).resolves({ Parameters: [] });
    checkConnectionSpy = jest.spyOn(connectionCheck, 'checkConnection');
    restoreEnv = setEnv(handlerEnv());
    spy = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  });
  afterEach(() => {
    spy.mockRestore();
    checkConnectionSpy.mockRestore();
    restoreEnv();
  });
  afterAll(() => {
    smMock.restore();
    ecsMock.restore();
    ssmMock.restore();
    iamMock.restore();
  });

  test('a whole rotation with the access-key signer logs no key material, key id or token', async () => {
    // GIVEN the access-key signer, a user with no key yet, the placeholder as AWSCURRENT
    restoreEnv();
    restoreEnv = setEnv(handlerEnv(accessKeySignerConfig()));
    const sm = new FakeSecretsManager(JSON.stringify(placeholderValue()));
    sm.install(smMock);
    const iam = new FakeIam();
    iam.install(iamMock);
    boundServices(ssmMock, undefined);
    const event = (Step: string) => ({ Step, SecretId: SECRET_ARN, ClientRequestToken: TOKEN });
    checkConnectionSpy.mockResolvedValue(undefined);

    // WHEN
    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret']) await handler(event(step));

    // THEN
    expect(sm.stagesOf(TOKEN)).toContain('AWSCURRENT');
    const [key] = iam.created;
    const value = JSON.parse(sm.versions.get(TOKEN)!.value!) as DsqlUrlSecretValue;
    const lines = capturedLines(spy);
    expect(lines.some((l) => l.includes(`…${key.accessKeyId.slice(-4)}`))).toBe(true);
    for (const secret of [...secretsOf(value), key.accessKeyId, key.secretAccessKey, sm.keysValue!]) {
      for (const line of lines) expect(line).not.toContain(secret);
    }
  });

  test('createSecret, setSecret and finishSecret (with a failing service whose error echoes the URL) log no token or key', async () => {
    // GIVEN a rotation with two services, one of which fails with an error that echoes the new URL
    const sm = new FakeSecretsManager();
    sm.install(smMock);
    const A = serviceArn('main', 'a');
    const B = serviceArn('main', 'b');
    const ecs = new FakeEcs().add(A, B);
    const pendingUrl = () => (JSON.parse(sm.versions.get(TOKEN)!.value!) as DsqlUrlSecretValue).url;
    ecs.failUpdate = (arn) =>
      arn === B ? awsError('InvalidParameterException', `bad container environment: DATABASE_URL=${pendingUrl()}`) : undefined;
    ecs.install(ecsMock);
    boundServices(ssmMock, [A, B]);
    const event = (Step: string) => ({ Step, SecretId: SECRET_ARN, ClientRequestToken: TOKEN });

    // WHEN
    await handler(event('createSecret'));
    await handler(event('setSecret'));
    await expect(handler(event('finishSecret'))).rejects.toThrow(B);

    // THEN the steps ran and logged
    expect(smMock).toHaveReceivedCommandTimes(PutSecretValueCommand, 1);
    expect(ecsMock).toHaveReceivedCommandTimes(UpdateServiceCommand, 2);
    const lines = capturedLines(spy);
    expect(lines.length).toBeGreaterThanOrEqual(6);
    expect(lines.some((l) => l.includes('could not force a new deployment') && l.includes('postgres://admin:***@'))).toBe(true);
    // AND none of them holds a secret
    const value = JSON.parse(sm.versions.get(TOKEN)!.value!) as DsqlUrlSecretValue;
    for (const secret of secretsOf(value)) {
      for (const line of lines) expect(line).not.toContain(secret);
    }
  });
});
