import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import * as dsql from 'aws-cdk-lib/aws-dsql';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { DsqlUrlSecret, DsqlUrlSecretProps } from '../../lib';
import { RedeployPermissions } from '../../lib/redeploy-permissions';
import { LongestResolution } from './longest-resolution';

const IMAGE = ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/busybox:latest');

interface World {
  stack: Stack;
  cluster: ecs.Cluster;
  db: DsqlUrlSecret;
}

/** A stack with two AZs (a load balancer needs them), an ECS cluster and a DsqlUrlSecret. */
function givenWorld(props: Partial<DsqlUrlSecretProps> = {}): World {
  const stack = new Stack(new App(), 'TestStack', { env: { account: '123456789012', region: 'eu-west-1' } });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0 });
  const cluster = new ecs.Cluster(stack, 'EcsCluster', { vpc });
  const db = new DsqlUrlSecret(stack, 'Db', { cluster: new dsql.CfnCluster(stack, 'Cluster', {}), ...props });
  return { stack, cluster, db };
}

function taskDefinition(stack: Stack, id: string): ecs.FargateTaskDefinition {
  const td = new ecs.FargateTaskDefinition(stack, `${id}Task`);
  td.addContainer('web', { image: IMAGE, portMappings: [{ containerPort: 80 }] });
  return td;
}

function service(w: World, id: string, props: Partial<ecs.FargateServiceProps> = {}): ecs.FargateService {
  return new ecs.FargateService(w.stack, id, { cluster: w.cluster, taskDefinition: taskDefinition(w.stack, id), ...props });
}

/** A CODE_DEPLOY service behind a load balancer and the EcsDeploymentGroup that deploys it. */
function blueGreenService(
  w: World,
  id: string,
  config: Partial<codedeploy.EcsBlueGreenDeploymentConfig> = {},
  deploymentConfig?: codedeploy.IEcsDeploymentConfig,
): { service: ecs.FargateService; group: codedeploy.EcsDeploymentGroup } {
  const s = service(w, id, { deploymentController: { type: ecs.DeploymentControllerType.CODE_DEPLOY } });
  const vpc = w.cluster.vpc;
  const listener = new elbv2.ApplicationLoadBalancer(w.stack, `${id}Lb`, { vpc }).addListener('Listener', { port: 80 });
  const blue = new elbv2.ApplicationTargetGroup(w.stack, `${id}Blue`, { vpc, port: 80, targetType: elbv2.TargetType.IP });
  const green = new elbv2.ApplicationTargetGroup(w.stack, `${id}Green`, { vpc, port: 80, targetType: elbv2.TargetType.IP });
  listener.addTargetGroups('Default', { targetGroups: [blue] });
  s.attachToApplicationTargetGroup(blue);
  const group = new codedeploy.EcsDeploymentGroup(w.stack, `${id}Group`, {
    service: s,
    blueGreenDeploymentConfig: { blueTargetGroup: blue, greenTargetGroup: green, listener, ...config },
    deploymentConfig,
  });
  return { service: s, group };
}

/** A template expression as text: Refs and GetAtts become `<Ref:id>` and `<GetAtt:id.attr>`. */
function render(value: unknown): string {
  if (typeof value === 'string') return value;
  const o = value as Record<string, unknown>;
  if ('Ref' in o) return `<Ref:${String(o.Ref)}>`;
  if ('Fn::GetAtt' in o) return `<GetAtt:${(o['Fn::GetAtt'] as string[]).join('.')}>`;
  if ('Fn::Join' in o) {
    const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
    return parts.map(render).join(sep);
  }
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

const logicalId = (stack: Stack, c: { node: { defaultChild?: unknown } }) => `<Ref:${stack.getLogicalId(c.node.defaultChild as never)}>`;

function boundEntries(stack: Stack): unknown[] {
  const parameters = Object.values(Template.fromStack(stack).findResources('AWS::SSM::Parameter')).filter((p) =>
    /\/bound-services(-\d+)?$/.test(p.Properties.Name),
  );
  return parameters.flatMap((p) => JSON.parse(render(p.Properties.Value)) as unknown[]);
}

function redeployStatements(stack: Stack): Array<{ Action: string | string[]; Resource: unknown }> {
  const policy = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy')).find((p) =>
    /^redeploy-/.test(p.Properties.PolicyName),
  )!;
  return policy.Properties.PolicyDocument.Statement;
}

const resources = (r: unknown): string[] => (Array.isArray(r) ? r : [r]).map(render);

describe('CODE_DEPLOY services', () => {
  test('without codeDeployDeploymentGroup: refused, naming the option', () => {
    const w = givenWorld();
    const s = service(w, 'Web', { deploymentController: { type: ecs.DeploymentControllerType.CODE_DEPLOY } });

    expect(() => w.db.redeployOnRotation(s)).toThrow(
      'redeployOnRotation: service TestStack/Web uses the CODE_DEPLOY deployment controller, for which ECS refuses a forced new ' +
        'deployment: pass the EcsDeploymentGroup that deploys it, redeployOnRotation(service, { codeDeployDeploymentGroup })',
    );
  });

  test('with its deployment group: the entry names the application and group; the policy allows exactly the CodeDeploy calls', () => {
    const w = givenWorld();
    const web = blueGreenService(w, 'Web');
    const api = service(w, 'Api');

    w.db.redeployOnRotation(web.service, { codeDeployDeploymentGroup: web.group });
    w.db.redeployOnRotation(api);

    const { stack } = w;
    expect(boundEntries(stack)).toEqual([
      {
        service: logicalId(stack, web.service),
        codeDeploy: { application: logicalId(stack, web.group.application), deploymentGroup: logicalId(stack, web.group) },
      },
      logicalId(stack, api),
    ]);
    const statements = redeployStatements(stack);
    const app = logicalId(stack, web.group.application);
    const arn = (type: string, name: string) => `arn:<Ref:AWS::Partition>:codedeploy:eu-west-1:123456789012:${type}:${name}`;
    // The rolling service may be updated; the CODE_DEPLOY one only described: it gets a CodeDeploy deployment, never UpdateService.
    expect(statements.slice(0, 2).map((s) => ({ Action: s.Action, Resource: resources(s.Resource) }))).toEqual([
      { Action: ['ecs:UpdateService', 'ecs:DescribeServices'], Resource: [logicalId(stack, api)] },
      { Action: 'ecs:DescribeServices', Resource: [logicalId(stack, web.service)] },
    ]);
    expect(statements.slice(2).map((s) => ({ Action: s.Action, Resource: resources(s.Resource) }))).toEqual([
      {
        Action: ['codedeploy:CreateDeployment', 'codedeploy:ListDeployments'],
        Resource: [arn('deploymentgroup', `${app}/${logicalId(stack, web.group)}`)],
      },
      { Action: 'codedeploy:RegisterApplicationRevision', Resource: [arn('application', app)] },
      { Action: 'codedeploy:GetDeploymentConfig', Resource: [arn('deploymentconfig', 'CodeDeployDefault.ECSAllAtOnce')] },
    ]);
    const all = statements.flatMap((s) => [s.Action].flat());
    expect(all).not.toContain('iam:PassRole');
    expect(statements.flatMap((s) => resources(s.Resource))).not.toContain('*');
  });

  test('no service bound with a deployment group: no CodeDeploy statement at all', () => {
    const w = givenWorld();
    w.db.redeployOnRotation(service(w, 'Api'));

    const statements = redeployStatements(w.stack);
    expect(statements.map((s) => s.Action)).toEqual([['ecs:UpdateService', 'ecs:DescribeServices']]);
  });

  test('terminationWaitTime past rolloutAllowance: refused, naming both values and the fix', () => {
    const w = givenWorld();
    const web = blueGreenService(w, 'Web', { terminationWaitTime: Duration.minutes(40) });

    expect(() => w.db.redeployOnRotation(web.service, { codeDeployDeploymentGroup: web.group })).toThrow(
      'redeployOnRotation: service TestStack/Web: its old tasks would outlive rolloutAllowance (30 minutes). Its deployment group ' +
        'TestStack/WebGroup keeps them for terminationWaitTime 40 minutes, and they drain for about 5 minutes after that: ' +
        '45 minutes. Lower terminationWaitTime or deploymentApprovalWaitTime, choose a faster deploymentConfig, or raise ' +
        'rolloutAllowance to at least 45 minutes.',
    );
  });

  test('the same group fits a rolloutAllowance that covers it', () => {
    const w = givenWorld({ rolloutAllowance: Duration.minutes(45) });
    const web = blueGreenService(w, 'Web', { terminationWaitTime: Duration.minutes(40) });

    expect(() => w.db.redeployOnRotation(web.service, { codeDeployDeploymentGroup: web.group })).not.toThrow();
  });

  test('a canary configuration and the approval wait count too', () => {
    const w = givenWorld();
    const web = blueGreenService(
      w,
      'Web',
      { deploymentApprovalWaitTime: Duration.minutes(5), terminationWaitTime: Duration.minutes(6) },
      codedeploy.EcsDeploymentConfig.CANARY_10PERCENT_15MINUTES,
    );

    expect(() => w.db.redeployOnRotation(web.service, { codeDeployDeploymentGroup: web.group })).toThrow(
      'keeps them for deploymentApprovalWaitTime 5 minutes + traffic shifting 15 minutes ' +
        '(CodeDeployDefault.ECSCanary10Percent15Minutes) + terminationWaitTime 6 minutes',
    );
  });

  test('a linear configuration created in the app: its shifts after the first count', () => {
    const w = givenWorld();
    const config = new codedeploy.EcsDeploymentConfig(w.stack, 'Linear', {
      trafficRouting: codedeploy.TrafficRouting.timeBasedLinear({ interval: Duration.minutes(3), percentage: 10 }),
    });
    const web = blueGreenService(w, 'Web', {}, config);

    // 10 shifts of 10%, 3 minutes between two: 27 minutes, + 5 of draining.
    expect(() => w.db.redeployOnRotation(web.service, { codeDeployDeploymentGroup: web.group })).toThrow(
      /keeps them for traffic shifting 27 minutes \(linear, TestStack\/Linear\).*: 32 minutes\./,
    );
  });

  test('a deployment group for another service: refused', () => {
    const w = givenWorld();
    const web = blueGreenService(w, 'Web');
    const other = blueGreenService(w, 'Other');

    expect(() => w.db.redeployOnRotation(web.service, { codeDeployDeploymentGroup: other.group })).toThrow(
      'redeployOnRotation: service TestStack/Web: codeDeployDeploymentGroup TestStack/OtherGroup deploys another ECS service',
    );
  });

  test('an imported service cannot be checked at synth: bound with its group, the function reads its controller at run time', () => {
    const w = givenWorld();
    const imported = ecs.FargateService.fromFargateServiceAttributes(w.stack, 'Imported', {
      cluster: w.cluster,
      serviceArn: 'arn:aws:ecs:eu-west-1:123456789012:service/prod/web',
    });
    const group = codedeploy.EcsDeploymentGroup.fromEcsDeploymentGroupAttributes(w.stack, 'Group', {
      application: codedeploy.EcsApplication.fromEcsApplicationName(w.stack, 'App', 'shop'),
      deploymentGroupName: 'web-bg',
    });

    w.db.redeployOnRotation(imported, { codeDeployDeploymentGroup: group });

    expect(boundEntries(w.stack)).toEqual([
      { service: 'arn:aws:ecs:eu-west-1:123456789012:service/prod/web', codeDeploy: { application: 'shop', deploymentGroup: 'web-bg' } },
    ]);
  });

  test('object entries are sized at their longest: generated names count 100 each, every parameter still fits 4,096', () => {
    const w = givenWorld();
    for (let i = 0; i < 8; i++) {
      const web = blueGreenService(w, `Web${i}`);
      w.db.redeployOnRotation(web.service, { codeDeployDeploymentGroup: web.group });
    }

    const resolution = new LongestResolution(w.stack);
    const params = Object.values(resolution.resources).filter(
      (r) => r.Type === 'AWS::SSM::Parameter' && /\/bound-services(-\d+)?$/.test(r.Properties!.Name as string),
    );
    for (const p of params) expect(resolution.length(p.Properties!.Value)).toBeLessThanOrEqual(4096);
    // An ARN with generated names is up to 567 characters, each name 100, the JSON around them 67: 834, and a comma.
    // 4 fit 4,096 (7 plain ARNs do), 5 would not.
    expect(params.map((p) => (JSON.parse(render(p.Properties!.Value)) as unknown[]).length)).toEqual([4, 4]);
  });
});

describe('EXTERNAL services', () => {
  test('refused, naming the service and why', () => {
    const w = givenWorld();
    const s = service(w, 'Ext', { deploymentController: { type: ecs.DeploymentControllerType.EXTERNAL } });

    expect(() => w.db.redeployOnRotation(s)).toThrow(
      'redeployOnRotation: service TestStack/Ext uses the EXTERNAL deployment controller: its task sets are managed outside ECS ' +
        'and CodeDeploy, so the rotation function cannot replace its tasks after a rotation',
    );
  });
});

describe('ECS services', () => {
  test('codeDeployDeploymentGroup for a service with the ECS controller: refused', () => {
    const w = givenWorld();
    const web = blueGreenService(w, 'Web');
    const api = service(w, 'Api');

    expect(() => w.db.redeployOnRotation(api, { codeDeployDeploymentGroup: web.group })).toThrow(
      "redeployOnRotation: service TestStack/Api: codeDeployDeploymentGroup is set, but the service's deployment controller is ECS, " +
        'not CODE_DEPLOY',
    );
  });

  test('native blue/green: a bakeTime past rolloutAllowance (with the drain margin) is refused, naming both', () => {
    const w = givenWorld();
    const s = service(w, 'Web', { deploymentStrategy: ecs.DeploymentStrategy.BLUE_GREEN, bakeTime: Duration.minutes(26) });

    expect(() => w.db.redeployOnRotation(s)).toThrow(
      "redeployOnRotation: service TestStack/Web uses ECS's BLUE_GREEN deployment strategy, which keeps the old tasks through " +
        'bakeTime 26 minutes, and they drain for about 5 minutes after that: 31 minutes, longer than rolloutAllowance ' +
        '(30 minutes). Lower bakeTime, or raise rolloutAllowance to at least 31 minutes.',
    );
  });

  test('native blue/green within rolloutAllowance: bound', () => {
    const w = givenWorld();
    const s = service(w, 'Web', { deploymentStrategy: ecs.DeploymentStrategy.BLUE_GREEN, bakeTime: Duration.minutes(25) });

    expect(() => w.db.redeployOnRotation(s)).not.toThrow();
    expect(boundEntries(w.stack)).toEqual([logicalId(w.stack, s)]);
  });

  test("native linear with ECS's defaults (10% steps, 6 minutes each) is refused: 9 step bake times", () => {
    const w = givenWorld();
    const s = service(w, 'Web');
    // Through the L1: ecs.DeploymentStrategy.LINEAR is newer than the peer floor (aws-cdk-lib 2.227.0), whose CfnService
    // already takes the strategy as a string; with no linearConfiguration ECS applies its defaults either way.
    const l1 = s.node.defaultChild as ecs.CfnService;
    l1.deploymentConfiguration = { ...(l1.deploymentConfiguration as ecs.CfnService.DeploymentConfigurationProperty), strategy: 'LINEAR' };

    expect(() => w.db.redeployOnRotation(s)).toThrow(
      /through bakeTime 0 minutes \+ 9 x stepBakeTime 6 minutes.*: 59 minutes, longer than rolloutAllowance/,
    );
  });
});

describe('RedeployPermissions', () => {
  test('gives one policy to several roles: the list given and any added later', () => {
    const w = givenWorld();
    const principal = new iam.ServicePrincipal('lambda.amazonaws.com');
    const [a, b, c] = ['A', 'B', 'C'].map((id) => new iam.Role(w.stack, id, { assumedBy: principal }));
    const permissions = new RedeployPermissions(w.stack, 'Shared', [a, b], { services: [service(w, 'Api')], deploymentGroups: new Map() });
    permissions.addRole(c);
    permissions.addRole(a);

    const policy = Template.fromStack(w.stack).toJSON().Resources[w.stack.getLogicalId(permissions.node.defaultChild as iam.CfnPolicy)];
    expect(policy.Properties.Roles).toEqual([a, b, c].map((r) => ({ Ref: w.stack.getLogicalId(r.node.defaultChild as iam.CfnRole) })));
  });
});
