import { App, Stack } from 'aws-cdk-lib';
import * as dsql from 'aws-cdk-lib/aws-dsql';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';

/** A fresh stack with a DSQL cluster and an ECS cluster, for one test. */
export function givenStack(): { stack: Stack; cluster: dsql.CfnCluster; ecsCluster: ecs.Cluster } {
  const app = new App();
  const stack = new Stack(app, 'TestStack', { env: { account: '123456789012', region: 'eu-west-1' } });
  const cluster = new dsql.CfnCluster(stack, 'Cluster', {});
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0 });
  const ecsCluster = new ecs.Cluster(stack, 'EcsCluster', { vpc });
  return { stack, cluster, ecsCluster };
}

/** A Fargate service in `ecsCluster` with a placeholder container. */
export function givenService(stack: Stack, ecsCluster: ecs.Cluster, id: string, secret?: ecs.Secret): ecs.FargateService {
  const taskDefinition = new ecs.FargateTaskDefinition(stack, `${id}Task`);
  taskDefinition.addContainer('app', {
    image: ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/busybox:latest'),
    secrets: secret ? { DATABASE_URL: secret } : undefined,
  });
  return new ecs.FargateService(stack, id, { cluster: ecsCluster, taskDefinition, minHealthyPercent: 100 });
}
