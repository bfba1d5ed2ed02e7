/**
 * Bound services: their ARNs from the SSM parameter named by the secret's tag, their deployments
 * from ECS, and for CODE_DEPLOY services bound with a deployment group, their CodeDeploy deployments.
 */
import { GetDeploymentCommand, ListDeploymentsCommand } from '@aws-sdk/client-codedeploy';
import { Deployment, DescribeServicesCommand, Service } from '@aws-sdk/client-ecs';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { readBoundServices } from '../core/bound-services';
import { describeBatches, LONG_ARN_FORMAT, parseServiceArn } from '../core/ecs-services';
import { CodeDeployTarget } from '../lib/contract';
import { Clients } from './aws';
import { CliError, errorName, explainAwsError } from './errors';

export interface BoundServices {
  readonly parameter?: string;
  /** False when the parameter does not exist yet (a new stack: no service bound yet) or the tag is missing. */
  readonly exists: boolean;
  readonly arns: readonly string[];
  /** The deployment group of each service bound with one (CODE_DEPLOY controller), by ARN. */
  readonly codeDeploy?: ReadonlyMap<string, CodeDeployTarget>;
}

/**
 * Reads every bound-services parameter: the construct fills each up to 4,096
 * characters of ARNs at their longest, named `<parameter>`, `<parameter>-2`, ...
 * (see lib/bound-services.ts).
 */
export async function loadBoundServices(clients: Clients, parameter: string | undefined): Promise<BoundServices> {
  if (parameter === undefined) return { exists: false, arns: [] };
  const read = await readBoundServices(parameter, (name) => getParameter(clients, name)).catch((err: unknown) => {
    // A parameter changed by hand: the reader's message names it and the fix.
    throw err instanceof CliError ? err : new CliError((err as Error).message);
  });
  return { parameter, exists: read.parametersRead > 0, arns: read.arns, codeDeploy: read.codeDeploy };
}

async function getParameter(clients: Clients, name: string): Promise<string | undefined> {
  try {
    return (await clients.ssm.send(new GetParameterCommand({ Name: name }))).Parameter?.Value ?? '[]';
  } catch (err) {
    if (errorName(err) === 'ParameterNotFound') return undefined;
    throw explainAwsError(err, { api: 'GetParameter', action: 'ssm:GetParameter', resource: `the parameter ${name}` }, clients.endpointUrl);
  }
}

/** `cluster/service`, the short label the CLI shows. */
export function serviceLabel(arn: string): string {
  const p = parseServiceArn(arn);
  return p ? `${p.cluster}/${p.name}` : arn;
}

export interface DeploymentSnapshot {
  readonly id: string;
  /** PRIMARY, ACTIVE or INACTIVE. */
  readonly status: string;
  readonly rolloutState?: string;
  readonly rolloutStateReason?: string;
  readonly runningCount: number;
  readonly desiredCount: number;
  readonly pendingCount: number;
  readonly failedTasks: number;
  readonly createdAt?: Date;
}

/** A task set of a CODE_DEPLOY (or EXTERNAL) service: CodeDeploy starts a new one for each deployment. */
export interface TaskSetSnapshot {
  readonly id: string;
  /** PRIMARY, ACTIVE or DRAINING. */
  readonly status: string;
  readonly runningCount: number;
  /** computedDesiredCount: the task set's share of the service's desired count. */
  readonly desiredCount: number;
  readonly createdAt?: Date;
}

export type ServiceSnapshot =
  | {
      readonly kind: 'found';
      readonly arn: string;
      readonly status: string;
      readonly deployments: readonly DeploymentSnapshot[];
      readonly taskSets?: readonly TaskSetSnapshot[];
    }
  /** Deleted, inactive, or its cluster is gone: no task can hold a token, nothing to wait for. */
  | { readonly kind: 'gone'; readonly arn: string; readonly reason: string }
  | { readonly kind: 'invalid'; readonly arn: string; readonly reason: string };

/** DescribeServices for every ARN, batched by 10 per cluster. */
export async function describeServices(clients: Clients, arns: readonly string[]): Promise<Map<string, ServiceSnapshot>> {
  const result = new Map<string, ServiceSnapshot>();
  const { batches, invalid } = describeBatches(arns);
  for (const arn of invalid) {
    result.set(arn, { kind: 'invalid', arn, reason: `not ${LONG_ARN_FORMAT}` });
  }
  for (const { cluster, arns: batch } of batches) {
    let services: Service[];
    try {
      services = (await clients.ecs.send(new DescribeServicesCommand({ cluster, services: [...batch] }))).services ?? [];
    } catch (err) {
      if (errorName(err) === 'ClusterNotFoundException') {
        for (const arn of batch) result.set(arn, { kind: 'gone', arn, reason: `cluster ${cluster} not found` });
        continue;
      }
      throw explainAwsError(
        err,
        {
          api: 'DescribeServices',
          action: 'ecs:DescribeServices',
          resource: `the services in cluster ${cluster} (${batch.length} of them)`,
        },
        clients.endpointUrl,
      );
    }
    for (const arn of batch) {
      const name = parseServiceArn(arn)!.name;
      // Match by ARN; by name as well, in case ECS answers in the other ARN format.
      const service = services.find((s) => s.serviceArn === arn) ?? services.find((s) => s.serviceName === name);
      if (service === undefined) {
        result.set(arn, { kind: 'gone', arn, reason: 'service not found (deleted)' });
      } else if (service.status !== 'ACTIVE') {
        // DRAINING: being deleted; INACTIVE: deleted.
        result.set(arn, { kind: 'gone', arn, reason: `service is ${service.status ?? 'not active'}` });
      } else {
        const taskSets = (service.taskSets ?? []).map((t) => ({
          id: t.id ?? '?',
          status: t.status ?? '?',
          runningCount: t.runningCount ?? 0,
          desiredCount: t.computedDesiredCount ?? 0,
          createdAt: t.createdAt,
        }));
        result.set(arn, { kind: 'found', arn, status: service.status, deployments: (service.deployments ?? []).map(snapshotOf), taskSets });
      }
    }
  }
  return result;
}

function snapshotOf(d: Deployment): DeploymentSnapshot {
  return {
    id: d.id ?? '?',
    status: d.status ?? '?',
    rolloutState: d.rolloutState,
    rolloutStateReason: d.rolloutStateReason,
    runningCount: d.runningCount ?? 0,
    desiredCount: d.desiredCount ?? 0,
    pendingCount: d.pendingCount ?? 0,
    failedTasks: d.failedTasks ?? 0,
    createdAt: d.createdAt,
  };
}

export function primaryDeployment(deployments: readonly DeploymentSnapshot[]): DeploymentSnapshot | undefined {
  return deployments.find((d) => d.status === 'PRIMARY');
}

export type RolloutState = 'COMPLETED' | 'IN_PROGRESS' | 'FAILED';

/**
 * A deployment's rollout state. ECS reports `rolloutState` for services that
 * use the rolling update (ECS) deployment controller, but not for services
 * behind a Classic Load Balancer nor for the blue/green and external
 * controllers. Without it, a deployment counts as completed when it is the
 * only deployment left (the old one has drained) and runs its desired count
 * with nothing pending. moto 5.2.1 always sets rolloutState (from the
 * MOTO_ECS_SERVICE_RUNNING environment of the moto process: IN_PROGRESS with
 * runningCount 0 by default, forever, as it runs no tasks).
 */
export function rolloutStateOf(d: DeploymentSnapshot, all: readonly DeploymentSnapshot[]): RolloutState {
  if (d.rolloutState === 'COMPLETED' || d.rolloutState === 'FAILED' || d.rolloutState === 'IN_PROGRESS') return d.rolloutState;
  const others = all.filter((x) => x !== d && x.status !== 'INACTIVE');
  return others.length === 0 && d.runningCount === d.desiredCount && d.pendingCount === 0 ? 'COMPLETED' : 'IN_PROGRESS';
}

/** How a rollout state was decided, for output. */
export function rolloutStateSource(d: DeploymentSnapshot): 'ecs' | 'counts' {
  return d.rolloutState ? 'ecs' : 'counts';
}

/** A CodeDeploy deployment as `rotate --wait` shows it. */
export interface CodeDeploySnapshot {
  readonly id: string;
  /** Created, Queued, InProgress, Baking, Ready, Succeeded, Failed or Stopped. */
  readonly status: string;
  readonly createdAt?: Date;
  /** Why it failed or stopped, as CodeDeploy says it. */
  readonly error?: string;
}

/** At most this many deployments of one group created since the promotion are read per poll. */
const MAX_DEPLOYMENTS_READ = 5;

/**
 * The newest CodeDeploy deployment of each service's group created at or after `since` (the
 * promotion: the rotation function creates the service's deployment after it), or none yet.
 * ListDeployments, as the rotation function finds it (functions/codedeploy-redeploy.ts), then GetDeployment for its status.
 */
export async function describeCodeDeployments(
  clients: Clients,
  targets: ReadonlyMap<string, CodeDeployTarget>,
  since: Date,
): Promise<Map<string, CodeDeploySnapshot | undefined>> {
  const result = new Map<string, CodeDeploySnapshot | undefined>();
  for (const [arn, target] of targets) {
    const group = `the deployment group ${target.application}/${target.deploymentGroup}`;
    const call = async <T>(api: string, fn: () => Promise<T>) => {
      try {
        return await fn();
      } catch (err) {
        throw explainAwsError(err, { api, action: `codedeploy:${api}`, resource: group }, clients.endpointUrl);
      }
    };
    const listed = await call('ListDeployments', () =>
      clients.codedeploy.send(
        new ListDeploymentsCommand({
          applicationName: target.application,
          deploymentGroupName: target.deploymentGroup,
          createTimeRange: { start: since },
        }),
      ),
    );
    const found: CodeDeploySnapshot[] = [];
    for (const id of (listed.deployments ?? []).slice(0, MAX_DEPLOYMENTS_READ)) {
      const info = (await call('GetDeployment', () => clients.codedeploy.send(new GetDeploymentCommand({ deploymentId: id }))))
        .deploymentInfo;
      found.push({ id, status: info?.status ?? '?', createdAt: info?.createTime, error: info?.errorInformation?.message });
    }
    found.sort((a, b) => (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0));
    result.set(arn, found[0]);
  }
  return result;
}
