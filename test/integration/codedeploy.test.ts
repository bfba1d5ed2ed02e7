/**
 * A service with the CODE_DEPLOY deployment controller, end to end: the shipped rotation bundle runs
 * against moto behind the CodeDeploy model (test/support/codedeploy-model.ts), which refuses
 * forceNewDeployment on such a service as AWS does, allows one active deployment per group, and
 * lists deployments by creation time. The service gets one CodeDeploy deployment of its task
 * definition per rotation, a retried finishSecret creates no second one, a deployment still active
 * from before the rotation is named, and a CODE_DEPLOY service bound without its group fails naming
 * the fix.
 */
import { CodeDeployClient, CreateDeploymentCommand, GetDeploymentCommand, ListDeploymentsCommand } from '@aws-sdk/client-codedeploy';
import { DescribeServicesCommand } from '@aws-sdk/client-ecs';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { parseServiceArn } from '../../core/ecs-services';
import { CodeDeployTarget } from '../../lib/contract';
import { createCodeDeployService } from '../support/codedeploy-fixture';
import { CodeDeployModel, startCodeDeployModel } from '../support/codedeploy-model';
import { LocalStack } from '../support/local-stack';
import { captureOutput, oncePerService, redeploySummaries, rotateWith, stagesOf, startStack, UpdateServiceRecorder } from './harness';

const TARGET: CodeDeployTarget = { application: 'shop', deploymentGroup: 'web-bg' };

describe('a CODE_DEPLOY service after a rotation (local stack, CodeDeploy model)', () => {
  let stack: LocalStack;
  let model: CodeDeployModel;
  let codedeploy: CodeDeployClient;
  let output: ReturnType<typeof captureOutput>;
  let rolling: string;
  let blueGreen: string;
  let taskDefinition: string;
  /** Every step runs the shipped handler with its AWS calls going through the model. */
  let env: Record<string, string>;

  beforeAll(async () => {
    output = captureOutput();
    stack = await startStack({ services: 1 });
    await stack.rotate(); // the first rotation replaces the construct's placeholder value
    model = await startCodeDeployModel({ upstream: stack.proxy.endpoint, moto: stack.moto });
    env = { AWS_ENDPOINT_URL: model.endpoint };
    codedeploy = new CodeDeployClient({ ...stack.moto.clientConfig(), endpoint: model.endpoint });
    rolling = stack.serviceArns[0];
    const { cluster } = parseServiceArn(rolling)!;
    taskDefinition = (await stack.ecs.send(new DescribeServicesCommand({ cluster, services: [rolling] }))).services![0].taskDefinition!;
    blueGreen = await createCodeDeployService(stack.ecs, codedeploy, {
      cluster,
      serviceName: 'web-bg',
      taskDefinition,
      containerName: 'app',
      containerPort: 8080,
      target: TARGET,
    });
  }, 90_000);

  afterAll(async () => {
    output?.restore();
    codedeploy?.destroy();
    await model?.stop();
    await stack?.stop();
  });

  const bind = (entries: unknown[]) =>
    stack.ssm.send(new PutParameterCommand({ Name: stack.parameterName, Type: 'String', Value: JSON.stringify(entries), Overwrite: true }));
  const deploymentsOfGroup = async () =>
    (
      await codedeploy.send(
        new ListDeploymentsCommand({ applicationName: TARGET.application, deploymentGroupName: TARGET.deploymentGroup }),
      )
    ).deployments ?? [];
  const release = async () =>
    (
      await codedeploy.send(
        new CreateDeploymentCommand({
          applicationName: TARGET.application,
          deploymentGroupName: TARGET.deploymentGroup,
          revision: { revisionType: 'AppSpecContent', appSpecContent: { content: '{"version":0.0,"Resources":[]}' } },
        }),
      )
    ).deploymentId!;

  test('one CodeDeploy deployment of its task definition; a retried finishSecret creates no second one', async () => {
    // GIVEN the service bound with its group, beside a rolling one, and a release deployment that ended before the rotation
    await bind([rolling, { service: blueGreen, codeDeploy: TARGET }]);
    const earlier = await release();
    model.finish(earlier);
    const recorder = new UpdateServiceRecorder(stack);
    const logsAt = stack.handlerLogs.length;

    // WHEN a rotation runs and its first finishSecret fails after the redeploys (as a timeout would): Secrets Manager retries it
    const result = await rotateWith(stack, async ({ step, attempt, real }) => {
      await real({ env });
      if (step === 'finishSecret' && attempt === 1) throw new Error('simulated: the function timed out after its redeploys');
    });

    // THEN the retry found the deployment the first attempt created, and created none
    expect(result.attempts).toBe(2);
    expect((await stagesOf(stack))[result.versionId]).toEqual(['AWSCURRENT']);
    const created = (await deploymentsOfGroup()).filter((id) => id !== earlier);
    expect(created).toHaveLength(1);
    expect(redeploySummaries(stack.handlerLogs.slice(logsAt))).toEqual([
      expect.objectContaining({ services: 2, redeployed: 2, alreadyCurrent: 0, failed: 0 }),
      expect.objectContaining({ services: 2, redeployed: 0, alreadyCurrent: 2, failed: 0 }),
    ]);
    // AND it deploys the service's task definition to the container and port its load balancer routes to
    const info = (await codedeploy.send(new GetDeploymentCommand({ deploymentId: created[0] }))).deploymentInfo!;
    expect(info.revision?.revisionType).toBe('AppSpecContent');
    expect(JSON.parse(info.revision!.appSpecContent!.content!).Resources[0].TargetService.Properties).toMatchObject({
      TaskDefinition: taskDefinition,
      LoadBalancerInfo: { ContainerName: 'app', ContainerPort: 8080 },
    });
    // AND UpdateService reached ECS for the rolling service only, and was never tried on the CODE_DEPLOY one
    expect(recorder.snapshot()).toEqual(oncePerService([rolling]));
    expect(model.refusedUpdates).toEqual([]);
    model.finish(created[0]);
  }, 120_000);

  test('a deployment still active from before the rotation: the step fails naming it; once it ends, the retry deploys', async () => {
    // GIVEN a release deployment in progress when the rotation starts
    await bind([{ service: blueGreen, codeDeploy: TARGET }]);
    const active = await release();
    const before = await deploymentsOfGroup();
    const logsAt = stack.handlerLogs.length;

    // WHEN a rotation runs; the release ends before Secrets Manager retries finishSecret
    const result = await rotateWith(stack, async ({ step, attempt, real }) => {
      if (step === 'finishSecret' && attempt === 2) model.finish(active);
      await real({ env });
    });

    // THEN the first finishSecret named the service and the active deployment; the retry created the rotation's deployment
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0].message).toContain(`${blueGreen} (DeploymentLimitExceededException: CodeDeploy refused a new deployment`);
    expect(result.failures[0].message).toContain(`deployment ${active} is still active`);
    expect(redeploySummaries(stack.handlerLogs.slice(logsAt))).toEqual([
      expect.objectContaining({ services: 1, redeployed: 0, failed: 1 }),
      expect.objectContaining({ services: 1, redeployed: 1, failed: 0 }),
    ]);
    const created = (await deploymentsOfGroup()).filter((id) => !before.includes(id));
    expect(created).toHaveLength(1);
    model.finish(created[0]);
  }, 120_000);

  test('bound by ARN alone (no deployment group): finishSecret fails naming the controller and the fix, and deploys nothing', async () => {
    await bind([blueGreen]);
    const before = await deploymentsOfGroup();
    const recorder = new UpdateServiceRecorder(stack);

    const result = await rotateWith(stack, ({ real }) => real({ env }), 1).catch((err: { failures?: Array<{ message: string }> }) => err);

    const failures = (result as { failures: Array<{ message: string }> }).failures;
    expect(failures).toHaveLength(1);
    expect(failures[0].message).toContain(
      `${blueGreen} (service uses the CODE_DEPLOY deployment controller, which refuses forceNewDeployment`,
    );
    expect(failures[0].message).toContain('redeployOnRotation(service, { codeDeployDeploymentGroup })');
    expect(await deploymentsOfGroup()).toEqual(before);
    expect(recorder.snapshot()).toEqual({});
  }, 120_000);
});
