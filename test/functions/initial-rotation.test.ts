import 'aws-sdk-client-mock-jest';
import { createServer, IncomingMessage, Server } from 'http';
import { AddressInfo } from 'net';
import { DSQLClient, GetClusterCommand } from '@aws-sdk/client-dsql';
import { DeleteAccessKeyCommand, IAMClient, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import {
  CancelRotateSecretCommand,
  DescribeSecretCommand,
  DescribeSecretCommandOutput,
  GetSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { FUNCTION_CONFIG_ENV } from '../../lib/contract';
import { handler as initialRotationHandler } from '../../functions/entry/initial-rotation';
import { CustomResourceEvent, CustomResourceResponse, sendResponse } from '../../functions/cfn-response';
import { InitialRotationOptions, runInitialRotation } from '../../functions/initial-rotation';
import { awsError, OLD_VERSION, SECRET_ARN, SIGNER_USER, TOKEN } from './fixtures';
import { configEnv, initialRotationConfig, ROTATION_LOG_GROUP, setEnv } from './fixtures-config';
import { customResourceProperties } from './fixtures-custom-resource';
import { FakeIam, newFakeAccessKey } from './fixtures-iam';
import { placeholderValue } from './fixtures-secrets-manager';
import { valueSignedWith } from './fixtures-tokens';

const smMock = mockClient(SecretsManagerClient);
const iamMock = mockClient(IAMClient);
const dsqlMock = mockClient(DSQLClient);

const ROTATION_FUNCTION_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:app-DbUrlRotationFunction-AbC123';
const STACK_ID = 'arn:aws:cloudformation:us-east-1:123456789012:stack/app/1a2b3c4d';

/** A local stand-in for CloudFormation's presigned S3 response URL. */
interface Received {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: CustomResourceResponse;
}
let server: Server;
let received: Received[];
let failNextResponses = 0;
let baseUrl: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => {
      data += c;
    });
    req.on('end', () => {
      if (failNextResponses > 0) {
        failNextResponses--;
        res.writeHead(500).end();
        return;
      }
      received.push({ method: req.method!, path: req.url!, headers: req.headers, body: JSON.parse(data) as CustomResourceResponse });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  smMock.restore();
  iamMock.restore();
  dsqlMock.restore();
});

let restoreEnv: () => void;
let logSpy: jest.SpyInstance;
beforeEach(() => {
  smMock.reset();
  iamMock.reset();
  dsqlMock.reset();
  // The cluster accepts connections (first-rotation.test.ts covers the others).
  dsqlMock.on(GetClusterCommand).resolves({ status: 'ACTIVE' });
  received = [];
  failNextResponses = 0;
  restoreEnv = setEnv(configEnv(initialRotationConfig({ timeoutSeconds: 60 })));
  logSpy = jest.spyOn(console, 'log').mockImplementation(() => undefined);
});
afterEach(() => {
  restoreEnv();
  jest.restoreAllMocks();
});

function event(RequestType: CustomResourceEvent['RequestType'], overrides: Partial<CustomResourceEvent> = {}): CustomResourceEvent {
  return {
    RequestType,
    ResponseURL: `${baseUrl}/cfn-response?X-Amz-Signature=presigned-s3-signature`,
    StackId: STACK_ID,
    RequestId: 'req-1',
    LogicalResourceId: 'DbUrlInitialRotation',
    ResourceType: 'Custom::DsqlUrlSecretInitialRotation',
    ResourceProperties: customResourceProperties(),
    ...(RequestType === 'Create' ? {} : { PhysicalResourceId: SECRET_ARN }),
    ...overrides,
  };
}

/** A fake clock that sleeping advances, so a 60 s timeout takes no time. */
function clock(): InitialRotationOptions & { sleeps: number[]; t: { now: number } } {
  const t = { now: Date.parse('2030-01-01T00:00:00Z') };
  const sleeps: number[] = [];
  return {
    t,
    sleeps,
    now: () => t.now,
    sleep: async (ms) => {
      sleeps.push(ms);
      t.now += ms;
    },
    pollIntervalMs: 5_000,
    responseRetryDelaysMs: [1, 1],
  };
}

function describeOutput(stages: Record<string, string[]>): DescribeSecretCommandOutput {
  return { $metadata: {}, ARN: SECRET_ARN, RotationEnabled: true, RotationLambdaARN: ROTATION_FUNCTION_ARN, VersionIdsToStages: stages };
}

const PLACEHOLDER_ONLY = { [OLD_VERSION]: ['AWSCURRENT'] };
const ROTATING = { [OLD_VERSION]: ['AWSCURRENT'], [TOKEN]: ['AWSPENDING'] };
const ROTATED = { [OLD_VERSION]: ['AWSPREVIOUS'], [TOKEN]: ['AWSCURRENT', 'AWSPENDING'] };

/**
 * The secret starts with the placeholder; after `rotateAfterPolls` DescribeSecret
 * calls following RotateSecret the rotation has completed.
 */
async function arrangeRotation(options: { alreadyRunning?: boolean; completesAfterPolls?: number } = {}) {
  const rotated = await valueSignedWith(newFakeAccessKey());
  let state: 'placeholder' | 'rotating' | 'rotated' = options.alreadyRunning ? 'rotating' : 'placeholder';
  let polls = 0;
  smMock.on(GetSecretValueCommand, { SecretId: SECRET_ARN, VersionStage: 'AWSCURRENT' }).callsFake(() => ({
    SecretString: JSON.stringify(state === 'rotated' ? rotated : placeholderValue()),
  }));
  smMock.on(DescribeSecretCommand).callsFake(() => {
    if (state === 'rotating' && options.completesAfterPolls !== undefined && ++polls > options.completesAfterPolls) state = 'rotated';
    return describeOutput(state === 'placeholder' ? PLACEHOLDER_ONLY : state === 'rotating' ? ROTATING : ROTATED);
  });
  smMock.on(RotateSecretCommand).callsFake(() => {
    if (state !== 'placeholder')
      throw awsError('InvalidRequestException', "A previous rotation isn't complete. That rotation will be reattempted.");
    state = 'rotating';
    return { ARN: SECRET_ARN, VersionId: TOKEN };
  });
}

function theResponse(): Received {
  expect(received).toHaveLength(1);
  return received[0];
}

describe('initial rotation custom resource', () => {
  test('Create when the secret already holds a URL: SUCCESS at once, no rotation', async () => {
    smMock.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(await valueSignedWith(newFakeAccessKey())) });

    const out = await runInitialRotation(event('Create'), undefined, clock());

    expect(out.Status).toBe('SUCCESS');
    expect(smMock).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: SECRET_ARN, VersionStage: 'AWSCURRENT' });
    expect(smMock).not.toHaveReceivedCommand(RotateSecretCommand);
    const r = theResponse();
    expect(r.method).toBe('PUT');
    expect(r.path).toBe('/cfn-response?X-Amz-Signature=presigned-s3-signature');
    expect(r.headers['content-type']).toBe('');
    expect(r.body).toEqual({
      Status: 'SUCCESS',
      Reason: `The secret ${SECRET_ARN} already holds a URL; nothing to do`,
      PhysicalResourceId: SECRET_ARN,
      StackId: STACK_ID,
      RequestId: 'req-1',
      LogicalResourceId: 'DbUrlInitialRotation',
    });
  });

  test('Update when the secret already holds a URL: SUCCESS, same physical id, nothing rotated', async () => {
    smMock.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(await valueSignedWith(newFakeAccessKey())) });

    await runInitialRotation(event('Update', { PhysicalResourceId: 'the-id-given-at-create' }), undefined, clock());

    expect(theResponse().body).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: 'the-id-given-at-create' });
    expect(smMock).not.toHaveReceivedCommand(RotateSecretCommand);
  });

  test('Create with the placeholder: starts the rotation and waits until a version with a URL is AWSCURRENT', async () => {
    await arrangeRotation({ completesAfterPolls: 3 });
    const c = clock();

    const out = await runInitialRotation(event('Create'), undefined, c);

    expect(out.Status).toBe('SUCCESS');
    expect(out.Reason).toBe(`The first rotation of ${SECRET_ARN} completed: version ${TOKEN} is AWSCURRENT`);
    expect(smMock).toHaveReceivedCommandTimes(RotateSecretCommand, 1);
    expect(smMock.commandCalls(RotateSecretCommand)[0].args[0].input).toEqual({ SecretId: SECRET_ARN });
    expect(c.sleeps).toEqual([5_000, 5_000, 5_000, 5_000]);
    expect(theResponse().body).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: SECRET_ARN });
  });

  test('a rotation already in progress is waited for, not started again', async () => {
    await arrangeRotation({ alreadyRunning: true, completesAfterPolls: 2 });

    const out = await runInitialRotation(event('Create'), undefined, clock());

    expect(out.Status).toBe('SUCCESS');
    expect(smMock).not.toHaveReceivedCommand(RotateSecretCommand);
  });

  test('RotateSecret answering "in progress" (a race) is waited for too', async () => {
    await arrangeRotation({ completesAfterPolls: 1 });
    // DescribeSecret first says no rotation; RotateSecret then finds one.
    smMock
      .on(RotateSecretCommand)
      .rejects(awsError('InvalidRequestException', "A previous rotation isn't complete. That rotation will be reattempted."));
    let calls = 0;
    const rotated = await valueSignedWith(newFakeAccessKey());
    smMock.on(DescribeSecretCommand).callsFake(() => describeOutput(++calls === 1 ? PLACEHOLDER_ONLY : ROTATED));
    smMock.on(GetSecretValueCommand).callsFake(() => ({ SecretString: JSON.stringify(calls <= 1 ? placeholderValue() : rotated) }));

    const out = await runInitialRotation(event('Create'), undefined, clock());

    expect(out.Status).toBe('SUCCESS');
  });

  test('timeout: FAILED with a message naming the secret, the wait, the log group and the usual causes', async () => {
    await arrangeRotation(); // never completes
    const c = clock();

    const out = await runInitialRotation(event('Create'), undefined, c);

    expect(out.Status).toBe('FAILED');
    const reason = theResponse().body.Reason;
    expect(reason).toBe(out.Reason);
    expect(reason).toContain(`The first rotation of secret ${SECRET_ARN} did not complete within 60 s`);
    // The rotation function's own log group, from the configuration: not Lambda's default /aws/lambda/<name>.
    expect(reason).toContain(`The rotation function logs the step that failed and why in its CloudWatch log group ${ROTATION_LOG_GROUP}.`);
    expect(reason).not.toContain('/aws/lambda/');
    expect(reason).toContain('dsql:DbConnectAdmin');
    expect(reason).toContain('dsql:DbConnect ');
    expect(reason).toContain('network path');
    expect(reason).toContain("AWS IAM GRANT <role> TO '<signer IAM ARN>'");
    expect(c.t.now - Date.parse('2030-01-01T00:00:00Z')).toBe(60_000);
    expect(theResponse().body.PhysicalResourceId).toBe(SECRET_ARN);
    expect(reason.length).toBeLessThan(2_000);
  });

  test("the construct's timeoutSeconds, 600 s, is the wait; the invocation's remaining time caps it", async () => {
    restoreEnv();
    restoreEnv = setEnv(configEnv(initialRotationConfig({ timeoutSeconds: 600 })));
    await arrangeRotation();

    const uncapped = clock();
    await runInitialRotation(event('Create'), undefined, uncapped);
    expect(uncapped.t.now - Date.parse('2030-01-01T00:00:00Z')).toBe(600_000);

    // 115 s left in the invocation: 15 s are kept to answer CloudFormation.
    const capped = clock();
    await runInitialRotation(event('Create'), { getRemainingTimeInMillis: () => 115_000 }, capped);
    expect(capped.t.now - Date.parse('2030-01-01T00:00:00Z')).toBe(100_000);
    expect(received[1].body.Reason).toContain('did not complete within 100 s');
  });

  test('a secret without a rotation function ARN still gets the configured log group', async () => {
    await arrangeRotation();
    smMock.on(DescribeSecretCommand).resolves({ ...describeOutput(PLACEHOLDER_ONLY), RotationLambdaARN: undefined });

    const out = await runInitialRotation(event('Create'), undefined, clock());

    expect(out.Reason).toContain(`in its CloudWatch log group ${ROTATION_LOG_GROUP}.`);
  });

  test('RotateSecret failing for another reason: FAILED with its message', async () => {
    await arrangeRotation();
    smMock.on(RotateSecretCommand).rejects(awsError('AccessDeniedException', 'not authorized to perform: lambda:InvokeFunction'));

    const out = await runInitialRotation(event('Create'), undefined, clock());

    expect(out.Status).toBe('FAILED');
    expect(theResponse().body.Reason).toBe(
      `Could not start the first rotation of secret ${SECRET_ARN}: AccessDeniedException: not authorized to perform: lambda:InvokeFunction`,
    );
  });

  test('any error is answered FAILED (never a silent throw)', async () => {
    smMock.on(GetSecretValueCommand).rejects(awsError('AccessDeniedException', 'not authorized to perform secretsmanager:GetSecretValue'));

    const out = await runInitialRotation(event('Create'), undefined, clock());

    expect(out.Status).toBe('FAILED');
    expect(theResponse().body.Reason).toContain('secretsmanager:GetSecretValue');
  });

  test('a missing secretArn is answered FAILED with the logical id as physical id', async () => {
    restoreEnv();
    const { secretArn: _omitted, ...rest } = initialRotationConfig();
    restoreEnv = setEnv(configEnv(rest));

    await runInitialRotation(event('Create'), undefined, clock());

    expect(theResponse().body).toMatchObject({ Status: 'FAILED', PhysicalResourceId: 'DbUrlInitialRotation' });
    expect(theResponse().body.Reason).toContain(`${FUNCTION_CONFIG_ENV}.secretArn is missing`);
  });

  test.each(['Create', 'Delete'] as const)(
    '%s without a config is answered FAILED, naming the variable, touching nothing',
    async (type) => {
      restoreEnv();
      restoreEnv = setEnv({ [FUNCTION_CONFIG_ENV]: undefined });

      const out = await runInitialRotation(event(type), undefined, clock());

      expect(out).toMatchObject({ Status: 'FAILED', PhysicalResourceId: type === 'Create' ? 'DbUrlInitialRotation' : SECRET_ARN });
      expect(out.Reason).toContain(`Environment variable ${FUNCTION_CONFIG_ENV} is not set`);
      expect(theResponse().body.Status).toBe('FAILED');
      expect(smMock).not.toHaveReceivedAnyCommand();
      expect(iamMock).not.toHaveReceivedAnyCommand();
    },
  );

  test('Delete: SUCCESS without touching the secret', async () => {
    const out = await runInitialRotation(event('Delete'), undefined, clock());

    expect(out).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: SECRET_ARN });
    expect(smMock).not.toHaveReceivedAnyCommand();
    expect(iamMock).not.toHaveReceivedAnyCommand();
    expect(theResponse().body.Status).toBe('SUCCESS');
  });

  test("Delete with the access-key signer: deletes the user's keys so that CloudFormation can delete the user", async () => {
    restoreEnv();
    restoreEnv = setEnv(configEnv(initialRotationConfig({ signerUserName: SIGNER_USER })));
    const k1 = newFakeAccessKey();
    const k2 = newFakeAccessKey();
    const iam = new FakeIam().add(k1, k2);
    iam.install(iamMock);

    const out = await runInitialRotation(event('Delete'), undefined, clock());

    expect(out.Status).toBe('SUCCESS');
    expect(iam.keys.size).toBe(0);
    expect(iamMock).toHaveReceivedCommandWith(ListAccessKeysCommand, { UserName: SIGNER_USER });
    expect(iamMock).toHaveReceivedCommandTimes(DeleteAccessKeyCommand, 2);
    // Rotation is stopped first, so that no rotation creates a key after the listing (signer-keys-cleanup.test.ts).
    expect(smMock).toHaveReceivedCommandWith(CancelRotateSecretCommand, { SecretId: SECRET_ARN });
    for (const line of logSpy.mock.calls.map((a) => String(a[0]))) {
      expect(line).not.toContain(k1.accessKeyId);
      expect(line).not.toContain(k1.secretAccessKey);
    }
  });

  test('Delete when the signer user is already gone: SUCCESS', async () => {
    restoreEnv();
    restoreEnv = setEnv(configEnv(initialRotationConfig({ signerUserName: 'gone-user' })));
    new FakeIam().install(iamMock);

    const out = await runInitialRotation(event('Delete'), undefined, clock());

    expect(out.Status).toBe('SUCCESS');
  });

  test('Delete that cannot remove a key: FAILED, telling what to do by hand, key shown by its last 4 characters', async () => {
    restoreEnv();
    restoreEnv = setEnv(configEnv(initialRotationConfig({ signerUserName: SIGNER_USER })));
    const k1 = newFakeAccessKey();
    const iam = new FakeIam().add(k1);
    iam.failDelete = () => awsError('AccessDenied', 'denied');
    iam.install(iamMock);

    const out = await runInitialRotation(event('Delete'), undefined, clock());

    expect(out.Status).toBe('FAILED');
    expect(out.Reason).toContain(`Could not delete access key …${k1.accessKeyId.slice(-4)} of the signer user ${SIGNER_USER}`);
    expect(out.Reason).toContain('aws iam delete-access-key');
    expect(out.Reason).not.toContain(k1.accessKeyId);
  });

  test('the response PUT is retried when the endpoint fails', async () => {
    failNextResponses = 2;

    await runInitialRotation(event('Delete'), undefined, clock());

    expect(theResponse().body.Status).toBe('SUCCESS');
  });

  test('if the response can never be sent, the invocation fails (Lambda retries the asynchronous event)', async () => {
    failNextResponses = 10;

    await expect(runInitialRotation(event('Delete'), undefined, clock())).rejects.toThrow('HTTP 500');
    expect(logSpy.mock.calls.map((a) => String(a[0])).some((l) => l.includes('could not send the response'))).toBe(true);
    // The presigned URL's signature never reaches the logs.
    for (const line of logSpy.mock.calls.map((a) => String(a[0]))) expect(line).not.toContain('presigned-s3-signature');
  });

  test('initialRotationHandler is exported by the bundle entry', async () => {
    smMock.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(await valueSignedWith(newFakeAccessKey())) });

    await initialRotationHandler(event('Create'));

    expect(theResponse().body.Status).toBe('SUCCESS');
  });
});

describe('sendResponse', () => {
  const body: CustomResourceResponse = {
    Status: 'SUCCESS',
    Reason: 'ok',
    PhysicalResourceId: 'p',
    StackId: 's',
    RequestId: 'r',
    LogicalResourceId: 'l',
  };

  test.each(['http://example.com/response', 'http://10.0.0.1/response', 'ftp://127.0.0.1/response'])(
    'refuses %s: https only, except a local http endpoint for tests',
    async (url) => {
      await expect(sendResponse(url, body, [], async () => undefined)).rejects.toThrow('ResponseURL must be https');
    },
  );

  test('PUTs the JSON body with an empty content type and its length', async () => {
    await sendResponse(`${baseUrl}/x`, body, [], async () => undefined);

    const r = theResponse();
    expect(r.headers['content-type']).toBe('');
    expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(JSON.stringify(body)));
    expect(r.body).toEqual(body);
  });
});
