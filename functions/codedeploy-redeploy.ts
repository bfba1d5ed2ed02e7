/**
 * The redeploy of a service with the CODE_DEPLOY deployment controller: ECS
 * refuses forceNewDeployment for it ("Unable to update task definition on
 * services with a CODE_DEPLOY deployment controller"), so the rotation
 * function starts a CodeDeploy deployment of the service's current task
 * definition in the deployment group it was bound with. CodeDeploy then
 * starts a replacement task set, whose tasks read the new URL, and removes
 * the old one.
 *
 * Reached through RedeployOptions.codeDeploy only (functions/redeploy.ts
 * imports no value from here), so a bundle that never builds one carries no
 * CodeDeploy client.
 */
import { CodeDeployClient, CreateDeploymentCommand, DeploymentStatus, ListDeploymentsCommand } from '@aws-sdk/client-codedeploy';
import type { Service } from '@aws-sdk/client-ecs';
import { CodeDeployTarget } from '../lib/contract';
import { AWS_CLIENT_OPTIONS, AwsService, explainUnreachable } from './aws-clients';
import { DEFAULT_RETRY, RetryPolicy, withRetry } from './retry';

/** CodeDeploy as the unreachable-endpoint error names it (interface endpoint `com.amazonaws.<region>.codedeploy`). */
export const CODEDEPLOY_SERVICE: AwsService = { label: 'CodeDeploy', endpointName: 'codedeploy' };

/** A deployment in one of these replaces, or has replaced, the service's tasks. */
const ACTIVE_STATUSES: DeploymentStatus[] = ['Created', 'Queued', 'InProgress', 'Baking', 'Ready'];
const REPLACING_STATUSES: DeploymentStatus[] = [...ACTIVE_STATUSES, 'Succeeded'];

/** What functions/redeploy.ts calls for a CODE_DEPLOY service (see codeDeployRedeploy). */
export interface CodeDeployRedeploy {
  /** The deployment group of each service bound with one, by service ARN. */
  readonly targets: ReadonlyMap<string, CodeDeployTarget>;
  /**
   * A deployment of the group created at or after `promotedAt` that is active
   * or succeeded (its tasks started after the promotion and read the new
   * value), or undefined: the idempotency check, like the ECS path's.
   */
  deploymentSince(target: CodeDeployTarget, promotedAt: Date, onRetry: () => void): Promise<string | undefined>;
  /** Starts a deployment of the service's current task definition; returns its id. */
  createDeployment(service: Service, target: CodeDeployTarget, onRetry: () => void): Promise<string>;
  /** The group's active deployment, to name it when CodeDeploy refuses a second one; undefined if none is listed. */
  activeDeployment(target: CodeDeployTarget, onRetry: () => void): Promise<string | undefined>;
}

let sharedClient: CodeDeployClient | undefined;

/**
 * The rotation function's CodeDeploy client, created on first use: short
 * network timeouts like its other clients (functions/aws-clients.ts), and no
 * SDK retries, as throttling is retried by withRetry, which counts it.
 */
export function rotationCodeDeployClient(): CodeDeployClient {
  sharedClient ??= explainUnreachable(new CodeDeployClient({ ...AWS_CLIENT_OPTIONS, maxAttempts: 1 }), CODEDEPLOY_SERVICE);
  return sharedClient;
}

/** The CodeDeploy path for finishSecret: undefined when no bound service has a deployment group. */
export function codeDeployPath(targets: ReadonlyMap<string, CodeDeployTarget>, retry?: RetryPolicy): CodeDeployRedeploy | undefined {
  return targets.size === 0 ? undefined : codeDeployRedeploy(rotationCodeDeployClient(), targets, retry);
}

export function codeDeployRedeploy(
  client: CodeDeployClient,
  targets: ReadonlyMap<string, CodeDeployTarget>,
  retry: RetryPolicy = DEFAULT_RETRY,
): CodeDeployRedeploy {
  const list = async (target: CodeDeployTarget, statuses: DeploymentStatus[], onRetry: () => void, since?: Date) => {
    const out = await withRetry(
      () =>
        client.send(
          new ListDeploymentsCommand({
            applicationName: target.application,
            deploymentGroupName: target.deploymentGroup,
            includeOnlyStatuses: statuses,
            ...(since !== undefined ? { createTimeRange: { start: since } } : {}),
          }),
        ),
      retry,
      onRetry,
    );
    return out.deployments?.[0];
  };
  return {
    targets,
    deploymentSince: (target, promotedAt, onRetry) => list(target, REPLACING_STATUSES, onRetry, promotedAt),
    activeDeployment: (target, onRetry) => list(target, ACTIVE_STATUSES, onRetry),
    createDeployment: async (service, target, onRetry) => {
      const content = appSpecContent(service);
      const out = await withRetry(
        () =>
          client.send(
            new CreateDeploymentCommand({
              applicationName: target.application,
              deploymentGroupName: target.deploymentGroup,
              description: 'cdk-dsql-url-secret: tasks restart with the rotated Aurora DSQL URL',
              revision: { revisionType: 'AppSpecContent', appSpecContent: { content } },
            }),
          ),
        retry,
        onRetry,
      );
      if (!out.deploymentId) throw new Error('CreateDeployment answered without a deploymentId');
      return out.deploymentId;
    },
  };
}

/**
 * The AppSpec of a deployment that changes nothing but the tasks: the task
 * definition that serves now (the PRIMARY task set's; the service's when ECS
 * lists no task set), the container and port its load balancer routes to
 * (which CodeDeploy needs to move the traffic), and the serving task set's
 * platform version, network and capacity provider settings as they are, so
 * CodeDeploy keeps them.
 */
export function appSpecContent(service: Service): string {
  const primary = service.taskSets?.find((t) => t.status === 'PRIMARY');
  const taskDefinition = primary?.taskDefinition ?? service.taskDefinition;
  const target = [...(primary?.loadBalancers ?? []), ...(service.loadBalancers ?? [])].find(
    (lb) => lb.containerName !== undefined && lb.containerPort !== undefined,
  );
  if (taskDefinition === undefined) throw new Error('ECS reports no task definition for the service (nor for its PRIMARY task set)');
  if (target === undefined) {
    throw new Error(
      'ECS reports no load balancer with a container name and port for the service: a CodeDeploy ECS deployment needs them ' +
        '(LoadBalancerInfo) to move the traffic to the new tasks',
    );
  }
  const platformVersion = primary?.platformVersion ?? service.platformVersion;
  const vpc = (primary?.networkConfiguration ?? service.networkConfiguration)?.awsvpcConfiguration;
  const capacity = primary?.capacityProviderStrategy ?? service.capacityProviderStrategy ?? [];
  const properties = {
    TaskDefinition: taskDefinition,
    LoadBalancerInfo: { ContainerName: target.containerName, ContainerPort: target.containerPort },
    ...(platformVersion ? { PlatformVersion: platformVersion } : {}),
    ...(vpc?.subnets?.length
      ? {
          NetworkConfiguration: {
            AwsvpcConfiguration: { Subnets: vpc.subnets, SecurityGroups: vpc.securityGroups, AssignPublicIp: vpc.assignPublicIp },
          },
        }
      : {}),
    ...(capacity.length > 0
      ? { CapacityProviderStrategy: capacity.map((c) => ({ Base: c.base, CapacityProvider: c.capacityProvider, Weight: c.weight })) }
      : {}),
  };
  const resources = [{ TargetService: { Type: 'AWS::ECS::Service', Properties: properties } }];
  // `0.0` as the AppSpec reference writes it (JSON.stringify would write 0).
  return `{"version":0.0,"Resources":${JSON.stringify(resources)}}`;
}
