/**
 * A secret scheduled for deletion (DeleteSecret with a recovery window) while it is in use, end to
 * end: the shipped rotation and watchdog bundles stop with the restore-secret fix, and change nothing:
 * no stage moves, no service is redeployed. The local stack refuses writes to a deleted secret as AWS
 * does (test/support/deleted-secret-guard.ts); these tests also check that the functions never try.
 * After RestoreSecret the next rotation works again.
 */
import { DeleteSecretCommand, RestoreSecretCommand } from '@aws-sdk/client-secrets-manager';
import { FunctionBundle, MetricName } from '../../lib/contract';
import { functionConfigEnv, LocalStack } from '../support/local-stack';
import { ROTATION_STEPS, RotationFailedError } from '../support/rotation-service';
import { pgSelectOne } from './clients';
import {
  abandonPending,
  captureOutput,
  changed,
  deploymentIds,
  findLeaks,
  logRecords,
  oncePerService,
  rotateWith,
  stagesOf,
  startStack,
  UpdateServiceRecorder,
} from './harness';

/** What each function may send to Secrets Manager while the secret is scheduled for deletion: DescribeSecret only. */
const WRITES = ['PutSecretValue', 'UpdateSecretVersionStage', 'TagResource', 'UntagResource', 'RotateSecret'];

describe('a secret scheduled for deletion (2 services)', () => {
  let stack: LocalStack;
  let output: ReturnType<typeof captureOutput>;
  let recorder: UpdateServiceRecorder;
  let firstVersion: string;
  /** The version of the rotation that was under way when the secret was deleted. */
  let pendingVersion: string;
  let stagesBefore: Record<string, string[]>;
  let deploymentsBefore: Map<string, string>;
  let writesBefore: Record<string, number>;
  const stepErrors = new Map<string, string>();
  const errorTexts: string[] = [];

  const writeCalls = () => Object.fromEntries(WRITES.map((op) => [op, stack.proxy.calls.get(op) ?? 0]));

  beforeAll(async () => {
    output = captureOutput();
    stack = await startStack({ services: 2 });
    recorder = new UpdateServiceRecorder(stack);
    firstVersion = (await stack.rotate()).versionId;
    recorder.reset();

    // A rotation starts; before its first step runs, someone deletes the secret with a recovery window.
    const rotation = rotateWith(
      stack,
      async ({ token }) => {
        pendingVersion = token;
        stagesBefore = await stagesOf(stack);
        deploymentsBefore = await deploymentIds(stack, stack.serviceArns);
        writesBefore = writeCalls();
        await stack.sm.send(new DeleteSecretCommand({ SecretId: stack.secretArn, RecoveryWindowInDays: 7 }));
        for (const step of ROTATION_STEPS) {
          await stack.invokeStep(step, token).then(
            () => stepErrors.set(step, '(succeeded)'),
            (err: Error) => stepErrors.set(step, err.message),
          );
        }
        throw new Error('every step was tried once');
      },
      1,
    );
    await expect(rotation).rejects.toBeInstanceOf(RotationFailedError);
    errorTexts.push(...stepErrors.values());
  }, 120_000);

  afterAll(async () => {
    output?.restore();
    await stack?.stop();
  });

  test.each(ROTATION_STEPS)('%s stops naming the secret, the deletion and restore-secret', (step) => {
    const message = stepErrors.get(step);
    expect(message).toContain(`Rotation step ${step}: secret ${stack.secretArn} is scheduled for deletion (since `);
    expect(message).toContain('nothing was written, promoted or redeployed');
    expect(message).toContain(`aws secretsmanager restore-secret --secret-id ${stack.secretArn}`);
  });

  test('no step wrote, moved a stage or redeployed a service', async () => {
    expect(writeCalls()).toEqual(writesBefore);
    expect(await stagesOf(stack)).toEqual(stagesBefore);
    expect(stagesBefore[pendingVersion]).toEqual(['AWSPENDING']);
    expect(changed(deploymentsBefore, await deploymentIds(stack, stack.serviceArns))).toEqual([]);
    expect(recorder.snapshot()).toEqual({});
  });

  test("finishSecret retried for the version already AWSCURRENT (a promoted rotation's redeploys) redeploys nothing", async () => {
    await expect(stack.invokeStep('finishSecret', firstVersion)).rejects.toThrow(
      `Rotation step finishSecret: secret ${stack.secretArn} is scheduled for deletion`,
    );
    expect(recorder.snapshot()).toEqual({});
    expect(writeCalls()).toEqual(writesBefore);
  });

  test('the watchdog fails with restore-secret, reports TokenCheckFailed = 1, and clears no stale pending version', async () => {
    const out = await stack.invokeFunction(
      FunctionBundle.WATCHDOG,
      { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} },
      {
        awsOnly: true,
        timeoutMs: 60_000,
        env: functionConfigEnv({
          secretArn: stack.secretArn,
          rotateBeforeExpirySeconds: 3600,
          // The pending version is seconds old, so a failed rotation: without the guard it would be cleared.
          stalePendingSeconds: 1,
          metricDimension: 'scheduled-deletion-test',
          connectTimeoutSeconds: 5,
          boundServicesParameter: stack.parameterName,
          boundServicesParameterCount: 1,
          boundServicesFingerprint: 'local-stack',
          boundFunctionsParameter: stack.functionsParameterName,
          boundFunctionsParameterCount: 1,
          rolloutAllowanceSeconds: 0,
          redeployConcurrency: 5,
        }),
      },
    );

    expect(out.ok).toBe(false);
    if (out.ok) return;
    errorTexts.push(out.error.message);
    expect(out.error.message).toContain(`watchdog: secret ${stack.secretArn} is scheduled for deletion`);
    expect(out.error.message).toContain(`aws secretsmanager restore-secret --secret-id ${stack.secretArn}`);
    const emf = logRecords([out.logs]).filter((r) => r._aws !== undefined);
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({ [MetricName.TOKEN_CHECK_FAILED]: 1, [MetricName.WATCHDOG_ROTATION_STARTED]: 0 });
    expect(writeCalls()).toEqual(writesBefore);
    expect(await stagesOf(stack)).toEqual(stagesBefore);
  });

  test('after restore-secret (and clearing the interrupted rotation) the next rotation promotes and redeploys', async () => {
    await stack.sm.send(new RestoreSecretCommand({ SecretId: stack.secretArn }));
    await abandonPending(stack, pendingVersion);
    recorder.reset();

    const result = await stack.rotate();

    expect((await stagesOf(stack))[result.versionId]).toContain('AWSCURRENT');
    expect(recorder.snapshot()).toEqual(oncePerService(stack.serviceArns));
    const current = await stack.readStage('AWSCURRENT');
    expect(await pgSelectOne(current.url, stack.endpoint.caFile)).toBe(1);
  });

  test("no secret in the handler logs, the errors or this process's output", async () => {
    const { leaks } = await findLeaks({
      stack,
      texts: { 'test process output': output.text(), 'error messages': errorTexts.join('\n') },
      secretAccessKeys: [stack.signer.secretAccessKey],
    });
    expect(errorTexts.length).toBeGreaterThanOrEqual(5);
    expect(leaks).toEqual([]);
  });
});
