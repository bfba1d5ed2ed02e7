/**
 * The fleet survey's port (core/fleet-survey.ts) over an ECS client: the
 * watchdog, the rotation function's key guard and the CLI each pass their
 * own client, and a wrapper for retries if they want one.
 */
import { DescribeServicesCommand, DescribeTasksCommand, ECSClient, ListTasksCommand, Service } from '@aws-sdk/client-ecs';
import { FleetPort, ServiceView } from './fleet-survey';

/** Runs one call; the default runs it once. */
export type CallWrapper = <T>(call: () => Promise<T>) => Promise<T>;

const once: CallWrapper = (call) => call();

export function ecsFleetPort(ecs: Pick<ECSClient, 'send'>, wrap: CallWrapper = once): FleetPort {
  return {
    async describeServices(cluster, serviceArns) {
      const out = await wrap(() => ecs.send(new DescribeServicesCommand({ cluster, services: [...serviceArns] })));
      const services = (out.services ?? []).filter((s) => s.serviceArn !== undefined).map(serviceView);
      const found = new Set(services.map((s) => s.serviceArn));
      return { services, missing: serviceArns.filter((arn) => !found.has(arn)) };
    },
    async listTasks(cluster, serviceName, nextToken) {
      const out = await wrap(() => ecs.send(new ListTasksCommand({ cluster, serviceName, desiredStatus: 'RUNNING', nextToken })));
      return { taskArns: out.taskArns ?? [], nextToken: out.nextToken };
    },
    async describeTasks(cluster, taskArns) {
      const out = await wrap(() => ecs.send(new DescribeTasksCommand({ cluster, tasks: [...taskArns] })));
      // A task that stopped between the two calls holds no token any more.
      return (out.tasks ?? [])
        .filter((t) => t.taskArn !== undefined && t.lastStatus !== 'STOPPED')
        .map((t) => ({ taskArn: t.taskArn!, createdAt: t.createdAt }));
    },
  };
}

/** The ECS controller's tasks come from deployments; CODE_DEPLOY's and EXTERNAL's from task sets. */
function serviceView(s: Service): ServiceView {
  const controller = s.deploymentController?.type ?? 'ECS';
  const createdAts = controller === 'ECS' ? (s.deployments ?? []).map((d) => d.createdAt) : (s.taskSets ?? []).map((t) => t.createdAt);
  return {
    serviceArn: s.serviceArn!,
    status: s.status,
    deploymentController: controller,
    serviceName: s.serviceName,
    runningCount: s.runningCount,
    // No deployment listed at all: its tasks' ages are unknown, so they are listed.
    createdAts: createdAts.length === 0 ? [undefined] : createdAts,
  };
}
