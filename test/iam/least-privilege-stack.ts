/**
 * The stack whose policies the recorded calls are checked against: what the least-privilege run
 * (recorded-flows.ts) has in moto, built with the construct. The moto account and region, the default
 * access-key signer, one ECS cluster (`app-cluster-1`) with two rolling services and a CODE_DEPLOY one
 * deployed by its group (`shop`/`web-bg`), and two bound Lambda functions, one moved by an alias.
 */
import { App, Stack } from 'aws-cdk-lib';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import * as dsql from 'aws-cdk-lib/aws-dsql';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DatabaseRole, DsqlUrlSecret } from '../../lib';

export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';
export const ECS_CLUSTER_NAME = 'app-cluster-1';
export const CODE_DEPLOY = { application: 'shop', deploymentGroup: 'web-bg', service: 'web-bg' };
export const ALIAS_NAME = 'live';
/** The custom database role of the role-bootstrap variant. */
export const CUSTOM_ROLE = 'app_rw';

export interface LeastPrivilegeStack {
  readonly stack: Stack;
  readonly db: DsqlUrlSecret;
  readonly cluster: dsql.CfnCluster;
  readonly ecsCluster: ecs.Cluster;
  /** The two rolling services, then the CODE_DEPLOY one. */
  readonly services: ecs.FargateService[];
  readonly application: codedeploy.EcsApplication;
  readonly group: codedeploy.EcsDeploymentGroup;
  readonly plainFunction: lambda.Function;
  readonly aliasedFunction: lambda.Function;
  readonly alias: lambda.Alias;
}

const IMAGE = ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/busybox:latest');

function appFunction(stack: Stack, id: string): lambda.Function {
  return new lambda.Function(stack, id, {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => process.env.DATABASE_URL.length;'),
  });
}

export function leastPrivilegeStack(): LeastPrivilegeStack {
  const stack = new Stack(new App(), 'LeastPrivilegeStack', { env: { account: ACCOUNT, region: REGION } });
  const cluster = new dsql.CfnCluster(stack, 'Cluster', {});
  const db = new DsqlUrlSecret(stack, 'DatabaseUrl', { cluster });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0 });
  const ecsCluster = new ecs.Cluster(stack, 'EcsCluster', { vpc, clusterName: ECS_CLUSTER_NAME });
  const service = (id: string, props: Partial<ecs.FargateServiceProps> = {}) => {
    const taskDefinition = new ecs.FargateTaskDefinition(stack, `${id}Task`);
    taskDefinition.addContainer('app', {
      image: IMAGE,
      portMappings: [{ containerPort: 8080 }],
      secrets: { DATABASE_URL: db.ecsSecret() },
    });
    return new ecs.FargateService(stack, id, { cluster: ecsCluster, taskDefinition, minHealthyPercent: 100, ...props });
  };
  const rolling = [service('Web'), service('Worker')];
  for (const s of rolling) db.redeployOnRotation(s);

  const blueGreen = service('BlueGreen', { deploymentController: { type: ecs.DeploymentControllerType.CODE_DEPLOY } });
  const listener = new elbv2.ApplicationLoadBalancer(stack, 'Lb', { vpc }).addListener('Listener', { port: 80 });
  const blue = new elbv2.ApplicationTargetGroup(stack, 'Blue', { vpc, port: 80, targetType: elbv2.TargetType.IP });
  const green = new elbv2.ApplicationTargetGroup(stack, 'Green', { vpc, port: 80, targetType: elbv2.TargetType.IP });
  listener.addTargetGroups('Default', { targetGroups: [blue] });
  blueGreen.attachToApplicationTargetGroup(blue);
  const application = new codedeploy.EcsApplication(stack, 'Application', { applicationName: CODE_DEPLOY.application });
  const group = new codedeploy.EcsDeploymentGroup(stack, 'Group', {
    application,
    deploymentGroupName: CODE_DEPLOY.deploymentGroup,
    service: blueGreen,
    blueGreenDeploymentConfig: { blueTargetGroup: blue, greenTargetGroup: green, listener },
  });
  db.redeployOnRotation(blueGreen, { codeDeployDeploymentGroup: group });

  const plainFunction = appFunction(stack, 'PlainFunction');
  const aliasedFunction = appFunction(stack, 'AliasedFunction');
  const alias = new lambda.Alias(stack, 'LiveAlias', { aliasName: ALIAS_NAME, version: aliasedFunction.currentVersion });
  db.updateFunctionOnRotation(plainFunction);
  db.updateFunctionOnRotation(aliasedFunction, { alias });
  return { stack, db, cluster, ecsCluster, services: [...rolling, blueGreen], application, group, plainFunction, aliasedFunction, alias };
}

/** The same construct with a custom database role, for the role bootstrap's function and its policy. */
export function roleBootstrapStack(): { stack: Stack; cluster: dsql.CfnCluster; db: DsqlUrlSecret } {
  const stack = new Stack(new App(), 'RoleBootstrapStack', { env: { account: ACCOUNT, region: REGION } });
  const cluster = new dsql.CfnCluster(stack, 'Cluster', {});
  const db = new DsqlUrlSecret(stack, 'DatabaseUrl', { cluster, databaseRole: DatabaseRole.custom(CUSTOM_ROLE) });
  return { stack, cluster, db };
}
