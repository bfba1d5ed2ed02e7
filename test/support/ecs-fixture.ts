/**
 * ECS resources in moto shaped like a consumer of the secret: services whose task definition injects
 * DATABASE_URL from the secret's `url` JSON key. Moto runs no tasks; only service/deployment records.
 */
import {
  CreateClusterCommand,
  CreateServiceCommand,
  DescribeServicesCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
} from '@aws-sdk/client-ecs';

export interface EcsFixture {
  clusterArn: string;
  serviceArns: string[];
  taskDefinitionArn: string;
}

export interface DeploymentInfo {
  id: string;
  createdAt: Date;
  status: string;
}

export async function createEcsFixture(
  ecs: ECSClient,
  opts: { clusterName: string; services: number; secretArn: string },
): Promise<EcsFixture> {
  const cluster = await ecs.send(new CreateClusterCommand({ clusterName: opts.clusterName }));
  const td = await ecs.send(
    new RegisterTaskDefinitionCommand({
      family: `${opts.clusterName}-app`,
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: '256',
      memory: '512',
      executionRoleArn: 'arn:aws:iam::123456789012:role/ecs-task-execution',
      containerDefinitions: [
        {
          name: 'app',
          image: 'public.ecr.aws/docker/library/node:22-alpine',
          essential: true,
          // `<arn>:<json-key>::` = key `url` of the AWSCURRENT version, resolved when a task starts.
          secrets: [{ name: 'DATABASE_URL', valueFrom: `${opts.secretArn}:url::` }],
        },
      ],
    }),
  );
  const taskDefinitionArn = td.taskDefinition!.taskDefinitionArn!;
  const serviceArns: string[] = [];
  for (let i = 0; i < opts.services; i++) {
    const s = await ecs.send(
      new CreateServiceCommand({
        cluster: opts.clusterName,
        serviceName: `svc-${i}`,
        taskDefinition: taskDefinitionArn,
        desiredCount: 1,
        launchType: 'FARGATE',
        // No networkConfiguration: moto checks subnet ids against its EC2 state and does not require one.
      }),
    );
    serviceArns.push(s.service!.serviceArn!);
  }
  return { clusterArn: cluster.cluster!.clusterArn!, serviceArns, taskDefinitionArn };
}

/**
 * Deployments per service ARN. DescribeServices takes one cluster and at most 10 services per call.
 * Moto quirk: UpdateService(forceNewDeployment) rewrites the single PRIMARY entry (new id and createdAt)
 * instead of adding one, so compare ids/createdAt before and after rather than counting entries.
 */
export async function deploymentsOf(ecs: ECSClient, serviceArns: string[]): Promise<Map<string, DeploymentInfo[]>> {
  const byCluster = new Map<string, string[]>();
  for (const arn of serviceArns) {
    // Long ARN format: arn:aws:ecs:<region>:<account>:service/<cluster>/<service>
    const parts = arn.split(':').slice(5).join(':').split('/');
    if (parts.length !== 3) throw new Error(`deploymentsOf: need a long-format service ARN, got ${arn}`);
    byCluster.set(parts[1], [...(byCluster.get(parts[1]) ?? []), arn]);
  }
  const out = new Map<string, DeploymentInfo[]>();
  for (const [cluster, arns] of byCluster) {
    for (let i = 0; i < arns.length; i += 10) {
      const res = await ecs.send(new DescribeServicesCommand({ cluster, services: arns.slice(i, i + 10) }));
      if (res.failures?.length) throw new Error(`DescribeServices failures: ${JSON.stringify(res.failures)}`);
      for (const s of res.services ?? []) {
        out.set(
          s.serviceArn!,
          (s.deployments ?? []).map((d) => ({ id: d.id!, createdAt: d.createdAt!, status: d.status! })),
        );
      }
    }
  }
  return out;
}
