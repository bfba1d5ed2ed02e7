import { CodeDeployClient, CreateDeploymentCommand, GetDeploymentCommand, ListDeploymentsCommand } from '@aws-sdk/client-codedeploy';
import {
  CreateClusterCommand,
  CreateServiceCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { createCodeDeployService } from './codedeploy-fixture';
import { CODE_DEPLOY_UPDATE_REFUSED, CodeDeployModel, startCodeDeployModel } from './codedeploy-model';
import { MotoServer, startMoto } from './moto-server';

/** The model of AWS the CodeDeploy integration test runs behind, and the moto gaps it closes. */
describe('CODE_DEPLOY services and CodeDeploy deployments, as AWS answers them', () => {
  let moto: MotoServer;
  let model: CodeDeployModel;
  let direct: { ecs: ECSClient; codedeploy: CodeDeployClient };
  let viaModel: { ecs: ECSClient; codedeploy: CodeDeployClient };
  let blueGreen: string;
  let rolling: string;
  const target = { application: 'shop', deploymentGroup: 'web-bg' };
  const revision = { revisionType: 'AppSpecContent' as const, appSpecContent: { content: '{"version":0.0,"Resources":[]}' } };

  beforeAll(async () => {
    moto = await startMoto();
    model = await startCodeDeployModel({ upstream: moto.endpoint, moto });
    direct = { ecs: new ECSClient(moto.clientConfig()), codedeploy: new CodeDeployClient(moto.clientConfig()) };
    const config = { ...moto.clientConfig(), endpoint: model.endpoint };
    viaModel = { ecs: new ECSClient(config), codedeploy: new CodeDeployClient(config) };
    await direct.ecs.send(new CreateClusterCommand({ clusterName: 'app' }));
    const td = await direct.ecs.send(
      new RegisterTaskDefinitionCommand({
        family: 'web',
        requiresCompatibilities: ['FARGATE'],
        networkMode: 'awsvpc',
        cpu: '256',
        memory: '512',
        containerDefinitions: [{ name: 'web', image: 'web:1', portMappings: [{ containerPort: 80 }] }],
      }),
    );
    const taskDefinition = td.taskDefinition!.taskDefinitionArn!;
    blueGreen = await createCodeDeployService(direct.ecs, direct.codedeploy, {
      cluster: 'app',
      serviceName: 'web',
      taskDefinition,
      containerName: 'web',
      containerPort: 80,
      target,
    });
    rolling = (
      await direct.ecs.send(
        new CreateServiceCommand({ cluster: 'app', serviceName: 'api', taskDefinition, desiredCount: 1, launchType: 'FARGATE' }),
      )
    ).service!.serviceArn!;
  }, 60_000);

  afterAll(async () => {
    for (const c of [direct, viaModel]) {
      c?.ecs.destroy();
      c?.codedeploy.destroy();
    }
    await model?.stop();
    await moto?.stop();
  });

  test('moto alone accepts forceNewDeployment on a CODE_DEPLOY service (the gap)', async () => {
    await expect(
      direct.ecs.send(new UpdateServiceCommand({ cluster: 'app', service: blueGreen, forceNewDeployment: true })),
    ).resolves.toBeDefined();
  });

  test('through the model it is refused as AWS refuses it; nothing reaches moto', async () => {
    const refused = model.refusedUpdates.length;

    const call = viaModel.ecs.send(new UpdateServiceCommand({ cluster: 'app', service: blueGreen, forceNewDeployment: true }));

    await expect(call).rejects.toMatchObject({ name: 'InvalidParameterException', message: CODE_DEPLOY_UPDATE_REFUSED });
    expect(model.refusedUpdates.slice(refused)).toEqual([blueGreen]);
  });

  test('a rolling (ECS) service is still forced, and a CODE_DEPLOY service may still change its desired count', async () => {
    await expect(
      viaModel.ecs.send(new UpdateServiceCommand({ cluster: 'app', service: rolling, forceNewDeployment: true })),
    ).resolves.toBeDefined();
    await expect(
      viaModel.ecs.send(new UpdateServiceCommand({ cluster: 'app', service: blueGreen, desiredCount: 2 })),
    ).resolves.toBeDefined();
  });

  test('one active deployment per group, as CodeDeploy allows; a finished one reports its status and no longer blocks', async () => {
    const create = () => viaModel.codedeploy.send(new CreateDeploymentCommand({ ...targetNames(target), revision }));
    const active = (await create()).deploymentId!;

    await expect(create()).rejects.toMatchObject({ name: 'DeploymentLimitExceededException', message: expect.stringContaining(active) });
    model.finish(active);
    const next = (await create()).deploymentId!;

    const status = async (id: string) =>
      (await viaModel.codedeploy.send(new GetDeploymentCommand({ deploymentId: id }))).deploymentInfo!.status;
    expect(await status(active)).toBe('Succeeded');
    expect(await status(next)).toBe('Created');
    const succeeded = await viaModel.codedeploy.send(
      new ListDeploymentsCommand({ ...targetNames(target), includeOnlyStatuses: ['Succeeded'] }),
    );
    expect(succeeded.deployments).toEqual([active]);
    model.finish(next, 'Stopped');
  });

  test('ListDeployments honours createTimeRange, which moto alone ignores; GetDeployment times parse', async () => {
    const list = (c: CodeDeployClient, start: Date) =>
      c.send(
        new ListDeploymentsCommand({
          applicationName: target.application,
          deploymentGroupName: target.deploymentGroup,
          createTimeRange: { start },
        }),
      );
    const first = (await viaModel.codedeploy.send(new CreateDeploymentCommand({ ...targetNames(target), revision }))).deploymentId!;
    model.finish(first);
    await new Promise((r) => setTimeout(r, 50));
    const between = new Date();
    await new Promise((r) => setTimeout(r, 50));
    const second = (await viaModel.codedeploy.send(new CreateDeploymentCommand({ ...targetNames(target), revision }))).deploymentId!;

    // moto alone lists deployments created before `between` too (this test's first, and the earlier tests').
    expect((await list(direct.codedeploy, between)).deployments).toEqual(expect.arrayContaining([first, second]));
    expect((await list(viaModel.codedeploy, between)).deployments).toEqual([second]);
    expect((await list(viaModel.codedeploy, new Date(between.getTime() - 60_000))).deployments).toEqual(
      expect.arrayContaining([first, second]),
    );
    const info = (await viaModel.codedeploy.send(new GetDeploymentCommand({ deploymentId: second }))).deploymentInfo!;
    expect(info.createTime!.getTime()).toBeGreaterThanOrEqual(between.getTime());
    expect(info.createTime!.getTime()).toBeLessThan(Date.now() + 1_000);
  });
});

function targetNames(t: { application: string; deploymentGroup: string }) {
  return { applicationName: t.application, deploymentGroupName: t.deploymentGroup };
}
