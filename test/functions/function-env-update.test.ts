/**
 * Writing the value into one bound function (functions/function-env-update.ts)
 * against a stateful fake of Lambda (fixtures-lambda.ts).
 */
import 'aws-sdk-client-mock-jest';
import {
  GetFunctionConfigurationCommand,
  LambdaClient,
  PublishVersionCommand,
  UpdateAliasCommand,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { ENVIRONMENT_LIMIT_BYTES, fingerprint, updateFunctionEnvironment } from '../../functions/function-env-update';
import { BoundFunctionEntry } from '../../lib/contract';
import { recordingRetry, REGION } from './fixtures';
import { FakeLambda, functionArn } from './fixtures-lambda';

const lambdaMock = mockClient(LambdaClient);
const lambda = new LambdaClient({ region: REGION });
const ARN = functionArn('api');
const TOKEN = 'dsql-host/?Action=DbConnectAdmin&X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=abc123';
const URL = `postgres://admin:${encodeURIComponent(TOKEN)}@dsql-host:5432/postgres?sslmode=require`;
const OLD_URL = 'postgres://admin:old-token@dsql-host:5432/postgres?sslmode=require';

let fake: FakeLambda;
let lines: string[];
let sleeps: number[];

function entry(overrides: Partial<BoundFunctionEntry> = {}): BoundFunctionEntry {
  return { functionArn: ARN, variable: 'DATABASE_URL', field: 'url', alias: null, ...overrides };
}

const options = () => ({
  retry: recordingRetry(),
  sleep: async (ms: number) => {
    sleeps.push(ms);
  },
});
const writes = () => lambdaMock.commandCalls(UpdateFunctionConfigurationCommand).map((c) => c.args[0].input);

beforeEach(() => {
  lambdaMock.reset();
  fake = new FakeLambda();
  fake.install(lambdaMock);
  lines = [];
  sleeps = [];
  jest.spyOn(console, 'log').mockImplementation((line: string) => {
    lines.push(line);
  });
});

afterEach(() => jest.restoreAllMocks());

describe('updateFunctionEnvironment', () => {
  test('writes the whole map with the variable replaced and the revision read, then waits until Lambda applied it', async () => {
    fake.add(ARN, { DATABASE_URL: OLD_URL, LOG_LEVEL: 'debug' });
    const revision = fake.functions.get(ARN)!.revision;

    const result = await updateFunctionEnvironment(lambda, entry(), URL, options());

    expect(result).toMatchObject({ updated: true, aliasMoved: false, repeatedPasses: 0 });
    expect(writes()).toEqual([
      { FunctionName: ARN, Environment: { Variables: { DATABASE_URL: URL, LOG_LEVEL: 'debug' } }, RevisionId: revision },
    ]);
    expect(fake.variablesOf(ARN)).toEqual({ DATABASE_URL: URL, LOG_LEVEL: 'debug' });
    // One read before, then the two InProgress reads and the Successful one.
    expect(lambdaMock).toHaveReceivedCommandTimes(GetFunctionConfigurationCommand, 4);
    expect(sleeps).toEqual([1000, 1500]);
  });

  test('already holds the value (a retried finishSecret): nothing is written', async () => {
    fake.add(ARN, { DATABASE_URL: URL });

    const result = await updateFunctionEnvironment(lambda, entry(), URL, options());

    expect(result).toMatchObject({ updated: false, aliasMoved: false });
    expect(writes()).toEqual([]);
  });

  test('a concurrent change between read and write is kept: PreconditionFailed, read again, write on top of it', async () => {
    fake.add(ARN, { DATABASE_URL: OLD_URL, FEATURE: 'off' });
    let first = true;
    fake.beforeUpdate = () => {
      if (!first) return;
      first = false;
      fake.changeOutOfBand(ARN, { FEATURE: 'on', ADDED: 'by-a-deploy' });
    };

    const result = await updateFunctionEnvironment(lambda, entry(), URL, options());

    expect(result).toMatchObject({ updated: true, repeatedPasses: 1 });
    expect(writes()).toHaveLength(2);
    expect(writes()[1].Environment?.Variables).toEqual({ DATABASE_URL: URL, FEATURE: 'on', ADDED: 'by-a-deploy' });
    expect(fake.variablesOf(ARN)).toEqual({ DATABASE_URL: URL, FEATURE: 'on', ADDED: 'by-a-deploy' });
  });

  test('an update in progress: waits for it before writing; ResourceConflictException: waits and writes again', async () => {
    fake.add(ARN, { DATABASE_URL: OLD_URL });
    fake.functions.get(ARN)!.inProgressReads = 1;
    fake.conflicts = 1;

    const result = await updateFunctionEnvironment(lambda, entry(), URL, options());

    expect(result).toMatchObject({ updated: true, repeatedPasses: 1 });
    // 1000: the update found in progress; 1000: after the conflict of the first pass; then the two reads of our own update.
    expect(sleeps).toEqual([1000, 1000, 1000, 1500]);
    expect(writes()).toHaveLength(2);
    expect(fake.variablesOf(ARN).DATABASE_URL).toBe(URL);
  });

  test('Lambda reports the update Failed: the error names the function and Lambda’s reason', async () => {
    fake.add(ARN, { DATABASE_URL: OLD_URL });
    fake.failNextUpdate = 'Lambda was unable to encrypt your environment variables because the KMS key is disabled';

    await expect(updateFunctionEnvironment(lambda, entry(), URL, options())).rejects.toThrow(
      'Lambda reports the update of api Failed (KMSKeyAccessDenied: Lambda was unable to encrypt your environment variables because the KMS key is disabled)',
    );
  });

  test('an update that stays in progress past the wait fails, naming the function', async () => {
    fake.add(ARN, { DATABASE_URL: OLD_URL });
    fake.readsPerUpdate = 1_000;
    let clock = 0;
    const sleep = async (ms: number) => {
      clock += ms;
    };

    const update = updateFunctionEnvironment(lambda, entry(), URL, { sleep, now: () => clock, settleTimeoutMs: 30_000 });

    await expect(update).rejects.toThrow('the update of api was still in progress after 30 s');
  });

  test('over the 4 KB limit: refused before any write, naming the function, the size and the limit', async () => {
    const large = 'x'.repeat(ENVIRONMENT_LIMIT_BYTES - URL.length - 20);
    fake.add(ARN, { DATABASE_URL: OLD_URL, LARGE: large });
    const size = Buffer.byteLength(JSON.stringify({ DATABASE_URL: URL, LARGE: large }));
    expect(size).toBeGreaterThan(ENVIRONMENT_LIMIT_BYTES);

    const update = updateFunctionEnvironment(lambda, entry(), URL, options());

    await expect(update).rejects.toThrow(
      `the environment variables of api would take ${size} bytes with the new value of DATABASE_URL (${URL.length} bytes), ` +
        `over Lambda's limit of ${ENVIRONMENT_LIMIT_BYTES} bytes`,
    );
    expect(writes()).toEqual([]);
    expect(fake.variablesOf(ARN).DATABASE_URL).toBe(OLD_URL);
  });

  test('exactly at the limit: written (Lambda counts the JSON of the variables)', async () => {
    const overhead = Buffer.byteLength(JSON.stringify({ DATABASE_URL: URL, LARGE: '' }));
    fake.add(ARN, { DATABASE_URL: OLD_URL, LARGE: 'x'.repeat(ENVIRONMENT_LIMIT_BYTES - overhead) });

    await expect(updateFunctionEnvironment(lambda, entry(), URL, options())).resolves.toMatchObject({ updated: true });
  });

  test('Lambda’s own 4 KB refusal quotes the variables: the error keeps none of them', async () => {
    fake.add(ARN, { DATABASE_URL: OLD_URL });
    // A value the check counts the same as Lambda but that Lambda refuses anyway (its rule is Lambda's to change).
    fake.beforeUpdate = (input) => {
      input.Environment!.Variables!.PAD = 'y'.repeat(ENVIRONMENT_LIMIT_BYTES);
    };

    const error = await updateFunctionEnvironment(lambda, entry(), URL, options()).catch((e: Error) => e);

    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain('api: Lambda was unable to configure your environment variables');
    expect((error as Error).message).not.toContain('String measured');
    expect((error as Error).message).not.toContain(encodeURIComponent(TOKEN));
  });

  test('variables Lambda cannot decrypt (customer-managed key): nothing is written, the error names kms:Decrypt', async () => {
    fake.add(ARN, { DATABASE_URL: OLD_URL, OTHER: 'kept' });
    fake.functions.get(ARN)!.environmentError = { ErrorCode: 'AccessDeniedException', Message: 'KMS access denied' };

    await expect(updateFunctionEnvironment(lambda, entry(), URL, options())).rejects.toThrow(
      /could not read the environment variables of api \(AccessDeniedException: KMS access denied\); nothing was written.*kms:Decrypt/,
    );
    expect(writes()).toEqual([]);
  });

  test('throttling is retried with backoff and counted', async () => {
    fake.add(ARN, { DATABASE_URL: OLD_URL });
    fake.throttles = 2;
    const retry = recordingRetry();

    const result = await updateFunctionEnvironment(lambda, entry(), URL, { retry, sleep: async () => undefined });

    expect(result.throttleRetries).toBe(2);
    expect(retry.sleeps).toEqual([50, 100]);
    expect(fake.variablesOf(ARN).DATABASE_URL).toBe(URL);
  });

  test('never logs the value: a fingerprint at most', async () => {
    fake.add(ARN, { DATABASE_URL: OLD_URL });

    await updateFunctionEnvironment(lambda, entry(), URL, options());

    const text = lines.join('\n');
    expect(text).toContain(fingerprint(URL));
    for (const secret of [URL, TOKEN, encodeURIComponent(TOKEN), 'X-Amz-Signature', OLD_URL]) expect(text).not.toContain(secret);
  });
});

describe('updateFunctionEnvironment with an alias', () => {
  test('publishes a version from the updated $LATEST (its revision) and points the alias at it', async () => {
    fake.add(ARN, { DATABASE_URL: OLD_URL });
    const v1 = fake.publish(ARN);
    fake.functions.get(ARN)!.aliases.set('live', { version: v1, revision: 'alias-rev-1' });

    const result = await updateFunctionEnvironment(lambda, entry({ alias: 'live' }), URL, options());

    expect(result).toMatchObject({ updated: true, aliasMoved: true, publishedVersion: '2' });
    const publish = lambdaMock.commandCalls(PublishVersionCommand)[0].args[0].input;
    expect(publish).toEqual({ FunctionName: ARN, RevisionId: fake.functions.get(ARN)!.revision });
    expect(lambdaMock).toHaveReceivedCommandWith(UpdateAliasCommand, {
      FunctionName: ARN,
      Name: 'live',
      FunctionVersion: '2',
      RevisionId: 'alias-rev-1',
    });
    expect(fake.variablesOf(ARN, fake.aliasVersion(ARN, 'live')).DATABASE_URL).toBe(URL);
    // The version the alias pointed to keeps what it was published with.
    expect(fake.variablesOf(ARN, v1).DATABASE_URL).toBe(OLD_URL);
  });

  test('the alias already points to a version that holds the value: neither published nor moved', async () => {
    fake.add(ARN, { DATABASE_URL: URL });
    const v1 = fake.publish(ARN);
    fake.functions.get(ARN)!.aliases.set('live', { version: v1, revision: 'r' });

    const result = await updateFunctionEnvironment(lambda, entry({ alias: 'live' }), URL, options());

    expect(result).toMatchObject({ updated: false, aliasMoved: false });
    expect(lambdaMock).not.toHaveReceivedCommand(PublishVersionCommand);
    expect(lambdaMock).not.toHaveReceivedCommand(UpdateAliasCommand);
  });

  test('$LATEST updated but the alias not moved yet (a failed attempt): the retry publishes and moves it only', async () => {
    fake.add(ARN, { DATABASE_URL: OLD_URL });
    const v1 = fake.publish(ARN);
    fake.functions.get(ARN)!.aliases.set('live', { version: v1, revision: 'r' });
    lambdaMock.on(UpdateAliasCommand).rejectsOnce(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    await expect(updateFunctionEnvironment(lambda, entry({ alias: 'live' }), URL, options())).rejects.toThrow('api: denied');
    fake.install(lambdaMock);
    lambdaMock.resetHistory();

    const retry = await updateFunctionEnvironment(lambda, entry({ alias: 'live' }), URL, options());

    expect(retry).toMatchObject({ updated: false, aliasMoved: true, publishedVersion: '2' });
    expect(writes()).toEqual([]);
    expect(fake.functions.get(ARN)!.versions).toHaveLength(2);
  });
});
