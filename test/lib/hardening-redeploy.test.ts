import 'aws-sdk-client-mock-jest';
import { App, Stack } from 'aws-cdk-lib';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import * as dsql from 'aws-cdk-lib/aws-dsql';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { ECSClient, UpdateServiceCommand, UpdateServiceCommandInput } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { DsqlUrlSecret } from '../../lib';
import { CAPACITY_PROVIDER_KEY, TASK_DEFINITION_KEY } from '../../lib/redeploy-permissions';
import { redeployServices } from '../../functions/redeploy';
import { recordingRetry } from '../functions/fixtures';
import { FakeEcs } from '../functions/fixtures-ecs';
import { actionsOf, ACCOUNT, decide, roleStatements, Statement } from './hardening-support';

const IMAGE = ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/busybox:latest');
const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/rotation`;
/** The concrete ARNs the evaluator sees for the services the template references. */
const API = `arn:aws:ecs:eu-west-1:${ACCOUNT}:service/main/api`;
const WEB = `arn:aws:ecs:eu-west-1:${ACCOUNT}:service/main/web`;

/** A rolling service (Api) and a CODE_DEPLOY one with its deployment group (Web), both bound. */
function givenBoundServices(): Stack {
  const stack = new Stack(new App(), 'TestStack', { env: { account: ACCOUNT, region: 'eu-west-1' } });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0 });
  const cluster = new ecs.Cluster(stack, 'EcsCluster', { vpc });
  const db = new DsqlUrlSecret(stack, 'Db', { cluster: new dsql.CfnCluster(stack, 'Cluster', {}) });
  const service = (id: string, props: Partial<ecs.FargateServiceProps> = {}) => {
    const taskDefinition = new ecs.FargateTaskDefinition(stack, `${id}Task`);
    taskDefinition.addContainer('web', { image: IMAGE, portMappings: [{ containerPort: 80 }], secrets: { DATABASE_URL: db.ecsSecret() } });
    return new ecs.FargateService(stack, id, { cluster, taskDefinition, minHealthyPercent: 100, ...props });
  };
  db.redeployOnRotation(service('Api'));
  const web = service('Web', { deploymentController: { type: ecs.DeploymentControllerType.CODE_DEPLOY } });
  const listener = new elbv2.ApplicationLoadBalancer(stack, 'Lb', { vpc }).addListener('Listener', { port: 80 });
  const blue = new elbv2.ApplicationTargetGroup(stack, 'Blue', { vpc, port: 80, targetType: elbv2.TargetType.IP });
  const green = new elbv2.ApplicationTargetGroup(stack, 'Green', { vpc, port: 80, targetType: elbv2.TargetType.IP });
  listener.addTargetGroups('Default', { targetGroups: [blue] });
  web.attachToApplicationTargetGroup(blue);
  const group = new codedeploy.EcsDeploymentGroup(stack, 'WebGroup', {
    service: web,
    blueGreenDeploymentConfig: { blueTargetGroup: blue, greenTargetGroup: green, listener },
  });
  db.redeployOnRotation(web, { codeDeployDeploymentGroup: group });
  return stack;
}

/** The ECS statements of the rotation role, with each service's Ref replaced by its concrete ARN. */
function ecsStatements(stack: Stack): Statement[] {
  const concrete = (r: unknown) => {
    const ref = (r as { Ref?: string }).Ref ?? '';
    if (/^ApiService/.test(ref)) return API;
    if (/^WebService/.test(ref)) return WEB;
    throw new Error(`unexpected resource ${JSON.stringify(r)}`);
  };
  return roleStatements(stack, 'DbRotationFunctionServiceRole')
    .filter((s) => actionsOf(s).some((a) => a.startsWith('ecs:UpdateService') || a === 'ecs:DescribeServices'))
    .map((s) => ({ ...s, Resource: [s.Resource].flat().map(concrete) }));
}

/** The request context IAM builds for an UpdateService: its task definition and capacity providers, when the request names them. */
function contextOf(input: UpdateServiceCommandInput): Record<string, string | string[]> {
  const context: Record<string, string | string[]> = {};
  if (input.taskDefinition) context[TASK_DEFINITION_KEY] = `arn:aws:ecs:eu-west-1:${ACCOUNT}:task-definition/${input.taskDefinition}`;
  if (input.capacityProviderStrategy) {
    context[CAPACITY_PROVIDER_KEY] = input.capacityProviderStrategy.map(
      (c) => `arn:aws:ecs:eu-west-1:${ACCOUNT}:capacity-provider/${c.capacityProvider}`,
    );
  }
  return context;
}

describe('the rotation function may update only the bound services, and only force a new deployment', () => {
  const ecsMock = mockClient(ECSClient);
  beforeEach(() => {
    ecsMock.reset();
    jest.spyOn(console, 'log').mockImplementation(() => undefined);
  });
  afterAll(() => ecsMock.restore());

  test('UpdateService on the rolling service only, denied with a task definition or capacity provider; CODE_DEPLOY only described', async () => {
    const statements = ecsStatements(givenBoundServices());
    const update = statements.filter((s) => actionsOf(s).includes('ecs:UpdateService'));
    expect(update).toHaveLength(1);
    expect(update[0].Resource).toEqual([API]);
    expect(update[0].Condition).toEqual({ Null: { [TASK_DEFINITION_KEY]: 'true', [CAPACITY_PROVIDER_KEY]: 'true' } });

    const ask = (action: string, resource: string, context: Record<string, string | string[]> = {}) =>
      decide({ action, resource, roleArn: ROLE_ARN, context }, statements);
    expect(await ask('ecs:UpdateService', API)).toBe('Allowed');
    expect(await ask('ecs:UpdateService', API, { [TASK_DEFINITION_KEY]: `arn:aws:ecs:eu-west-1:${ACCOUNT}:task-definition/evil:1` })).toBe(
      'ImplicitlyDenied',
    );
    expect(
      await ask('ecs:UpdateService', API, { [CAPACITY_PROVIDER_KEY]: [`arn:aws:ecs:eu-west-1:${ACCOUNT}:capacity-provider/spot`] }),
    ).toBe('ImplicitlyDenied');
    expect(await ask('ecs:UpdateService', WEB)).toBe('ImplicitlyDenied');
    expect(await ask('ecs:UpdateService', `arn:aws:ecs:eu-west-1:${ACCOUNT}:service/main/other`)).toBe('ImplicitlyDenied');
    for (const arn of [API, WEB]) expect(await ask('ecs:DescribeServices', arn)).toBe('Allowed');
  });

  test("the handler's UpdateService names only cluster, service and forceNewDeployment, and the policy allows each call it makes", async () => {
    const statements = ecsStatements(givenBoundServices());
    new FakeEcs().add(API).install(ecsMock);
    const report = await redeployServices(new ECSClient({ region: 'eu-west-1' }), [API], {
      promotedAt: new Date('2030-06-01T12:00:00.000Z'),
      concurrency: 1,
      retry: recordingRetry(),
    });
    expect(report.redeployed).toEqual([API]);
    const inputs = ecsMock.commandCalls(UpdateServiceCommand).map((c) => c.args[0].input);
    expect(inputs).toHaveLength(1);
    for (const input of inputs) {
      expect(Object.keys(input).sort()).toEqual(['cluster', 'forceNewDeployment', 'service']);
      const decision = await decide(
        { action: 'ecs:UpdateService', resource: input.service!, roleArn: ROLE_ARN, context: contextOf(input) },
        statements,
      );
      expect(decision).toBe('Allowed');
    }
    // The same evaluation refuses a call that would change the task definition: the check above can fail.
    const changed = contextOf({ ...inputs[0], taskDefinition: 'other:3' });
    expect(await decide({ action: 'ecs:UpdateService', resource: API, roleArn: ROLE_ARN, context: changed }, statements)).toBe(
      'ImplicitlyDenied',
    );
  });
});
