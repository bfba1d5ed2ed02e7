import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import * as dsql from 'aws-cdk-lib/aws-dsql';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DsqlUrlSecret, TokenSigner } from '../../lib';

/** A stack whose functions run in isolated subnets: every API they call needs an interface endpoint. */
function given(createVpcEndpoints: boolean) {
  const stack = new Stack(new App(), 'TestStack', { env: { account: '123456789012', region: 'eu-west-1' } });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0 });
  const db = new DsqlUrlSecret(stack, 'Db', {
    cluster: dsql.CfnCluster.fromIdentifier(stack, 'Cluster', 'abcdefghijklmnopqrstuvwxyz'),
    signer: TokenSigner.rotationFunctionRole(),
    vpc,
    vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    createVpcEndpoints,
  });
  return { stack, vpc, db };
}

function bindFunction(stack: Stack, db: DsqlUrlSecret, id: string): void {
  const fn = new lambda.Function(stack, id, {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => 1;'),
    timeout: Duration.seconds(30),
  });
  db.updateFunctionOnRotation(fn);
}

function bindCodeDeployService(stack: Stack, vpc: ec2.Vpc, db: DsqlUrlSecret): void {
  const cluster = new ecs.Cluster(stack, 'EcsCluster', { vpc });
  const taskDefinition = new ecs.FargateTaskDefinition(stack, 'Task');
  taskDefinition.addContainer('web', {
    image: ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/busybox:latest'),
    portMappings: [{ containerPort: 80 }],
    secrets: { DATABASE_URL: db.ecsSecret() },
  });
  const service = new ecs.FargateService(stack, 'Service', {
    cluster,
    taskDefinition,
    deploymentController: { type: ecs.DeploymentControllerType.CODE_DEPLOY },
  });
  const listener = new elbv2.ApplicationLoadBalancer(stack, 'Lb', { vpc }).addListener('Listener', { port: 80 });
  const blue = new elbv2.ApplicationTargetGroup(stack, 'Blue', { vpc, port: 80, targetType: elbv2.TargetType.IP });
  const green = new elbv2.ApplicationTargetGroup(stack, 'Green', { vpc, port: 80, targetType: elbv2.TargetType.IP });
  listener.addTargetGroups('Default', { targetGroups: [blue] });
  service.attachToApplicationTargetGroup(blue);
  const group = new codedeploy.EcsDeploymentGroup(stack, 'Group', {
    service,
    blueGreenDeploymentConfig: { blueTargetGroup: blue, greenTargetGroup: green, listener },
  });
  db.redeployOnRotation(service, { codeDeployDeploymentGroup: group });
}

/** The service names of the template's interface endpoints, e.g. `lambda`. */
function endpointServices(stack: Stack): string[] {
  return Object.values(Template.fromStack(stack).findResources('AWS::EC2::VPCEndpoint'))
    .map((e) => JSON.stringify(e.Properties.ServiceName).match(/\.([a-z-]+)"\]\]\}$|com\.amazonaws\.[^.]+\.([a-z-]+)/))
    .map((m) => (m ? (m[1] ?? m[2]) : '?'))
    .sort();
}

function firstRotationDependsOn(stack: Stack): string[] {
  const [first] = Object.values(Template.fromStack(stack).findResources('Custom::DsqlUrlSecretInitialRotation'));
  return ([] as string[]).concat(first.DependsOn ?? []);
}

describe('createVpcEndpoints and the APIs only some bindings call', () => {
  test('a bound function adds a Lambda endpoint, once however many functions, and the first rotation waits for it', () => {
    const { stack, db } = given(true);
    bindFunction(stack, db, 'A');
    bindFunction(stack, db, 'B');

    expect(endpointServices(stack)).toEqual(['ecs', 'lambda', 'secretsmanager', 'ssm']);
    expect(firstRotationDependsOn(stack).some((id) => id.startsWith('DbLambdaEndpoint'))).toBe(true);
  });

  test('a CODE_DEPLOY service bound with its group adds a CodeDeploy endpoint', () => {
    const { stack, vpc, db } = given(true);
    bindCodeDeployService(stack, vpc, db);

    expect(endpointServices(stack)).toEqual(['codedeploy', 'ecs', 'secretsmanager', 'ssm']);
    expect(firstRotationDependsOn(stack).some((id) => id.startsWith('DbCodeDeployEndpoint'))).toBe(true);
  });

  test('without createVpcEndpoints, no endpoint is created (the VPC is expected to have its own, or NAT)', () => {
    const { stack, vpc, db } = given(false);
    bindFunction(stack, db, 'A');
    bindCodeDeployService(stack, vpc, db);

    expect(endpointServices(stack)).toEqual([]);
  });
});
