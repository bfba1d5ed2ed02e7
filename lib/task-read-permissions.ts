import { Fn, Lazy, Stack, Token } from 'aws-cdk-lib/core';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { clusterNameOf, worstCaseClusterWildcardLength } from './service-arn-length';

/**
 * This policy's share of IAM's 10,240 characters for all of a role's inline
 * policies (the redeploy policy has 5,000 of them, lib/redeploy-permissions.ts).
 */
export const TASK_READ_POLICY_BUDGET = 2000;
/** The document around the resources: version, two statements, their effects, actions and condition key. */
const POLICY_OVERHEAD = 260;
/** Two ARNs name each cluster (`task/<cluster>/*`, `cluster/<cluster>`), each quoted and comma-separated. */
const PER_CLUSTER_EXTRA = 2 * 3;

/**
 * Lets a role list and describe the running tasks of the bound services'
 * clusters, which the fleet survey (core/fleet-survey.ts) needs: the
 * watchdog's fleet check, and the rotation function's key guard with the
 * access-key signer (functions/key-guard.ts).
 * Like the redeploy policy, a policy of its own written at synth, when every
 * service is known.
 *
 * Scope: DescribeTasks acts on `task/<cluster>/<id>`. ListTasks is allowed
 * on `*` with the `ecs:cluster` condition key naming the clusters: the
 * Service Authorization Reference lists a container-instance resource for it,
 * but a policy naming that resource was reported to deny ListTasks
 * (awsdocs/amazon-ecs-developer-guide#211), and aws-cdk's own drain hook
 * grants it this way (aws/aws-cdk#3199). A denied ListTasks would make the
 * key guard refuse every rotation, so the proven form it is. When the
 * clusters at their longest do not fit TASK_READ_POLICY_BUDGET, both name
 * every cluster of the stack's account and region (`task/*`, `cluster/*`):
 * the tightest form that still fits.
 */
export class TaskReadPermissions extends Construct {
  /**
   * @param roles the roles that get the policy
   * @param services the bound services, read when the policy is synthesized
   */
  constructor(
    scope: Construct,
    id: string,
    roles: readonly iam.IRole[],
    private readonly services: readonly ecs.IBaseService[],
  ) {
    super(scope, id);
    new iam.CfnPolicy(this, 'Resource', {
      policyName: Lazy.string({ produce: () => `read-tasks-${this.node.addr.slice(0, 16)}` }),
      roles: roles.map((r) => r.roleName),
      policyDocument: Lazy.any({ produce: () => this.document().toJSON() }),
    });
  }

  private document(): iam.PolicyDocument {
    const stack = Stack.of(this);
    const arn = (resource: string, resourceName: string) => stack.formatArn({ service: 'ecs', resource, resourceName });
    const clusters = this.clusters();
    if (!this.fits(clusters)) {
      return new iam.PolicyDocument({
        statements: [
          new iam.PolicyStatement({ actions: ['ecs:DescribeTasks'], resources: [arn('task', '*')] }),
          new iam.PolicyStatement({
            actions: ['ecs:ListTasks'],
            resources: ['*'],
            conditions: { ArnLike: { 'ecs:cluster': arn('cluster', '*') } },
          }),
        ],
      });
    }
    return new iam.PolicyDocument({
      statements: [
        new iam.PolicyStatement({ actions: ['ecs:DescribeTasks'], resources: clusters.map((c) => arn('task', `${c.name}/*`)) }),
        new iam.PolicyStatement({
          actions: ['ecs:ListTasks'],
          resources: ['*'],
          conditions: { ArnEquals: { 'ecs:cluster': clusters.map((c) => arn('cluster', c.name)) } },
        }),
      ],
    });
  }

  private fits(clusters: ReadonlyArray<{ length: number }>): boolean {
    return POLICY_OVERHEAD + clusters.reduce((total, c) => total + 2 * c.length + PER_CLUSTER_EXTRA, 0) <= TASK_READ_POLICY_BUDGET;
  }

  /** One entry per distinct cluster (a name given at synth, or one cluster construct), with its wildcard's longest length. */
  private clusters(): Array<{ name: string; length: number }> {
    const stack = Stack.of(this);
    const clusters = new Map<string, { name: string; length: number }>();
    for (const s of this.services) {
      // Services imported by ARN alone have no cluster: the ARN names it.
      const cluster = s.cluster as ecs.ICluster | undefined;
      const key = clusterNameOf(stack, s) ?? cluster?.node.path ?? s.serviceArn;
      if (clusters.has(key)) continue;
      clusters.set(key, { name: cluster?.clusterName ?? clusterFromArn(s.serviceArn), length: worstCaseClusterWildcardLength(stack, s) });
    }
    return [...clusters.values()];
  }
}

/** The cluster in `arn:...:service/<cluster>/<service>`. */
function clusterFromArn(serviceArn: string): string {
  if (Token.isUnresolved(serviceArn)) return Fn.select(1, Fn.split('/', serviceArn));
  const cluster = serviceArn.split(':').slice(5).join(':').split('/')[1];
  if (!cluster)
    throw new Error(`redeployOnRotation: '${serviceArn}' is not an ECS service ARN in the long format (service/<cluster>/<service>)`);
  return cluster;
}
