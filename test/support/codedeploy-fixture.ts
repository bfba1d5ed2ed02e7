/**
 * A service with the CODE_DEPLOY deployment controller in moto, and the CodeDeploy application and
 * deployment group that deploy it, as an EcsDeploymentGroup leaves them.
 */
import { CodeDeployClient, CreateApplicationCommand, CreateDeploymentGroupCommand } from '@aws-sdk/client-codedeploy';
import { CreateServiceCommand, ECSClient } from '@aws-sdk/client-ecs';
import { CodeDeployTarget } from '../../lib/contract';

export interface CodeDeployServiceOptions {
  readonly cluster: string;
  readonly serviceName: string;
  readonly taskDefinition: string;
  /** The container and port the blue target group routes to (what the AppSpec's LoadBalancerInfo names). */
  readonly containerName: string;
  readonly containerPort: number;
  readonly target: CodeDeployTarget;
}

/** Creates the service, the application and the group; returns the service's ARN. */
export async function createCodeDeployService(ecs: ECSClient, codedeploy: CodeDeployClient, o: CodeDeployServiceOptions): Promise<string> {
  const created = await ecs.send(
    new CreateServiceCommand({
      cluster: o.cluster,
      serviceName: o.serviceName,
      taskDefinition: o.taskDefinition,
      desiredCount: 1,
      launchType: 'FARGATE',
      deploymentController: { type: 'CODE_DEPLOY' },
      loadBalancers: [
        {
          targetGroupArn: `arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/${o.serviceName}-blue/0123456789abcdef`,
          containerName: o.containerName,
          containerPort: o.containerPort,
        },
      ],
    }),
  );
  await codedeploy.send(new CreateApplicationCommand({ applicationName: o.target.application, computePlatform: 'ECS' }));
  await codedeploy.send(
    new CreateDeploymentGroupCommand({
      applicationName: o.target.application,
      deploymentGroupName: o.target.deploymentGroup,
      serviceRoleArn: 'arn:aws:iam::123456789012:role/codedeploy-ecs',
      deploymentConfigName: 'CodeDeployDefault.ECSAllAtOnce',
      deploymentStyle: { deploymentType: 'BLUE_GREEN', deploymentOption: 'WITH_TRAFFIC_CONTROL' },
      ecsServices: [{ clusterName: o.cluster, serviceName: o.serviceName }],
    }),
  );
  return created.service!.serviceArn!;
}
