/**
 * Bound Lambda functions end to end, against moto's Lambda with the model of
 * AWS's revision ids, update status and 4 KB limit in front of it
 * (test/support/lambda-model.ts): the shipped rotation bundle writes the new
 * URL into each bound function (and moves an alias), a retried finishSecret
 * writes nothing again, a change made between its read and its write is kept,
 * the 4 KB limit is refused naming the function, and the shipped watchdog
 * bundle re-applies a stale value. No URL or token reaches any log.
 */
import { randomBytes } from 'crypto';
import { CreateRoleCommand } from '@aws-sdk/client-iam';
import {
  CreateAliasCommand,
  CreateFunctionCommand,
  GetAliasCommand,
  GetFunctionConfigurationCommand,
  LambdaClient,
  PublishVersionCommand,
} from '@aws-sdk/client-lambda';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { BoundFunctionEntry, FunctionBundle, WatchdogFunctionConfig } from '../../lib/contract';
import { attachLambdaModel, LambdaModel } from '../support/lambda-model';
import { functionConfigEnv, LocalStack } from '../support/local-stack';
import { RotationFailedError } from '../support/rotation-service';
import { captureOutput, findLeaks, logRecords, rotateWith, startStack } from './harness';

jest.setTimeout(120_000);

describe('bound Lambda functions (local stack)', () => {
  let stack: LocalStack;
  let model: LambdaModel;
  let lambda: LambdaClient;
  let output: ReturnType<typeof captureOutput>;
  let roleArn: string;
  const errors: string[] = [];

  beforeAll(async () => {
    output = captureOutput();
    stack = await startStack({ services: 1 });
    model = attachLambdaModel(stack.proxy, stack.moto);
    lambda = new LambdaClient(stack.moto.clientConfig());
    roleArn = (
      await stack.iam.send(new CreateRoleCommand({ RoleName: `app-fn-${randomBytes(3).toString('hex')}`, AssumeRolePolicyDocument: '{}' }))
    ).Role!.Arn!;
    await stack.rotate(); // the first rotation replaces the construct's placeholder value
  }, 90_000);

  afterAll(async () => {
    output?.restore();
    await stack?.stop();
  });

  beforeEach(() => {
    model.beforeUpdate = undefined;
    model.updatesForwarded.clear();
    model.preconditionFailures.clear();
    model.sizeRefusals.clear();
  });

  /** A function in moto (no code runs) with these variables; returns its unqualified ARN. */
  async function createFunction(variables: Record<string, string>): Promise<{ name: string; arn: string }> {
    const name = `app-fn-${randomBytes(4).toString('hex')}`;
    const out = await lambda.send(
      new CreateFunctionCommand({
        FunctionName: name,
        Runtime: 'nodejs22.x',
        Role: roleArn,
        Handler: 'index.handler',
        Code: { ZipFile: Buffer.from('PK\u0005\u0006' + '\u0000'.repeat(18), 'binary') },
        Environment: { Variables: variables },
      }),
    );
    return { name, arn: out.FunctionArn! };
  }

  async function bind(entries: BoundFunctionEntry[]): Promise<void> {
    await stack.ssm.send(
      new PutParameterCommand({ Name: stack.functionsParameterName, Type: 'String', Value: JSON.stringify(entries), Overwrite: true }),
    );
  }

  const binding = (arn: string, alias: string | null = null): BoundFunctionEntry => ({
    functionArn: arn,
    variable: 'DATABASE_URL',
    field: 'url',
    alias,
  });
  const variables = async (name: string, qualifier?: string) =>
    (await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name, Qualifier: qualifier }))).Environment?.Variables ?? {};
  const currentUrl = async () => (await stack.readStage('AWSCURRENT')).url;

  test('after a rotation each function holds the new URL, its other variables kept; an alias points to a new version holding it', async () => {
    const plain = await createFunction({ DATABASE_URL: 'postgres://placeholder', LOG_LEVEL: 'info' });
    const aliased = await createFunction({ DATABASE_URL: 'postgres://placeholder' });
    const v1 = (await lambda.send(new PublishVersionCommand({ FunctionName: aliased.name }))).Version!;
    await lambda.send(new CreateAliasCommand({ FunctionName: aliased.name, Name: 'live', FunctionVersion: v1 }));
    await bind([binding(plain.arn), binding(aliased.arn, 'live')]);

    const result = await stack.rotate();

    expect(result.failures).toEqual([]);
    const url = await currentUrl();
    expect(await variables(plain.name)).toEqual({ DATABASE_URL: url, LOG_LEVEL: 'info' });
    const alias = await lambda.send(new GetAliasCommand({ FunctionName: aliased.name, Name: 'live' }));
    expect(alias.FunctionVersion).not.toBe(v1);
    expect((await variables(aliased.name, alias.FunctionVersion)).DATABASE_URL).toBe(url);
    // The version published before keeps the environment it was published with.
    expect((await variables(aliased.name, v1)).DATABASE_URL).toBe('postgres://placeholder');
    expect(Object.fromEntries(model.updatesForwarded)).toEqual({ [plain.name]: 1, [aliased.name]: 1 });
  });

  test('a retried finishSecret (its answer lost) writes no function again', async () => {
    const fn = await createFunction({ DATABASE_URL: 'postgres://old' });
    await bind([binding(fn.arn)]);
    const logsAt = stack.handlerLogs.length;

    const result = await rotateWith(stack, async ({ step, attempt, real }) => {
      await real();
      if (step === 'finishSecret' && attempt === 1) throw new Error('the invocation timed out after its work was done');
    });

    expect(result.failures.map((f) => f.step)).toEqual(['finishSecret']);
    expect((await variables(fn.name)).DATABASE_URL).toBe(await currentUrl());
    expect(Object.fromEntries(model.updatesForwarded)).toEqual({ [fn.name]: 1 });
    const summaries = logRecords(stack.handlerLogs.slice(logsAt)).filter((r) => r.message === 'finishSecret: function update summary');
    expect(summaries).toEqual([
      expect.objectContaining({ functions: 1, updated: 1, alreadyCurrent: 0 }),
      expect.objectContaining({ functions: 1, updated: 0, alreadyCurrent: 1 }),
    ]);
  });

  test('a configuration change between the read and the write is kept: refused by its revision, read again, written on top', async () => {
    const fn = await createFunction({ DATABASE_URL: 'postgres://old', FEATURE: 'off' });
    await bind([binding(fn.arn)]);
    let changed = false;
    model.beforeUpdate = async (name) => {
      if (name !== fn.name || changed) return;
      changed = true;
      await model.changeOutOfBand(fn.name, { FEATURE: 'on', ADDED_BY_DEPLOY: 'yes' });
    };

    const result = await stack.rotate();

    expect(result.failures).toEqual([]);
    expect(model.preconditionFailures.get(fn.name)).toBe(1);
    expect(await variables(fn.name)).toEqual({ DATABASE_URL: await currentUrl(), FEATURE: 'on', ADDED_BY_DEPLOY: 'yes' });
  });

  test('over the 4 KB limit: refused before writing, naming the function and the size; the other function is updated', async () => {
    const large = await createFunction({ DATABASE_URL: 'postgres://old', BLOB: 'x'.repeat(3900) });
    const small = await createFunction({ DATABASE_URL: 'postgres://old' });
    await bind([binding(large.arn), binding(small.arn)]);

    const error = await stack.rotate({ maxAttempts: 1 }).then(
      () => undefined,
      (e: RotationFailedError) => e,
    );

    expect(error).toBeInstanceOf(RotationFailedError);
    const message = error!.failures[0].message;
    errors.push(message);
    expect(message).toMatch(
      new RegExp(
        `1 of 2 bound functions could not be updated: ${large.arn} \\(the environment variables of ${large.name} would take \\d+ bytes`,
      ),
    );
    expect(message).toContain("over Lambda's limit of 4096 bytes");
    expect((await variables(large.name)).DATABASE_URL).toBe('postgres://old');
    expect((await variables(small.name)).DATABASE_URL).toBe(await currentUrl());
    // Refused by the function itself, not by Lambda.
    expect(model.sizeRefusals.size).toBe(0);
    await bind([]); // let the later rotations succeed
  });

  test('the watchdog re-applies a stale value and reports StaleFunctions 0 afterwards', async () => {
    const fn = await createFunction({ DATABASE_URL: 'postgres://old', KEEP: '1' });
    await bind([binding(fn.arn)]);
    await stack.rotate();
    // Someone puts an old value back (a hand edit, a stale deploy).
    await model.changeOutOfBand(fn.name, { DATABASE_URL: 'postgres://admin:stale@host/postgres' });

    const config = {
      secretArn: stack.secretArn,
      rotateBeforeExpirySeconds: 60,
      stalePendingSeconds: 3600,
      metricDimension: 'function-consumers-test',
      connectTimeoutSeconds: 5,
      boundServicesParameter: stack.parameterName,
      boundServicesParameterCount: 1,
      // Names this deployment's list of bound services (the watchdog keeps the list it read under it).
      boundServicesFingerprint: `function-consumers-test-${Date.now()}`,
      boundFunctionsParameter: stack.functionsParameterName,
      boundFunctionsParameterCount: 1,
      rolloutAllowanceSeconds: 0,
      redeployConcurrency: 5,
    } as WatchdogFunctionConfig;
    const out = await stack.invokeFunction(FunctionBundle.WATCHDOG, {}, { env: functionConfigEnv(config), awsOnly: true });

    if (!out.ok) errors.push(out.error.message);
    expect(await variables(fn.name)).toEqual({ DATABASE_URL: await currentUrl(), KEEP: '1' });
    const records = logRecords([out.logs]);
    expect(records.find((r) => r.message === 'function check: summary')).toMatchObject({ functions: 1, reapplied: fn.name });
    expect(records.filter((r) => r.StaleFunctions !== undefined).map((r) => r.StaleFunctions)).toEqual([0]);
  });

  test('no URL, token or signature in any log or error', async () => {
    const { leaks, secretsChecked } = await findLeaks({
      stack,
      texts: { 'test output': output.text(), errors: errors.join('\n') },
      secretAccessKeys: [stack.signer.secretAccessKey],
    });
    expect(secretsChecked).toBeGreaterThan(4);
    expect(leaks).toEqual([]);
  });
});
