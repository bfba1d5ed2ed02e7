/**
 * Transient faults, end to end: each rotation step fails or times out once, ECS throttles or loses a
 * service. After the rotation service's retries AWSCURRENT must authenticate, no service may be
 * redeployed twice for one version, and no AWSPENDING may be left behind (the next rotation runs).
 * Refused tokens are in faults-refused-tokens.test.ts (split so the two run on separate jest workers).
 */
import { DEFAULT_RETRY } from '../../functions/retry';
import { LocalStack } from '../support/local-stack';
import { ROTATION_STEPS, RotationResult, RotationStep } from '../support/rotation-service';
import { pgSelectOne } from './clients';
import {
  Before,
  blockingPending,
  captureOutput,
  changed,
  createServiceLike,
  deleteService,
  deploymentIds,
  findLeaks,
  fingerprint,
  oncePerService,
  redeploySummaries,
  rotateWith,
  setBoundServices,
  snapshot,
  stagesOf,
  startStack,
  UpdateServiceRecorder,
} from './harness';

const sum = (m: Map<string, number>, key: string) => m.get(key) ?? 0;

describe('transient faults: a step fails or times out once, ECS throttles, a service disappears', () => {
  let stack: LocalStack;
  let output: ReturnType<typeof captureOutput>;
  let recorder: UpdateServiceRecorder;
  let live: string[];
  const errorTexts: string[] = [];

  beforeAll(async () => {
    output = captureOutput();
    stack = await startStack({ services: 3 });
    recorder = new UpdateServiceRecorder(stack);
    live = [...stack.serviceArns];
    await stack.rotate(); // the first rotation replaces the construct's placeholder value
  }, 60_000);

  afterAll(async () => {
    output?.restore();
    await stack?.stop();
  });

  /** Before a scenario: snapshot, and forget earlier UpdateService calls. */
  async function begin(): Promise<Before> {
    recorder.reset();
    return snapshot(stack, live);
  }

  /** After a scenario: promoted, authenticates, one deployment per live service, nothing pending. */
  async function expectRecovered(before: Before, result: RotationResult): Promise<void> {
    result.failures.forEach((f) => errorTexts.push(f.message));
    const stages = await stagesOf(stack);
    expect(stages[result.versionId]).toEqual(['AWSCURRENT']);
    expect(stages[before.currentVersion]).toEqual(['AWSPREVIOUS']);
    expect(blockingPending(stages)).toEqual([]);
    expect(Object.values(stages).flat()).not.toContain('AWSPENDING');
    const current = await stack.readStage('AWSCURRENT');
    // A newly minted value (not the token itself: two signed in the same second by the same key are identical).
    expect(Date.parse(current.issuedAt)).toBeGreaterThan(before.currentIssuedAt);
    await expect(pgSelectOne(current.url, stack.endpoint.caFile)).resolves.toBe(1);
    expect(changed(before.deployments, await deploymentIds(stack, live))).toEqual([...live].sort());
    expect(recorder.snapshot()).toEqual(oncePerService(live));
  }

  describe('(a) a step throws once', () => {
    const cases = ROTATION_STEPS.flatMap(
      (step) =>
        [
          [step, 'before'],
          [step, 'after'],
        ] as Array<[RotationStep, 'before' | 'after']>,
    );

    test.each(cases)('%s throws %s doing its work; the retry completes the rotation', async (failing, when) => {
      const before = await begin();
      let pendingAfterFirst: string | undefined;
      const result = await rotateWith(stack, async ({ step, attempt, real }) => {
        if (step !== failing || attempt !== 1) return real();
        if (when === 'after') {
          await real();
          if (step === 'createSecret') pendingAfterFirst = fingerprint((await stack.readStage('AWSPENDING')).password);
        }
        throw new Error(`injected: ${step} failed ${when} its work`);
      });
      expect(result.attempts).toBe(2);
      expect(result.failures).toEqual([{ attempt: 1, step: failing, message: `Error: injected: ${failing} failed ${when} its work` }]);
      await expectRecovered(before, result);

      const summaries = redeploySummaries(stack.handlerLogs.slice(before.logsAt));
      if (failing === 'finishSecret' && when === 'after') {
        // The retry found every service already deployed after the promotion recorded by attempt 1.
        expect(summaries).toEqual([
          expect.objectContaining({ redeployed: 3, alreadyCurrent: 0, failed: 0 }),
          expect.objectContaining({ redeployed: 0, alreadyCurrent: 3, failed: 0 }),
        ]);
      } else {
        expect(summaries).toEqual([expect.objectContaining({ redeployed: 3, alreadyCurrent: 0, failed: 0 })]);
      }
      if (pendingAfterFirst !== undefined) {
        // createSecret is idempotent: the retry kept the value attempt 1 stored instead of minting another.
        expect(fingerprint((await stack.readStage('AWSCURRENT')).password)).toBe(pendingAfterFirst);
      }
    });
  });

  describe('(b) a step times out (the child is killed like a Lambda timeout)', () => {
    test('finishSecret killed before it does anything: nothing changed, the retry promotes', async () => {
      const before = await begin();
      let observed: { calls: number; stages: Record<string, string[]> } | undefined;
      const result = await rotateWith(stack, async ({ step, token, attempt, real }) => {
        if (step !== 'finishSecret' || attempt !== 1) return real();
        const callsBefore = [...stack.proxy.calls.values()].reduce((a, b) => a + b, 0);
        const failure = await real({ timeoutMs: 30 }).then(
          () => undefined,
          (e: Error) => e,
        );
        observed = { calls: [...stack.proxy.calls.values()].reduce((a, b) => a + b, 0) - callsBefore, stages: await stagesOf(stack) };
        expect(observed.stages[token]).toEqual(['AWSPENDING']);
        throw failure ?? new Error('expected a timeout');
      });
      // Killed while Node was still loading the bundle: no AWS call, the old version still AWSCURRENT.
      expect(observed!.calls).toBe(0);
      expect(observed!.stages[before.currentVersion]).toEqual(['AWSCURRENT']);
      expect(result.attempts).toBe(2);
      expect(result.failures).toEqual([{ attempt: 1, step: 'finishSecret', message: 'TimeoutError: Task timed out after 0.03 seconds' }]);
      await expectRecovered(before, result);
    });

    test('finishSecret killed mid-redeploy (one UpdateService hangs): the retry redeploys only that service', async () => {
      const before = await begin();
      const hung = live[1];
      stack.proxy.inject({ operation: 'UpdateService', stall: true, count: 1, match: `${hung}"` });
      let afterKill: { stages: Record<string, string[]>; changed: string[] } | undefined;
      const result = await rotateWith(stack, async ({ step, attempt, real }) => {
        if (step !== 'finishSecret' || attempt !== 1) return real();
        const failure = await real({ timeoutMs: 4000 }).then(
          () => undefined,
          (e: Error) => e,
        );
        afterKill = { stages: await stagesOf(stack), changed: changed(before.deployments, await deploymentIds(stack, live)) };
        throw failure ?? new Error('expected a timeout');
      });
      // Killed after the promotion and after the other services' deployments.
      expect(afterKill!.stages[result.versionId]).toContain('AWSCURRENT');
      expect(afterKill!.changed).toEqual(live.filter((arn) => arn !== hung).sort());
      expect(result.failures).toEqual([{ attempt: 1, step: 'finishSecret', message: 'TimeoutError: Task timed out after 4.00 seconds' }]);
      expect(sum(stack.proxy.faulted, 'UpdateService')).toBeGreaterThanOrEqual(1);
      await expectRecovered(before, result);
      // The retry ran through the "already AWSCURRENT, completing redeploys" path.
      expect(redeploySummaries(stack.handlerLogs.slice(before.logsAt))).toEqual([
        expect.objectContaining({ redeployed: 1, alreadyCurrent: 2, failed: 0 }),
      ]);
    });
  });

  describe('(c) ECS throttles UpdateService', () => {
    test("a few ThrottlingExceptions are absorbed by the handler's jittered retry: first attempt succeeds", async () => {
      const before = await begin();
      const faultedBefore = sum(stack.proxy.faulted, 'UpdateService');
      stack.proxy.inject({ operation: 'UpdateService', errorType: 'ThrottlingException', count: 3 });
      const result = await stack.rotate();
      expect(result.attempts).toBe(1);
      expect(result.failures).toEqual([]);
      expect(sum(stack.proxy.faulted, 'UpdateService') - faultedBefore).toBe(3);
      expect(redeploySummaries(stack.handlerLogs.slice(before.logsAt))).toEqual([
        expect.objectContaining({ services: 3, redeployed: 3, failed: 0, throttleRetries: 3 }),
      ]);
      await expectRecovered(before, result);
    });

    test('one service throttled past the retry budget: finishSecret fails after trying all, the retry redeploys only it', async () => {
      const before = await begin();
      const faultedBefore = sum(stack.proxy.faulted, 'UpdateService');
      const throttled = live[2];
      // The handler tries each UpdateService DEFAULT_RETRY.maxAttempts times: all fail.
      const attempts = DEFAULT_RETRY.maxAttempts;
      stack.proxy.inject({ operation: 'UpdateService', errorType: 'ThrottlingException', count: attempts, match: `${throttled}"` });
      let afterFirst: { changed: string[]; stages: Record<string, string[]> } | undefined;
      let idsAfterFirst: Map<string, string> | undefined;
      const result = await rotateWith(stack, async ({ step, attempt, real }) => {
        if (step !== 'finishSecret' || attempt !== 1) return real();
        const failure = await real().then(
          () => undefined,
          (e: Error) => e,
        );
        idsAfterFirst = await deploymentIds(stack, live);
        afterFirst = { changed: changed(before.deployments, idsAfterFirst), stages: await stagesOf(stack) };
        throw failure ?? new Error('expected finishSecret to fail');
      });
      expect(sum(stack.proxy.faulted, 'UpdateService') - faultedBefore).toBe(attempts);
      expect(result.attempts).toBe(2);
      expect(result.failures).toHaveLength(1);
      expect(result.failures[0].step).toBe('finishSecret');
      expect(result.failures[0].message).toContain('the new URL is AWSCURRENT but 1 of 3 services could not be redeployed');
      expect(result.failures[0].message).toContain(`${throttled} (ThrottlingException`);
      // Attempt 1 promoted and redeployed the other two before failing.
      expect(afterFirst!.stages[result.versionId]).toContain('AWSCURRENT');
      expect(afterFirst!.changed).toEqual(live.filter((arn) => arn !== throttled).sort());
      const final = await deploymentIds(stack, live);
      expect(changed(idsAfterFirst!, final)).toEqual([throttled]);
      expect(redeploySummaries(stack.handlerLogs.slice(before.logsAt))).toEqual([
        expect.objectContaining({ redeployed: 2, failed: 1, throttleRetries: attempts - 1 }),
        expect.objectContaining({ redeployed: 1, alreadyCurrent: 2, failed: 0, throttleRetries: 0 }),
      ]);
      await expectRecovered(before, result);
    }, 90_000);
  });

  describe('(d) a bound service is deleted mid-rotation', () => {
    test('deleted between testSecret and finishSecret: skipped as gone, the others redeployed, rotation completes', async () => {
      const doomed = await createServiceLike(stack, live[0], 'svc-doomed');
      await setBoundServices(stack, [...live, doomed]);
      const before = await begin();
      const result = await rotateWith(stack, async ({ step, real }) => {
        if (step === 'finishSecret') await deleteService(stack, doomed);
        await real();
      });
      expect(result.attempts).toBe(1);
      expect(redeploySummaries(stack.handlerLogs.slice(before.logsAt))).toEqual([
        expect.objectContaining({ services: 4, redeployed: 3, gone: 1, failed: 0 }),
      ]);
      await expectRecovered(before, result); // the recorder saw no UpdateService for the deleted one
    });
  });

  test('after all of the above, a plain rotation succeeds on the first attempt', async () => {
    const before = await begin();
    const result = await stack.rotate();
    expect(result.attempts).toBe(1);
    await expectRecovered(before, result);
    expect(stack.endpoint.stats.rejections).toEqual([]);
  });

  test("no secret in the handler logs, the rotation errors or this process's output", async () => {
    const { leaks } = await findLeaks({
      stack,
      texts: { 'test process output': output.text(), 'rotation failure messages': errorTexts.join('\n') },
      secretAccessKeys: [stack.signer.secretAccessKey],
    });
    expect(errorTexts.length).toBeGreaterThanOrEqual(10);
    expect(leaks).toEqual([]);
  });
});
