import { App, Stack } from 'aws-cdk-lib';
import * as dsql from 'aws-cdk-lib/aws-dsql';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { DsqlUrlSecret, TokenSigner } from '../../lib';
import { ExampleStack } from '../../example/example-stack';

/** The stacks a nag test checks: the construct and what it binds, nothing else the pack could find fault with. */
export interface NagStack {
  readonly app: App;
  readonly stack: Stack;
  readonly dbUrl: DsqlUrlSecret;
  readonly ecsCluster: ecs.Cluster;
}

/** The example app (example/example-stack.ts), with the suppressions it carries for cdk-nag 2. */
export function exampleApp(app = new App()): NagStack {
  const stack = new ExampleStack(app, 'Example', { env: { region: 'us-east-1' } });
  return { app, stack, dbUrl: stack.dbUrl, ecsCluster: stack.node.findChild('EcsCluster') as ecs.Cluster };
}

/**
 * A stack with one DsqlUrlSecret signing with `signer` and one bound Fargate service, built as the example app builds
 * its own (flow logs, Container Insights, container logs with a retention): every finding left is the construct's.
 * `inVpc` runs the construct's functions in the VPC.
 */
export function constructApp(signer: TokenSigner, app = new App(), inVpc = false): NagStack {
  const stack = new Stack(app, 'Nag', { env: { region: 'us-east-1' } });
  const cluster = new dsql.CfnCluster(stack, 'Cluster', { deletionProtectionEnabled: false });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1, flowLogs: { all: { trafficType: ec2.FlowLogTrafficType.ALL } } });
  const ecsCluster = new ecs.Cluster(stack, 'EcsCluster', { vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });
  const dbUrl = new DsqlUrlSecret(stack, 'DatabaseUrl', { cluster, signer, vpc: inVpc ? vpc : undefined });
  const taskDefinition = new ecs.FargateTaskDefinition(stack, 'AppTask');
  taskDefinition.addContainer('app', {
    image: ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/postgres:16-alpine'),
    secrets: { DATABASE_URL: dbUrl.ecsSecret() },
    logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'app', logRetention: logs.RetentionDays.ONE_MONTH }),
  });
  const service = new ecs.FargateService(stack, 'AppService', {
    cluster: ecsCluster,
    taskDefinition,
    minHealthyPercent: 100,
    circuitBreaker: { rollback: true },
  });
  dbUrl.redeployOnRotation(service);
  return { app, stack, dbUrl, ecsCluster };
}
