import { Lazy, Stack } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/**
 * Above this many services, the policy names each cluster's services
 * (`service/<cluster>/*`) instead of each service: a role's inline policies
 * may hold 10,240 characters in all, about 60 service ARNs after the
 * function's other statements.
 */
export const MAX_SERVICES_BY_ARN = 40;

/**
 * Lets the rotation function redeploy the bound services. A policy of its
 * own, written at synth when every service is known: the function must not
 * depend on the services, which depend on the first rotation, which depends
 * on the function.
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
  }

  private document(): iam.PolicyDocument {
    const resources =
      this.services.length <= MAX_SERVICES_BY_ARN
        ? this.services.map((s) => s.serviceArn)
        : [...new Set(this.services.map((s) => s.cluster.clusterName))].map((cluster) =>
            Stack.of(this).formatArn({
              service: 'ecs',
              resource: 'service',
              resourceName: `${cluster}/*`,
            }),
          );
    return new iam.PolicyDocument({
      statements: [new iam.PolicyStatement({ actions: ['ecs:UpdateService', 'ecs:DescribeServices'], resources })],
    });
  }
}
