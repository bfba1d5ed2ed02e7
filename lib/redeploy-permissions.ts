import { Fn, Lazy, Stack, Token } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { clusterNameOf, worstCaseClusterWildcardLength, worstCaseServiceArnLength } from './service-arn-length';

/**
 * This policy's share of IAM's 10,240 characters for all of a role's inline
 * policies; the rest is for the function's own statements (test/lib
 * bound-services-scale.test.ts checks the sum for 500 services with the
 * longest names).
 */
export const REDEPLOY_POLICY_BUDGET = 5000;
/** The document around the resources: version, effect, the two actions. */
const POLICY_OVERHEAD = 160;

/**
 * Lets the rotation function redeploy the bound services. A policy of its
 * own, written at synth when every service is known: the function must not
 * depend on the services, which depend on the first rotation, which depends
 * on the function.
 *
 * It names each service while their ARNs, at their longest resolved length
 * (lib/service-arn-length.ts), fit REDEPLOY_POLICY_BUDGET; else each
 * cluster's services (`service/<cluster>/*`); more clusters than that is an
 * error at synth naming the fix.
 */
export class RedeployPermissions extends Construct {
  /** @param services the bound services, read when the policy is synthesized */
  constructor(
    scope: Construct,
    id: string,
    role: iam.IRole,
    private readonly services: readonly ecs.IBaseService[],
  ) {
    super(scope, id);
    new iam.CfnPolicy(this, 'Resource', {
      policyName: Lazy.string({ produce: () => `redeploy-${this.node.addr.slice(0, 16)}` }),
      roles: [role.roleName],
      policyDocument: Lazy.any({ produce: () => this.document().toJSON() }),
    });
    this.node.addValidation({ validate: () => this.validateSize() });
  }

  private document(): iam.PolicyDocument {
    const resources = this.fitsByArn() ? this.services.map((s) => s.serviceArn) : this.byCluster().map((c) => c.wildcard);
    return new iam.PolicyDocument({
      statements: [new iam.PolicyStatement({ actions: ['ecs:UpdateService', 'ecs:DescribeServices'], resources })],
    });
  }

  private fitsByArn(): boolean {
    const stack = Stack.of(this);
    return POLICY_OVERHEAD + sum(this.services.map((s) => worstCaseServiceArnLength(stack, s) + 3)) <= REDEPLOY_POLICY_BUDGET;
  }

  /** One `service/<cluster>/*` per distinct cluster: one name given at synth, or one cluster construct. */
  private byCluster(): Array<{ wildcard: string; length: number }> {
    const stack = Stack.of(this);
    const clusters = new Map<string, { wildcard: string; length: number }>();
    for (const s of this.services) {
      // Services imported by ARN alone have no cluster: the ARN names it.
      const cluster = s.cluster as ecs.ICluster | undefined;
      const name = cluster?.clusterName ?? clusterFromArn(s.serviceArn);
      // Not the resolved reference: clusters in two nested stacks can have the same logical id.
      const key = clusterNameOf(stack, s) ?? cluster?.node.path ?? s.serviceArn;
      if (clusters.has(key)) continue;
      clusters.set(key, {
        wildcard: stack.formatArn({ service: 'ecs', resource: 'service', resourceName: `${name}/*` }),
        length: worstCaseClusterWildcardLength(stack, s) + 3,
      });
    }
    return [...clusters.values()];
  }

  private validateSize(): string[] {
    if (this.fitsByArn()) return [];
    const clusters = this.byCluster();
    const length = POLICY_OVERHEAD + sum(clusters.map((c) => c.length));
    if (length <= REDEPLOY_POLICY_BUDGET) return [];
    return [
      `redeployOnRotation: the ${this.services.length} services bound to ${this.node.scope!.node.path} are in ${clusters.length} ` +
        `ECS clusters; the rotation function's redeploy policy names each cluster and would need up to ${length} characters ` +
        `(IAM allows 10,240 for all of a role's inline policies; this policy may use ${REDEPLOY_POLICY_BUDGET}). A cluster ` +
        'whose name CloudFormation generates counts 255 characters: give the clusters names (clusterName), or bind their ' +
        'services to several DsqlUrlSecret constructs.',
    ];
  }
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** The cluster in `arn:...:service/<cluster>/<service>`. */
function clusterFromArn(serviceArn: string): string {
  if (Token.isUnresolved(serviceArn)) return Fn.select(1, Fn.split('/', serviceArn));
  const cluster = serviceArn.split(':').slice(5).join(':').split('/')[1];
  if (!cluster)
    throw new Error(`redeployOnRotation: '${serviceArn}' is not an ECS service ARN in the long format (service/<cluster>/<service>)`);
  return cluster;
}
