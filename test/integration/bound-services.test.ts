/**
 * The bound-services list as a hand edit or a bad layout leaves it, end to end: an entry that is not
 * an ARN, a service ECS does not know, a service in another region and one in another account. The
 * shipped bundle redeploys every live service first, counts the unknown one apart from deleted ones,
 * and fails finishSecret naming the others; once the list is restored the retry redeploys no one twice.
 */
import { pgSelectOne } from './clients';
import { LocalStack } from '../support/local-stack';
import {
  blockingPending,
  captureOutput,
  changed,
  oncePerService,
  redeploySummaries,
  rotateWith,
  setBoundServices,
  snapshot,
  stagesOf,
  startStack,
  UpdateServiceRecorder,
} from './harness';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { parseServiceArn } from '../../core/ecs-services';

describe('bound-services list with bad entries (local stack)', () => {
  let stack: LocalStack;
  let output: ReturnType<typeof captureOutput>;
  let live: string[];

  beforeAll(async () => {
    output = captureOutput();
    stack = await startStack({ services: 2 });
    live = [...stack.serviceArns];
    await stack.rotate(); // the first rotation replaces the construct's placeholder value
  }, 60_000);

  afterAll(async () => {
    output?.restore();
    await stack?.stop();
  });

  test('null, unknown, other-region and other-account entries: the live services are redeployed, the step names the rest', async () => {
    // GIVEN the list holds the live services, a null, a service that does not exist, and two elsewhere
    const { region, account, cluster } = parseServiceArn(live[0])!;
    const unknown = `arn:aws:ecs:${region}:${account}:service/${cluster}/never-created`;
    const otherRegion = `arn:aws:ecs:${region === 'eu-west-1' ? 'us-west-2' : 'eu-west-1'}:${account}:service/${cluster}/far`;
    const otherAccount = `arn:aws:ecs:${region}:210987654321:service/${cluster}/theirs`;
    await stack.ssm.send(
      new PutParameterCommand({
        Name: stack.parameterName,
        Type: 'String',
        Value: JSON.stringify([live[0], null, unknown, otherRegion, live[1], otherAccount]),
        Overwrite: true,
      }),
    );
    const recorder = new UpdateServiceRecorder(stack);
    const before = await snapshot(stack, live);

    // WHEN a rotation runs; before Secrets Manager's retry of finishSecret the list is restored
    const result = await rotateWith(stack, async ({ step, attempt, real }) => {
      if (step === 'finishSecret' && attempt === 2) await setBoundServices(stack, live);
      await real();
    });

    // THEN the first finishSecret redeployed both live services and failed naming the three bad entries
    expect(result.attempts).toBe(2);
    expect(result.failures).toHaveLength(1);
    const message = result.failures[0].message;
    expect(message).toContain('the new URL is AWSCURRENT but 2 of 5 services could not be redeployed');
    expect(message).toContain(`${otherRegion} (service is in region`);
    expect(message).toContain(`${otherAccount} (service is in region ${region}, account 210987654321`);
    expect(message).toContain(`Also 1 bound-services entry is not a service ARN: entry 1 of ${stack.parameterName} (null)`);
    expect(message).not.toContain(unknown);
    expect(redeploySummaries(stack.handlerLogs.slice(before.logsAt))).toEqual([
      expect.objectContaining({ services: 5, redeployed: 2, notFound: 1, gone: 0, failed: 2, invalidEntries: 1 }),
      expect.objectContaining({ services: 2, redeployed: 0, alreadyCurrent: 2, notFound: 0, failed: 0, invalidEntries: 0 }),
    ]);
    const warned = stack.handlerLogs.slice(before.logsAt).join('\n');
    expect(warned).toContain('"message":"service not found, skipped');
    expect(warned).toContain(`"name":"never-created"`);

    // AND each live service got exactly one deployment; the new URL is current and authenticates
    expect(recorder.snapshot()).toEqual(oncePerService(live));
    expect(changed(before.deployments, (await snapshot(stack, live)).deployments)).toEqual([...live].sort());
    const stages = await stagesOf(stack);
    expect(stages[result.versionId]).toEqual(['AWSCURRENT']);
    expect(blockingPending(stages)).toEqual([]);
    await expect(pgSelectOne((await stack.readStage('AWSCURRENT')).url, stack.endpoint.caFile)).resolves.toBe(1);
  }, 90_000);
});
